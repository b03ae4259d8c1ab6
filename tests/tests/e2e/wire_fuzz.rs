//! The wire fuzzer: structure-aware mutations of every frontend message,
//! sent over real sockets to the real binary. After every batch the server
//! must be running, answer a normal query from another session, and stay
//! under a memory bound.
//!
//! The corpus in `tests/fuzz/wire/` (messages that once crashed or bloated
//! the server) is replayed first. Then random mutations run for
//! `TRIBUTARY_FUZZ_SECONDS` (60 by default; CI runs the default, a longer
//! run is `TRIBUTARY_FUZZ_SECONDS=1800 cargo nextest run -E 'test(wire_fuzz)'`),
//! from `TRIBUTARY_FUZZ_SEED` (printed, so that a failure can be replayed).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tributary_tests::raw_wire::{self, RawClient};
use tributary_tests::{Gateway, process_memory_kib};

/// RSS growth allowed over the whole run, for caches filled by the
/// queries that happen to be valid and the allocator's retained pages.
const RSS_GROWTH_BOUND_KIB: u64 = 256 * 1024;

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Valid messages of every frontend kind, the fuzzer's starting points.
fn templates() -> Vec<Vec<u8>> {
    let mut ssl = 8i32.to_be_bytes().to_vec();
    ssl.extend_from_slice(&80_877_103i32.to_be_bytes());
    let mut cancel = 16i32.to_be_bytes().to_vec();
    cancel.extend_from_slice(&80_877_102i32.to_be_bytes());
    cancel.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
    let mut describe = b"S\0".to_vec();
    describe.insert(0, b'S');
    vec![
        raw_wire::startup(),
        ssl,
        cancel,
        raw_wire::query("SELECT customer_id, name FROM sample.customers LIMIT 3"),
        raw_wire::query("SELECT 1 UNION SELECT 2"),
        raw_wire::query("COPY (SELECT 1) TO STDOUT"),
        raw_wire::parse("s", "SELECT $1::int + 1"),
        raw_wire::bind("p", "s", &[Some(b"41")]),
        raw_wire::bind("", "", &[None, Some(b"x")]),
        raw_wire::execute("p", 0),
        raw_wire::execute("", 5),
        raw_wire::message(b'D', b"Ss\0"),
        raw_wire::message(b'D', b"Pp\0"),
        raw_wire::message(b'C', b"Ss\0"),
        raw_wire::message(b'H', b""),
        raw_wire::sync(),
        raw_wire::message(b'd', b"1\t2\n"),
        raw_wire::message(b'c', b""),
        raw_wire::message(b'f', b"no more\0"),
        raw_wire::message(b'p', b"secret\0"),
        raw_wire::message(b'F', b"\0\0\0\0"),
        raw_wire::message(b'X', b""),
    ]
}

/// One mutation of `message`, chosen to hit the decoders' assumptions.
fn mutate(rng: &mut Rng, mut message: Vec<u8>) -> Vec<u8> {
    let typed = message.first().is_some_and(u8::is_ascii_alphabetic);
    let length_at = usize::from(typed);
    match rng.below(9) {
        // Lie about the outer length.
        0 if message.len() >= length_at + 4 => {
            let lies = [0i32, 3, 4, 7, i32::MAX, -1, 1 << 30, 0x3fff_fffe];
            let lie = if rng.chance(50) {
                lies[rng.below(lies.len())]
            } else {
                (message.len() as i32 - length_at as i32) + rng.below(16) as i32 - 8
            };
            message[length_at..length_at + 4].copy_from_slice(&lie.to_be_bytes());
        }
        // A huge or negative count or inner length somewhere in the body.
        1 if message.len() > length_at + 6 => {
            let at = length_at + 4 + rng.below(message.len() - length_at - 5);
            let values: [&[u8]; 4] = [
                &[0x7f, 0xff],
                &[0xff, 0xff],
                &[0x7f, 0xff, 0xff, 0xff],
                &[0x80, 0, 0, 0],
            ];
            let value = values[rng.below(values.len())];
            let end = (at + value.len()).min(message.len());
            message[at..end].copy_from_slice(&value[..end - at]);
        }
        // Flip bytes.
        2 => {
            for _ in 0..=rng.below(4) {
                let at = rng.below(message.len());
                message[at] ^= 1 << rng.below(8);
            }
        }
        // A NUL or a byte that is not UTF-8 inside the body.
        3 if message.len() > length_at + 5 => {
            let at = length_at + 4 + rng.below(message.len() - length_at - 4);
            message[at] = if rng.chance(50) { 0 } else { 0xff };
        }
        // Cut short (the rest never comes).
        4 if message.len() > 1 => message.truncate(rng.below(message.len())),
        // Another type byte.
        5 if typed => message[0] = (rng.next() & 0xff) as u8,
        // Bytes appended after the last field (length adjusted to match).
        6 if typed => {
            for _ in 0..=rng.below(32) {
                message.push((rng.next() & 0xff) as u8);
            }
            let len = (message.len() - 1) as i32;
            message[1..5].copy_from_slice(&len.to_be_bytes());
        }
        // A long body: a big but legal message.
        7 if typed && rng.chance(20) => {
            let extra = 1 << (10 + rng.below(12));
            message.extend(std::iter::repeat_n(b'x', extra));
            let len = (message.len() - 1) as i32;
            message[1..5].copy_from_slice(&len.to_be_bytes());
        }
        _ => {}
    }
    message
}

