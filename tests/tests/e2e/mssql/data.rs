//! The federation test data (tests/federation/mysql.sql) as CSV files for
//! pysqlbridge, which infers each column's type from its values: int,
//! bigint, float or nvarchar (dates stay text). An empty cell is NULL.

fn csv_field(value: Option<String>) -> String {
    match value {
        None => String::new(),
        Some(text) => format!("\"{}\"", text.replace('"', "\"\"")),
    }
}

fn csv(header: &str, rows: Vec<Vec<Option<String>>>) -> String {
    let mut out = format!("{header}\n");
    for row in rows {
        let fields: Vec<String> = row.into_iter().map(csv_field).collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn some(value: impl ToString) -> Option<String> {
    Some(value.to_string())
}

fn day(offset: i64) -> String {
    (chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default()
        + chrono::Duration::days(offset))
    .to_string()
}

/// `items`: ten hand-written rows (quotes, backslashes, Unicode, NULLs in
/// every column, trailing spaces) and fifty generated ones. `flag` is 1/0.
pub fn items() -> String {
    let n = None::<String>;
    let mut rows = vec![
        vec![
            some(1),
            some("plain"),
            some("a"),
            some(10),
            some(12.5),
            some(1.5),
            some(1),
            some("2024-03-10"),
        ],
        vec![
            some(2),
            some("it's quoted"),
            some("a"),
            n.clone(),
            some(0.5),
            some(-2.25),
            some(0),
            some("2024-03-31"),
        ],
        vec![
            some(3),
            some("back\\slash"),
            some("b"),
            some(3),
            some(99999999.5),
            some(0),
            n.clone(),
            some("2024-10-27"),
        ],
        vec![
            some(4),
            some("100% sure"),
            some("b"),
            some(0),
            some(-12.25),
            some(10000000000.5),
            some(1),
            n.clone(),
        ],
        vec![
            some(5),
            some("under_score"),
            n.clone(),
            some(7),
            n.clone(),
            n.clone(),
            some(0),
            some("2000-02-29"),
        ],
        vec![
            some(6),
            some("Ünïcödé ✓ 日本"),
            some("c"),
            some(-4),
            some(1.1),
            some(3.25),
            some(1),
            some("1999-12-31"),
        ],
        vec![
            some(7),
            n.clone(),
            some("c"),
            some(2),
            some(2.2),
            n.clone(),
            n.clone(),
            some("2024-11-03"),
        ],
        vec![
            some(8),
            n.clone(),
            some("a"),
            some(5),
            some(3.3),
            some(4.5),
            some(0),
            some("2024-02-29"),
        ],
        vec![
            some(9),
            some("UPPER lower"),
            some("b"),
            n.clone(),
            some(4.4),
            some(-0.5),
            some(1),
            some("2023-03-26"),
        ],
        vec![
            some(10),
            some("trailing space "),
            some("d"),
            some(1),
            some(5.5),
            some(2.75),
            some(1),
            some("2024-01-01"),
        ],
    ];
    for seq in 11..=60i64 {
        rows.push(vec![
            some(seq),
            some(format!("item{seq}")),
            some(char::from(b'a' + (seq % 4) as u8)),
            if seq % 5 == 0 { None } else { some(seq % 7) },
            some(seq as f64 * 1.25),
            some(seq as f64 / 4.0),
            some(i64::from(seq % 2 == 0)),
            some(day(seq)),
        ]);
    }
    csv("id,name,category,qty,price,score,flag,created", rows)
}

/// `orders`: 300 rows referring to items, some to none.
pub fn orders() -> String {
    let rows = (1..=300i64)
        .map(|seq| {
            vec![
                some(seq),
                if seq % 9 == 0 {
                    None
                } else {
                    some(seq % 70 + 1)
                },
                some((seq % 13) as f64 * 3.5),
                some(day(31 + seq % 30)),
                if seq % 4 == 0 {
                    None
                } else {
                    some(format!("n{}", seq % 3))
                },
            ]
        })
        .collect();
    csv("order_id,item_id,amount,placed,note", rows)
}

pub fn mixed_case() -> String {
    csv(
        "Id,Value,lower_col",
        vec![
            vec![some(1), some("one"), some(10)],
            vec![some(2), some("two"), None],
            vec![some(3), None, some(30)],
        ],
    )
}

/// `big`: enough rows for several batches of the connector (8192 each).
pub const BIG_ROWS: i64 = 20_000;

pub fn big() -> String {
    let rows = (1..=BIG_ROWS)
        .map(|id| {
            vec![
                some(id),
                some(id * 3 % 1000),
                some(format!("row {id}")),
                some(id * 1_000_000),
            ]
        })
        .collect();
    // `w` passes 2^31: pysqlbridge sends it as a bigint.
    csv("id,v,label,w", rows)
}

/// Every table, as `MssqlServer::bridge` takes them.
pub fn tables() -> Vec<(&'static str, String)> {
    vec![
        ("items", items()),
        ("orders", orders()),
        ("MixedCase", mixed_case()),
        ("big", big()),
    ]
}
