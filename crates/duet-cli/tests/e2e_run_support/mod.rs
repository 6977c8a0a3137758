//! Shared set-up of the `duet run` restart tests: a repository with a backlog, the real agent
//! CLIs pointed at a scripted fake model server that lives in the TEST process (so it outlives
//! every daemon the test kills, as a real model API would), a private tmux server, daemons
//! started / killed / stopped, and the store read while they run.
//!
//! Include it with `#[path = "e2e_run_support/mod.rs"] mod support;` next to `mod common;`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use duet_core::lifecycle::StateKind;
use duet_store::{Event, EventFilter, EventRecord, Store};
use duet_testkit::Script;
use duet_testkit::agents::ChildGuard;

use crate::common::toml_string;
use crate::common::world::AgentWorld;

/// How long a daemon may take to finish the work left.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);
/// How long to wait for one expected fact.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(45);

/// One world (see [`AgentWorld`], whose fields it derefs to) configured for `duet run`
/// (claude works, codex reviews), with gate files for scripted commands to wait for.
pub struct RunWorld {
    world: AgentWorld,
    /// Files a scripted shell command waits for (see [`gate_command`]).
    pub gates: tempfile::TempDir,
    spawned: std::cell::Cell<usize>,
}

impl std::ops::Deref for RunWorld {
    type Target = AgentWorld;

    fn deref(&self) -> &AgentWorld {
        &self.world
    }
}

impl RunWorld {
    /// Sets the world up, or `None` (after a skip line) without the agent CLIs. `script` is
    /// given the gate folder (scripts name gate files in it).
    pub fn start(
        name: &str,
        backlog: &str,
        max_parallel: usize,
        script: impl FnOnce(&Path) -> String,
    ) -> Option<Self> {
        let gates = tempfile::tempdir().unwrap();
        let script = Script::from_toml_str(&script(gates.path())).unwrap();
        let tmux_socket = format!("duet-e2e-run-{name}-{}", std::process::id());
        let world = AgentWorld::start(tmux_socket, backlog, script)?;
        world.write_config(&format!(
            "base_branch = \"main\"\nmax_parallel = {max_parallel}\n\
             [roles]\nworker = \"claude\"\nreviewer = \"codex\"\n"
        ));
        Some(RunWorld {
            world,
            gates,
            spawned: std::cell::Cell::new(0),
        })
    }

    /// The path of gate `name` (created by [`RunWorld::open_gate`]).
    pub fn gate(&self, name: &str) -> PathBuf {
        self.gates.path().join(name)
    }

    /// Lets the scripted commands waiting for gate `name` go on.
    pub fn open_gate(&self, name: &str) {
        std::fs::write(self.gate(name), "").unwrap();
    }

    /// `duet ARGS` with the test's hermetic environment, in the repository.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.duet_command();
        cmd.env("RUST_LOG", "info,duet_daemon=debug")
            .current_dir(&self.repo)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `duet run --tmux-socket S ARGS` in the background.
    pub fn spawn_run(&self, args: &[&str]) -> Daemon {
        self.spawn_engine(&["run"], args)
    }

    /// Starts `duet pair TASK --tmux-socket S ARGS` in the background (the same engine).
    pub fn spawn_pair(&self, task: &str, args: &[&str]) -> Daemon {
        self.spawn_engine(&["pair", task], args)
    }

