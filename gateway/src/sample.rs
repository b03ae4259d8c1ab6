//! The embedded sample dataset, written into the data dir at first start:
//! `customers` (CSV), `orders` (Parquet) and `events` (NDJSON with nested
//! objects and arrays), related by `customer_id`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use datafusion::arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, Int32Builder, Int64Builder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

pub const CUSTOMERS: usize = 1_000;
pub const ORDERS: usize = 120_000;
pub const EVENTS: usize = 20_000;

const COUNTRIES: [&str; 8] = ["DE", "FR", "US", "BR", "JP", "IN", "NG", "AU"];
const SEGMENTS: [&str; 3] = ["consumer", "smb", "enterprise"];
const STATUSES: [&str; 4] = ["placed", "shipped", "delivered", "returned"];
const EVENT_TYPES: [&str; 4] = ["page_view", "search", "add_to_cart", "checkout"];
const OSES: [&str; 3] = ["ios", "android", "web"];
const FIRST: [&str; 8] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Frances", "Donald",
];
const LAST: [&str; 8] = [
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Allen", "Knuth",
];

/// Days from 1970-01-01 to 2024-01-01.
const EPOCH_2024: i32 = 19_723;

/// A small deterministic generator, so every install has the same sample.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The folder holding the sample files: `<data dir>/sample`.
pub fn sample_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("sample")
}

/// Writes the sample unless it is already there. Written to a temporary
/// folder first and renamed, so an interrupted first start leaves no half
/// dataset behind.
pub fn ensure_sample(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let target = sample_dir(data_dir);
    if target.is_dir() {
        return Ok(target);
    }
    fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    let staging = data_dir.join(format!(".sample-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    write_customers(&staging.join("customers.csv"))?;
    write_orders(&staging.join("orders.parquet"))?;
    write_events(&staging.join("events.ndjson"))?;
    match fs::rename(&staging, &target) {
        Ok(()) => Ok(target),
        // Another process won the race: theirs is as good as ours.
        Err(_) if target.is_dir() => {
            let _ = fs::remove_dir_all(&staging);
            Ok(target)
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot move the sample into {}", target.display()))
        }
    }
}

fn write_customers(path: &Path) -> anyhow::Result<()> {
    let mut rng = SplitMix(1);
    let mut out = BufWriter::new(File::create(path)?);
    writeln!(out, "customer_id,name,email,country,segment,signup_date")?;
    for id in 1..=CUSTOMERS {
        let first = FIRST[rng.below(FIRST.len())];
        let last = LAST[rng.below(LAST.len())];
        let day = EPOCH_2024 - 1000 + rng.below(1000) as i32;
        writeln!(
            out,
            "{id},{first} {last},{}.{}{id}@example.com,{},{},{}",
            first.to_lowercase(),
            last.to_lowercase(),
            COUNTRIES[rng.below(COUNTRIES.len())],
            SEGMENTS[rng.below(SEGMENTS.len())],
            format_date(day),
        )?;
    }
    out.flush()?;
    Ok(())
}

fn write_orders(path: &Path) -> anyhow::Result<()> {
    let mut rng = SplitMix(2);
    let schema = Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("order_date", DataType::Date32, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("quantity", DataType::Int32, false),
        Field::new("amount", DataType::Decimal128(12, 2), false),
    ]));
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(32_768))
        .build();
    let mut writer = ArrowWriter::try_new(File::create(path)?, schema.clone(), Some(properties))?;
    let batch_rows = 20_000;
    for start in (0..ORDERS).step_by(batch_rows) {
        let rows = batch_rows.min(ORDERS - start);
        let mut order_id = Int64Builder::with_capacity(rows);
        let mut customer_id = Int64Builder::with_capacity(rows);
        let mut order_date = Date32Builder::with_capacity(rows);
        let mut status = StringBuilder::new();
        let mut quantity = Int32Builder::with_capacity(rows);
        let mut amount = Decimal128Builder::with_capacity(rows).with_precision_and_scale(12, 2)?;
        for i in start..start + rows {
            order_id.append_value(i as i64 + 1);
            customer_id.append_value(rng.below(CUSTOMERS) as i64 + 1);
            order_date.append_value(EPOCH_2024 + (i * 366 / ORDERS) as i32);
            status.append_value(STATUSES[rng.below(STATUSES.len())]);
            quantity.append_value(rng.below(9) as i32 + 1);
            amount.append_value(rng.below(50_000) as i128 + 199);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(order_id.finish()),
            Arc::new(customer_id.finish()),
            Arc::new(order_date.finish()),
            Arc::new(status.finish()),
            Arc::new(quantity.finish()),
            Arc::new(amount.finish()),
        ];
        writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
    }
    writer.close()?;
    Ok(())
}

fn write_events(path: &Path) -> anyhow::Result<()> {
    let mut rng = SplitMix(3);
    let mut out = BufWriter::new(File::create(path)?);
    for id in 1..=EVENTS {
        let customer = rng.below(CUSTOMERS) + 1;
        let kind = EVENT_TYPES[rng.below(EVENT_TYPES.len())];
        let os = OSES[rng.below(OSES.len())];
        let seconds = rng.below(366 * 86_400);
        let tags: Vec<String> = (0..rng.below(3) + 1)
            .map(|_| {
                format!(
                    "\"{}\"",
                    ["promo", "mobile", "returning", "new"][rng.below(4)]
                )
            })
            .collect();
        writeln!(
            out,
            "{{\"event_id\":{id},\"customer_id\":{customer},\"type\":\"{kind}\",\"ts\":\"{}\",\"device\":{{\"os\":\"{os}\",\"version\":\"{}.{}\"}},\"tags\":[{}],\"properties\":{{\"page\":\"/p/{}\",\"duration_ms\":{}}}}}",
            format_timestamp(seconds),
            rng.below(5) + 10,
            rng.below(10),
            tags.join(","),
            rng.below(200),
            rng.below(60_000),
        )?;
    }
    out.flush()?;
    Ok(())
}

fn format_date(days_since_epoch: i32) -> String {
    chrono::DateTime::from_timestamp(i64::from(days_since_epoch) * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn format_timestamp(seconds_into_2024: usize) -> String {
    let seconds = i64::from(EPOCH_2024) * 86_400 + seconds_into_2024 as i64;
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_written_once_with_all_three_files() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let sample = ensure_sample(dir.path())?;
        for file in ["customers.csv", "orders.parquet", "events.ndjson"] {
            assert!(sample.join(file).metadata()?.len() > 0, "{file}");
        }
        let customers = fs::read_to_string(sample.join("customers.csv"))?;
        assert_eq!(customers.lines().count(), CUSTOMERS + 1);
        let modified = sample.join("orders.parquet").metadata()?.modified()?;
        ensure_sample(dir.path())?;
        assert_eq!(
            sample.join("orders.parquet").metadata()?.modified()?,
            modified
        );
        Ok(())
    }
}
