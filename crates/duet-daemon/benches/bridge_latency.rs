//! The bridge's own latency: how long duet takes from an agent's `send_message` tool call to the
//! message reaching the other agent. It runs the one engine (`duet_daemon::run`: control socket,
//! controllers, store, git reads off the loop, agent actors, tmux) on a backlog whose agent
//! profiles are stand-ins, in a private tmux server; the model and the agent CLIs are left out,
//! so what is timed is duet alone.
//!
//! Each stand-in pane runs a shell script that records its `DUET_TOKEN` and then `cat`s what is
//! typed into its terminal (the worker's: to a FIFO, which this program reads with a timestamp per
//! line). The bench plays each agent's bridge (`duet_proto::Client`: `BridgeReady` first, as
//! `duet mcp` does when it starts, then one request per tool call) and the claude hooks
//! (UserPromptSubmit, Stop) as `duet hook claude` would.
//!
//! Two runs, each measuring N messages from the reviewer to the worker (a claude seat):
//! - **one pair**: one task, worked as `duet pair` works it (`DaemonSetup::focus`);
//! - **busy pairs**: P tasks with `max_parallel` P (default 20, as `duet run`); the other P-1
//!   pairs exchange messages (idle and busy targets alternately, one every
//!   `BENCH_BACKGROUND_INTERVAL_MS`, default 1000, per pair; 0: back to back) while one is
//!   measured. Goal: median under 20 ms, p99 under 100 ms.
//!
//! Measured: idle target: tool call sent → its answer; → the message's first line in the worker's
//! terminal (duet pasted it: the bridge's latency); → the Enter that submits it (duet presses it
//! once the paste shows in the pane, `duet_agents::paste_echo`). Busy target: claude's Stop hook
//! sent → its answer carrying the held message.
//!
//! Run: `cargo bench -p duet-daemon --bench bridge_latency` (`BENCH_MESSAGES=N`, default 100;
//! `BENCH_PAIRS=P`, default 20). Smoke mode (`-- --smoke` or `DUET_BENCH_SMOKE=1`): 10 messages,
//! 3 pairs; it still checks every message arrived and was counted. Needs tmux and git.

mod support;

use support::{Agent, EXEC_SHIM, STAND_IN, git, report};

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use duet_agents::TmuxRuntime;
use duet_core::config::Config;
use duet_core::protocol::{Role, ToolCall};
use duet_daemon::{DaemonSetup, RunSummary};
use duet_proto::{RequestBody, ResponseBody};

const TIMEOUT: Duration = Duration::from_secs(20);
/// Messages before the measured ones (first tmux commands, first git and store reads).
const WARMUP: usize = 5;

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke")
        || std::env::var("DUET_BENCH_SMOKE").is_ok_and(|v| v == "1");
    let number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let messages = number("BENCH_MESSAGES", if smoke { 10 } else { 100 });
    let pairs = number("BENCH_PAIRS", if smoke { 3 } else { 20 }).max(1);
    let interval = Duration::from_millis(number("BENCH_BACKGROUND_INTERVAL_MS", 1000) as u64);
    let mode = if smoke { " (smoke mode)" } else { "" };

    println!(
        "bridge latency{mode}: {messages} messages reviewer -> worker (claude seat), after {WARMUP} warm-up ones"
    );
    println!("one pair (as `duet pair`):");
    run_scenario(1, messages, interval);
    if pairs > 1 {
        println!(
            "{pairs} pairs (max_parallel {pairs}), on each of the other {}: a message every {} ms",
            pairs - 1,
            interval.as_millis()
        );
        run_scenario(pairs, messages, interval);
    }
}

