//! The keys of database sources, as one database of the gateway names them,
//! and the text `pg_get_constraintdef` and `pg_get_indexdef` give for them.
//!
//! In the database `<source>` a key keeps its schema; in `tributary` the
//! source's default schema is the schema named after the source, so only
//! keys of that schema appear there (a foreign key only when the table it
//! references appears too).
//!
//! Constraints and their indexes get oids no `pg_class` row has:
//! datafusion-pg-catalog counts table oids up from 16384, these are hashed
//! into 2^30..2^31 from the database, table and key names, so they stay the
//! same from one query to the next (clients read a key's oid in one query
//! and pass it to `pg_get_constraintdef` in another).

use std::sync::Arc;

use tributary_connectors::remote::{Key, KeyKind, RemoteSource};

use crate::DEFAULT_CATALOG;
use crate::registry::Registry;

#[derive(Clone, Debug)]
struct KeySource {
    source: Arc<RemoteSource>,
    /// In `tributary`: the schema the source's default schema appears as.
    renamed: Option<String>,
}

/// The keys of one database of the gateway, read from the sources served
/// at the time of asking.
#[derive(Clone, Debug)]
pub(crate) struct DatabaseKeys {
    database: String,
    registry: Arc<Registry>,
}

impl DatabaseKeys {
    pub(crate) fn of(database: &str, registry: Arc<Registry>) -> Self {
        Self {
            database: database.to_owned(),
            registry,
        }
    }

    /// The keys of every database: the default one and each source's.
    pub(crate) fn of_every_database(registry: &Arc<Registry>) -> Vec<Self> {
        std::iter::once(DEFAULT_CATALOG.to_owned())
            .chain(registry.remote().into_keys())
            .map(|database| Self::of(&database, registry.clone()))
            .collect()
    }

    fn sources(&self) -> Vec<KeySource> {
        let remote = self.registry.remote();
        if self.database == DEFAULT_CATALOG {
            remote
                .into_iter()
                .map(|(name, source)| KeySource {
                    source,
                    renamed: Some(name),
                })
                .collect()
        } else {
            remote
                .get(&self.database)
                .map(|source| KeySource {
                    source: source.clone(),
                    renamed: None,
                })
                .into_iter()
                .collect()
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sources().iter().all(|s| s.source.keys().is_empty())
    }

    /// Every key, by the schema names of this database.
    pub(crate) fn keys(&self) -> Vec<NamedKey> {
        let mut keys = Vec::new();
        for KeySource { source, renamed } in self.sources() {
            let default = source.spec().default_schema();
            for key in source.keys().iter() {
                let Some(key) = rename(key, &default, renamed.as_deref()) else {
                    continue;
                };
                keys.push(NamedKey {
                    oid: hashed_oid(&[&self.database, &key.schema, &key.table, &key.name, "c"]),
                    referenced_index_oid: None,
                    index_oid: match key.kind {
                        KeyKind::Primary | KeyKind::Unique => Some(hashed_oid(&[
                            &self.database,
                            &key.schema,
                            &key.table,
                            &key.name,
                            "i",
                        ])),
                        KeyKind::Foreign { .. } => None,
                    },
                    key,
                });
            }
        }
        // A foreign key uses the unique index of the columns it references
        // (pgjdbc's getImportedKeys finds the referenced key through it).
        let referenced: Vec<Option<i32>> = keys
            .iter()
            .map(|foreign| {
                let KeyKind::Foreign {
                    schema,
                    table,
                    columns,
                } = &foreign.key.kind
                else {
                    return None;
                };
                keys.iter()
                    .find(|unique| {
                        unique.key.schema == *schema
                            && unique.key.table == *table
                            && same_columns(&unique.key.columns, columns)
                    })
                    .and_then(|unique| unique.index_oid)
            })
            .collect();
        for (key, index_oid) in keys.iter_mut().zip(referenced) {
            key.referenced_index_oid = index_oid;
        }
        keys
    }
}

fn same_columns(left: &[String], right: &[String]) -> bool {
    left.len() == right.len() && left.iter().all(|column| right.contains(column))
}

/// A key with the oids of its constraint and (primary and unique keys) index.
#[derive(Clone, Debug)]
pub(crate) struct NamedKey {
    pub key: Key,
    pub oid: i32,
    /// The index of a primary or unique key.
    pub index_oid: Option<i32>,
    /// The index of the key a foreign key references.
    pub referenced_index_oid: Option<i32>,
}

fn rename(key: &Key, default: &str, renamed: Option<&str>) -> Option<Key> {
    let Some(renamed) = renamed else {
        return Some(key.clone());
    };
    if key.schema != default {
        return None;
    }
    let kind = match &key.kind {
        KeyKind::Foreign {
            schema,
            table,
            columns,
        } if schema == default => KeyKind::Foreign {
            schema: renamed.to_owned(),
            table: table.clone(),
            columns: columns.clone(),
        },
        KeyKind::Foreign { .. } => return None,
        other => other.clone(),
    };
    Some(Key {
        schema: renamed.to_owned(),
        kind,
        ..key.clone()
    })
}

/// FNV-1a over the parts, into 2^30..2^31.
fn hashed_oid(parts: &[&str]) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    ((hash & 0x3fff_ffff) | 0x4000_0000) as i32
}

