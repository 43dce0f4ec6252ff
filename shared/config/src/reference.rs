//! The reference documents generated from the table: `docs/configuration.md` ([`markdown`])
//! and `.env.example` ([`env_example`]). Tests regenerate both and fail when the files differ;
//! `AUDITFWD_BLESS=1 cargo test -p auditfwd-config reference` rewrites them.

use std::fmt::Write as _;

use crate::var::{Group, ReadBy, variables};

/// The reference as Markdown (`docs/configuration.md`).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the table in `shared/config/src/table.rs`, the one place every variable is\n\
         written (the parser, `auditfwd config`, this file and `.env.example` all come from it).\n\
         Regenerate with `AUDITFWD_BLESS=1 cargo test -p auditfwd-config reference`.\n\n\
         Every variable is read once at start-up; every bad value is reported at once, each naming\n\
         its variable, and the process stops before doing anything. Durations take units (`90s`,\n\
         `20m`, `1h30m`, `2d`, `0`). Lists are comma-separated. An empty value counts as unset.\n\
         `auditfwd --config FILE` reads `NAME=value` lines (as in `.env.example`) for variables the\n\
         environment does not set; a name it does not know there is an error. An unknown\n\
         `AUDITFWD_*` name in the environment is a warning naming the closest known variable.\n\n\
         Secrets are never printed. Each secret `X` may instead be given as `X_KMS` (KMS\n\
         ciphertext), `X_SECRET_ARN` (an AWS Secrets Manager secret) or `X_SSM_PARAMETER` (an SSM\n\
         Parameter Store parameter), fetched once at start-up; only one form per secret.\n\n\
         ## Several tenancies\n\n\
         `AUDITFWD_TENANCIES=acme,globex` collects several tenancies from one deployment. The\n\
         variables marked *per tenancy* below may then be given for one tenancy as\n\
         `AUDITFWD_TENANCY_<NAME>_<rest>` (the name upper-cased, `-` as `_`), e.g.\n\
         `AUDITFWD_TENANCY_ACME_OCI_KEY_FILE` or `AUDITFWD_TENANCY_GLOBEX_EU_COMPARTMENTS_INCLUDE`;\n\
         a secret's other forms work the same way (`AUDITFWD_TENANCY_ACME_OCI_KEY_KMS`, made with\n\
         the encryption context `auditfwd:variable=AUDITFWD_TENANCY_ACME_OCI_KEY`).\n\n\
         - Credentials are each tenancy's own: its `_OCI_TENANCY`, `_OCI_USER`, `_OCI_KEY_FILE` or\n  \
           `_OCI_KEY`, `_OCI_FINGERPRINT`, `_OCI_KEY_PASSPHRASE`; or a profile of an OCI CLI config\n  \
           file (its own `_OCI_CONFIG_FILE`, else the shared `AUDITFWD_OCI_CONFIG_FILE`), the profile\n  \
           being `_OCI_PROFILE` or else the tenancy's name as written. The shared credential\n  \
           variables are refused with `AUDITFWD_TENANCIES`, so no tenancy signs with another's key.\n\
         - Regions, the API endpoints, the compartment rules and the Cloud Guard region are\n  \
           shared unless the tenancy gives its own; log searches are always the tenancy's own.\n\
         - Everything else is shared: one syslog destination, one checkpoint location (an\n  \
           `oci://` one signs as the first tenancy), one set of filters and limits. Progress is\n  \
           kept per tenancy OCID, so state, leases and manifests never mix; each tenancy has its\n  \
           own OCI request budget (`AUDITFWD_OCI_REQUESTS_PER_SECOND` each).\n\
         - Tenancies run side by side: one that fails (a revoked key, OCI unreachable) holds up no\n  \
           other. `auditfwd run --once` reports each and exits 1 if any failed; `auditfwd status`\n  \
           and `auditfwd check` report each; `--tenancy NAME` narrows any command to one, and\n  \
           `replay`, `gaps` and `init --reset-shard` need it when several are configured.\n\
         - The Lambda functions collect every tenancy too, each with its log searches, one\n  \
           bad tenancy holding up no other; their replay request names its `tenancy` when\n  \
           several are configured. How to set the template up for it: docs/operations.md,\n  \
           \"Several tenancies and log searches on Lambda\".\n",
    );
    let mut group = None;
    for v in variables() {
        if group != Some(v.group) {
            group = Some(v.group);
            let _ = write!(
                out,
                "\n## {}\n\n| Variable | Default | Secret | Meaning |\n|---|---|---|---|\n",
                v.group.title()
            );
        }
        let default = v.default.map_or("—".to_owned(), |d| format!("`{d}`"));
        let secret = if v.secret() { "yes" } else { "" };
        let per_tenancy = if v.per_tenancy() && v.form_of().is_none() {
            " *Per tenancy.*"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| `{}` | {default} | {secret} | {}{per_tenancy} |",
            v.name,
            v.doc().replace('|', "\\|")
        );
    }
    out
}

