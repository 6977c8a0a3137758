//! Scale benchmark of the backlog (issue 5): a generated 10,000-task backlog with dependencies,
//! timed through `validate_files` (read + parse + check, what `duet validate` does),
//! `Backlog::from_toml_str` (what `duet run` / `duet status` do), and the scheduler
//! (`next_to_start`, `why_blocked`) over 10,000 `TaskView`s. Prints medians (and p95).
//!
//! Run with `cargo bench -p duet-core --bench backlog_scale` (a plain main, no criterion).
//! Optional arguments after `--`: the task count (default 10000). Smoke mode (`-- --smoke` or
//! `DUET_BENCH_SMOKE=1`): 1,000 tasks, a few runs each; the checks still run.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use duet_core::backlog::Backlog;
use duet_core::config::Config;
use duet_core::lifecycle::StateKind;
use duet_core::lifecycle::scheduler::{
    TaskView, count_running, next_to_start, why_blocked, why_blocked_all,
};
use duet_core::validate::{NoRepo, validate_files};

/// A small deterministic generator (no rand in the workspace).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn task_id(i: usize) -> String {
    format!("task-{i:05}")
}

/// `count` tasks; each depends on 0 to 3 earlier tasks (mostly near ones, some far), so the
/// graph is acyclic and deep; priorities -2..=2, a few labels, a two-line prompt.
fn generate_backlog(count: usize) -> String {
    let mut rng = Lcg(0x5eed);
    let mut out = String::with_capacity(count * 220);
    for i in 0..count {
        out.push_str("[[task]]\n");
        out.push_str(&format!("id = \"{}\"\n", task_id(i)));
        out.push_str(&format!("title = \"Task number {i}\"\n"));
        out.push_str(&format!(
            "prompt = \"\"\"\nImplement part {i} of the feature.\nKeep the tests green.\n\"\"\"\n"
        ));
        let deps = if i == 0 { 0 } else { rng.below(4) as usize };
        let mut chosen: Vec<usize> = Vec::new();
        for _ in 0..deps {
            let back = if rng.below(4) == 0 {
                rng.below(i as u64) as usize + 1
            } else {
                rng.below(20.min(i as u64)) as usize + 1
            };
            let dep = i - back.min(i);
            if dep < i && !chosen.contains(&dep) {
                chosen.push(dep);
            }
        }
        let deps: Vec<String> = chosen
            .iter()
            .map(|d| format!("\"{}\"", task_id(*d)))
            .collect();
        out.push_str(&format!("depends_on = [{}]\n", deps.join(", ")));
        out.push_str(&format!("priority = {}\n", rng.below(5) as i64 - 2));
        out.push_str(&format!("labels = [\"area-{}\"]\n\n", rng.below(8)));
    }
    out
}

/// States as a backlog part-way through: the first 40% done (a few failed or cancelled), a
/// few running, one paused, the rest queued.
fn views_of(backlog: &Backlog, running: usize) -> Vec<TaskView> {
    let done_until = backlog.tasks.len() * 2 / 5;
    backlog
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| TaskView {
            id: t.id.to_string(),
            priority: t.priority,
            depends_on: t.depends_on.iter().map(ToString::to_string).collect(),
            state: if i < done_until {
                match i % 97 {
                    0 => StateKind::Failed,
                    1 => StateKind::Cancelled,
                    _ => StateKind::Done,
                }
            } else if i < done_until + running {
                StateKind::Working
            } else if i == done_until + running {
                StateKind::Paused
            } else {
                StateKind::Queued
            },
        })
        .collect()
}

struct Timing {
    samples: Vec<Duration>,
}

