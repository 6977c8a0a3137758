//! `duet dash` end to end, over a simulated `duet run` of 3 tasks (the real claude and codex
//! CLIs against the scripted model, three pairs at once): the dashboard runs in a tmux pane of
//! its own (80×24), keys go in with send-keys, the screen comes back with capture-pane, and
//! each action is checked where it lands (the engine's state, the model's requests):
//! - `c`'s pair: say (`s`) reaches the worker's model; pause / resume (`p` / `r`); attach
//!   (`a`) puts the terminal in its session and detaching brings the dashboard back;
//! - `b`'s worker asks the human: the task is marked first, `notify.command` runs once, and the
//!   answer (`A`) reaches the worker's model;
//! - `a` finishes and waits in `ready` (`[merge] auto = false`); `m` merges it into main.

mod common;
#[path = "e2e_run_support/mod.rs"]
mod support;

use duet_core::lifecycle::StateKind;
use std::time::Duration;

use duet_testkit::tmux::TmuxServer;
use support::{RunWorld, STEP_TIMEOUT, backlog, is_in, plain_steps, scopes};

const TASKS: &[(&str, &[&str])] = &[("a", &[]), ("b", &[]), ("c", &[])];

const SAID: &str = "hello from the dashboard";
const QUESTION: &str = "hello or hi?";
const ANSWER: &str = "say hello";

/// `a` is plain (commit, review, done); `b`'s worker asks the human and goes on with the
/// answer; `c`'s worker waits, then takes what the human says.
fn script() -> String {
    let mut out = String::from("title = \"duet dash e2e\"\n\n");
    for (id, _) in TASKS {
        out.push_str(&scopes(id));
    }
    out.push_str(&plain_steps("a", None));
    out.push_str(&format!(
        r#"[[step]]
agent = "b-worker"
name = "b ask"
match.user_contains = "You are the WORKER"
reply.tool_calls = [{{ name = "mcp__duet__ask_human", input = {{ question = "{QUESTION}" }} }}]

[[step]]
agent = "b-worker"
name = "b asked"
match.tool_result = {{ name = "mcp__duet__ask_human" }}
reply.text = "Waiting for the human."

[[step]]
agent = "b-worker"
name = "b answered"
match.user_contains = "{ANSWER}"
reply.text = "Saying hello, then."

[[step]]
agent = "b-reviewer"
name = "b ready"
match.user_contains = "You are the REVIEWER"
reply.text = "Ready."

[[step]]
agent = "c-worker"
name = "c think"
match.user_contains = "You are the WORKER"
reply.text = "Thinking it over."

[[step]]
agent = "c-worker"
name = "c said"
match.user_contains = "{SAID}"
reply.text = "Noted."

[[step]]
agent = "c-reviewer"
name = "c ready"
match.user_contains = "You are the REVIEWER"
reply.text = "Ready."

"#
    ));
    out
}

/// Types `/`, clears the filter, types `text` and keeps it (Enter): only that task is shown
/// and selected.
fn select(tmux: &TmuxServer, pane: &str, text: &str) {
    tmux.send_keys(pane, &["/"]).unwrap();
    for _ in 0..8 {
        tmux.send_keys(pane, &["BSpace"]).unwrap();
    }
    tmux.send_text(pane, text).unwrap();
    tmux.send_enter(pane).unwrap();
    tmux.wait_for_text(pane, &format!("filter: {text}"), STEP_TIMEOUT)
        .unwrap();
}

/// The table row of task `id` on `screen` (after the selection and needs-you marks).
fn row<'s>(screen: &'s str, id: &str) -> Option<&'s str> {
    screen.lines().find(|l| {
        l.trim_start_matches(['›', '!', ' '])
            .starts_with(&format!("{id} "))
    })
}

