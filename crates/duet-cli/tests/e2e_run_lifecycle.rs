//! `duet run` as a service: one daemon per repository (a second refuses, naming the pid),
//! SIGTERM stops it and leaves the agents running in tmux for the next daemon to adopt,
//! `--stop-agents` stops them too; a task appended to the backlog while it runs is scheduled
//! and done, and a backlog that stops validating is reported while the last good one is kept.

mod common;
#[path = "e2e_run_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use duet_core::lifecycle::StateKind;
use duet_store::Event;
use support::{
    RunWorld, STEP_TIMEOUT, adopted, backlog, count, describe, plain_steps, reached, scopes,
};

#[test]
fn one_daemon_per_repository_and_sigterm_leaves_the_agents_unless_told_to_stop_them() {
    let Some(world) = RunWorld::start("lifecycle", &backlog(&[("a", &[])]), 1, |gates| {
        // The worker's turn waits for a gate never opened: the task stays running.
        format!(
            "{}{}",
            scopes("a"),
            plain_steps("a", Some(&gates.join("never")))
        )
    }) else {
        return;
    };
    let mut first = world.spawn_run(&[]);
    world.wait_for_events("both agents launched", STEP_TIMEOUT, |events| {
        count(events, "a", |e| matches!(e, Event::AgentLaunched { .. })) == 2
    });

    let second = world
        .command(&["run", "--tmux-socket", &world.tmux_socket])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&second.stdout),
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(second.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "another duet daemon (pid {}) is running",
            first.pid()
        )),
        "{said}"
    );

    let stopped = first.signal("TERM");
    assert_eq!(stopped.code, Some(130), "{stopped:?}");
    assert!(
        stopped.stdout.contains("agents keep running in tmux"),
        "{}",
        stopped.stdout
    );
    let worker = world.pane_pid("a", "worker");
    let reviewer = world.pane_pid("a", "reviewer");
    assert!(std::path::Path::new(&format!("/proc/{worker}")).exists());
    assert!(std::path::Path::new(&format!("/proc/{reviewer}")).exists());

    // The next daemon adopts the same panes; with --stop-agents, SIGTERM ends them.
    let next = world.spawn_run(&["--stop-agents"]);
    world.wait_for_events("the pair adopted", STEP_TIMEOUT, |events| {
        count(events, "a", adopted) == 1
    });
    assert_eq!(
        world.pane_pid("a", "worker"),
        worker,
        "the same agent, not a new one"
    );
    let stopped = next.signal("TERM");
    assert_eq!(stopped.code, Some(130), "{stopped:?}");
    assert_eq!(world.tmux_sessions(), Vec::<String>::new());
    let events = world.events();
    assert_eq!(
        count(&events, "a", |e| matches!(e, Event::AgentLaunched { .. })),
        2,
        "never relaunched\n{}",
        describe(&events)
    );
}

#[test]
fn a_task_appended_to_the_backlog_is_done_and_an_invalid_backlog_keeps_the_last_good_one() {
    let Some(world) = RunWorld::start("backlog", &backlog(&[("a", &[])]), 2, |_| {
        format!(
            "{}{}{}{}",
            scopes("a"),
            scopes("b"),
            plain_steps("a", None),
            plain_steps("b", None)
        )
    }) else {
        return;
    };
    let daemon = world.spawn_run(&[]);
    world.wait_for_events("task a done", STEP_TIMEOUT, |events| {
        reached(events, "a", StateKind::Done)
    });

    let path = world.repo.join("backlog.toml");
    replace_file(&path, &backlog(&[("a", &[]), ("b", &["a"])]));
    world.wait_for_events("task b done", STEP_TIMEOUT, |events| {
        reached(events, "b", StateKind::Done)
    });

    // A backlog that does not validate: reported, the daemon goes on with the last good one.
    replace_file(&path, "[[task]]\nid = \"c\"\ndepends_on = [\"nowhere\"]\n");
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !world
        .log()
        .contains("the backlog does not validate; keeping the last good one")
    {
        assert!(
            Instant::now() < deadline,
            "no report of the bad backlog:\n{}",
            world.log()
        );
        // The log is a file written by another process: poll it.
        std::thread::sleep(Duration::from_millis(100));
    }
    // Still serving, with the last good backlog (`duet status` itself checks the file first).
    let client = duet_proto::Client::new(
        duet_proto::find_socket(&world.repo.join(".duet")),
        STEP_TIMEOUT,
    );
    let answer = client
        .send(&duet_proto::Request::from_human(
            duet_proto::RequestBody::Status { task: None },
        ))
        .unwrap();
    let duet_proto::Response::Ok {
        body: duet_proto::ResponseBody::Status { status },
    } = answer
    else {
        panic!("expected the status, got {answer:?}");
    };
    let ids: Vec<&str> = status.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, vec!["a", "b"]);

    let stopped = daemon.signal("TERM");
    assert_eq!(stopped.code, Some(130), "{stopped:?}");
    assert!(
        stopped.stdout.contains("2 of 2 tasks done"),
        "{}",
        stopped.stdout
    );
    assert_eq!(world.landed("b"), vec!["write b"]);
}

/// Replaces `path` in one step (write a sibling, rename it over): the daemon watches the file,
/// and a plain write could let it read the truncated, empty file as a valid empty backlog.
fn replace_file(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