    /// [`RunWorld::spawn_run`] with `env` set for the daemon (e.g. `DUET_FAILPOINTS`).
    pub fn spawn_run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        self.spawn_engine_with(&["run"], args, env)
    }

    fn spawn_engine(&self, command: &[&str], args: &[&str]) -> Daemon {
        self.spawn_engine_with(command, args, &[])
    }

    fn spawn_engine_with(&self, command: &[&str], args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let n = self.spawned.get() + 1;
        self.spawned.set(n);
        let out_path = self.env.root().join(format!("run-{n}.out"));
        let err_path = self.env.root().join(format!("run-{n}.err"));
        let mut cmd = self.command(command);
        cmd.args(["--tmux-socket", &self.tmux_socket])
            .args(args)
            .envs(env.iter().copied())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap());
        Daemon {
            child: ChildGuard::new(cmd.spawn().unwrap()),
            out_path,
            err_path,
            log_path: self.repo.join(".duet/logs/duet.log"),
        }
    }

    /// Every event in the store (read-only, while a daemon may be writing).
    pub fn events(&self) -> Vec<EventRecord> {
        let Ok(store) = Store::open_read_only(self.repo.join(".duet/state.db")) else {
            return Vec::new();
        };
        store.events(&EventFilter::all()).unwrap_or_default()
    }

    /// Waits until the events satisfy `done`; panics with them after `timeout`.
    pub fn wait_for_events(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&[EventRecord]) -> bool,
    ) -> Vec<EventRecord> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events();
            if done(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; events so far:\n{}\nunmatched model requests: {}\ndaemon log:\n{}\npanes:\n{}",
                describe(&events),
                self.unmatched_requests(),
                self.log(),
                self.panes()
            );
            // The store has no change notification for readers in other processes: poll.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemons' log so far (every daemon of the repository appends to it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.repo.join(".duet/logs/duet.log")).unwrap_or_default()
    }

    /// Waits until the fake model server answered with the step named `name`.
    pub fn wait_for_step(&self, name: &str) {
        self.server
            .wait_for_entry(|e| step_name(e) == Some(name), STEP_TIMEOUT)
            .unwrap_or_else(|err| {
                panic!(
                    "step {name:?} was not reached: {err}\nevents:\n{}\nunmatched: {}",
                    describe(&self.events()),
                    self.unmatched_requests()
                )
            });
    }

    /// What every pane shows, for failure messages.
    pub fn panes(&self) -> String {
        let tmux = |args: &[&str]| {
            let out = Command::new("tmux")
                .args(["-L", &self.tmux_socket])
                .args(args)
                .stderr(Stdio::null())
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        tmux(&[
            "list-panes",
            "-a",
            "-F",
            "#{pane_id} #{session_name} #{@duet_title}",
        ])
        .lines()
        .map(|line| {
            let pane = line.split(' ').next().unwrap_or_default();
            format!("--- {line}\n{}", tmux(&["capture-pane", "-p", "-t", pane]))
        })
        .collect()
    }

    /// The tmux sessions alive on the test's server.
    pub fn tmux_sessions(&self) -> Vec<String> {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.tmux_socket,
                "list-sessions",
                "-F",
                "#{session_name}",
            ])
            .stderr(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The pid of the process in `task`'s pane for `role` (the `duet exec-agent` wrapper): the
    /// worker's pane is the session's first, the reviewer's the second.
    pub fn pane_pid(&self, task: &str, role: &str) -> u32 {
        let index = if role == "worker" { "0" } else { "1" };
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.tmux_socket,
                "list-panes",
                "-a",
                "-F",
                "#{pane_pid} #{pane_dead} #{pane_index} #{session_name}",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let [pid, dead, pane_index, session] = fields[..] else {
                    return None;
                };
                (dead == "0" && pane_index == index && session.ends_with(&format!("-{task}")))
                    .then(|| pid.parse().ok())?
            })
            .unwrap_or_else(|| panic!("no live {role} pane of {task} in {text:?}"))
    }
}

/// A `duet run` in the background (killed and reaped if the test fails).
pub struct Daemon {
    child: ChildGuard,
    out_path: PathBuf,
    err_path: PathBuf,
    log_path: PathBuf,
}

/// How a daemon ended and what it printed.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Daemon {
    pub fn pid(&mut self) -> u32 {
        self.child.child_mut().id()
    }

    fn output(&self) -> (String, String) {
        (
            std::fs::read_to_string(&self.out_path).unwrap_or_default(),
            std::fs::read_to_string(&self.err_path).unwrap_or_default(),
        )
    }

    /// Waits for it to exit; panics with its output and log after `timeout`.
    pub fn wait(mut self, timeout: Duration) -> Finished {
        use std::os::unix::process::ExitStatusExt;
        let status = self.child.wait_timeout(timeout).unwrap();
        let (stdout, stderr) = self.output();
        let Some(status) = status else {
            let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
            panic!(
                "duet run did not finish within {timeout:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\nlog:\n{log}"
            );
        };
        Finished {
            code: status.code(),
            signal: status.signal(),
            stdout,
            stderr,
        }
    }

    /// Sends `signal` (e.g. "KILL", "TERM") and waits for it to exit.
    pub fn signal(mut self, signal: &str) -> Finished {
        let pid = self.pid().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid} failed");
        self.wait(STEP_TIMEOUT)
    }

    /// The daemon's log so far (all daemons of the repository append to it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

/// The message task `a`'s reviewer sends its busy worker in the restart scripts.
pub const RESTART_MESSAGE: &str = "Please keep a.txt short.";

