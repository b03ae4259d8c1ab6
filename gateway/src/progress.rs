//! The spinner `tributary query` shows on a terminal for statements that
//! take longer than half a second: elapsed time and rows so far.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const SHOW_AFTER: Duration = Duration::from_millis(500);

pub struct Progress {
    bar: Option<ProgressBar>,
    rows: u64,
}

impl Progress {
    pub fn start() -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { bar: None, rows: 0 };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message("0 rows");
        let delayed = bar.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SHOW_AFTER).await;
            if !delayed.is_finished() {
                delayed.set_draw_target(ProgressDrawTarget::stderr());
                delayed.enable_steady_tick(Duration::from_millis(100));
            }
        });
        Self {
            bar: Some(bar),
            rows: 0,
        }
    }

    pub fn add_rows(&mut self, rows: usize) {
        self.rows += rows as u64;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} rows", self.rows));
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
