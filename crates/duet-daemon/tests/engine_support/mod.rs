//! The engine under test with the in-memory agent runtime: no tmux and no agent CLI, a real git
//! repository and store in a temporary folder. A test plays the agents over the control socket
//! with the tokens each start was given (as `duet mcp`, `duet hook` and `duet exec-agent` would),
//! and reads the outcome from the store and the runtime's record.

#![allow(dead_code)] // each test binary uses its own part

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use duet_core::config::Config;
use duet_core::lifecycle::StateKind;
use duet_core::protocol::ToolCall;
use duet_daemon::{DaemonProgress, DaemonSetup, RunSummary};
use duet_pair::runtime::memory::{MemoryAgent, MemoryRuntime};
use duet_proto::{Client, ErrorKind, HookSource, Request, RequestBody, Response, ResponseBody};
use duet_store::{Event, EventFilter, EventRecord, Store};
use duet_testkit::hermetic::{GIT_ENV, git_repo};
use serde_json::json;
use tokio::sync::oneshot;

pub const WAIT: Duration = Duration::from_secs(30);

pub const CONFIG: &str = r#"
base_branch = "main"
max_parallel = 2
[roles]
worker = "w"
reviewer = "r"
[agents.w]
kind = "claude"
command = "never-run-by-the-memory-runtime"
[agents.r]
kind = "claude"
command = "never-run-by-the-memory-runtime"
"#;

pub fn backlog(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| {
            format!("[[task]]\nid = \"{id}\"\ntitle = \"Task {id}\"\nprompt = \"Do {id}.\"\n\n")
        })
        .collect()
}

/// A repository with duet.toml and a backlog, and a running engine on a memory runtime.
pub struct World {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub runtime: MemoryRuntime,
    /// duet.toml's text.
    pub config: String,
}

/// One engine run on its own thread; dropping it (or [`Engine::stop`]) ends it.
pub struct Engine {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<RunSummary>>,
}

impl Engine {
    /// Stops the engine as Ctrl-C would and returns its summary.
    pub fn stop(mut self) -> RunSummary {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join()
    }

    /// Waits for the engine to end by itself.
    pub fn join(mut self) -> RunSummary {
        self.thread
            .take()
            .expect("joined once")
            .join()
            .expect("the engine panicked")
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl World {
    pub fn new(tasks: &[&str]) -> Self {
        Self::with_config(tasks, "")
    }

    /// A world whose duet.toml is [`CONFIG`] followed by `more` (tables of its own).
    pub fn with_config(tasks: &[&str], more: &str) -> Self {
        Self::with_backlog(&backlog(tasks), more)
    }

    pub fn with_backlog(backlog: &str, more: &str) -> Self {
        let (dir, root) = git_repo("duet-engine-");
        let config = format!("{CONFIG}{more}");
        std::fs::write(root.join("duet.toml"), &config).unwrap();
        std::fs::write(root.join("backlog.toml"), backlog).unwrap();
        World {
            _dir: dir,
            root,
            runtime: MemoryRuntime::new(),
            config,
        }
    }

    pub fn setup(&self, exit_when_done: bool, focus: Option<&str>) -> DaemonSetup {
        let config = Config::from_toml_str(&self.config, "duet.toml").unwrap();
        DaemonSetup {
            repo_root: self.root.clone(),
            backlog_path: self.root.join("backlog.toml"),
            config,
            duet_exe: PathBuf::from("/nonexistent/duet"),
            runtime: Arc::new(self.runtime.clone()),
            exit_when_done,
            stop_agents_on_exit: false,
            focus: focus.map(str::to_string),
            check_agents: |_, _| Ok(()),
            usage_clock,
        }
    }

    pub fn start(&self, exit_when_done: bool, focus: Option<&str>) -> Engine {
        let setup = self.setup(exit_when_done, focus);
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let summary =
                runtime.block_on(duet_daemon::run(setup, |_: DaemonProgress| {}, async {
                    let _ = stopped.await;
                }));
            runtime.shutdown_timeout(Duration::from_secs(1));
            summary.expect("the engine ran")
        });
        let engine = Engine {
            stop: Some(stop),
            thread: Some(thread),
        };
        self.wait("the engine answers", || self.socket_answers().then_some(()));
        engine
    }

    /// The socket exists and answers (a request nobody could mistake for an action).
    pub fn socket_answers(&self) -> bool {
        self.send(Request::from_human(RequestBody::Pause {
            task: "no-such-task".into(),
        }))
        .is_some()
    }