/// One connection's worth of input: maybe a start-up, then messages.
fn conversation(rng: &mut Rng, templates: &[Vec<u8>]) -> (Vec<u8>, usize) {
    let mut bytes = Vec::new();
    let mut messages = 0;
    // Mostly a proper start-up, so that the typed messages are reached.
    if rng.chance(85) {
        bytes.extend(raw_wire::startup());
    }
    for _ in 0..=rng.below(12) {
        let template = templates[rng.below(templates.len())].clone();
        let message = if rng.chance(70) {
            mutate(rng, template)
        } else {
            template
        };
        bytes.extend(message);
        messages += 1;
    }
    (bytes, messages)
}

async fn send_and_drain(gateway: &Gateway, bytes: &[u8]) {
    let Ok(mut client) = RawClient::connect(gateway.addr).await else {
        return;
    };
    let _ = client.send(bytes).await;
    // Read what comes back for a moment; the server may close or wait.
    let _ = tokio::time::timeout(Duration::from_millis(200), client.read_to_close()).await;
}

async fn assert_healthy(gateway: &mut Gateway, baseline_kib: u64, context: &str) {
    assert!(
        gateway.is_running(),
        "the server died after {context}\n{}",
        gateway.log()
    );
    let client = gateway.client().await;
    let row = client
        .query_one("SELECT count(*) FROM sample.customers", &[])
        .await
        .unwrap_or_else(|e| panic!("no answer after {context}: {e}"));
    assert_eq!(row.get::<_, i64>(0), 1000);
    let rss = process_memory_kib(gateway.pid(), "VmRSS").unwrap_or(0);
    assert!(
        rss < baseline_kib + RSS_GROWTH_BOUND_KIB,
        "RSS {rss} KiB after {context}, from {baseline_kib} KiB"
    );
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/wire");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries
        .into_iter()
        .filter_map(|path| {
            let bytes = std::fs::read(&path).ok()?;
            Some((path.file_name()?.to_string_lossy().into_owned(), bytes))
        })
        .collect()
}

#[tokio::test]
async fn wire_fuzz() {
    let mut gateway = Gateway::start();
    // One query first, so that the baseline includes a warmed engine.
    assert_healthy(&mut gateway, u64::MAX / 2, "start-up").await;
    let baseline = process_memory_kib(gateway.pid(), "VmRSS").unwrap_or(0);

    let corpus = corpus();
    assert!(
        !corpus.is_empty(),
        "tests/fuzz/wire/ holds the crash corpus"
    );
    for (name, bytes) in &corpus {
        send_and_drain(&gateway, bytes).await;
        assert_healthy(&mut gateway, baseline, &format!("corpus entry {name}")).await;
    }

    let seconds: u64 = std::env::var("TRIBUTARY_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("TRIBUTARY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("wire fuzz: seed {seed} (TRIBUTARY_FUZZ_SEED), {seconds} s");
    let mut rng = Rng(seed);
    let templates = templates();
    let started = Instant::now();
    let (mut sent, mut batches) = (0usize, 0usize);
    while started.elapsed() < Duration::from_secs(seconds) {
        // A batch: several hostile connections at once.
        let batch: Vec<_> = (0..16)
            .map(|_| conversation(&mut rng, &templates))
            .collect();
        sent += batch.iter().map(|(_, n)| n).sum::<usize>();
        let conversations = batch
            .iter()
            .map(|(bytes, _)| send_and_drain(&gateway, bytes));
        futures::future::join_all(conversations).await;
        batches += 1;
        assert_healthy(
            &mut gateway,
            baseline,
            &format!("batch {batches} (seed {seed})"),
        )
        .await;
    }
    let rate = sent as f64 / started.elapsed().as_secs_f64();
    eprintln!("wire fuzz: {sent} messages in {batches} batches, {rate:.0} messages/s");
    assert!(sent > 1000, "only {sent} messages sent");
}
