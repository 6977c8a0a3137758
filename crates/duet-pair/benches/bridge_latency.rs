//! The bridge's own latency: how long duet takes from an agent's `send_message` tool call to the
//! message reaching the other agent. It runs the real pair loop (`run_pair`: control socket,
//! controller, store, git reads, agent actor, tmux) with stand-in agents in a private tmux
//! server; the model and the agent CLIs are left out, so what is timed is duet alone.
//!
//! Each stand-in pane runs a shell script that records its `DUET_TOKEN` and then `cat`s what is
//! typed into its terminal to a FIFO, which this program reads with a timestamp per line. The
//! bench plays the bridge (`duet_proto::Client`, one request per tool call, as `duet mcp` does)
//! and the worker's claude hooks (UserPromptSubmit, Stop) as `duet hook claude` would.
//!
//! Measured, for N messages from the reviewer to the worker (a claude seat):
//! - idle target: tool call sent → its answer; → the message's first line in the worker's
//!   terminal (duet pasted it: the bridge's latency); → the Enter that submits it (this adds
//!   duet's fixed pause between a paste and Enter, `CLAUDE_PASTE_ENTER_DELAY`);
//! - busy target: claude's Stop hook sent → its answer carrying the held message.
//!
//! Run: `cargo bench -p duet-pair --bench bridge_latency` (`BENCH_MESSAGES=N`, default 100).
//! Needs tmux and git.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use duet_agents::TmuxRuntime;
use duet_core::config::{AgentKind, AgentProfile};
use duet_core::protocol::pair::PairConfig;
use duet_core::protocol::{Role, ToolCall};
use duet_pair::{AgentSetup, PairSetup, TaskBrief, run_pair};
use duet_proto::{Client, HookSource, Request, RequestBody, Response, ResponseBody};

const TIMEOUT: Duration = Duration::from_secs(10);
/// Messages before the measured ones (first tmux commands, first git and store reads).
const WARMUP: usize = 5;

/// The stand-in agent: remember the token, then pass on whatever is typed at the terminal.
const STAND_IN: &str = r#"#!/bin/sh
printf '%s' "$DUET_TOKEN" > "$BENCH_DIR/token.$DUET_ROLE.tmp"
mv "$BENCH_DIR/token.$DUET_ROLE.tmp" "$BENCH_DIR/token.$DUET_ROLE"
exec cat > "$BENCH_DIR/typed.$DUET_ROLE"
"#;

/// Stands in for `duet exec-agent -- ARGV...`: runs ARGV (no process reports; not timed here).
const EXEC_SHIM: &str = r#"#!/bin/sh
[ "$1" = exec-agent ] && [ "$2" = -- ] || exit 64
shift 2
exec "$@"
"#;

fn main() {
    let messages: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().expect("temp dir");
    let bench = Bench::prepare(dir.path());
    let tmux = TmuxRuntime::new(Some(format!("duet-bench-{}", std::process::id())));
    let setup = bench.setup(tmux.clone());
    let socket = setup.socket_path.clone();

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(run_pair(setup, |_| {}, async {
            let _ = stop_rx.await;
        }))
    });

    let typed = bench.typed_lines();
    let worker = Agent::new(&socket, bench.token(Role::Worker));
    let reviewer = Agent::new(&socket, bench.token(Role::Reviewer));
    // The worker's first turn ends: it is idle, at its prompt.
    worker.hook("Stop", serde_json::json!({"stop_hook_active": false}));

    let mut idle = Samples::default();
    for i in 0..WARMUP + messages {
        let text = format!("bench message {i}");
        let sample = message_to_idle_worker(&reviewer, &worker, &typed, &text);
        if i >= WARMUP {
            idle.push(sample);
        }
    }
    let mut busy = Vec::new();
    for i in 0..WARMUP + messages {
        let text = format!("bench message to a busy worker {i}");
        let elapsed = message_to_busy_worker(&reviewer, &worker, &text);
        if i >= WARMUP {
            busy.push(elapsed);
        }
    }

    let _ = stop_tx.send(());
    let summary = runner.join().expect("runner thread");
    let _ = tmux.kill_server();
    let summary = summary.expect("the pair loop ran");
    assert_eq!(
        summary.messages_delivered,
        2 * (WARMUP + messages),
        "every message was confirmed delivered"
    );

    println!(
        "bridge latency, {messages} messages reviewer -> worker (claude seat), after {WARMUP} warm-up ones"
    );
    println!("target idle (typed into its tmux pane):");
    report("  tool call -> tool result", &idle.answered);
    report(
        "  tool call -> text in the pane (bridge latency)",
        &idle.pasted,
    );
    report(
        &format!(
            "  tool call -> Enter (incl. the fixed {} ms paste->Enter pause)",
            duet_agents::tmux::CLAUDE_PASTE_ENTER_DELAY.as_millis()
        ),
        &idle.submitted,
    );
    println!("target busy (held, handed over at its Stop hook):");
    report("  Stop hook -> answer carrying the message", &busy);
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

fn message_to_idle_worker(
    reviewer: &Agent,
    worker: &Agent,
    typed: &mpsc::Receiver<(Instant, String)>,
    text: &str,
) -> Sample {
    let start = Instant::now();
    let answer = reviewer.tool(ToolCall::SendMessage { text: text.into() });
    let answered = start.elapsed();
    assert!(answer.contains("accepted"), "{answer}");
    // The batch is "[duet message #N from the reviewer]\n<what duet asks>\n> <text>": its first
    // line reaches the terminal with the paste, the last (the quoted text) with the Enter.
    let (pasted_at, marker) = next_line(typed);
    assert!(marker.starts_with("[duet message #"), "{marker:?}");
    let quoted = format!("> {text}");
    let (submitted_at, line) = loop {
        let (at, line) = next_line(typed);
        if line == quoted {
            break (at, line);
        }
    };
    // The worker's turn starts with the message and ends: confirmed, and idle again.
    worker.hook(
        "UserPromptSubmit",
        serde_json::json!({ "prompt": format!("{marker}\n{line}") }),
    );
    worker.hook("Stop", serde_json::json!({"stop_hook_active": false}));
    Sample {
        answered,
        pasted: pasted_at - start,
        submitted: submitted_at - start,
    }
}

