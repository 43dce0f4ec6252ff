//! Reading variables through the table's typed handles: each parse records a problem naming the
//! variable instead of stopping, so a user sees every mistake in one go.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::var::Var;

/// One unusable variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable.
    pub variable: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Every problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in the order the variables are read.
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// Whether trying again can help: never, the configuration must be changed.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration:")?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// The variables being parsed, the problems found so far, and which variables were read.
pub(crate) struct Reader {
    map: BTreeMap<String, String>,
    pub(crate) problems: Vec<Problem>,
    /// Every table variable asked for (tests check the parser reads the whole table).
    pub(crate) read: BTreeSet<&'static str>,
    /// While one tenancy's settings are read: its variables' prefix
    /// (`AUDITFWD_TENANCY_<NAME>_`), and whether a variable it does not set is taken from the
    /// shared one.
    scope: Option<TenancyScope>,
}

/// Reading one tenancy's variables.
#[derive(Debug, Clone)]
pub(crate) struct TenancyScope {
    /// `AUDITFWD_TENANCY_<NAME>_`.
    pub(crate) prefix: String,
    /// Shared variables the tenancy inherits when it does not set its own.
    pub(crate) inherits: &'static [&'static str],
}

impl Reader {
    pub(crate) fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Reader {
            map: vars.into_iter().collect(),
            problems: Vec::new(),
            read: BTreeSet::new(),
            scope: None,
        }
    }

    /// Reads one tenancy's variables until [`Reader::end_scope`].
    pub(crate) fn begin_scope(&mut self, scope: TenancyScope) {
        self.scope = Some(scope);
    }

    /// Back to the shared variables.
    pub(crate) fn end_scope(&mut self) {
        self.scope = None;
    }

    /// The name `var` has where it is read now: `AUDITFWD_TENANCY_<NAME>_…` in a tenancy's
    /// scope (for a variable that may be given per tenancy), else its own.
    pub(crate) fn name_of<T>(&self, var: &Var<T>) -> String {
        match &self.scope {
            Some(scope) if var.variable.per_tenancy() => {
                let rest = var.name().strip_prefix("AUDITFWD_").unwrap_or(var.name());
                format!("{}{rest}", scope.prefix)
            }
            _ => var.name().to_owned(),
        }
    }

    /// Where `var`'s value is, and the name it was found under: the tenancy's own variable,
    /// else (for what it inherits) the shared one.
    fn lookup<T>(&self, var: &Var<T>) -> Option<(String, &str)> {
        let own = self.name_of(var);
        if let Some(text) = self.raw(&own) {
            return Some((own, text));
        }
        let scope = self.scope.as_ref()?;
        if own != var.name() && scope.inherits.contains(&var.name()) {
            return self.raw(var.name()).map(|t| (var.name().to_owned(), t));
        }
        None
    }

    /// The trimmed text of `var`; an empty value counts as unset.
    pub(crate) fn text<T>(&mut self, var: &Var<T>) -> Option<&str> {
        self.read.insert(var.name());
        self.lookup(var).map(|(_, t)| t)
    }

    /// A variable that is not auditfwd's (`HOME`), trimmed; empty counts as unset.
    pub(crate) fn raw(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn is_set<T>(&mut self, var: &Var<T>) -> bool {
        self.text(var).is_some()
    }

    pub(crate) fn problem<T>(&mut self, var: &Var<T>, message: impl Into<String>) {
        let name = self.name_of(var);
        self.problem_named(&name, message);
    }

    pub(crate) fn problem_named(&mut self, name: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            variable: name.to_owned(),
            message: message.into(),
        });
    }

    /// The user's value of `var`, parsed; `None` when unset, or when it does not parse (the
    /// problem is recorded).
    pub(crate) fn get<T>(&mut self, var: &Var<T>) -> Option<T> {
        self.read.insert(var.name());
        let (name, text) = self.lookup(var)?;
        let parsed = (var.parse)(text);
        match parsed {
            Ok(v) => Some(v),
            Err(message) => {
                self.problem_named(&name, message);
                None
            }
        }
    }

    /// Like [`get`](Self::get), but an unset value is a problem: "required: `what`".
    pub(crate) fn required<T>(&mut self, var: &Var<T>, what: &str) -> Option<T> {
        if !self.is_set(var) {
            self.problem(var, format!("required: {what}"));
            return None;
        }
        self.get(var)
    }

    /// The user's value of `var`, or its default. A bad value is recorded and the default
    /// stands in (the configuration is refused anyway). A variable without a default, or
    /// whose default does not parse, is a bug in the table, recorded as a problem too, so
    /// every test of a valid configuration catches it.
    pub(crate) fn value<T: Default>(&mut self, var: &Var<T>) -> T {
        if let Some(v) = self.get(var) {
            return v;
        }
        let parsed = var
            .variable
            .default
            .ok_or_else(|| "the table gives no default (a bug)".to_owned())
            .and_then(|d| (var.parse)(d));
        match parsed {
            Ok(v) => v,
            Err(e) => {
                self.problem(var, format!("built-in default unusable: {e}"));
                T::default()
            }
        }
    }
}
