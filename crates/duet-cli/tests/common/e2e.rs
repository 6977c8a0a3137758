//! Shared set-up of the `duet pair` end-to-end tests: a repository with a backlog, the real
//! agent CLIs pointed at a scripted fake model server, a private tmux server, running
//! `duet pair` (to its end, or in the background to interrupt it), and reading the store.
//!
//! Include it next to `mod common;` with `#[path = "common/e2e.rs"] mod e2e;`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use duet_store::{Event, EventFilter, EventRecord, Store};
use duet_testkit::Script;
use duet_testkit::agents::ChildGuard;
use duet_testkit::request_log::{LogEntry, Outcome};

use crate::common::world::AgentWorld;

/// How long a whole `duet pair` run may take before the test gives up.
pub const PAIR_TIMEOUT: Duration = Duration::from_secs(240);
/// How long to wait for one expected fact (a store event, a log entry).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// The task every e2e test works on.
pub const TASK: &str = "greet";

const BACKLOG: &str = r#"
[[task]]
id = "greet"
title = "Add a greeting"
prompt = "Add greeting.txt that greets the world."
proof = "cat greeting.txt"
"#;

/// A script from `tests/scripts/`.
pub fn script(name: &str) -> Script {
    Script::load(script_path(name)).unwrap()
}

/// A script from `tests/scripts/` with each `(placeholder, value)` filled in.
pub fn script_with(name: &str, values: &[(&str, &str)]) -> Script {
    let mut text = std::fs::read_to_string(script_path(name)).unwrap();
    for (placeholder, value) in values {
        assert!(text.contains(placeholder), "{name} has no {placeholder}");
        text = text.replace(placeholder, value);
    }
    Script::from_toml_str(&text).unwrap()
}

fn script_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scripts")
        .join(name)
}

/// Which agent profile works and which reviews.
#[derive(Debug, Clone, Copy)]
pub enum Roles {
    ClaudeWorksCodexReviews,
    CodexWorksClaudeReviews,
}

impl Roles {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Roles::ClaudeWorksCodexReviews => ("claude", "codex"),
            Roles::CodexWorksClaudeReviews => ("codex", "claude"),
        }
    }
}

/// One e2e world (see [`AgentWorld`], whose fields it derefs to) configured for `duet pair`
/// with the given roles and review rounds.
pub struct PairWorld {
    world: AgentWorld,
}

impl std::ops::Deref for PairWorld {
    type Target = AgentWorld;

    fn deref(&self) -> &AgentWorld {
        &self.world
    }
}

impl PairWorld {
    /// Sets the world up, or `None` (after a skip line) when the agent CLIs are not installed.
    /// `name` makes the tmux socket unique among tests running at the same time.
    pub fn start(name: &str, script: Script, roles: Roles, max_rounds: u32) -> Option<Self> {
        Self::start_in(name, script, roles, max_rounds, &|_| "repo".to_string())
    }

    /// [`PairWorld::start`] with the repository at `repo_name(test root)` (see
    /// [`AgentWorld::start_in`]).
    pub fn start_in(
        name: &str,
        script: Script,
        roles: Roles,
        max_rounds: u32,
        repo_name: &dyn Fn(&Path) -> String,
    ) -> Option<Self> {
        let tmux_socket = format!("duet-e2e-{name}-{}", std::process::id());
        let world = AgentWorld::start_in(tmux_socket, BACKLOG, script, repo_name)?;
        let (worker, reviewer) = roles.names();
        world.write_config(&format!(
            "base_branch = \"main\"\n\
             [roles]\nworker = \"{worker}\"\nreviewer = \"{reviewer}\"\n\
             [review]\nmax_rounds = {max_rounds}\n"
        ));
        Some(PairWorld { world })
    }

    /// Starts `duet pair greet` in the background.
    pub fn spawn_pair(&self) -> RunningPair {
        self.spawn_pair_with(&[])
    }

    /// Starts `duet pair greet EXTRA...` in the background.
    pub fn spawn_pair_with(&self, extra: &[&str]) -> RunningPair {
        self.spawn_pair_env(extra, &[])
    }

