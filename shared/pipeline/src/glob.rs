//! Case-insensitive `*` / `?` wildcards for event types and principal names
//! (`com.oraclecloud.ComputeApi.Get*`, `*.ListEvents`). Small on purpose: no regex engine, no
//! character classes, linear-time matching.

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
    text: String,
}

impl Glob {
    /// Compiles `pattern` (`*` any run, `?` any one character; matching ignores ASCII case).
    pub fn new(pattern: &str) -> Self {
        Glob {
            pattern: pattern.to_ascii_lowercase().chars().collect(),
            text: pattern.to_owned(),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `s` matches the whole pattern.
    pub fn matches(&self, s: &str) -> bool {
        let s: Vec<char> = s.to_ascii_lowercase().chars().collect();
        let p = &self.pattern;
        let (mut si, mut pi) = (0, 0);
        // Position of the last '*' in the pattern, and where in `s` it started matching.
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
                si += 1;
                pi += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, si));
                pi += 1;
            } else if let Some((sp, ss)) = star {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn wildcards_match_whole_strings_ignoring_case() {
        let t = "com.oraclecloud.ComputeApi.GetInstance";
        for (p, yes) in [
            ("com.oraclecloud.ComputeApi.Get*", true),
            ("*.getinstance", true),
            ("*Compute*Get*", true),
            ("com.oraclecloud.ComputeApi.GetInstanc?", true),
            ("*", true),
            ("com.oraclecloud.ComputeApi.Get", false),
            ("*.List*", false),
            ("", false),
            ("com.oraclecloud.ComputeApi.GetInstance?", false),
        ] {
            assert_eq!(Glob::new(p).matches(t), yes, "{p}");
        }
        assert!(Glob::new("").matches(""));
        assert!(Glob::new("a*b*c").matches("aXXbYYc") && !Glob::new("a*b*c").matches("aXXbYY"));
    }
}