impl Timing {
    fn measure<T>(runs: usize, mut f: impl FnMut() -> T) -> Timing {
        black_box(f()); // warm-up
        let mut samples: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                black_box(f());
                start.elapsed()
            })
            .collect();
        samples.sort();
        Timing { samples }
    }

    fn quantile(&self, q: f64) -> Duration {
        let last = self.samples.len() - 1;
        self.samples[((last as f64) * q).round() as usize]
    }

    fn print(&self, label: &str) {
        println!(
            "{label:<64} median {:>10.3?}  p95 {:>10.3?}  ({} runs)",
            self.quantile(0.5),
            self.quantile(0.95),
            self.samples.len()
        );
    }
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke")
        || std::env::var("DUET_BENCH_SMOKE").is_ok_and(|v| v == "1");
    // Runs per measurement: a few in smoke mode (it only has to show the bench works).
    let runs = |full: usize| if smoke { full.min(3) } else { full };
    let count: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(if smoke { 1_000 } else { 10_000 });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("backlog.toml");
    let text = generate_backlog(count);
    std::fs::write(&path, &text).expect("write backlog");
    let edges: usize = text.matches("\"task-").count() - count;
    println!(
        "backlog: {count} tasks, {edges} dependencies, {:.1} MiB of TOML",
        text.len() as f64 / (1024.0 * 1024.0)
    );

    // Parse + validate, as `duet validate` does it (reads the file each time).
    let report = validate_files(std::slice::from_ref(&path), &NoRepo);
    assert!(
        !report.has_errors(),
        "the generated backlog must validate:\n{}",
        report.render_short()
    );
    Timing::measure(runs(9), || {
        validate_files(std::slice::from_ref(&path), &NoRepo)
    })
    .print(&format!("validate_files ({count} tasks)"));

    let config = Config::default();
    let base_dir: &Path = dir.path();
    Timing::measure(runs(9), || {
        Backlog::from_toml_str(&text, &path, &config, base_dir).expect("valid")
    })
    .print(&format!("Backlog::from_toml_str ({count} tasks)"));
    let backlog = Backlog::from_toml_str(&text, &path, &config, base_dir).expect("valid");
    assert_eq!(backlog.tasks.len(), count);

    // The scheduler over every task.
    let max_parallel = 4;
    let views = views_of(&backlog, 3);
    let running = count_running(&views);
    let started = next_to_start(&views, running, max_parallel);
    assert_eq!(running, 3);
    assert_eq!(started.len(), 1, "one free slot, filled");
    let ready = views
        .iter()
        .filter(|v| why_blocked(&v.id, &views, running, 1_000_000) == Some(Vec::new()))
        .count();
    println!(
        "scheduler views: {count} tasks, {running} running, {ready} ready (dependencies done)"
    );
    Timing::measure(runs(51), || next_to_start(&views, running, max_parallel))
        .print(&format!("next_to_start ({count} views)"));
    let last = views.last().expect("tasks").id.clone();
    Timing::measure(runs(51), || {
        why_blocked(&last, &views, running, max_parallel)
    })
    .print(&format!("why_blocked, one task ({count} views)"));
    Timing::measure(runs(51), || {
        views.iter().map(|v| v.id.clone()).collect::<Vec<_>>()
    })
    .print(&format!("baseline: clone {count} ids"));

    // What the daemon's status answer does: why_blocked_all, one pass over every task; it
    // must say what why_blocked says of each task (checked on the first 1,000: that is
    // quadratic).
    let all = why_blocked_all(&views, running, max_parallel);
    assert_eq!(all.len(), views.len());
    for (view, blockers) in views.iter().zip(&all).take(1_000) {
        assert_eq!(
            why_blocked(&view.id, &views, running, max_parallel).as_ref(),
            Some(blockers),
            "why_blocked_all agrees with why_blocked on {}",
            view.id
        );
    }
    let blocked = all.iter().filter(|b| !b.is_empty()).count();
    assert_eq!(
        blocked,
        count - started.len(),
        "all but the one started are blocked"
    );
    Timing::measure(runs(51), || why_blocked_all(&views, running, max_parallel)).print(&format!(
        "why_blocked_all, every task, as status does ({count} views)"
    ));
}