    /// [`PairWorld::spawn_pair_with`] with `envs` added to duet's environment.
    pub fn spawn_pair_env(&self, extra: &[&str], envs: &[(&str, &Path)]) -> RunningPair {
        let out_path = self.env.root().join("pair.out");
        let err_path = self.env.root().join("pair.err");
        let mut cmd = self.env.duet_command();
        cmd.current_dir(&self.repo)
            .args(["pair", TASK, "--tmux-socket", &self.tmux_socket])
            .args(extra)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap());
        RunningPair {
            child: ChildGuard::new(cmd.spawn().unwrap()),
            out_path,
            err_path,
        }
    }

    /// Runs `duet pair greet` to its end.
    pub fn run_pair(&self) -> PairRun {
        self.finish(self.spawn_pair())
    }

    /// Waits for `pair` to end on its own; panics with what happened so far after
    /// [`PAIR_TIMEOUT`].
    pub fn finish(&self, pair: RunningPair) -> PairRun {
        match pair.wait_timeout(PAIR_TIMEOUT) {
            Ok(run) => run,
            Err((stdout, stderr)) => panic!(
                "duet pair did not finish within {PAIR_TIMEOUT:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\n{}",
                self.diagnostics()
            ),
        }
    }

    /// The model requests, the task's events and the panes' screens, for failure messages.
    pub fn diagnostics(&self) -> String {
        let requests: Vec<String> = self
            .server
            .log()
            .iter()
            .filter(|e| e.api.is_some())
            .map(|e| {
                let results: Vec<String> = e
                    .tool_results
                    .iter()
                    .map(|r| {
                        format!(
                            "{}{} {:?}",
                            r.name.as_deref().unwrap_or("?"),
                            if r.is_error { " (error)" } else { "" },
                            tail(&r.content, 160)
                        )
                    })
                    .collect();
                format!(
                    "  #{} {} {:?} user={:?} results={results:?}{}",
                    e.seq,
                    e.scope.as_deref().unwrap_or("-"),
                    e.outcome,
                    tail(&e.user_text, 120),
                    e.detail
                        .as_deref()
                        .map(|d| format!(" detail={d}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let panes = Command::new("tmux")
            .args([
                "-L",
                &self.tmux_socket,
                "list-panes",
                "-a",
                "-F",
                "#{pane_id}",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let screens: Vec<String> = panes
            .lines()
            .map(|pane| {
                let screen = Command::new("tmux")
                    .args(["-L", &self.tmux_socket, "capture-pane", "-p", "-t", pane])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
                format!("--- pane {pane} ---\n{}", lines.join("\n"))
            })
            .collect();
        format!(
            "model requests:\n{}\nevents:\n{}\n{}",
            requests.join("\n"),
            describe(&self.events()),
            screens.join("\n")
        )
    }

    /// Asserts that `run` ended with the task done (exit 0) and that every scripted step was
    /// used.
    pub fn assert_task_done(&self, run: &PairRun) {
        assert_eq!(
            run.code,
            0,
            "duet pair failed\nstdout:\n{}\nstderr:\n{}\nunmatched requests: {}",
            run.stdout,
            run.stderr,
            self.unmatched_requests()
        );
        assert!(
            run.stdout.contains(&format!("task {TASK}: done")),
            "{}",
            run.stdout
        );
        assert_eq!(
            self.server.unconsumed_steps(),
            Vec::<usize>::new(),
            "every scripted step was used"
        );
    }

    /// The task branch's commit subjects, newest first.
    pub fn branch_log(&self) -> Vec<String> {
        self.world.branch_log(TASK)
    }

    /// The task's events in the store (read-only, while `duet pair` may still be writing).
    pub fn events(&self) -> Vec<EventRecord> {
        task_events(&self.repo)
    }

    /// Waits until the task's events satisfy `done`; panics with the events after `timeout`.
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
                "timed out after {timeout:?} waiting for {what}; events so far:\n{}\nunmatched requests: {}",
                describe(&events),
                self.unmatched_requests()
            );
            // The store has no change notification for readers in other processes: poll.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the task is in needs-human; returns the reason stored with the move.
    pub fn wait_for_needs_human(&self) -> String {
        let events = self.wait_for_events("the task to need the human", STEP_TIMEOUT, |events| {
            needs_human_reason(events).is_some()
        });
        needs_human_reason(&events).unwrap()
    }
}

/// The name of the script step that answered `entry`, if a step did.
pub fn step_name(entry: &LogEntry) -> Option<&str> {
    match &entry.outcome {
        Outcome::Step { name, .. } => name.as_deref(),
        _ => None,
    }
}

/// The reason of the last move into needs-human, if any.
pub fn needs_human_reason(events: &[EventRecord]) -> Option<String> {
    events.iter().rev().find_map(|r| match &r.event {
        Event::TaskStateChanged {
            to: duet_core::lifecycle::StateKind::NeedsHuman,
            reason,
            ..
        } => Some(reason.clone().unwrap_or_default()),
        _ => None,
    })
}

/// The last `max` characters of `text`.
fn tail(text: &str, max: usize) -> &str {
    let start = text.len().saturating_sub(max);
    let start = (start..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    &text[start..]
}

/// One line per event, for failure messages.
pub fn describe(events: &[EventRecord]) -> String {
    events
        .iter()
        .map(|r| format!("  {:?}", r.event))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The task's events, read from the store in `repo` without taking it over.
pub fn task_events(repo: &Path) -> Vec<EventRecord> {
    let path = repo.join(".duet/state.db");
    let Ok(store) = Store::open_read_only(&path) else {
        return Vec::new();
    };
    store
        .events(&EventFilter::all().task(TASK))
        .unwrap_or_default()
}

/// A `duet pair` running in the background (killed and reaped if the test fails).
pub struct RunningPair {
    child: ChildGuard,
    out_path: PathBuf,
    err_path: PathBuf,
}

/// How `duet pair` ended and what it printed.
#[derive(Debug)]
pub struct PairRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl RunningPair {
    pub fn pid(&mut self) -> u32 {
        self.child.child_mut().id()
    }

    /// What it printed so far.
    pub fn output(&self) -> (String, String) {
        (
            std::fs::read_to_string(&self.out_path).unwrap_or_default(),
            std::fs::read_to_string(&self.err_path).unwrap_or_default(),
        )
    }

    /// Waits for it to exit on its own; after `timeout` it is killed and its output so far is
    /// the error.
    pub fn wait_timeout(mut self, timeout: Duration) -> Result<PairRun, (String, String)> {
        let status = self.child.wait_timeout(timeout).unwrap();
        let (stdout, stderr) = self.output();
        match status {
            Some(status) => Ok(PairRun {
                code: status.code().unwrap_or(-1),
                stdout,
                stderr,
            }),
            None => Err((stdout, stderr)),
        }
    }

    /// Ctrl-C: sends SIGINT and waits for it to stop.
    pub fn interrupt(mut self) -> PairRun {
        let pid = self.pid().to_string();
        let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(status.success(), "kill -INT {pid} failed");
        self.wait_timeout(STEP_TIMEOUT)
            .unwrap_or_else(|(stdout, stderr)| {
                panic!("duet pair did not stop after SIGINT\nstdout:\n{stdout}\nstderr:\n{stderr}")
            })
    }
}

/// Every accepted message was delivered, and none twice.
pub fn assert_messages_delivered_once(events: &[EventRecord]) {
    let accepted: Vec<String> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::MessageAccepted { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    let delivered: Vec<String> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::MessageDelivered { id } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert!(!accepted.is_empty());
    let mut unique = delivered.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "a message was delivered twice: {delivered:?}"
    );
    let mut accepted_sorted = accepted.clone();
    accepted_sorted.sort();
    assert_eq!(
        unique, accepted_sorted,
        "accepted {accepted:?}, delivered {delivered:?}"
    );
}

/// duet's six tools as the model sees them.
pub const DUET_TOOLS: [&str; 6] = [
    "mcp__duet__send_message",
    "mcp__duet__request_review",
    "mcp__duet__submit_review",
    "mcp__duet__mark_done",
    "mcp__duet__ask_human",
    "mcp__duet__task_status",
];

/// A request the model would answer (a scripted turn), not a title, probe or token count.
pub fn is_turn_request(entry: &LogEntry) -> bool {
    entry.api.is_some()
        && matches!(
            entry.outcome,
            Outcome::Step { .. } | Outcome::Fallback { .. } | Outcome::Unmatched
        )
}

/// What the model requests of a pair run must show, whatever the CLI versions:
/// - each agent's first model request lists all six duet tools (not deferred behind a tool
///   search, not still being connected), and carries its brief as duet's first hand-over (the
///   first prompt is never given on the command line, where claude may send it before its
///   servers are connected);
/// - every request that carries a handed-over message lists them too (nothing is handed over
///   before the agent's tools are listed);
/// - every accepted message reached its target's model in full, as duet rendered it (typed into
///   the pane or handed over at claude's Stop hook), reading as duet's own request.
pub fn assert_requests_see_duet(log: &[LogEntry], events: &[EventRecord]) {
    let missing = |entry: &LogEntry| -> Vec<&str> {
        DUET_TOOLS
            .iter()
            .copied()
            .filter(|tool| !entry.offered(tool))
            .collect()
    };
    for (scope, brief) in [
        ("worker", "You are the WORKER"),
        ("reviewer", "You are the REVIEWER"),
    ] {
        let first = log
            .iter()
            .find(|e| is_turn_request(e) && e.scope.as_deref() == Some(scope))
            .unwrap_or_else(|| panic!("the {scope} made no model request"));
        assert_eq!(
            missing(first),
            Vec::<&str>::new(),
            "the {scope}'s first model request (#{}) lacks duet tools; it offered {:?}",
            first.seq,
            first.tools
        );
        assert!(
            first.user_text.contains("[duet message #") && first.user_text.contains(brief),
            "the {scope}'s first model request (#{}) is not its brief handed over by duet: {:?}",
            first.seq,
            first.user_text
        );
    }
    for entry in log.iter().filter(|e| is_turn_request(e)) {
        if entry.user_text.contains("[duet message #") {
            assert_eq!(
                missing(entry),
                Vec::<&str>::new(),
                "request #{} ({:?}) carries a hand-over but lacks duet tools",
                entry.seq,
                entry.scope
            );
        }
    }
    for record in events {
        let Event::MessageAccepted { id, from, to, text } = &record.event else {
            continue;
        };
        let rendered = rendered_message(id, from, text);
        let carried = log.iter().any(|e| {
            is_turn_request(e) && e.scope.as_deref() == Some(to) && e.user_text.contains(&rendered)
        });
        let seen: Vec<String> = log
            .iter()
            .filter(|e| is_turn_request(e) && e.scope.as_deref() == Some(to))
            .map(|e| format!("  #{} {:?}", e.seq, e.user_text))
            .collect();
        assert!(
            carried,
            "message {id} to the {to} never reached its model in full; expected\n{rendered}\n\
             in one of its requests:\n{}",
            seen.join("\n")
        );
    }
}

/// One message as duet hands it over (`duet_pair::render`), from the store's record of it.
fn rendered_message(id: &str, from: &str, text: &str) -> String {
    use duet_core::protocol::{DeliveryStatus, Envelope, MessageId, Role, Sender, Timestamp};
    let number = id.rsplit('#').next().and_then(|n| n.parse().ok());
    let from = match from {
        "worker" => Sender::Agent(Role::Worker),
        "reviewer" => Sender::Agent(Role::Reviewer),
        "human" => Sender::Human,
        _ => Sender::Duet,
    };
    let envelope = Envelope {
        id: MessageId(number.unwrap_or_else(|| panic!("message id {id} has no number"))),
        from,
        to: Role::Worker,
        text: text.to_owned(),
        accepted_at: Timestamp(0),
        attempts: 0,
        status: DeliveryStatus::Pending,
    };
    duet_pair::render::render_batch(&[&envelope])
}

/// Runs the two-round pair of `script_file` (one finding, fixed, then approved) with `roles`
/// and checks what every such run must show: the task done after two rounds with both commits,
/// the finding delivered to the worker as written, each message delivered once, and `duet
/// status` saying done. Returns the world and the fake server's log for role-specific checks;
/// `None` when the agent CLIs are not installed.
pub fn run_two_round_pair(
    name: &str,
    script_file: &str,
    roles: Roles,
) -> Option<(PairWorld, Vec<LogEntry>)> {
    run_two_round_pair_in(name, script_file, roles, &|_| "repo".to_string())
}

/// [`run_two_round_pair`] with the repository at `repo_name(test root)`.
pub fn run_two_round_pair_in(
    name: &str,
    script_file: &str,
    roles: Roles,
    repo_name: &dyn Fn(&Path) -> String,
) -> Option<(PairWorld, Vec<LogEntry>)> {
    let world = PairWorld::start_in(name, script(script_file), roles, 5, repo_name)?;
    let run = world.run_pair();
    world.assert_task_done(&run);
    assert!(run.stdout.contains("review rounds: 2"), "{}", run.stdout);
    assert_eq!(world.branch_log(), vec!["greet the world", "add greeting"]);

    // The finding reached the worker as the reviewer wrote it.
    let log = world.server.log();
    let fix = log
        .iter()
        .find(|e| e.user_text.contains("Say hello, world"))
        .expect("finding delivered");
    assert_eq!(fix.scope.as_deref(), Some("worker"));

    let events = world.events();
    assert_messages_delivered_once(&events);
    assert_requests_see_duet(&log, &events);
    let status = world.env.duet(&world.repo, &["status", "--json"]);
    assert!(
        status.stdout.contains("\"state\": \"done\""),
        "{}",
        status.stdout
    );
    Some((world, log))
}
