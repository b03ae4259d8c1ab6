//! A bound on the prepared statements one session keeps.
//!
//! pgwire keeps every named statement until the client closes it: a client
//! that prepares without closing (or a hostile one) grows the session's
//! memory without end, each statement holding its plan. Past
//! `max_prepared_statements` a new name gets 54000; names the client has
//! dropped since (Close, or DEALLOCATE through SQL, which the count does not
//! see) are forgotten first.

use std::collections::BTreeSet;
use std::sync::Mutex;

use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

use crate::sqlstate::codes;

/// The default bound: well above pgjdbc's statement cache (256 a connection).
pub const DEFAULT_MAX_PREPARED_STATEMENTS: usize = 1_000;

#[derive(Debug)]
pub(crate) struct PreparedNames {
    names: Mutex<BTreeSet<String>>,
    limit: usize,
}

impl PreparedNames {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            names: Mutex::new(BTreeSet::new()),
            limit,
        }
    }

    /// Counts `name` in, or refuses it. `still_kept` says whether the
    /// session still holds a statement of that name.
    pub(crate) fn admit(&self, name: &str, still_kept: impl Fn(&str) -> bool) -> PgWireResult<()> {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.contains(name) {
            return Ok(());
        }
        if names.len() >= self.limit {
            names.retain(|kept| still_kept(kept));
        }
        if names.len() >= self.limit {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".to_owned(),
                codes::PROGRAM_LIMIT_EXCEEDED.to_owned(),
                format!(
                    "too many prepared statements in this session ({}, [limits] \
                     max_prepared_statements): close some (Close, DEALLOCATE) before preparing more",
                    self.limit
                ),
            ))));
        }
        names.insert(name.to_owned());
        Ok(())
    }

    pub(crate) fn forget(&self, name: &str) {
        self.names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_limit_are_refused_until_one_is_dropped() {
        let names = PreparedNames::new(2);
        let kept = |_: &str| true;
        assert!(names.admit("a", kept).is_ok());
        assert!(names.admit("b", kept).is_ok());
        assert!(names.admit("a", kept).is_ok(), "the same name again");
        assert!(names.admit("c", kept).is_err());
        names.forget("a");
        assert!(names.admit("c", kept).is_ok());
        // A name dropped behind the count's back (DEALLOCATE) is forgotten.
        assert!(names.admit("d", |name| name != "b").is_ok());
    }
}
