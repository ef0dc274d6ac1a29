//! Progress for a person at a terminal: a bar with bytes and entries while a bundle
//! unpacks, a line per task while a job runs. Nothing is drawn when stderr is not a
//! terminal or under CI (`CI`, `GITHUB_ACTIONS`), so logs and pipes stay clean.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::archive::PROGRESS;

/// Whether progress may be drawn: stderr is a terminal and this is not CI.
pub fn enabled() -> bool {
    let ci = ["CI", "GITHUB_ACTIONS"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    !ci && std::io::stderr().is_terminal()
}

/// The unpacking bar of one bundle; gone when dropped.
pub struct UnpackBar {
    bar: ProgressBar,
    stop: Arc<AtomicBool>,
    poller: Option<std::thread::JoinHandle<()>>,
}

impl UnpackBar {
    /// A bar for `name` of `size` bytes, when [`enabled`]. It appears only after a
    /// moment, so a small bundle unpacks without flicker.
    pub fn start(name: &str, size: u64) -> Option<UnpackBar> {
        if !enabled() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "unpacking {msg} {bar:30} {bytes}/{total_bytes} ({binary_bytes_per_sec}), {prefix} entries",
        ) {
            bar.set_style(style);
        }
        bar.set_message(name.to_owned());
        let entries0 = PROGRESS.entries.load(Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (bar.clone(), stop.clone());
        let poller = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                // Drawing starts after 300 ms: most bundles are done by then.
                std::thread::sleep(Duration::from_millis(300));
                while !s.load(Ordering::Relaxed) {
                    b.set_position(PROGRESS.read.load(Ordering::Relaxed));
                    b.set_prefix((PROGRESS.entries.load(Ordering::Relaxed) - entries0).to_string());
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .ok();
        Some(UnpackBar { bar, stop, poller })
    }
}

impl Drop for UnpackBar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = self.poller.take() {
            let _ = p.join();
        }
        self.bar.finish_and_clear();
    }
}

/// One line per task of a job: `[2/5] checking web (group api)…`, on a terminal only.
pub fn task_line(i: usize, n: usize, what: &str) {
    if enabled() {
        eprintln!("[{}/{n}] checking {what}…", i + 1);
    }
}