fn message_to_busy_worker(reviewer: &Agent, worker: &Agent, text: &str) -> Duration {
    worker.hook(
        "UserPromptSubmit",
        serde_json::json!({"prompt": "work on something"}),
    );
    let answer = reviewer.tool(ToolCall::SendMessage { text: text.into() });
    assert!(answer.contains("accepted"), "{answer}");
    let start = Instant::now();
    let stdout = worker.hook("Stop", serde_json::json!({"stop_hook_active": false}));
    let elapsed = start.elapsed();
    let stdout = stdout.expect("the Stop hook hands the message over");
    assert!(stdout.contains(text), "{stdout}");
    // claude goes on with it: its next sign of life confirms the hand-over.
    worker.hook("PreToolUse", serde_json::json!({"tool_name": "Bash"}));
    worker.hook("Stop", serde_json::json!({"stop_hook_active": true}));
    elapsed
}

fn next_line(typed: &mpsc::Receiver<(Instant, String)>) -> (Instant, String) {
    typed
        .recv_timeout(TIMEOUT)
        .expect("the message reached the worker's terminal")
}

/// One agent's side of the control socket, as its bridge and hooks talk to it.
struct Agent {
    client: Client,
    token: String,
}

impl Agent {
    fn new(socket: &Path, token: String) -> Self {
        Agent {
            client: Client::new(socket, TIMEOUT),
            token,
        }
    }

    fn send(&self, body: RequestBody) -> ResponseBody {
        match self
            .client
            .send(&Request::from_agent(&self.token, body))
            .expect("the controller answers")
        {
            Response::Ok { body } => body,
            Response::Error { error } => panic!("refused: {error:?}"),
        }
    }

    fn tool(&self, call: ToolCall) -> String {
        match self.send(RequestBody::ToolCall { call }) {
            ResponseBody::ToolResult { text, is_error } => {
                assert!(!is_error, "{text}");
                text
            }
            other => panic!("expected a tool result, got {other:?}"),
        }
    }

    /// Sends a claude hook payload; returns what `duet hook claude` would print.
    fn hook(&self, event: &str, extra: serde_json::Value) -> Option<String> {
        let mut payload = serde_json::json!({
            "session_id": "bench-session",
            "transcript_path": "/dev/null",
            "cwd": "/",
            "hook_event_name": event,
        });
        if let (Some(payload), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
            payload.extend(extra.clone());
        }
        match self.send(RequestBody::Hook {
            source: HookSource::Claude,
            payload,
        }) {
            ResponseBody::HookReply { stdout } => stdout,
            other => panic!("expected a hook reply, got {other:?}"),
        }
    }
}

/// The bench's files: a git repository (the "worktree"), the stand-in scripts, the FIFO.
struct Bench {
    dir: PathBuf,
    repo: PathBuf,
    base_commit: String,
}

impl Bench {
    fn prepare(dir: &Path) -> Self {
        let repo = dir.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README.md"), "bench\n").unwrap();
        git(&repo, &["add", "README.md"]);
        git(&repo, &["commit", "-q", "-m", "first"]);
        let base_commit = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
        for (name, text) in [("stand-in.sh", STAND_IN), ("exec-shim.sh", EXEC_SHIM)] {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let fifo = dir.join("typed.worker");
        let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(made.success(), "mkfifo {}", fifo.display());
        Bench {
            dir: dir.to_path_buf(),
            repo,
            base_commit,
        }
    }

    fn setup(&self, tmux: TmuxRuntime) -> PairSetup {
        let agent = |name: &str| AgentSetup {
            profile_name: name.to_string(),
            profile: AgentProfile {
                kind: AgentKind::Claude,
                command: self.dir.join("stand-in.sh").to_string_lossy().into_owned(),
                args: Vec::new(),
                env: [(
                    "BENCH_DIR".to_string(),
                    self.dir.to_string_lossy().into_owned(),
                )]
                .into(),
                model: None,
            },
        };
        PairSetup {
            task: TaskBrief {
                id: "bench".into(),
                title: "bridge latency".into(),
                prompt: "none".into(),
                proof: None,
                base_branch: "main".into(),
                base_commit: self.base_commit.clone(),
                branch: "main".into(),
            },
            worktree: self.repo.clone(),
            socket_path: self.dir.join("duet.sock"),
            store_path: self.dir.join("state.db"),
            duet_exe: self.dir.join("exec-shim.sh"),
            tmux,
            session_name: "duet-bench".into(),
            worker: agent("stand-in-worker"),
            reviewer: agent("stand-in-reviewer"),
            pair_config: PairConfig::default(),
            resume: false,
        }
    }

    /// Waits for the stand-in of `role` to record its token.
    fn token(&self, role: Role) -> String {
        let path = self.dir.join(format!("token.{role}"));
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

    /// Lines typed at the worker's terminal, each with the time it was read.
    fn typed_lines(&self) -> mpsc::Receiver<(Instant, String)> {
        let fifo = self.dir.join("typed.worker");
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

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn report(label: &str, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at = |q: f64| {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: median {:.1} ms, p99 {:.1} ms, max {:.1} ms (n = {})",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*sorted.last().unwrap()),
        sorted.len()
    );
}
