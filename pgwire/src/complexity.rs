//! How deep a statement's trees can be, read from its text before it is
//! parsed, so that no statement overflows a thread's stack.
//!
//! The SQL parser bounds nesting by parentheses (DataFusion's
//! `sql_parser.recursion_limit`), but chains are parsed in a loop into
//! left-deep trees: `SELECT 1 UNION SELECT 2 UNION …` or `a AND b AND …`
//! of a few thousand terms is accepted, and then every recursive walk of
//! the tree (cloning it, planning it, optimizing it, even dropping it)
//! recurses once per term. A 200-arm UNION overflowed a connection thread's
//! 2 MiB stack, aborting the whole process. The tree cannot be measured
//! once it exists (dropping it is already recursive), so its depth is
//! bounded from the tokens: every binary or prefix operator, set operation
//! and CASE at one parenthesis level can add a level below the ones open
//! around it; a comma starts a new sibling. The estimate is never below the
//! real depth, and at most a small factor above it for common shapes.

use crate::sqlstate::codes;

/// The default deepest estimate accepted. Planning a tree this deep needs
/// a few MiB of stack in a debug build; the threads that plan have
/// `PLANNING_STACK_BYTES`.
pub const DEFAULT_MAX_STATEMENT_DEPTH: usize = 1_000;

/// The stack size the threads that parse, plan and run statements need
/// for `DEFAULT_MAX_STATEMENT_DEPTH`.
pub const PLANNING_STACK_BYTES: usize = 64 << 20;

/// PostgreSQL's answer to a statement nested too deeply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "stack depth limit exceeded: the statement nests about {depth} levels deep, the limit is {limit}"
)]
pub struct TooComplex {
    pub depth: usize,
    pub limit: usize,
}

impl TooComplex {
    pub fn sqlstate(&self) -> &'static str {
        codes::STATEMENT_TOO_COMPLEX
    }

    pub fn hint(&self) -> &'static str {
        "split the statement (fewer UNION arms, shorter AND/OR chains or IN lists instead), \
         or raise [limits] max_statement_depth"
    }
}

/// Refuses `sql` if its trees could nest deeper than `limit`.
pub fn check_statement_depth(sql: &str, limit: usize) -> Result<(), TooComplex> {
    let depth = estimated_depth(sql);
    if depth > limit {
        Err(TooComplex { depth, limit })
    } else {
        Ok(())
    }
}

/// Keywords that join two operands (or prefix one) into a deeper tree.
const CHAIN_KEYWORDS: [&str; 9] = [
    "AND",
    "OR",
    "NOT",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "CASE",
    "LIKE",
    "ILIKE",
];

/// An upper bound on the depth of the trees `sql` parses into.
pub fn estimated_depth(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    // Operators seen at each open parenthesis level since its last comma.
    let mut levels: Vec<usize> = vec![0];
    // Sum of `1 + operators` over the open levels.
    let mut depth = 1usize;
    let mut deepest = depth;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' => i = skip_quoted(bytes, i, b'\'', is_escape_string(bytes, i)),
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..]
                    .iter()
                    .position(|c| *c == b'\n')
                    .map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            b'$' if dollar_tag(bytes, i).is_some() => {
                i = skip_dollar_quoted(bytes, i);
            }
            b'(' | b'[' => {
                levels.push(0);
                depth += 1;
                i += 1;
            }
            b')' | b']' => {
                if levels.len() > 1 {
                    let operators = levels.pop().unwrap_or(0);
                    depth -= 1 + operators;
                }
                i += 1;
            }
            b',' | b';' => {
                if let Some(operators) = levels.last_mut() {
                    depth -= *operators;
                    *operators = 0;
                }
                i += 1;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'|' | b'&' | b'#' | b'~' | b'<' | b'>'
            | b'=' | b'!' | b'@' | b':' => {
                // A run of operator characters is one operator (`||`, `<=`, `::`).
                while i < bytes.len() && is_operator_char(bytes[i]) {
                    if bytes[i] == b'-' && bytes.get(i + 1) == Some(&b'-') {
                        break;
                    }
                    i += 1;
                }
                add_operator(&mut levels, &mut depth);
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &sql[start..i];
                if CHAIN_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word)) {
                    add_operator(&mut levels, &mut depth);
                }
            }
            _ => i += 1,
        }
        deepest = deepest.max(depth);
    }
    deepest
}