/// Runs the engine on a backlog of `pairs` tasks, measures `messages` on the first one (with
/// background traffic on the others, one message per `interval` each), stops the engine and
/// checks its accounting.
fn run_scenario(pairs: usize, messages: usize, interval: Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bench = Bench::prepare(dir.path(), pairs);
    let tmux = TmuxRuntime::new(Some(format!("duet-bench-{}-{pairs}", std::process::id())));
    let setup = bench.setup(tmux.clone(), pairs);
    let socket = setup.socket_path();

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let engine = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(duet_daemon::run(setup, |_| {}, async {
            let _ = stop_rx.await;
        }))
    });

    let seats: Vec<PairSeats> = (0..pairs)
        .map(|i| PairSeats::connect(&bench, &socket, &task_id(i)))
        .collect();
    let mut seats = seats.into_iter();
    let measured = seats.next().expect("one pair at least");

    let stop = Arc::new(AtomicBool::new(false));
    let background: Vec<_> = seats
        .map(|pair| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    let next = Instant::now() + interval;
                    if sent % 2 == 0 {
                        pair.message_to_idle_worker(&format!("background {sent}"));
                    } else {
                        pair.message_to_busy_worker(&format!("background busy {sent}"));
                    }
                    sent += 1;
                    // The pace of the background traffic (not a synchronisation).
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                (pair.task, sent)
            })
        })
        .collect();

    let measuring = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut idle = Samples::default();
        for i in 0..WARMUP + messages {
            let sample = measured.message_to_idle_worker(&format!("bench message {i}"));
            if i >= WARMUP {
                idle.push(sample);
            }
        }
        let mut busy = Vec::new();
        for i in 0..WARMUP + messages {
            let elapsed =
                measured.message_to_busy_worker(&format!("bench message to a busy worker {i}"));
            if i >= WARMUP {
                busy.push(elapsed);
            }
        }
        (idle, busy)
    }));
    let (idle, busy) = match measuring {
        Ok(samples) => samples,
        Err(panic) => {
            // Say why: the engine may have stopped (its error is the cause, not the request).
            stop.store(true, Ordering::Relaxed);
            let _ = stop_tx.send(());
            let outcome = engine.join();
            let _ = tmux.kill_server();
            eprintln!("the engine's outcome after the failure: {outcome:?}");
            std::panic::resume_unwind(panic);
        }
    };

    stop.store(true, Ordering::Relaxed);
    let mut expected = vec![(measured.task.clone(), 2 * (WARMUP + messages))];
    expected.extend(
        background
            .into_iter()
            .map(|t| t.join().expect("background pair")),
    );
    let _ = stop_tx.send(());
    let summary = engine.join().expect("engine thread");
    let _ = tmux.kill_server();
    check_counts(&summary.expect("the engine ran"), &expected);

    report("  idle target: tool call -> tool result", &idle.answered);
    report(
        "  idle target: tool call -> text in the pane (bridge latency)",
        &idle.pasted,
    );
    report(
        "  idle target: tool call -> Enter (pressed once the paste shows in the pane)",
        &idle.submitted,
    );
    report(
        "  busy target: Stop hook -> answer carrying the message",
        &busy,
    );
    if pairs > 1 {
        let background: usize = expected[1..].iter().map(|(_, n)| n).sum();
        println!("  background: {background} messages on {} pairs", pairs - 1);
    }
}

/// Every message the bench sent was accepted and confirmed delivered, on every pair. Each pair
/// also has its two briefs: the worker's taken, the reviewer's still waiting (the bench's
/// reviewer never rests at a prompt).
fn check_counts(summary: &RunSummary, expected: &[(String, usize)]) {
    for (task, sent) in expected {
        let outcome = summary
            .tasks
            .iter()
            .find(|t| &t.id == task)
            .unwrap_or_else(|| panic!("task {task} is in the run's summary"));
        assert_eq!(
            (outcome.messages.accepted, outcome.messages.delivered),
            (*sent + 2, *sent + 1),
            "every message of {task} was accepted and confirmed delivered"
        );
    }
}

/// Times of one message to the idle worker, from the moment its tool call was sent.
struct Sample {
    answered: Duration,
    pasted: Duration,
    submitted: Duration,
}

#[derive(Default)]
struct Samples {
    answered: Vec<Duration>,
    pasted: Vec<Duration>,
    submitted: Vec<Duration>,
}

