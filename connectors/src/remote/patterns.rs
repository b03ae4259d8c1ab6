//! Which of a database's tables a source exposes: glob patterns over
//! `schema.table`, as written in the config (`include = ["public.*"]`).

use glob::{MatchOptions, Pattern};

/// Include and exclude patterns; a table is exposed when it matches an
/// include (all tables when there is none) and no exclude.
#[derive(Debug, Clone, Default)]
pub struct TablePatterns {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

/// Names are compared exactly: `Orders` and `orders` are two tables in both
/// databases when quoted.
const EXACT: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

impl TablePatterns {
    /// Fails with the first pattern that is not a valid glob.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, String> {
        let compile = |patterns: &[String]| -> Result<Vec<Pattern>, String> {
            patterns
                .iter()
                .map(|p| {
                    let p = if p.contains('.') {
                        p.clone()
                    } else {
                        // A bare name means a whole schema.
                        format!("{p}.*")
                    };
                    Pattern::new(&p).map_err(|e| format!("pattern {p:?}: {e}"))
                })
                .collect()
        };
        Ok(Self {
            include: compile(include)?,
            exclude: compile(exclude)?,
        })
    }

    pub fn exposes(&self, schema: &str, table: &str) -> bool {
        let name = format!("{schema}.{table}");
        let included =
            self.include.is_empty() || self.include.iter().any(|p| p.matches_with(&name, EXACT));
        included && !self.exclude.iter().any(|p| p.matches_with(&name, EXACT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_and_exclude_combine() -> Result<(), String> {
        let patterns = TablePatterns::new(
            &["public.*".to_owned(), "sales".to_owned()],
            &["public.tmp_*".to_owned()],
        )?;
        assert!(patterns.exposes("public", "orders"));
        assert!(patterns.exposes("sales", "x"));
        assert!(!patterns.exposes("public", "tmp_load"));
        assert!(!patterns.exposes("hr", "salaries"));
        assert!(!patterns.exposes("Public", "orders"));
        let everything = TablePatterns::new(&[], &[])?;
        assert!(everything.exposes("any", "Thing"));
        Ok(())
    }
}