/// Task `a`'s steps in the restart tests (`duet run` and `duet pair` killed mid-task): the
/// worker's first turn waits for gate `a`; the reviewer's first turn (answered after 4 s) sends
/// the busy worker [`RESTART_MESSAGE`]; the review turn is answered after 5 s.
pub fn restart_steps_a(gates: &Path) -> String {
    let write_a = gate_command(
        &gates.join("a"),
        "echo a > a.txt && git add a.txt && git commit -q -m 'write a' && echo committed-a",
    );
    let mut out = String::new();
    out.push_str(&format!(
        r#"[[step]]
agent = "a-worker"
name = "a write"
match.user_contains = "You are the WORKER"
reply.tool_calls = [{{ name = "Bash", input = {{ command = {write_a} }} }}]

[[step]]
agent = "a-worker"
name = "a request review"
match.tool_result = {{ name = "Bash", contains = "committed-a" }}
reply.tool_calls = [{{ name = "mcp__duet__request_review", input = {{ summary = "wrote a.txt" }} }}]

[[step]]
agent = "a-worker"
name = "a wait"
match.tool_result = {{ name = "mcp__duet__request_review", contains = "round 1" }}
reply.text = "Waiting for the review."

[[step]]
agent = "a-worker"
name = "a noted"
match.user_contains = "{RESTART_MESSAGE}"
reply.text = "Noted: a.txt is one line."

[[step]]
agent = "a-worker"
name = "a done"
match.user_contains = "The reviewer approved"
reply.tool_calls = [{{ name = "mcp__duet__mark_done", input = {{ summary = "a.txt written" }} }}]

[[step]]
agent = "a-reviewer"
name = "a ready"
match.user_contains = "You are the REVIEWER"
reply.delay_ms = 4000
reply.tool_calls = [{{ name = "mcp__duet__send_message", input = {{ text = "{RESTART_MESSAGE}" }} }}]

[[step]]
agent = "a-reviewer"
name = "a sent"
match.tool_result = {{ name = "mcp__duet__send_message", contains = "accepted" }}
reply.text = "Sent."

[[step]]
agent = "a-reviewer"
name = "a approve"
match.user_contains = "(round 1 of"
reply.delay_ms = 5000
reply.tool_calls = [{{ name = "mcp__duet__submit_review", input = {{ verdict = "approve", findings = [], verified = ["git show HEAD: read the whole diff"], not_verified = ["did not run the test suite"] }} }}]

[[step]]
agent = "a-reviewer"
name = "a approved"
match.tool_result = {{ name = "mcp__duet__submit_review" }}
reply.text = "Approved."

"#,
        write_a = toml_string(&write_a),
    ));
    out
}

/// The name of the script step that answered `entry`, if a step did.
pub fn step_name(entry: &duet_testkit::request_log::LogEntry) -> Option<&str> {
    match &entry.outcome {
        duet_testkit::request_log::Outcome::Step { name, .. } => name.as_deref(),
        _ => None,
    }
}