impl Samples {
    fn push(&mut self, sample: Sample) {
        self.answered.push(sample.answered);
        self.pasted.push(sample.pasted);
        self.submitted.push(sample.submitted);
    }
}

/// One pair's agents as the bench plays them, and the worker's terminal.
struct PairSeats {
    task: String,
    worker: Agent,
    reviewer: Agent,
    typed: mpsc::Receiver<(Instant, String)>,
}

impl PairSeats {
    /// Waits for the pair's stand-ins, reports both bridges ready, and plays the worker's first
    /// turn, on its brief (then it is idle, at its prompt).
    fn connect(bench: &Bench, socket: &Path, task: &str) -> Self {
        let typed = bench.typed_lines(task);
        let worker = Agent::new(socket, bench.token(task, Role::Worker));
        let reviewer = Agent::new(socket, bench.token(task, Role::Reviewer));
        // The stand-ins run no `duet mcp`; the controller holds deliveries until it reports.
        for agent in [&worker, &reviewer] {
            match agent.send(RequestBody::BridgeReady) {
                ResponseBody::Ack => {}
                other => panic!("expected an ack of BridgeReady, got {other:?}"),
            }
        }
        // The worker's first hand-over is its brief (never on the command line): taken at this
        // Stop hook, its turn started and over, the worker is idle.
        let brief = worker
            .hook("Stop", serde_json::json!({"stop_hook_active": false}))
            .expect("the Stop hook hands the brief over");
        let brief: serde_json::Value = serde_json::from_str(&brief).expect("a hook answer");
        let prompt = brief["reason"]
            .as_str()
            .expect("the brief's text")
            .to_owned();
        worker.hook("UserPromptSubmit", serde_json::json!({ "prompt": prompt }));
        worker.hook("Stop", serde_json::json!({"stop_hook_active": true}));
        PairSeats {
            task: task.to_string(),
            worker,
            reviewer,
            typed,
        }
    }

    fn message_to_idle_worker(&self, text: &str) -> Sample {
        let start = Instant::now();
        let answer = self
            .reviewer
            .tool(ToolCall::SendMessage { text: text.into() });
        let answered = start.elapsed();
        assert!(answer.contains("accepted"), "{answer}");
        // The batch starts with "[duet message #N from the reviewer]", then duet's framing, then
        // the reviewer's words quoted ("> <text>"): its first line reaches the terminal with the
        // paste, the last with the Enter.
        let (pasted_at, marker) = self.next_line();
        assert!(marker.starts_with("[duet message #"), "{marker:?}");
        let mut prompt = marker;
        let submitted_at = loop {
            let (at, line) = self.next_line();
            prompt.push('\n');
            prompt.push_str(&line);
            if line.trim_start_matches("> ") == text {
                break at;
            }
        };
        // The worker's turn starts with the message and ends: confirmed, and idle again.
        self.worker
            .hook("UserPromptSubmit", serde_json::json!({ "prompt": prompt }));
        self.worker
            .hook("Stop", serde_json::json!({"stop_hook_active": false}));
        Sample {
            answered,
            pasted: pasted_at - start,
            submitted: submitted_at - start,
        }
    }

    fn message_to_busy_worker(&self, text: &str) -> Duration {
        self.worker.hook(
            "UserPromptSubmit",
            serde_json::json!({"prompt": "work on something"}),
        );
        let answer = self
            .reviewer
            .tool(ToolCall::SendMessage { text: text.into() });
        assert!(answer.contains("accepted"), "{answer}");
        let start = Instant::now();
        let stdout = self
            .worker
            .hook("Stop", serde_json::json!({"stop_hook_active": false}));
        let elapsed = start.elapsed();
        let stdout = stdout.expect("the Stop hook hands the message over");
        assert!(stdout.contains(text), "{stdout}");
        // claude goes on with it: its next sign of life confirms the hand-over.
        self.worker
            .hook("PreToolUse", serde_json::json!({"tool_name": "Bash"}));
        self.worker
            .hook("Stop", serde_json::json!({"stop_hook_active": true}));
        elapsed
    }

