//! The primary, unique and foreign keys a database declares, read when the
//! source is listed, so that clients browsing the gateway's `pg_catalog`
//! (JDBC's `getPrimaryKeys`, SQLAlchemy's `get_pk_constraint` and
//! `get_foreign_keys`, psql's `\d`) see them as they would on the source.

/// What a key is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Primary,
    Unique,
    /// References `columns` of `schema.table` in the same database.
    Foreign {
        schema: String,
        table: String,
        columns: Vec<String>,
    },
}

/// One key of one table, with its columns in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub columns: Vec<String>,
    pub kind: KeyKind,
}

/// Every key outside the system schemas; each constraint is one row, its
/// columns (and referenced columns) as arrays in key order.
pub(crate) const POSTGRES_KEYS: &str = "\
SELECT n.nspname::text, t.relname::text, c.conname::text, c.contype::text, \
  ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(num, ord) \
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.ord), \
  rn.nspname::text, rt.relname::text, \
  ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(num, ord) \
        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.ord) \
FROM pg_constraint c \
JOIN pg_class t ON t.oid = c.conrelid \
JOIN pg_namespace n ON n.oid = t.relnamespace \
LEFT JOIN pg_class rt ON rt.oid = c.confrelid \
LEFT JOIN pg_namespace rn ON rn.oid = rt.relnamespace \
WHERE c.contype IN ('p', 'u', 'f') \
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
  AND n.nspname NOT LIKE 'pg\\_%' \
ORDER BY 1, 2, 3";

/// One row per key column, in key order.
pub(crate) const MYSQL_KEYS: &str = "\
SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, c.CONSTRAINT_TYPE, k.COLUMN_NAME, \
  k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME \
FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE k \
JOIN INFORMATION_SCHEMA.TABLE_CONSTRAINTS c \
  ON c.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND c.TABLE_SCHEMA = k.TABLE_SCHEMA \
 AND c.TABLE_NAME = k.TABLE_NAME AND c.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
WHERE c.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') \
  AND k.TABLE_SCHEMA NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') \
ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION";

/// A PostgreSQL `pg_constraint` row as [`POSTGRES_KEYS`] reads it.
pub(crate) struct PostgresConstraint {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub contype: String,
    pub columns: Vec<String>,
    pub referenced_schema: Option<String>,
    pub referenced_table: Option<String>,
    pub referenced_columns: Vec<String>,
}

pub(crate) fn from_postgres(rows: Vec<PostgresConstraint>) -> Vec<Key> {
    rows.into_iter()
        .filter_map(|row| {
            let kind = match row.contype.as_str() {
                "p" => KeyKind::Primary,
                "u" => KeyKind::Unique,
                "f" => KeyKind::Foreign {
                    schema: row.referenced_schema?,
                    table: row.referenced_table?,
                    columns: row.referenced_columns,
                },
                _ => return None,
            };
            Some(Key {
                schema: row.schema,
                table: row.table,
                name: row.name,
                columns: row.columns,
                kind,
            })
        })
        .collect()
}

/// A row of [`MYSQL_KEYS`]: schema, table, constraint, type, column, and
/// the referenced schema, table and column of a foreign key.
pub(crate) type MysqlKeyColumn = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Folds key columns into keys. MySQL names every primary key `PRIMARY`;
/// PostgreSQL clients expect index names unique within a schema, so it
/// becomes `<table>_pkey`, PostgreSQL's own default.
pub(crate) fn from_mysql(rows: Vec<MysqlKeyColumn>) -> Vec<Key> {
    let mut keys: Vec<Key> = Vec::new();
    for (schema, table, name, kind, column, ref_schema, ref_table, ref_column) in rows {
        let name = if kind == "PRIMARY KEY" {
            format!("{table}_pkey")
        } else {
            name
        };
        let same = keys
            .last_mut()
            .filter(|key| key.schema == schema && key.table == table && key.name == name);
        if let Some(key) = same {
            key.columns.push(column);
            if let (KeyKind::Foreign { columns, .. }, Some(ref_column)) =
                (&mut key.kind, ref_column)
            {
                columns.push(ref_column);
            }
            continue;
        }
        let kind = match kind.as_str() {
            "PRIMARY KEY" => KeyKind::Primary,
            "UNIQUE" => KeyKind::Unique,
            _ => match (ref_schema, ref_table, ref_column) {
                (Some(schema), Some(table), Some(column)) => KeyKind::Foreign {
                    schema,
                    table,
                    columns: vec![column],
                },
                _ => continue,
            },
        };
        keys.push(Key {
            schema,
            table,
            name,
            columns: vec![column],
            kind,
        });
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        table: &str,
        name: &str,
        kind: &str,
        column: &str,
        refers: Option<(&str, &str)>,
    ) -> MysqlKeyColumn {
        (
            "fed".into(),
            table.into(),
            name.into(),
            kind.into(),
            column.into(),
            refers.map(|_| "fed".to_owned()),
            refers.map(|(t, _)| t.to_owned()),
            refers.map(|(_, c)| c.to_owned()),
        )
    }

    #[test]
    fn mysql_key_columns_fold_into_keys() {
        let keys = from_mysql(vec![
            row("lines", "PRIMARY", "PRIMARY KEY", "order_id", None),
            row("lines", "PRIMARY", "PRIMARY KEY", "line", None),
            row(
                "lines",
                "lines_order",
                "FOREIGN KEY",
                "order_id",
                Some(("orders", "id")),
            ),
            row("orders", "PRIMARY", "PRIMARY KEY", "id", None),
        ]);
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0].name, "lines_pkey");
        assert_eq!(keys[0].columns, ["order_id", "line"]);
        assert_eq!(
            keys[1].kind,
            KeyKind::Foreign {
                schema: "fed".into(),
                table: "orders".into(),
                columns: vec!["id".into()],
            }
        );
        assert_eq!(keys[2].name, "orders_pkey");
    }
}