/// Polls what another process writes (a file, another tmux server): there is no event to await.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + STEP_TIMEOUT;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_dashboard_drives_three_simulated_pairs() {
    let Some(world) = RunWorld::start("dash", &backlog(TASKS), 3, |_| script()) else {
        return;
    };
    // notify.command: a real script that writes what it was told to a file.
    let told = world.env.root().join("told.txt");
    let notify = world.env.root().join("notify.sh");
    std::fs::write(
        &notify,
        format!(
            "printf '%s|%s|%s|%s\\n' \"$DUET_TASK\" \"$DUET_EVENT\" \"$DUET_REASON\" \"$DUET_MESSAGE\" >> '{}'\n",
            told.display()
        ),
    )
    .unwrap();
    world.write_config(&format!(
        "base_branch = \"main\"\nmax_parallel = 3\n\
         [merge]\nmode = \"local\"\nauto = false\n\
         [notify]\ncommand = \"sh '{}'\"\n\
         [roles]\nworker = \"claude\"\nreviewer = \"codex\"\n",
        notify.display()
    ));
    let daemon = world.spawn_run(&[]);

    // The dashboard in a terminal of its own (a tmux server apart from duet's), given no
    // --tmux-socket: where to attach comes from the running duet's status.
    let mut tmux = TmuxServer::new();
    let home = world.env.root().join("dash-home");
    std::fs::create_dir_all(&home).unwrap();
    let pane = tmux
        .new_session(
            "dash",
            &world.repo,
            &[env!("CARGO_BIN_EXE_duet"), "dash"],
            &[
                ("HOME", home.to_str().unwrap()),
                ("TERM", "xterm-256color"),
                ("GIT_CONFIG_GLOBAL", "/dev/null"),
                ("GIT_CONFIG_NOSYSTEM", "1"),
            ],
        )
        .unwrap();
    let resized = tmux
        .command()
        .args(["resize-window", "-t", "dash", "-x", "80", "-y", "24"])
        .status()
        .unwrap();
    assert!(resized.success());
    tmux.wait_for(&pane, STEP_TIMEOUT, "the live table", |s| {
        s.contains("live") && ["a", "b", "c"].iter().all(|id| row(s, id).is_some())
    })
    .unwrap();

    // b's worker asks: b is marked and counted, and the human is told once.
    tmux.wait_for(&pane, STEP_TIMEOUT, "b marked as needing you", |s| {
        s.contains("1 need you") && row(s, "b").is_some_and(|l| l.starts_with(" ! b"))
    })
    .unwrap();
    wait_until("notify.command to run for b", || {
        std::fs::read_to_string(&told).is_ok_and(|t| t.contains("b|needs-human|"))
    });
    let line = std::fs::read_to_string(&told).unwrap();
    assert!(
        line.starts_with(
            "b|needs-human|question from the worker: hello or hi?|duet: task b needs you: "
        ),
        "{line}"
    );

    // c: say to the worker; its model gets it.
    world.wait_for_step("c think");
    select(&tmux, &pane, "c.txt");
    tmux.send_keys(&pane, &["s"]).unwrap();
    tmux.wait_for_text(&pane, "say to the worker of c", STEP_TIMEOUT)
        .unwrap();
    tmux.send_text(&pane, SAID).unwrap();
    tmux.send_enter(&pane).unwrap();
    tmux.wait_for_text(&pane, "say to the worker of c: done", STEP_TIMEOUT)
        .unwrap();
    world.wait_for_step("c said");

    // c: pause and resume, each seen in the engine's state and on the screen.
    tmux.send_keys(&pane, &["p"]).unwrap();
    tmux.wait_for_text(&pane, "pause c: done", STEP_TIMEOUT)
        .unwrap();
    world.wait_for_events("c paused", STEP_TIMEOUT, |e| {
        is_in(e, "c", StateKind::Paused)
    });
    tmux.wait_for(&pane, STEP_TIMEOUT, "c shown paused", |s| {
        row(s, "c").is_some_and(|l| l.contains("paused"))
    })
    .unwrap();
    tmux.send_keys(&pane, &["r"]).unwrap();
    tmux.wait_for_text(&pane, "resume c: done", STEP_TIMEOUT)
        .unwrap();
    world.wait_for_events("c working again", STEP_TIMEOUT, |e| {
        is_in(e, "c", StateKind::Working)
    });

    // c: attach; the terminal is a client of c's session on duet's tmux server; detaching
    // brings the dashboard back.
    let session = duet_agents::tmux::session_name(&world.repo, "c");
    let clients = || {
        let out = std::process::Command::new("tmux")
            .args(["-L", &world.tmux_socket, "list-clients", "-t", &session])
            .args(["-F", "#{client_session}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    tmux.send_keys(&pane, &["a"]).unwrap();
    wait_until("the terminal attached to c's session", || clients() == 1);
    tmux.wait_for(&pane, STEP_TIMEOUT, "c's panes on screen", |s| {
        !s.contains("duet dash")
    })
    .unwrap();
    let detached = std::process::Command::new("tmux")
        .args(["-L", &world.tmux_socket, "detach-client", "-s", &session])
        .status()
        .unwrap();
    assert!(detached.success());
    tmux.wait_for(&pane, STEP_TIMEOUT, "the dashboard back", |s| {
        s.contains("duet dash") && s.contains("attach c: detached, back")
    })
    .unwrap();

    // b: the answer goes to the worker that asked; the human is told it cleared.
    select(&tmux, &pane, "b.txt");
    tmux.send_keys(&pane, &["A"]).unwrap();
    tmux.wait_for_text(&pane, "answer b", STEP_TIMEOUT).unwrap();
    tmux.send_text(&pane, ANSWER).unwrap();
    tmux.send_enter(&pane).unwrap();
    tmux.wait_for_text(&pane, "answer b: done", STEP_TIMEOUT)
        .unwrap();
    world.wait_for_step("b answered");
    wait_until("notify.command to be told b cleared", || {
        std::fs::read_to_string(&told).is_ok_and(|t| t.contains("b|cleared|"))
    });
    assert_eq!(
        std::fs::read_to_string(&told).unwrap().lines().count(),
        2,
        "told once each"
    );

    // a: finished, it waits for the human's merge; `m` merges it into main.
    select(&tmux, &pane, "a.txt");
    world.wait_for_events("a ready", support::RUN_TIMEOUT, |e| {
        is_in(e, "a", StateKind::Ready)
    });
    // Its row: ready, and what its branch changes against main (a.txt, one line).
    tmux.wait_for(&pane, STEP_TIMEOUT, "a shown ready", |s| {
        row(s, "a").is_some_and(|l| l.contains("ready") && l.contains("+1-0"))
    })
    .unwrap();
    tmux.send_keys(&pane, &["m"]).unwrap();
    tmux.wait_for_text(&pane, "merge a: done", STEP_TIMEOUT)
        .unwrap();
    world.wait_for_events("a merged", support::RUN_TIMEOUT, |e| {
        is_in(e, "a", StateKind::Merged)
    });
    tmux.wait_for(&pane, STEP_TIMEOUT, "a shown merged", |s| {
        row(s, "a").is_some_and(|l| l.contains("merged"))
    })
    .unwrap();
    let files = world
        .env
        .git(&world.repo, &["ls-tree", "--name-only", "main"]);
    assert!(files.lines().any(|f| f == "a.txt"), "{files}");

    // The detail (Enter): a's state, and its conversation from the store with the review.
    tmux.send_keys(&pane, &["Enter"]).unwrap();
    tmux.wait_for(&pane, STEP_TIMEOUT, "a's detail", |s| {
        s.contains("a · merged") && s.contains("reviewer → worker: review round 1: approve")
    })
    .unwrap();
    tmux.send_keys(&pane, &["Escape"]).unwrap();

    tmux.send_keys(&pane, &["q"]).unwrap();
    tmux.wait_for(&pane, STEP_TIMEOUT, "the dashboard to quit", |_| {
        tmux.pane_dead(&pane).unwrap_or(false)
    })
    .unwrap();
    let mut stop = world.command(&["stop"]);
    assert!(stop.status().unwrap().success());
    // Stopped with b and c unfinished: the run's interrupted exit, and its summary agrees.
    let finished = daemon.wait(STEP_TIMEOUT);
    assert_eq!(finished.code, Some(130), "{finished:?}");
    let summary: Vec<Vec<&str>> = finished
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for (id, state) in [("a", "merged"), ("b", "working"), ("c", "working")] {
        assert!(
            summary
                .iter()
                .any(|l| l.len() > 1 && l[0] == id && l[1] == state),
            "{id} {state}: {}",
            finished.stdout
        );
    }
}