    fn next_line(&self) -> (Instant, String) {
        self.typed.recv_timeout(TIMEOUT).unwrap_or_else(|e| {
            panic!(
                "the message reached the worker's terminal of {}: {e}",
                self.task
            )
        })
    }
}

fn task_id(i: usize) -> String {
    format!("bench-{i:02}")
}

/// The bench's files: a git repository with a backlog, the stand-in scripts, the FIFOs.
struct Bench {
    dir: PathBuf,
    repo: PathBuf,
}

impl Bench {
    fn prepare(dir: &Path, pairs: usize) -> Self {
        let repo = dir.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README.md"), "bench\n").unwrap();
        std::fs::write(repo.join(".gitignore"), ".duet/\n").unwrap();
        let backlog: String = (0..pairs)
            .map(|i| {
                format!(
                    "[[task]]\nid = \"{}\"\ntitle = \"bridge latency {i}\"\nprompt = \"none\"\n\n",
                    task_id(i)
                )
            })
            .collect();
        std::fs::write(repo.join("backlog.toml"), backlog).unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "first"]);
        std::fs::create_dir_all(repo.join(".duet")).unwrap();
        for (name, text) in [("stand-in.sh", STAND_IN), ("exec-shim.sh", EXEC_SHIM)] {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for i in 0..pairs {
            let fifo = dir.join(format!("typed.{}.worker", task_id(i)));
            let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
            assert!(made.success(), "mkfifo {}", fifo.display());
        }
        Bench {
            dir: dir.to_path_buf(),
            repo,
        }
    }

    fn setup(&self, tmux: TmuxRuntime, pairs: usize) -> DaemonSetup {
        let stand_in = self.dir.join("stand-in.sh");
        // Both seats are claude stand-ins; no stall can end a pair during the run.
        let toml = format!(
            r#"max_parallel = {pairs}
[roles]
worker = "stand-in-worker"
reviewer = "stand-in-reviewer"
[agents.stand-in-worker]
kind = "claude"
command = "{stand_in}"
env = {{ BENCH_DIR = "{dir}" }}
[agents.stand-in-reviewer]
kind = "claude"
command = "{stand_in}"
env = {{ BENCH_DIR = "{dir}" }}
[stall]
idle = "10h"
no_progress = "10h"
repeat_limit = 1000
"#,
            stand_in = stand_in.display(),
            dir = self.dir.display()
        );
        let config = Config::from_toml_str(&toml, "<bench duet.toml>")
            .unwrap_or_else(|d| panic!("bench config: {}", d.render_plain()));
        DaemonSetup {
            repo_root: self.repo.clone(),
            backlog_path: self.repo.join("backlog.toml"),
            config,
            duet_exe: self.dir.join("exec-shim.sh"),
            runtime: std::sync::Arc::new(tmux),
            exit_when_done: false,
            stop_agents_on_exit: true,
            // One pair: worked as `duet pair` does; more: as `duet run`.
            focus: (pairs == 1).then(|| task_id(0)),
            // The stand-ins are shell scripts, not agent CLIs with a version to check.
            check_agents: |_, _| Ok(()),
            usage_clock: duet_pair::now,
        }
    }

    /// Waits for the stand-in of `task`'s `role` to record its token.
    fn token(&self, task: &str, role: Role) -> String {
        let path = self.dir.join(format!("token.{task}.{role}"));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(token) = std::fs::read_to_string(&path) {
                return token;
            }
            assert!(Instant::now() < deadline, "no token at {}", path.display());
            // Written by a process in another tmux pane: nothing to wait on but the file.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lines typed at `task`'s worker terminal, each with the time it was read.
    fn typed_lines(&self, task: &str) -> mpsc::Receiver<(Instant, String)> {
        let fifo = self.dir.join(format!("typed.{task}.worker"));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let file = std::fs::File::open(&fifo).expect("open the FIFO");
            for line in BufReader::new(file).lines() {
                let Ok(line) = line else { return };
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        rx
    }
}