/// One line per event, for failure messages.
pub fn describe(events: &[EventRecord]) -> String {
    events
        .iter()
        .map(|r| format!("  {} {:?}", r.task_id.as_deref().unwrap_or("-"), r.event))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How many events of `task` satisfy `is`.
pub fn count(events: &[EventRecord], task: &str, is: impl Fn(&Event) -> bool) -> usize {
    events
        .iter()
        .filter(|r| r.task_id.as_deref() == Some(task) && is(&r.event))
        .count()
}

/// Whether `task` is in `state` (its last state change went there).
pub fn is_in(events: &[EventRecord], task: &str, state: StateKind) -> bool {
    events
        .iter()
        .rev()
        .filter(|r| r.task_id.as_deref() == Some(task))
        .find_map(|r| match &r.event {
            Event::TaskStateChanged { to, .. } => Some(*to == state),
            _ => None,
        })
        .unwrap_or(false)
}

/// Whether `task` ever went to `state` (a done task goes on to merging and merged).
pub fn reached(events: &[EventRecord], task: &str, state: StateKind) -> bool {
    events.iter().any(|r| {
        r.task_id.as_deref() == Some(task)
            && matches!(&r.event, Event::TaskStateChanged { to, .. } if *to == state)
    })
}

/// The note a daemon writes for each pair it takes over.
pub fn adopted(event: &Event) -> bool {
    matches!(event, Event::Note { text } if text == "pair adopted by a new daemon")
}

/// Every accepted message was delivered exactly once, and handed over once (the store's
/// "handed over" notes count the times a message was typed or returned from a Stop hook).
/// Except a "`main` moved" notice from duet that came while the worker was in its last turn: its
/// task was done before the worker was at rest again, and the notice is moot (never typed).
pub fn assert_each_message_delivered_once(events: &[EventRecord]) {
    let moot = |task: &Option<String>, from: &str, text: &str| {
        from == "duet"
            && text.starts_with("`main` moved")
            && task
                .as_deref()
                .is_some_and(|task| reached(events, task, StateKind::Done))
    };
    let accepted: Vec<&str> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::MessageAccepted { id, from, text, .. } => {
                let never_typed = !events.iter().any(|e| {
                    matches!(&e.event, Event::Note { text } if text.starts_with(&format!("message {id} handed over")))
                });
                (!(never_typed && moot(&r.task_id, from, text))).then_some(id.as_str())
            }
            _ => None,
        })
        .collect();
    assert!(
        !accepted.is_empty(),
        "no messages at all:\n{}",
        describe(events)
    );
    for id in accepted {
        let delivered = events
            .iter()
            .filter(|r| matches!(&r.event, Event::MessageDelivered { id: d } if d == id))
            .count();
        let handed = events
            .iter()
            .filter(|r| matches!(&r.event, Event::Note { text } if text.starts_with(&format!("message {id} handed over"))))
            .count();
        assert_eq!(
            (delivered, handed),
            (1, 1),
            "message {id}: delivered {delivered} times, handed over {handed} times\n{}",
            describe(events)
        );
    }
}

/// A shell command that waits until gate file `gate` exists (at most 100 s, so a command
/// orphaned by a killed agent ends too), then runs `then`.
pub fn gate_command(gate: &Path, then: &str) -> String {
    format!(
        "i=0; while [ ! -e '{}' ] && [ $i -lt 1000 ]; do sleep 0.1; i=$((i+1)); done; {then}",
        gate.display()
    )
}

/// A backlog of independent tasks (`id`, `depends_on`).
pub fn backlog(tasks: &[(&str, &[&str])]) -> String {
    tasks
        .iter()
        .map(|(id, deps)| {
            let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
            format!(
                "[[task]]\nid = \"{id}\"\ntitle = \"Write {id}.txt\"\nprompt = \"Create {id}.txt.\"\ndepends_on = [{}]\n\n",
                deps.join(", ")
            )
        })
        .collect()
}

/// Scopes for `task`'s worker (claude) and reviewer (codex): `<task>-worker`, `<task>-reviewer`.
pub fn scopes(task: &str) -> String {
    scopes_with(task, "anthropic", "openai")
}

/// [`scopes`] with the worker's and the reviewer's API (`anthropic` for claude, `openai` for
/// codex).
pub fn scopes_with(task: &str, worker_api: &str, reviewer_api: &str) -> String {
    format!(
        "[[agent]]\nname = \"{task}-worker\"\napi = \"{worker_api}\"\nany_user_contains = \"pair on task `{task}`\"\n\n\
         [[agent]]\nname = \"{task}-reviewer\"\napi = \"{reviewer_api}\"\nany_user_contains = \"pair on task `{task}`\"\n\n"
    )
}

/// The plain round of `task`: the worker commits `<task>.txt` (after `gate`, if any) and asks
/// for review, the reviewer approves, the worker marks it done.
pub fn plain_steps(task: &str, gate: Option<&Path>) -> String {
    let commit = format!(
        "echo {task} > {task}.txt && git add {task}.txt && git commit -q -m 'write {task}' && echo committed-{task}"
    );
    let command = match gate {
        Some(gate) => gate_command(gate, &commit),
        None => commit,
    };
    steps_with(task, &command)
}

