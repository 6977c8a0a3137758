//! CI result → the worker's pane: how long from a result file written into a task's CI inbox
//! (`.duet/ci-inbox/<task>/`, as an outside CI or `ci.command`'s report would land) to the
//! failure message typed into the worker's terminal. It runs the one engine
//! (`duet_daemon::run`: the inbox watcher (notify), `protocol::ci`, the pair's mailbox, the
//! tmux runtime) on one task whose agents are stand-in shell scripts in a private tmux server;
//! each worker pane `cat`s what is typed into it to a FIFO, read here with a timestamp per line.
//! Goal: median ≤ 250 ms (polling CI servers typically look every 30 s).
//!
//! Each round writes a failing result for a new check on the task's HEAD (one message per
//! (commit, check)), waits for the line naming it, then plays the worker's turn with it
//! (UserPromptSubmit, Stop) so that it is idle for the next one.
//!
//! Run: `cargo bench -p duet-daemon --bench ci_latency` (`BENCH_ROUNDS=N`, default 50). Smoke
//! mode (`DUET_BENCH_SMOKE=1`): 5 rounds; it still checks each message arrived once. Needs tmux
//! and git.

mod support;

use support::{Agent, EXEC_SHIM, STAND_IN, git, report};

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use duet_agents::TmuxRuntime;
use duet_core::config::Config;
use duet_daemon::DaemonSetup;
use duet_proto::RequestBody;

const TIMEOUT: Duration = Duration::from_secs(20);
const WARMUP: usize = 3;
const TASK: &str = "bench-ci";

fn main() {
    let smoke = std::env::var("DUET_BENCH_SMOKE").is_ok_and(|v| v == "1");
    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 5 } else { 50 });
    let mode = if smoke { " (smoke mode)" } else { "" };
    println!(
        "CI latency{mode}: {rounds} inbox results -> the worker's pane, after {WARMUP} warm-up ones"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let repo = prepare(dir);
    let tmux = TmuxRuntime::new(Some(format!("duet-bench-ci-{}", std::process::id())));
    let setup = setup(dir, &repo, tmux.clone());
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

    let measured = std::panic::catch_unwind(|| {
        let typed = typed_lines(dir);
        let worker = Agent::new(&socket, token(dir, "worker"));
        let reviewer = Agent::new(&socket, token(dir, "reviewer"));
        for agent in [&worker, &reviewer] {
            agent.send(RequestBody::BridgeReady);
        }
        // The worker's first hand-over is its brief: taken at this Stop hook, its turn started
        // and over, the worker is idle at its prompt.
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
        let head = commit(&repo.join(".duet/worktrees").join(TASK));
        let inbox = repo.join(".duet/ci-inbox").join(TASK);
        std::fs::create_dir_all(&inbox).unwrap();
        let mut samples = Vec::new();
        for i in 0..WARMUP + rounds {
            let check = format!("bench-{i}");
            let result = serde_json::json!({"sha": head, "check": check, "status": "fail",
                "summary": "bench"});
            let tmp = inbox.join(format!(".{check}.json"));
            std::fs::write(&tmp, result.to_string()).unwrap();
            let start = Instant::now();
            std::fs::rename(&tmp, inbox.join(format!("{check}.json"))).unwrap();
            let needle = format!("CI check `{check}` failed");
            let mut prompt = String::new();
            let at = loop {
                let (at, line) = typed
                    .recv_timeout(TIMEOUT)
                    .unwrap_or_else(|e| panic!("{needle:?} did not reach the pane: {e}"));
                prompt.push_str(&line);
                prompt.push('\n');
                if line.contains(&needle) {
                    break at;
                }
            };
            if i >= WARMUP {
                samples.push(at - start);
            }
            // Let the rest of the message (and its Enter) arrive, then take it and go idle.
            std::thread::sleep(Duration::from_millis(600));
            while let Ok((_, line)) = typed.try_recv() {
                prompt.push_str(&line);
                prompt.push('\n');
            }
            worker.hook("UserPromptSubmit", serde_json::json!({ "prompt": prompt }));
            worker.hook("Stop", serde_json::json!({"stop_hook_active": false}));
        }
        samples
    });
    let _ = stop_tx.send(());
    let outcome = engine.join().expect("engine thread");
    let _ = tmux.kill_server();
    let samples = match measured {
        Ok(samples) => samples,
        Err(panic) => {
            eprintln!("the engine's outcome after the failure: {outcome:?}");
            std::panic::resume_unwind(panic);
        }
    };
    outcome.expect("the engine ran");
    assert_eq!(samples.len(), rounds);
    report(
        "  inbox result written -> message in the worker's pane",
        &samples,
    );
}

fn prepare(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "bench\n").unwrap();
    std::fs::write(repo.join(".gitignore"), ".duet/\n").unwrap();
    std::fs::write(
        repo.join("backlog.toml"),
        format!("[[task]]\nid = \"{TASK}\"\ntitle = \"CI latency\"\nprompt = \"none\"\n"),
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    for (name, text) in [("stand-in.sh", STAND_IN), ("exec-shim.sh", EXEC_SHIM)] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let fifo = dir.join(format!("typed.{TASK}.worker"));
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success(), "mkfifo {}", fifo.display());
    repo
}

fn setup(dir: &Path, repo: &Path, tmux: TmuxRuntime) -> DaemonSetup {
    let stand_in = dir.join("stand-in.sh");
    let toml = format!(
        r#"[roles]
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
[github]
enabled = false
"#,
        stand_in = stand_in.display(),
        dir = dir.display()
    );
    let config = Config::from_toml_str(&toml, "<bench duet.toml>")
        .unwrap_or_else(|d| panic!("bench config: {}", d.render_plain()));
    DaemonSetup {
        repo_root: repo.to_owned(),
        backlog_path: repo.join("backlog.toml"),
        config,
        duet_exe: dir.join("exec-shim.sh"),
        runtime: std::sync::Arc::new(tmux),
        exit_when_done: false,
        stop_agents_on_exit: true,
        focus: Some(TASK.into()),
        check_agents: |_, _| Ok(()),
        usage_clock: duet_pair::now,
    }
}

fn token(dir: &Path, role: &str) -> String {
    let path = dir.join(format!("token.{TASK}.{role}"));
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

fn typed_lines(dir: &Path) -> mpsc::Receiver<(Instant, String)> {
    let fifo = dir.join(format!("typed.{TASK}.worker"));
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

/// A commit in the task's worktree (CI results are for its HEAD); returns the sha.
fn commit(worktree: &Path) -> String {
    let deadline = Instant::now() + TIMEOUT;
    while !worktree.join(".git").exists() {
        assert!(
            Instant::now() < deadline,
            "no worktree at {}",
            worktree.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::write(worktree.join("work.txt"), "work\n").unwrap();
    git(worktree, &["add", "work.txt"]);
    git(worktree, &["commit", "-q", "-m", "work"]);
    git(worktree, &["rev-parse", "HEAD"]).trim().to_owned()
}
