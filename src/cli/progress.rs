//! Progress bars for long commands (`storage put|get`, `publish`, `plan`, `buildrun`), drawn on stderr with
//! `indicatif` — only when stderr is a terminal and logs are not JSON, so pipes, scripts and tests see
//! exactly the output they would see without this module.
//!
//! Logs and bars share stderr. Every bar lives in one process-wide [`MultiProgress`], and the tracing
//! subscriber writes through [`LogWriter`], which suspends that `MultiProgress` while a log line is
//! written: the bars are erased, the line printed, the bars redrawn below it. So `-v` keeps working
//! during a bar instead of leaving half-drawn bars between log lines.
//!
//! Bars clear themselves when finished or dropped (an error path included): what stays on the screen
//! afterwards is the command's normal output.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;

use super::GlobalArgs;
use crate::ports::EvalProgress;
use crate::publish::PublishProgress;

/// How often bars are redrawn at most. indicatif's default (20 Hz) is smooth enough for a person and
/// cheap; bars are not drawn faster than this however fast bytes arrive.
const REDRAW_HZ: u8 = 10;

/// The process's bars; created with the first visible bar, so a run that shows none never touches it.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

fn bars() -> &'static MultiProgress {
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(REDRAW_HZ)))
}

/// Whether bars are shown: stderr is a terminal and logs are text (JSON logs are for machines, which
/// a redrawn line would only confuse).
pub fn enabled(global: &GlobalArgs) -> bool {
    !global.log_json && std::io::stderr().is_terminal()
}

/// A bar in the shared [`MultiProgress`] if `show`, else a hidden bar that draws nothing (so callers
/// update it unconditionally).
fn new_bar(show: bool, total: u64, template: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    // The templates are constants of this module; a typo is caught by the tests below.
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = ProgressBar::new(total)
        .with_style(style)
        .with_finish(ProgressFinish::AndClear);
    bars().add(bar)
}

/// Bytes of one transfer: `put foo.hpkg [=====>    ] 12.0 MiB/40.0 MiB 8.1 MiB/s ETA 3s`.
const BYTES_TEMPLATE: &str =
    "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}";
/// Items counted: `publish [====>     ] 3/8 packages`.
const COUNT_TEMPLATE: &str = "{msg} [{bar:30}] {pos}/{len} {prefix}";

/// A byte bar for a transfer of `total` bytes, labelled `label`.
pub fn bytes_bar(show: bool, total: u64, label: &str) -> ProgressBar {
    let bar = new_bar(show, total, BYTES_TEMPLATE);
    bar.set_message(label.to_owned());
    bar
}

/// A counting bar of `total` `unit`s, labelled `label`.
pub fn count_bar(show: bool, total: u64, label: &str, unit: &str) -> ProgressBar {
    let bar = new_bar(show, total, COUNT_TEMPLATE);
    bar.set_message(label.to_owned());
    bar.set_prefix(unit.to_owned());
    bar
}

