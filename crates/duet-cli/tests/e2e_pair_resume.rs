//! `duet pair` stopped with Ctrl-C keeps the worktree and the agents' conversations;
//! `duet pair --resume` continues both conversations and the task finishes.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{PAIR_TIMEOUT, PairWorld, Roles, STEP_TIMEOUT, script};

#[test]
fn a_stopped_pair_resumes_its_conversations_and_finishes() {
    let Some(world) = PairWorld::start(
        "resume",
        script("pair_resume.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    let first = world.spawn_pair();
    world
        .server
        .wait_for(
            |log| {
                let used = |name: &str| log.iter().any(|e| e2e::step_name(e) == Some(name));
                used("pause") && used("ready")
            },
            STEP_TIMEOUT,
        )
        .unwrap_or_else(|e| {
            panic!(
                "the first run did not get going: {e}\n{}",
                world.diagnostics()
            )
        });
    // codex's thread id is known (its turn's notify is in) before the pair is stopped.
    world.wait_for_events("the reviewer's thread id", STEP_TIMEOUT, |events| {
        events
            .iter()
            .any(|r| matches!(&r.event, duet_store::Event::Note { text } if text.starts_with("session reviewer ")))
    });
    let stopped = first.interrupt();
    assert_eq!(stopped.code, 130, "{}\n{}", stopped.stdout, stopped.stderr);
    assert!(
        stopped
            .stdout
            .contains("continue with `duet pair greet --resume`"),
        "{}",
        stopped.stdout
    );
    assert_eq!(
        world.branch_log(),
        vec!["add greeting"],
        "the worktree and its commit are kept"
    );

    let resumed = world
        .spawn_pair_with(&["--resume"])
        .wait_timeout(PAIR_TIMEOUT)
        .unwrap_or_else(|(out, err)| {
            panic!(
                "duet pair --resume did not finish\nstdout:\n{out}\nstderr:\n{err}\n{}",
                world.diagnostics()
            )
        });
    assert_eq!(
        resumed.code,
        0,
        "{}\n{}\n{}",
        resumed.stdout,
        resumed.stderr,
        world.diagnostics()
    );
    assert!(
        resumed.stdout.contains("task greet: done"),
        "{}",
        resumed.stdout
    );
    assert_eq!(
        world.server.unconsumed_steps(),
        Vec::<usize>::new(),
        "{}",
        world.unmatched_requests()
    );
    // The resumed worker saw its own earlier turn: claude sent the whole conversation again.
    let go_on = world
        .server
        .log()
        .into_iter()
        .find(|e| e2e::step_name(e) == Some("go on"))
        .expect("the worker was told to go on");
    assert_eq!(go_on.scope.as_deref(), Some("worker"));
}
