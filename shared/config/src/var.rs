//! What one configuration variable is, and the `define_variables!` macro the table is written with.
//!
//! Each entry of the table (see [`crate::table`]) is written once, as
//!
//! ```text
//! /// What it does (this doc comment is the user documentation).
//! [Flags] NAME: Type = parser, "default";
//! ```
//!
//! and the macro makes of it a typed constant `NAME: Var<Type>` (what the parser reads), and a
//! row of [`variables`] (what `auditfwd config`, `docs/configuration.md`, `.env.example` and
//! the typo warning read). The variable's name is `AUDITFWD_` followed by `NAME`; the parser is a
//! `fn(&str) -> Result<Type, String>` whose error says what was expected; the default (optional)
//! is text, parsed by the same parser, so the documented default is the applied one.

use std::sync::OnceLock;

/// Sections of the reference, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// OCI credentials, regions, endpoints.
    Oci,
    /// Which compartments are collected.
    Compartments,
    /// Sources other than Audit.
    Sources,
    /// The syslog destination and message shape.
    Syslog,
    /// Where delivery progress is kept.
    Checkpoint,
    /// When windows are listed.
    Windows,
    /// Event filters and credential scrubbing.
    Filters,
    /// Rates and concurrency.
    Limits,
    /// The `auditfwd run` daemon.
    Daemon,
    /// The Lambda functions' fan-out.
    Lambda,
    /// Logs.
    Logging,
    /// The `auditfwd` command line.
    Command,
}

impl Group {
    /// The section title.
    pub fn title(self) -> &'static str {
        match self {
            Group::Oci => "OCI",
            Group::Compartments => "Compartments",
            Group::Sources => "Other sources",
            Group::Syslog => "Syslog destination",
            Group::Checkpoint => "Checkpoint",
            Group::Windows => "Windows",
            Group::Filters => "Filters and scrubbing",
            Group::Limits => "Limits",
            Group::Daemon => "The auditfwd run daemon",
            Group::Lambda => "Lambda fan-out",
            Group::Logging => "Logging",
            Group::Command => "The auditfwd command",
        }
    }
}

/// Marks on a table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// Never printed. May also be given as `<NAME>_KMS`, `<NAME>_SECRET_ARN` or
    /// `<NAME>_SSM_PARAMETER`, resolved at start-up by `auditfwd-secrets`.
    Secret,
    /// Read by the logging set-up (`auditfwd-telemetry`), before the configuration is parsed.
    Logging,
    /// Read by the `auditfwd` command line itself.
    Command,
    /// May be given per tenancy as `AUDITFWD_TENANCY_<NAME>_<rest of the name>` when
    /// `AUDITFWD_TENANCIES` names several tenancies (see [`crate::tenancy`]).
    PerTenancy,
}

/// Who reads a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBy {
    /// [`crate::Config::from_vars`].
    Config,
    /// The secrets loader, which turns it into the secret it names (KMS, Secrets Manager, SSM).
    Secrets,
    /// The logging set-up.
    Logging,
    /// The `auditfwd` command line.
    Command,
}

/// How a secret variable may be given instead of its plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretForm {
    /// `<NAME>_KMS`: base64 AWS KMS ciphertext.
    Kms,
    /// `<NAME>_SECRET_ARN`: an AWS Secrets Manager secret (ARN or name); its SecretString.
    SecretsManager,
    /// `<NAME>_SSM_PARAMETER`: an SSM Parameter Store parameter (name or ARN), decrypted.
    SsmParameter,
}

impl SecretForm {
    /// Every form, in the order of the names in [`Variable`].
    pub const ALL: [SecretForm; 3] = [
        SecretForm::Kms,
        SecretForm::SecretsManager,
        SecretForm::SsmParameter,
    ];

    /// The suffix added to the plain variable's name.
    pub fn suffix(self) -> &'static str {
        match self {
            SecretForm::Kms => "_KMS",
            SecretForm::SecretsManager => "_SECRET_ARN",
            SecretForm::SsmParameter => "_SSM_PARAMETER",
        }
    }

    fn doc(self, plain: &str) -> String {
        match self {
            SecretForm::Kms => format!(
                "{plain} as base64 AWS KMS ciphertext made with the encryption context \
                 auditfwd:variable={plain} (scripts/encrypt-secret); decrypted at start-up."
            ),
            SecretForm::SecretsManager => format!(
                "{plain} from this AWS Secrets Manager secret (ARN or name): its SecretString, \
                 read at start-up."
            ),
            SecretForm::SsmParameter => format!(
                "{plain} from this SSM Parameter Store parameter (name or ARN), read with \
                 decryption at start-up."
            ),
        }
    }
}