/// The tracing writer: stderr, with the bars suspended around each log line (see the module doc).
/// Without bars it is plain stderr.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // tracing's fmt layer formats a whole event and writes it with one `write_all`, so a line is
        // never split around a redraw. Before any bar was shown this is plain stderr.
        match BARS.get() {
            Some(bars) => bars.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `buildmaster publish`'s bars: packages stored of N, and their bytes.
#[derive(Debug)]
pub struct PublishBars {
    show: bool,
    packages: OnceLock<ProgressBar>,
    bytes: OnceLock<ProgressBar>,
}

impl PublishBars {
    /// Bars that appear when uploads start, if `show`.
    pub fn new(show: bool) -> Arc<Self> {
        Arc::new(Self {
            show,
            packages: OnceLock::new(),
            bytes: OnceLock::new(),
        })
    }

    /// Removes the bars (before the report is printed, or on an error).
    pub fn clear(&self) {
        for bar in [self.packages.get(), self.bytes.get()].into_iter().flatten() {
            bar.finish_and_clear();
        }
    }
}

impl PublishProgress for PublishBars {
    fn uploads_started(&self, packages: u64, bytes: u64) {
        let _ = self
            .packages
            .set(count_bar(self.show, packages, "publish", "packages"));
        let _ = self.bytes.set(bytes_bar(self.show, bytes, "upload "));
    }

    fn bytes_done(&self, n: u64) {
        if let Some(bar) = self.bytes.get() {
            bar.inc(n);
        }
    }

    fn package_done(&self, _file_name: &str) {
        if let Some(bar) = self.packages.get() {
            bar.inc(1);
        }
    }
}

/// `buildmaster plan`'s bar: recipe evaluations done of N (cache hits count as done at once).
#[derive(Debug)]
pub struct PlanBar {
    bar: ProgressBar,
    total: AtomicU64,
}

impl PlanBar {
    /// A bar that fills as the tree loads, if `show`.
    pub fn new(show: bool) -> Arc<Self> {
        let bar = count_bar(show, 0, "evaluate", "recipes");
        // No length until the first pass is planned: an empty bar, not a zero-length (full) one.
        bar.unset_length();
        // Loading starts with scanning and hashing: tick so the bar is visibly alive before the first
        // evaluation is counted. (Not for a hidden bar: the ticker is a thread.)
        if show {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Arc::new(Self {
            bar,
            total: AtomicU64::new(0),
        })
    }

    /// Removes the bar.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

impl EvalProgress for PlanBar {
    fn planned(&self, evaluations: usize) {
        let total = self.total.fetch_add(evaluations as u64, Ordering::Relaxed) + evaluations as u64;
        self.bar.set_length(total);
    }

    fn evaluated(&self, evaluations: usize) {
        self.bar.inc(evaluations as u64);
    }
}

/// `buildmaster buildrun`'s bar: builds ended of all builds, with what runs and waits and how many
/// builders are busy: `buildrun [====>    ] 3/8 builds: 2 active, 3 queued; builders 2/2 busy`.
#[derive(Debug)]
pub struct BuildrunBar {
    bar: ProgressBar,
}

impl BuildrunBar {
    /// A bar that follows the buildrun's status, if `show`.
    pub fn new(show: bool) -> Arc<Self> {
        let bar = count_bar(show, 0, "buildrun", "builds");
        bar.unset_length();
        Arc::new(Self { bar })
    }

    /// Removes the bar (before the summary is printed, or on an error).
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

impl crate::buildrun::observer::BuildObserver for BuildrunBar {
    fn attempt_ended(&self, _duration: Duration, _end: crate::buildrun::observer::AttemptEnd) {}

    fn transferred(&self, _to_builder: u64, _from_builder: u64) {}

    fn status(&self, status: &crate::buildrun::status::StatusJson) {
        let b = &status.builds;
        let ended = b.complete.len() + b.failed.len() + b.lost.len();
        let queued = b.scheduled.len() + b.blocked.len();
        let total = ended + b.active.len() + queued;
        let builders = &status.builders;
        let all_builders = builders.active.len() + builders.idle.len() + builders.lost.len();
        self.bar.set_length(total as u64);
        self.bar.set_position(ended as u64);
        self.bar.set_prefix(format!(
            "builds: {} active, {queued} queued; builders {}/{all_builders} busy",
            b.active.len(),
            builders.active.len()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        for template in [BYTES_TEMPLATE, COUNT_TEMPLATE] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }

    #[test]
    fn hidden_bars_count_but_draw_nothing() {
        let bars = PublishBars::new(false);
        bars.uploads_started(2, 10);
        bars.bytes_done(4);
        bars.package_done("a-1-1-x86_64.hpkg");
        let packages = bars.packages.get().unwrap();
        assert!(packages.is_hidden());
        assert_eq!(packages.position(), 1);
        assert_eq!(bars.bytes.get().unwrap().position(), 4);
        bars.clear();
    }
}