fn add_operator(levels: &mut [usize], depth: &mut usize) {
    if let Some(operators) = levels.last_mut() {
        *operators += 1;
        *depth += 1;
    }
}

fn is_operator_char(c: u8) -> bool {
    matches!(
        c,
        b'+' | b'-'
            | b'*'
            | b'/'
            | b'%'
            | b'^'
            | b'|'
            | b'&'
            | b'#'
            | b'~'
            | b'<'
            | b'>'
            | b'='
            | b'!'
            | b'@'
            | b':'
    )
}

/// `E'…'` strings take backslash escapes.
fn is_escape_string(bytes: &[u8], quote: usize) -> bool {
    quote > 0
        && matches!(bytes[quote - 1], b'e' | b'E')
        && (quote < 2 || !(bytes[quote - 2].is_ascii_alphanumeric() || bytes[quote - 2] == b'_'))
}

/// The index after a quoted string or name that starts at `start`; a
/// doubled quote is part of it.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8, backslashes: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if backslashes && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Block comments nest in PostgreSQL.
fn skip_block_comment(bytes: &[u8], start: usize) -> usize {
    let mut nesting = 0usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' {
            nesting += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            nesting -= 1;
            i += 2;
            if nesting == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The tag of a dollar quote starting at `start` (`$$` or `$name$`).
fn dollar_tag(bytes: &[u8], start: usize) -> Option<&[u8]> {
    // `$1` is a parameter, and `a$b` part of a name.
    if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
        return None;
    }
    let rest = &bytes[start + 1..];
    let end = rest
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))?;
    if rest[end] != b'$' || rest.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some(&bytes[start..start + end + 2])
}

fn skip_dollar_quoted(bytes: &[u8], start: usize) -> usize {
    let Some(tag) = dollar_tag(bytes, start) else {
        return start + 1;
    };
    let body = start + tag.len();
    bytes[body..]
        .windows(tag.len())
        .position(|w| w == tag)
        .map_or(bytes.len(), |at| body + at + tag.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn union(arms: usize) -> String {
        (0..arms)
            .map(|n| format!("SELECT {n}"))
            .collect::<Vec<_>>()
            .join(" UNION ")
    }

    #[test]
    fn chains_count_their_terms() {
        assert!(estimated_depth(&union(200)) >= 200);
        let and_chain = (0..500)
            .map(|n| format!("x = {n}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        assert!(estimated_depth(&format!("SELECT * FROM t WHERE {and_chain}")) >= 500);
        let plus = vec!["1"; 3000].join("+");
        assert!(estimated_depth(&format!("SELECT {plus}")) >= 3000);
    }

    #[test]
    fn wide_statements_stay_shallow() {
        let columns = (0..5000)
            .map(|n| format!("c{n} + 1 AS s{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(estimated_depth(&format!("SELECT {columns} FROM t")) < 10);
        let in_list = (0..20_000)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        assert!(estimated_depth(&format!("SELECT * FROM t WHERE id IN ({in_list})")) < 10);
    }

    #[test]
    fn quoted_text_and_comments_are_not_operators() {
        let text = format!(
            "SELECT '{}' AS a, \"{}\" -- {}\n",
            "+".repeat(5000),
            "-".repeat(5000),
            "AND ".repeat(5000)
        );
        assert!(estimated_depth(&text) < 10);
        let dollar = format!(
            "SELECT $tag${}$tag$, $$ {} $$ /* {} /* nested */ */ 1",
            "AND ".repeat(5000),
            "+".repeat(5000),
            "OR ".repeat(5000)
        );
        assert!(estimated_depth(&dollar) < 10);
        // Escapes: the quote after a backslash does not end an E'…' string.
        assert!(estimated_depth(&format!("SELECT E'\\' {} '", "+ ".repeat(5000))) < 10);
    }

    #[test]
    fn parentheses_nest() {
        let nested = format!("SELECT {}1{}", "(".repeat(300), ")".repeat(300));
        assert!(estimated_depth(&nested) > 300);
        // Unbalanced closing parentheses do not underflow.
        assert!(estimated_depth("SELECT 1))) + 2") < 5);
    }

    #[test]
    fn the_limit_gives_54001() {
        let error = check_statement_depth(&union(2000), DEFAULT_MAX_STATEMENT_DEPTH)
            .expect_err("2000 arms are too deep");
        assert_eq!(error.sqlstate(), "54001");
        assert!(check_statement_depth(&union(200), DEFAULT_MAX_STATEMENT_DEPTH).is_ok());
    }
}