    pub fn socket(&self) -> PathBuf {
        self.setup(false, None).socket_path()
    }

    pub fn send(&self, request: Request) -> Option<Response> {
        Client::new(self.socket(), Duration::from_secs(5))
            .send(&request)
            .ok()
    }

    pub fn agent(&self, token: &str, body: RequestBody) -> Response {
        self.send(Request::from_agent(token, body))
            .expect("the engine answers")
    }

    pub fn human(&self, body: RequestBody) -> Response {
        self.send(Request::from_human(body))
            .expect("the engine answers")
    }

    /// Polls `check` until it gives a value (the engine's effects land in the store and the
    /// runtime's record; there is no event to await from outside the process).
    pub fn wait<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(value) = check() {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nevents:\n{}",
                describe(&self.events())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pair_name(&self, task: &str) -> String {
        duet_agents::tmux::session_name(&self.root, task)
    }

    pub fn pair(&self, task: &str) -> (MemoryAgent, MemoryAgent) {
        let name = self.pair_name(task);
        self.wait(&format!("the pair of {task}"), || self.runtime.pair(&name))
    }

    /// The pair's last saved snapshot (one pair), as JSON.
    pub fn snapshot(&self) -> Option<serde_json::Value> {
        let store = Store::open_read_only(self.root.join(".duet/state.db")).ok()?;
        let (_, json) = store.pair_snapshots().ok()?.into_iter().next()?;
        serde_json::from_str(&json).ok()
    }

    pub fn events(&self) -> Vec<EventRecord> {
        Store::open_read_only(self.root.join(".duet/state.db"))
            .and_then(|store| store.events(&EventFilter::all()))
            .unwrap_or_default()
    }

    pub fn state(&self, task: &str) -> Option<StateKind> {
        let store = Store::open_read_only(self.root.join(".duet/state.db")).ok()?;
        store.task(task).ok().flatten().map(|row| row.state)
    }

    pub fn wait_state(&self, task: &str, state: StateKind) {
        self.wait(&format!("{task} {state}"), || {
            (self.state(task) == Some(state)).then_some(())
        });
    }

    /// `git` in `dir` (hermetic); its trimmed stdout; panics when it fails.
    pub fn git(&self, dir: &std::path::Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .envs(GIT_ENV)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn worktree(&self, task: &str) -> PathBuf {
        self.root.join(".duet/worktrees").join(task)
    }

    pub fn commit(&self, task: &str, file: &str) {
        self.commit_text(task, file, "content\n");
    }

    /// Commits `file` with `text` in the task's worktree.
    pub fn commit_text(&self, task: &str, file: &str, text: &str) {
        let dir = self.worktree(task);
        std::fs::write(dir.join(file), text).unwrap();
        for args in [&["add", file][..], &["commit", "-q", "-m", file]] {
            let status = std::process::Command::new("git")
                .args(args)
                .current_dir(&dir)
                .envs(GIT_ENV)
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
}

/// How far the engines' usage clock is ahead of the wall clock (ms); a test moves it to bring
/// a usage limit's reset time (each test binary's test runs in a process of its own).
pub static USAGE_CLOCK_AHEAD_MS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

fn usage_clock() -> duet_core::protocol::Timestamp {
    let ahead = USAGE_CLOCK_AHEAD_MS.load(std::sync::atomic::Ordering::SeqCst);
    duet_core::protocol::Timestamp(duet_pair::now().0 + ahead)
}

pub fn token(agent: &MemoryAgent) -> String {
    agent
        .env("DUET_TOKEN")
        .expect("a token in the env")
        .to_string()
}

pub fn hook(event: &str, extra: serde_json::Value) -> RequestBody {
    let mut payload = json!({"hook_event_name": event, "session_id": "s"});
    if let (Some(payload), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
        payload.extend(extra.clone());
    }
    RequestBody::Hook {
        source: HookSource::Claude,
        payload,
    }
}

/// The agent's process is up, its bridge has listed duet's tools, and its first turn (its
/// brief, handed over as duet's first message) is over.
pub fn settle(world: &World, token: &str) -> String {
    for body in [
        RequestBody::ProcessStarted { pid: 4242 },
        RequestBody::BridgeReady,
    ] {
        let answer = world.agent(token, body);
        assert!(accepted(&answer), "{answer:?}");
    }
    // Nothing on the command line: the brief is the first hand-over (typed into a pane at rest;
    // played here at a Stop hook, which hands it over the same way).
    let answer = world.agent(token, hook("Stop", json!({"stop_hook_active": false})));
    let Response::Ok {
        body: ResponseBody::HookReply {
            stdout: Some(stdout),
        },
    } = answer
    else {
        panic!("the brief is handed over: {answer:?}");
    };
    let reason: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let brief = reason["reason"].as_str().unwrap().to_owned();
    assert!(brief.contains("in a duet pair on task"), "{brief}");
    let answer = world.agent(token, hook("UserPromptSubmit", json!({ "prompt": brief })));
    assert!(accepted(&answer), "{answer:?}");
    end_turn(world, token);
    brief
}

/// The agent ends its turn; a message handed over at the Stop hook makes it go on (as claude
/// does), and that turn ends too, until it is at rest.
pub fn end_turn(world: &World, token: &str) {
    for _ in 0..10 {
        let answer = world.agent(token, hook("Stop", json!({"stop_hook_active": false})));
        assert!(accepted(&answer), "{answer:?}");
        let handed_over = matches!(
            &answer,
            Response::Ok {
                body: ResponseBody::HookReply { stdout: Some(text) }
            } if text.contains("\"block\"")
        );
        if !handed_over {
            return;
        }
    }
    panic!("the agent never came to rest");
}

pub fn tool(world: &World, token: &str, call: ToolCall) -> Response {
    world.agent(token, RequestBody::ToolCall { call })
}

pub fn describe(events: &[EventRecord]) -> String {
    events
        .iter()
        .map(|r| format!("  {:?} {:?}", r.task_id, r.event))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn count(events: &[EventRecord], is: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|r| is(&r.event)).count()
}

/// Waits until `role`'s agent in `task`'s pair was typed text containing `needle`; returns it.
pub fn typed(world: &World, task: &str, reviewer: bool, needle: &str) -> String {
    world.wait(&format!("{needle:?} typed"), || {
        let (w, r) = world.runtime.pair(&world.pair_name(task))?;
        let agent = if reviewer { r } else { w };
        agent.typed.into_iter().find(|t| t.contains(needle))
    })
}

/// Plays a pair from its start to `mark_done`: both agents settle, the worker commits `file`,
/// asks for review, the reviewer approves, the worker marks it done. `before_done` runs just
/// before `mark_done` (e.g. to wait for CI).
pub fn work_to_done(world: &World, task: &str, file: &str, before_done: impl FnOnce()) {
    work_change_to_done(world, task, || world.commit(task, file), before_done);
}

/// [`work_to_done`] with the worker's change made by `change`.
pub fn work_change_to_done(
    world: &World,
    task: &str,
    change: impl FnOnce(),
    before_done: impl FnOnce(),
) {
    let (worker, reviewer) = world.pair(task);
    settle(world, &token(&worker));
    settle(world, &token(&reviewer));
    work_settled(world, task, change, before_done);
}

/// [`work_change_to_done`] for a pair whose agents have settled already.
pub fn work_settled(world: &World, task: &str, change: impl FnOnce(), before_done: impl FnOnce()) {
    let file = "the change";
    let (worker, reviewer) = world.pair(task);
    let (w, r) = (token(&worker), token(&reviewer));
    change();
    let answer = tool(
        world,
        &w,
        ToolCall::RequestReview {
            summary: file.into(),
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    let request = typed(world, task, true, "(round");
    world.agent(&r, hook("UserPromptSubmit", json!({"prompt": request})));
    let answer = tool(
        world,
        &r,
        ToolCall::SubmitReview {
            verdict: duet_core::protocol::Verdict::Approve,
            findings: Vec::new(),
            verified: vec!["read the diff".into()],
            not_verified: vec![],
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    world.agent(&r, hook("Stop", json!({"stop_hook_active": false})));
    let approved = typed(world, task, false, "approved");
    world.agent(&w, hook("UserPromptSubmit", json!({"prompt": approved})));
    before_done();
    let answer = tool(
        world,
        &w,
        ToolCall::MarkDone {
            summary: file.into(),
        },
    );
    assert!(accepted(&answer), "{answer:?}");
}

/// The request was taken: an `ok` answer that is not a tool's refusal.
pub fn accepted(response: &Response) -> bool {
    matches!(
        response,
        Response::Ok {
            body: ResponseBody::ToolResult {
                is_error: false,
                ..
            } | ResponseBody::Ack
                | ResponseBody::HookReply { .. }
                | ResponseBody::Status { .. }
        }
    )
}

pub fn refused_with(response: &Response, kind: ErrorKind) -> bool {
    matches!(response, Response::Error { error } if error.kind == kind)
}