/// An identifier as PostgreSQL prints it: quoted unless it is lower case
/// letters, digits and underscores.
pub(crate) fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `pg_get_constraintdef`: `PRIMARY KEY (a, b)`, `UNIQUE (a)`,
/// `FOREIGN KEY (a) REFERENCES s.t(b)`.
pub(crate) fn constraint_definition(key: &Key) -> String {
    let columns = column_list(&key.columns);
    match &key.kind {
        KeyKind::Primary => format!("PRIMARY KEY ({columns})"),
        KeyKind::Unique => format!("UNIQUE ({columns})"),
        KeyKind::Foreign {
            schema,
            table,
            columns: referenced,
        } => format!(
            "FOREIGN KEY ({columns}) REFERENCES {}.{}({})",
            quote_ident(schema),
            quote_ident(table),
            column_list(referenced)
        ),
    }
}

/// `pg_get_indexdef` of a primary or unique key's index.
pub(crate) fn index_definition(key: &Key) -> String {
    format!(
        "CREATE UNIQUE INDEX {} ON {}.{} USING btree ({})",
        quote_ident(&key.name),
        quote_ident(&key.schema),
        quote_ident(&key.table),
        column_list(&key.columns)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: KeyKind) -> Key {
        Key {
            schema: "public".into(),
            table: "Orders".into(),
            name: "orders_pkey".into(),
            columns: vec!["id".into(), "Line".into()],
            kind,
        }
    }

    #[test]
    fn definitions_read_as_postgres_prints_them() {
        assert_eq!(
            constraint_definition(&key(KeyKind::Primary)),
            "PRIMARY KEY (id, \"Line\")"
        );
        let foreign = key(KeyKind::Foreign {
            schema: "public".into(),
            table: "customers".into(),
            columns: vec!["id".into(), "line".into()],
        });
        assert_eq!(
            constraint_definition(&foreign),
            "FOREIGN KEY (id, \"Line\") REFERENCES public.customers(id, line)"
        );
        assert_eq!(
            index_definition(&key(KeyKind::Primary)),
            "CREATE UNIQUE INDEX orders_pkey ON public.\"Orders\" USING btree (id, \"Line\")"
        );
    }

    #[test]
    fn keys_of_the_default_schema_move_to_the_source_schema() {
        let foreign = key(KeyKind::Foreign {
            schema: "public".into(),
            table: "customers".into(),
            columns: vec!["id".into()],
        });
        let renamed = rename(&foreign, "public", Some("pg")).expect("kept");
        assert_eq!(renamed.schema, "pg");
        assert!(matches!(renamed.kind, KeyKind::Foreign { ref schema, .. } if schema == "pg"));
        let elsewhere = Key {
            schema: "audit".into(),
            ..foreign.clone()
        };
        assert!(rename(&elsewhere, "public", Some("pg")).is_none());
        assert_eq!(rename(&elsewhere, "public", None), Some(elsewhere));
    }

    #[test]
    fn oids_are_stable_and_above_the_table_oids() {
        let oid = hashed_oid(&["tributary", "pg", "orders", "orders_pkey", "c"]);
        assert_eq!(
            oid,
            hashed_oid(&["tributary", "pg", "orders", "orders_pkey", "c"])
        );
        assert!(oid >= 1 << 30);
        assert_ne!(
            oid,
            hashed_oid(&["tributary", "pg", "orders", "orders_pkey", "i"])
        );
    }
}