/// `.env.example`: every variable with its default (or empty), its documentation above it.
/// The other forms of secrets are commented out: give a secret one way only.
pub fn env_example() -> String {
    let mut out = String::from(
        "# auditfwd configuration: every variable it reads, with its default (empty: unset).\n\
         # Generated from shared/config/src/table.rs; docs/configuration.md has the same table.\n\
         # Use it as `auditfwd --config FILE` (the environment wins over the file) or as an\n\
         # environment file. Durations take units: 90s, 20m, 1h30m, 2d, or 0.\n",
    );
    let mut group: Option<Group> = None;
    for v in variables() {
        if v.read_by() == ReadBy::Command {
            continue;
        }
        if group != Some(v.group) {
            group = Some(v.group);
            let _ = write!(out, "\n# --- {} ---\n", v.group.title());
        }
        for line in wrap(&v.doc(), 96) {
            let _ = writeln!(out, "# {line}");
        }
        let comment = if v.form_of().is_some() { "# " } else { "" };
        let _ = writeln!(out, "{comment}{}={}", v.name, v.default.unwrap_or_default());
    }
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().filter(|l| l.len() + word.len() < width);
        match line {
            Some(l) if !l.is_empty() => {
                l.push(' ');
                l.push_str(word);
            }
            Some(l) => l.push_str(word),
            None => lines.push(word.to_owned()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use super::*;
    use crate::Config;
    use crate::var::variable;

    fn check_generated(relative: &str, want: &str) {
        let path = format!("{}/../../{relative}", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("AUDITFWD_BLESS").is_some() {
            std::fs::write(&path, want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{relative} is out of date: run AUDITFWD_BLESS=1 cargo test -p auditfwd-config reference"
        );
    }

    #[test]
    fn reference_doc_is_generated_from_the_table() {
        check_generated("docs/configuration.md", &markdown());
    }

    #[test]
    fn reference_env_example_is_generated_from_the_table_and_parses_as_a_config_file() {
        check_generated(".env.example", &env_example());
        let path = format!("{}/../../.env.example", env!("CARGO_MANIFEST_DIR"));
        crate::Sources::default()
            .with_file(std::path::Path::new(&path))
            .unwrap();
    }

    /// Every variable the parser reads is in the table (it reads through the table's handles
    /// only), and every variable of the table meant for the parser is read: three
    /// configurations together take every branch that reads one.
    #[test]
    fn the_parser_reads_exactly_the_config_variables_of_the_table() {
        let mut read = BTreeSet::new();
        let mut tls = crate::tests_support::minimal_vars();
        tls.retain(|(k, _)| k != "AUDITFWD_SYSLOG_URL");
        tls.push(("AUDITFWD_SYSLOG_URL".into(), "tls://siem:6514".into()));
        let mut profile = crate::tests_support::minimal_vars();
        profile.retain(|(k, _)| !k.starts_with("AUDITFWD_OCI_") || k == "AUDITFWD_OCI_REGIONS");
        profile.push(("AUDITFWD_OCI_CONFIG_FILE".into(), "/nonexistent".into()));
        for vars in [crate::tests_support::minimal_vars(), tls, profile] {
            let (result, names) = Config::parse(vars);
            result.unwrap();
            read.extend(names);
        }
        for v in variables() {
            assert_eq!(
                read.contains(v.name),
                v.read_by() == ReadBy::Config,
                "{} ({:?})",
                v.name,
                v.read_by()
            );
        }
    }

    /// The defaults the reference documents are the parser's: setting every documented
    /// default explicitly gives the same configuration as leaving it unset.
    #[test]
    fn documented_defaults_are_the_real_defaults() {
        let minimal = crate::tests_support::minimal_vars();
        let implicit = Config::from_vars(minimal.clone()).unwrap();
        let mut explicit = minimal;
        for v in variables() {
            // A profile name only applies with a config file, which the minimal set lacks.
            if let Some(d) = v.default
                && v.name != "AUDITFWD_OCI_PROFILE"
            {
                explicit.push((v.name.to_owned(), d.to_owned()));
            }
        }
        let explicit = Config::from_vars(explicit).unwrap();
        assert_eq!(format!("{implicit:?}"), format!("{explicit:?}"));
        for v in variables() {
            if let Some(d) = v.default {
                assert_eq!(v.check(d), Ok(()), "{}'s default", v.name);
            }
        }
        assert_eq!(
            variable("AUDITFWD_SYSLOG_RELP_WINDOW").unwrap().default,
            Some(
                auditfwd_syslog::transport::DEFAULT_RELP_WINDOW
                    .to_string()
                    .as_str()
            )
        );
    }

    #[test]
    fn names_are_unique_and_secrets_have_their_other_forms() {
        let names: BTreeSet<_> = variables().iter().map(|v| v.name).collect();
        assert_eq!(names.len(), variables().len(), "a variable is listed twice");
        let secrets: Vec<&str> = variables()
            .iter()
            .filter(|v| v.secret() && v.form_of().is_none())
            .map(|v| v.name)
            .collect();
        assert_eq!(
            secrets,
            [
                "AUDITFWD_OCI_KEY",
                "AUDITFWD_OCI_KEY_PASSPHRASE",
                "AUDITFWD_SYSLOG_TLS_KEY"
            ]
        );
        for s in secrets {
            for suffix in ["_KMS", "_SECRET_ARN", "_SSM_PARAMETER"] {
                let form = variable(&format!("{s}{suffix}")).unwrap();
                assert_eq!(form.read_by(), ReadBy::Secrets);
                assert_eq!(form.form_of().unwrap().0, s);
            }
        }
    }
}
