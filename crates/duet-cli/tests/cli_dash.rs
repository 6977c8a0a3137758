//! `duet dash` in a real terminal: a private tmux server runs the dashboard (80×24) over a real
//! `duet run` with stand-in agents; keys go in with send-keys, the screen comes back with
//! capture-pane, and each action is checked in the daemon's own state: say, attach and detach,
//! pause / resume, refusals (resume, merge), ask and answer with notify.command and duet's tmux
//! status line, then duet stopped (the stored state, read-only) and started again (live again).

mod cli_socket_support;
mod common;

use std::time::Duration;

use cli_socket_support::LiveDuet;
use common::TestEnvironment;
use duet_core::protocol::ToolCall;
use duet_proto::{Client, Request, RequestBody, Response};
use duet_testkit::tmux::TmuxServer;
use serde_json::Value;

const BACKLOG: &str = r#"
[[task]]
id = "greet"
title = "Add a greeting"
prompt = "Add greeting.txt."
priority = 5

[[task]]
id = "parser"
title = "Write the parser"
prompt = "Write it."
"#;

const SCREEN: Duration = Duration::from_secs(20);

/// Polls what another process writes (a file, tmux's options): there is no event to await.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + SCREEN;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The state column of task `id`'s row on `screen`.
fn row_state<'s>(screen: &'s str, id: &str) -> Option<&'s str> {
    screen.lines().find_map(|l| {
        let mut words = l.trim_start_matches(['›', '!', ' ']).split_whitespace();
        (words.next() == Some(id)).then(|| words.next())?
    })
}