/// One configuration variable: a row of the reference.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    /// Its name.
    pub name: &'static str,
    /// Its section.
    pub group: Group,
    /// The default, as text (`None`: unset means "none", or the doc says what applies).
    pub default: Option<&'static str>,
    /// The doc comment of its table entry.
    pub(crate) doc_lines: &'static str,
    pub(crate) flags: &'static [Flag],
    /// For a secret: the names of its other forms, in [`SecretForm::ALL`] order.
    pub(crate) form_names: [&'static str; 3],
    /// `Some` for a row that is another form of a secret.
    pub(crate) form_of: Option<(&'static str, SecretForm)>,
    pub(crate) check: fn(&str) -> Result<(), String>,
}

impl PartialEq for Variable {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Variable {}

impl Variable {
    /// Never printed: only whether it is set. (A secret's `_KMS` form, ciphertext, is not
    /// printed either; the ARN and parameter names are not secret.)
    pub fn secret(&self) -> bool {
        match self.form_of {
            Some((_, form)) => form == SecretForm::Kms,
            None => self.flags.contains(&Flag::Secret),
        }
    }

    /// Whether it may be given per tenancy (`AUDITFWD_TENANCY_<NAME>_…`); a secret's other
    /// forms may be when the secret may.
    pub fn per_tenancy(&self) -> bool {
        match self.form_of {
            Some((plain, _)) => variable(plain).is_some_and(Variable::per_tenancy),
            None => self.flags.contains(&Flag::PerTenancy),
        }
    }

    /// Who reads it.
    pub fn read_by(&self) -> ReadBy {
        if self.form_of.is_some() {
            ReadBy::Secrets
        } else if self.flags.contains(&Flag::Logging) {
            ReadBy::Logging
        } else if self.flags.contains(&Flag::Command) {
            ReadBy::Command
        } else {
            ReadBy::Config
        }
    }

    /// What it does, on one line.
    pub fn doc(&self) -> String {
        if let Some((plain, form)) = self.form_of {
            return form.doc(plain);
        }
        self.doc_lines
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Checks a value with the variable's parser: `Err` says what is wrong and what is expected.
    pub fn check(&self, value: &str) -> Result<(), String> {
        (self.check)(value)
    }

    /// For a secret, its other forms: (`AUDITFWD_X_KMS`, [`SecretForm::Kms`]), …
    pub fn secret_forms(&self) -> impl Iterator<Item = (&'static str, SecretForm)> + '_ {
        let secret = self.form_of.is_none() && self.flags.contains(&Flag::Secret);
        self.form_names
            .iter()
            .copied()
            .zip(SecretForm::ALL)
            .filter(move |_| secret)
    }

    /// For a row that is another form of a secret: the plain variable's name and the form.
    pub fn form_of(&self) -> Option<(&'static str, SecretForm)> {
        self.form_of
    }

    fn form(&self, name: &'static str, form: SecretForm) -> Variable {
        Variable {
            name,
            default: None,
            form_of: Some((self.name, form)),
            check: non_empty,
            ..*self
        }
    }
}

fn non_empty(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err("empty".into())
    } else {
        Ok(())
    }
}

/// A variable and how its value is parsed into a `T`.
#[derive(Debug, Clone, Copy)]
pub struct Var<T: 'static> {
    /// The variable.
    pub variable: Variable,
    pub(crate) parse: fn(&str) -> Result<T, String>,
}

impl<T> Var<T> {
    /// Its name.
    pub const fn name(&self) -> &'static str {
        self.variable.name
    }
}

/// Every variable auditfwd reads, in reference order, each secret followed by its other forms.
pub fn variables() -> &'static [Variable] {
    static ALL: OnceLock<Vec<Variable>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = Vec::new();
        for v in crate::table::PRIMARY {
            all.push(**v);
            all.extend(v.secret_forms().map(|(name, form)| v.form(name, form)));
        }
        all
    })
}

/// The variable called `name`.
pub fn variable(name: &str) -> Option<&'static Variable> {
    variables().iter().find(|v| v.name == name)
}

/// Writes the table: see the module documentation.
macro_rules! define_variables {
    ($(
        $group:ident {
            $(
                $(#[doc = $doc:literal])+
                $([$($flag:ident),+])?
                $id:ident : $ty:ty = $parse:expr $(, $default:literal)? ;
            )+
        }
    )+) => {
        $($(
            $(#[doc = $doc])+
            pub const $id: Var<$ty> = Var {
                variable: Variable {
                    name: concat!("AUDITFWD_", stringify!($id)),
                    group: Group::$group,
                    default: define_variables!(@default $($default)?),
                    doc_lines: concat!($($doc, "\n"),+),
                    flags: &[$($(Flag::$flag),+)?],
                    form_names: [
                        concat!("AUDITFWD_", stringify!($id), "_KMS"),
                        concat!("AUDITFWD_", stringify!($id), "_SECRET_ARN"),
                        concat!("AUDITFWD_", stringify!($id), "_SSM_PARAMETER"),
                    ],
                    form_of: None,
                    check: |s| ($parse)(s).map(|_| ()),
                },
                parse: $parse,
            };
        )+)+
        /// The table's entries, in order, without the other forms of secrets.
        pub(crate) const PRIMARY: &[&Variable] = &[$($(&$id.variable),+),+];
    };
    (@default) => { None };
    (@default $default:literal) => { Some($default) };
}

pub(crate) use define_variables;