/// [`plain_steps`] with the worker's shell `command` (which must print `committed-<task>`).
pub fn steps_with(task: &str, command: &str) -> String {
    format!(
        r#"[[step]]
agent = "{task}-worker"
name = "{task} write"
match.user_contains = "You are the WORKER"
reply.tool_calls = [{{ name = "Bash", input = {{ command = {command} }} }}]

[[step]]
agent = "{task}-worker"
name = "{task} request review"
match.tool_result = {{ name = "Bash", contains = "committed-{task}" }}
reply.tool_calls = [{{ name = "mcp__duet__request_review", input = {{ summary = "wrote {task}.txt" }} }}]

[[step]]
agent = "{task}-worker"
name = "{task} wait"
match.tool_result = {{ name = "mcp__duet__request_review", contains = "round 1" }}
reply.text = "Waiting for the review."

[[step]]
agent = "{task}-worker"
name = "{task} done"
match.user_contains = "The reviewer approved"
reply.tool_calls = [{{ name = "mcp__duet__mark_done", input = {{ summary = "{task}.txt written" }} }}]

[[step]]
agent = "{task}-reviewer"
name = "{task} ready"
match.user_contains = "You are the REVIEWER"
reply.text = "Ready."

[[step]]
agent = "{task}-reviewer"
name = "{task} approve"
match.user_contains = "(round 1 of"
reply.tool_calls = [{{ name = "mcp__duet__submit_review", input = {{ verdict = "approve", findings = [], verified = ["git show HEAD: read the whole diff"], not_verified = ["did not run the test suite"] }} }}]

[[step]]
agent = "{task}-reviewer"
name = "{task} approved"
match.tool_result = {{ name = "mcp__duet__submit_review" }}
reply.text = "Approved."

"#,
        command = toml_string(command),
    )
}

/// Connections waiting in the accept queue of the listening socket at `socket` (`ss`'s Recv-Q):
/// calls written to a stopped daemon and not read.
pub fn queued_connections(socket: &Path) -> usize {
    let out = Command::new("ss")
        .args(["-xlnH"])
        .output()
        .expect("`ss` (iproute2) runs: this test reads the daemon's accept queue with it");
    let text = String::from_utf8_lossy(&out.stdout);
    let path = socket.display().to_string();
    text.lines()
        .filter(|line| line.split_whitespace().any(|field| field == path))
        .filter_map(|line| line.split_whitespace().nth(2)?.parse::<usize>().ok())
        .sum()
}

/// Sends signal `name` (e.g. "STOP") to `pid`.
pub fn signal_pid(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// What the runs left: worktrees besides the main checkout, branches besides main, tmux
/// sessions, and live processes whose command line names the repository, the tmux socket or
/// one of `also` (e.g. the gate folder).
pub fn orphans(world: &RunWorld, also: &[&str]) -> Vec<String> {
    let mut left = Vec::new();
    let worktrees = world
        .env
        .git(&world.repo, &["worktree", "list", "--porcelain"]);
    left.extend(
        worktrees
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .filter(|path| Path::new(path) != world.repo)
            .map(|path| format!("worktree {path}")),
    );
    let branches = world
        .env
        .git(&world.repo, &["branch", "--format=%(refname:short)"]);
    left.extend(
        branches
            .lines()
            .filter(|b| *b != "main")
            .map(|b| format!("branch {b}")),
    );
    left.extend(
        world
            .tmux_sessions()
            .into_iter()
            .map(|s| format!("tmux session {s}")),
    );
    let repo = world.repo.to_string_lossy();
    let mut needles = vec![repo.as_ref(), world.tmux_socket.as_str()];
    needles.extend_from_slice(also);
    left.extend(processes_naming(&needles));
    left
}

/// Live processes whose command line contains one of `needles` (the tmux server excepted: the
/// test's guard ends it).
pub fn processes_naming(needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        let is_zombie = std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        });
        if is_zombie || cmdline.starts_with("tmux") || pid == std::process::id() {
            continue;
        }
        if needles.iter().any(|n| cmdline.contains(n)) {
            found.push(format!("process {pid}: {}", cmdline.trim()));
        }
    }
    found
}

/// Seconds since midnight UTC of a log line's RFC 3339 timestamp (`2026-12-02T01:52:14.28Z ...`).
pub fn seconds_of_day(line: &str) -> Option<f64> {
    let time = line.get(11..)?.split(['Z', ' ']).next()?;
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// Seconds since midnight UTC now (to compare with [`seconds_of_day`] of a log line).
pub fn now_seconds_of_day() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        % 86_400.0
}

/// When daemon `pid` logged its start (seconds of the day), from the repository's log.
pub fn daemon_started_at(world: &RunWorld, pid: u32) -> f64 {
    let log = world.log();
    log.lines()
        .find(|l| l.contains(&format!("daemon {pid} started")))
        .and_then(seconds_of_day)
        .unwrap_or_else(|| panic!("no start line of daemon {pid} in\n{log}"))
}