fn state(env: &TestEnvironment, duet: &LiveDuet, id: &str) -> Value {
    let out = env.duet(&duet.repo, &["status", id, "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let status: Value = serde_json::from_str(&out.stdout).unwrap();
    status["tasks"][0]["state"].clone()
}

#[test]
fn the_dashboard_drives_a_running_duet() {
    let env = TestEnvironment::default();
    // notify.command: a real script that writes what it was told to a file.
    let told = env.root().join("told.txt");
    let script = env.root().join("notify.sh");
    std::fs::write(
        &script,
        format!(
            "printf '%s|%s|%s|%s\\n' \"$DUET_TASK\" \"$DUET_EVENT\" \"$DUET_REASON\" \"$DUET_MESSAGE\" >> '{}'\n",
            told.display()
        ),
    )
    .unwrap();
    let config = format!(
        "max_parallel = 1\n[notify]\ncommand = \"sh '{}'\"",
        script.display()
    );
    let mut duet = LiveDuet::start(&env, "dash", BACKLOG, &config, &["run"]);
    let repo = duet.repo.clone();

    let mut tmux = TmuxServer::new();
    let home = env.root().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let pane = tmux
        .new_session(
            "dash",
            &repo,
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

    // Live from the subscription: both tasks, greet working (selected first: backlog order).
    let screen = tmux
        .wait_for(&pane, SCREEN, "the live table", |s| {
            s.contains("live") && s.contains("greet") && s.contains("parser")
        })
        .unwrap();
    assert!(screen.contains("working"), "{screen}");

    // Say: `s`, the text, Enter; the answer is shown; the message is in the daemon's store.
    tmux.send_keys(&pane, &["s"]).unwrap();
    tmux.wait_for_text(&pane, "say to the worker of greet", SCREEN)
        .unwrap();
    tmux.send_text(&pane, "hello from the dashboard").unwrap();
    tmux.send_enter(&pane).unwrap();
    tmux.wait_for_text(&pane, "say to the worker of greet: done", SCREEN)
        .unwrap();
    let log = env.duet(&repo, &["log", "greet"]);
    assert!(
        log.stdout.contains("hello from the dashboard"),
        "{}",
        log.stdout
    );

    // Attach (`a`): the dashboard hands its terminal to the pair's session on duet's own tmux
    // server (which the status names: this dashboard was given no --tmux-socket); detaching
    // brings the dashboard back.
    let duet_tmux = format!("duet-sock-dash-{}", std::process::id());
    let session = duet_agents::tmux::session_name(&repo, "greet");
    let clients = || {
        let out = std::process::Command::new("tmux")
            .args(["-L", &duet_tmux, "list-clients", "-t", &session])
            .args(["-F", "#{client_session}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert_eq!(clients(), 0);
    tmux.send_keys(&pane, &["a"]).unwrap();
    wait_until("the terminal to be attached to greet's session", || {
        clients() == 1
    });
    // The pane shows tmux's screen of the pair now, not the dashboard.
    tmux.wait_for(&pane, SCREEN, "the pair's session on screen", |s| {
        !s.contains("duet dash")
    })
    .unwrap();
    let detached = std::process::Command::new("tmux")
        .args(["-L", &duet_tmux, "detach-client", "-s", &session])
        .status()
        .unwrap();
    assert!(detached.success());
    tmux.wait_for(&pane, SCREEN, "the dashboard back after detaching", |s| {
        s.contains("duet dash") && s.contains("attach greet: detached, back")
    })
    .unwrap();

    // Pause: the daemon's state changes, and the change reaches the screen by itself.
    tmux.send_keys(&pane, &["p"]).unwrap();
    tmux.wait_for_text(&pane, "pause greet: done", SCREEN)
        .unwrap();
    assert_eq!(state(&env, &duet, "greet"), "paused");
    tmux.wait_for(&pane, SCREEN, "greet shown paused", |s| {
        s.lines()
            .any(|l| l.contains("greet") && l.contains("paused"))
    })
    .unwrap();

    // Resume: back to work.
    tmux.send_keys(&pane, &["r"]).unwrap();
    tmux.wait_for_text(&pane, "resume greet: done", SCREEN)
        .unwrap();
    assert_eq!(state(&env, &duet, "greet"), "working");

    // A refusal is shown: resuming a task that is not paused.
    tmux.send_keys(&pane, &["r"]).unwrap();
    tmux.wait_for(&pane, SCREEN, "the refusal", |s| {
        s.contains("resume greet: ") && !s.contains("resume greet: done")
    })
    .unwrap();

    // Merging a task still at work: the engine's refusal, as `duet merge greet` would say it.
    tmux.send_keys(&pane, &["m"]).unwrap();
    let screen = tmux
        .wait_for(&pane, SCREEN, "the merge refusal", |s| {
            s.contains("merge greet: ")
        })
        .unwrap();
    let cli = env.duet(&repo, &["merge", "greet"]);
    assert_ne!(cli.code, 0, "{cli:?}");
    assert!(cli.stderr.contains("cannot merge task `greet`"), "{cli:?}");
    assert!(
        screen.contains("merge greet: cannot merge task `greet`"),
        "{screen}\n{cli:?}"
    );
    assert_eq!(state(&env, &duet, "greet"), "working");

    // The worker asks the human (the test plays its bridge, with its token): the dashboard
    // marks the task and counts it, the human is told once, duet's tmux status line says so.
    let asked = Client::new(duet.socket(), Duration::from_secs(10))
        .send(&Request::from_agent(
            duet.token("worker"),
            RequestBody::ToolCall {
                call: ToolCall::AskHuman {
                    question: "hello or hi?".into(),
                },
            },
        ))
        .unwrap();
    assert!(matches!(asked, Response::Ok { .. }), "{asked:?}");
    let screen = tmux
        .wait_for(&pane, SCREEN, "the task marked as needing you", |s| {
            s.contains("1 need you") && s.lines().any(|l| l.contains("! greet"))
        })
        .unwrap();
    assert!(screen.contains("needs you"), "{screen}");
    wait_until("notify.command to run", || {
        std::fs::read_to_string(&told).is_ok_and(|t| t.contains("greet|needs-human|"))
    });
    let line = std::fs::read_to_string(&told).unwrap();
    assert!(
        line.starts_with(
            "greet|needs-human|question from the worker: hello or hi?|duet: task greet needs you: "
        ) && line.contains("hello or hi?"),
        "{line}"
    );
    wait_until("the tmux status line", || {
        std::process::Command::new("tmux")
            .args([
                "-L",
                &duet_tmux,
                "show-options",
                "-v",
                "-t",
                &session,
                "status-right",
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("duet: 1 task needs you"))
    });

    // Answer from the dashboard (`A`): the pair goes on; the human is told it cleared.
    tmux.send_keys(&pane, &["A"]).unwrap();
    tmux.wait_for_text(&pane, "answer greet", SCREEN).unwrap();
    tmux.send_text(&pane, "say hello").unwrap();
    tmux.send_enter(&pane).unwrap();
    tmux.wait_for_text(&pane, "answer greet: done", SCREEN)
        .unwrap();
    assert_eq!(state(&env, &duet, "greet"), "working");
    wait_until("notify.command to be told it cleared", || {
        std::fs::read_to_string(&told).is_ok_and(|t| t.contains("greet|cleared|"))
    });
    assert_eq!(
        std::fs::read_to_string(&told).unwrap().lines().count(),
        2,
        "once each"
    );

    // duet stops: the dashboard says it shows the stored state now, read-only, and an action
    // is refused for want of a duet.
    assert_eq!(env.duet(&repo, &["stop"]).code, 0);
    duet.wait_exit();
    tmux.wait_for(&pane, SCREEN, "the stored state", |s| {
        s.contains("no duet running: stored state, read-only")
    })
    .unwrap();
    tmux.send_keys(&pane, &["p"]).unwrap();
    tmux.wait_for_text(&pane, "pause greet: no duet is running", SCREEN)
        .unwrap();

    // A new duet (it adopts the agents left in tmux): the dashboard subscribes again by itself.
    let mut again = duet_testkit::agents::ChildGuard::new(
        env.duet_command()
            .current_dir(&repo)
            .args(["run", "--tmux-socket", &duet_tmux])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    tmux.wait_for(&pane, SCREEN, "live again", |s| {
        s.lines().next().is_some_and(|l| l.contains("live"))
            && row_state(s, "greet").is_some_and(|st| st == "working")
    })
    .unwrap();
    assert_eq!(env.duet(&repo, &["stop"]).code, 0);
    let stopped = again.wait_timeout(SCREEN).unwrap();
    assert!(stopped.is_some(), "the second duet did not stop");

    // q quits; the dashboard's process ends.
    tmux.send_keys(&pane, &["q"]).unwrap();
    tmux.wait_for(&pane, SCREEN, "the dashboard to quit", |_| {
        tmux.pane_dead(&pane).unwrap_or(false)
    })
    .unwrap();
}
