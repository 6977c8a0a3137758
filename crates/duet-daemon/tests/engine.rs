//! The engine's decisions with the in-memory agent runtime (see `engine_support`): a task's
//! whole run, a crashed agent, adoption by a new engine, pause and cancel, a backlog reload, a
//! focused run.

mod engine_support;

use duet_core::lifecycle::StateKind;
use duet_core::protocol::{ToolCall, Verdict};
use duet_pair::runtime::memory::MemoryAgent;
use duet_proto::{ErrorKind, RequestBody};
use duet_store::Event;
use engine_support::*;
use serde_json::json;

#[test]
fn a_task_goes_from_start_to_done_and_each_message_is_typed_once() {
    let world = World::new(&["t"]);
    let engine = world.start(true, None);
    let (worker, reviewer) = world.pair("t");
    let (w, r) = (token(&worker), token(&reviewer));
    assert_ne!(w, r);
    assert_eq!(worker.cwd, world.worktree("t"));
    settle(&world, &w);
    settle(&world, &r);

    world.commit("t", "a.txt");
    let answer = tool(
        &world,
        &w,
        ToolCall::RequestReview {
            summary: "a".into(),
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    // The idle reviewer is typed the review request; its next turn carries it.
    let request = typed(&world, "t", true, "(round 1 of");
    world.agent(&r, hook("UserPromptSubmit", json!({"prompt": request})));
    let answer = tool(
        &world,
        &r,
        ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: Vec::new(),
            verified: vec!["read the diff".into()],
            not_verified: vec![],
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    world.agent(&r, hook("Stop", json!({"stop_hook_active": false})));
    let approved = typed(&world, "t", false, "approved");
    world.agent(&w, hook("UserPromptSubmit", json!({"prompt": approved})));
    let answer = tool(
        &world,
        &w,
        ToolCall::MarkDone {
            summary: "a".into(),
        },
    );
    assert!(accepted(&answer), "{answer:?}");

    // Done: the engine stops the pair, the merge queue lands it, and with nothing left the
    // engine exits by itself.
    let summary = engine.join();
    assert!(!summary.interrupted);
    assert_eq!(summary.tasks[0].state, "merged");
    assert_eq!(summary.tasks[0].commits.len(), 1);
    assert_eq!(world.runtime.stopped(), vec![world.pair_name("t")]);
    let events = world.events();
    let accepted = count(&events, |e| matches!(e, Event::MessageAccepted { .. }));
    let delivered = count(&events, |e| matches!(e, Event::MessageDelivered { .. }));
    // Two briefs, the review request and the approval.
    assert_eq!((accepted, delivered), (4, 4), "{}", describe(&events));
}

#[test]
fn a_crashed_agent_is_restarted_with_a_new_token_and_the_old_one_is_refused() {
    let world = World::new(&["t"]);
    let _engine = world.start(false, None);
    let (worker, _) = world.pair("t");
    let old = token(&worker);
    settle(&world, &old);

    let answer = world.agent(
        &old,
        RequestBody::ProcessExited {
            code: Some(137),
            signal: None,
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    let (worker, _) = world.wait("the restart", || {
        world
            .runtime
            .pair(&world.pair_name("t"))
            .filter(|(w, _)| w.starts.len() == 2)
    });
    let new = token(&worker);
    assert_ne!(new, old, "a new process, a new token");
    // Resumed: the same claude session, no first prompt again.
    let args = &worker.starts[1].argv;
    assert!(args.iter().any(|a| a == "--resume"), "{args:?}");
    // The dead process's helpers can no longer act for the seat.
    let refused = world.agent(
        &old,
        RequestBody::ProcessExited {
            code: Some(1),
            signal: None,
        },
    );
    assert!(
        refused_with(&refused, ErrorKind::Unauthorized),
        "{refused:?}"
    );
    assert!(accepted(&world.agent(&new, RequestBody::BridgeReady)));
    let events = world.events();
    assert_eq!(
        count(&events, |e| matches!(
            e,
            Event::AgentExited {
                exit_code: Some(137),
                ..
            }
        )),
        1
    );
    assert!(
        events
            .iter()
            .any(|r| matches!(&r.event, Event::Note { text } if text.contains("restart 1 of 3")))
    );

    // After the last allowed restart, the next crash makes the task need the human.
    let mut current = new;
    for _ in 0..3 {
        world.agent(
            &current,
            RequestBody::ProcessExited {
                code: Some(137),
                signal: None,
            },
        );
        let (worker, _) = world.runtime.pair(&world.pair_name("t")).unwrap();
        current = token(&worker);
    }
    world.wait_state("t", StateKind::NeedsHuman);
    let (worker, _) = world.runtime.pair(&world.pair_name("t")).unwrap();
    assert_eq!(worker.starts.len(), 4, "three restarts, then the human");
}

#[test]
fn a_new_engine_adopts_the_pair_left_running_and_keeps_its_tokens() {
    let world = World::new(&["t"]);
    let engine = world.start(false, None);
    let (worker, reviewer) = world.pair("t");
    settle(&world, &token(&worker));
    settle(&world, &token(&reviewer));
    world.commit("t", "a.txt");
    let answer = tool(
        &world,
        &token(&worker),
        ToolCall::RequestReview {
            summary: "a".into(),
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    world.wait_state("t", StateKind::Reviewing);
    let summary = engine.stop();
    assert!(summary.interrupted);
    assert_eq!(
        world.runtime.pairs(),
        vec![world.pair_name("t")],
        "the agents outlive the engine"
    );

    let _engine = world.start(false, None);
    world.wait("the adoption", || {
        world
            .events()
            .iter()
            .any(|r| matches!(&r.event, Event::Note { text } if text == "pair adopted by a new daemon"))
            .then_some(())
    });
    assert_eq!(
        world.runtime.pairs_started(),
        1,
        "adopted, not started again"
    );
    // The live agents' tokens still act for them: the reviewer's verdict is taken.
    let answer = tool(
        &world,
        &token(&reviewer),
        ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: Vec::new(),
            verified: vec!["read the diff".into()],
            not_verified: vec![],
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    // The approval is the adopted pair's: the worker is back at work, to mark it done.
    world.wait_state("t", StateKind::Working);
}

/// The briefs typed into `agent` so far (duet's first hand-over to a new conversation).
fn briefs_typed(agent: &MemoryAgent) -> Vec<&String> {
    agent
        .typed
        .iter()
        .filter(|t| t.contains("in a duet pair on task"))
        .collect()
}

#[test]
fn a_brief_waits_for_the_agents_tools_and_its_prompt_and_is_not_on_the_command_line() {
    let world = World::new(&["t"]);
    let _engine = world.start(false, None);
    let (worker, _) = world.pair("t");
    let argv = &worker.starts[0].argv;
    assert!(
        !argv.iter().any(|a| a.contains("in a duet pair on task")),
        "no first prompt on the command line: {argv:?}"
    );
    let w = token(&worker);
    assert!(accepted(
        &world.agent(&w, RequestBody::ProcessStarted { pid: 4242 })
    ));
    // At rest at its prompt, but its tools are not listed yet: nothing is typed.
    world
        .runtime
        .set_screen("╭───╮\n❯ \n╰───╯\n  ? for shortcuts");
    world.wait("the worker seen at rest before its bridge", || {
        let seats = world.snapshot()?["seats"].clone();
        (!seats[0]["idle_before_bridge"].is_null()).then_some(())
    });
    let (worker, _) = world.pair("t");
    assert!(briefs_typed(&worker).is_empty(), "{:?}", worker.typed);
    // Its bridge lists the tools: the brief is typed, once.
    assert!(accepted(&world.agent(&w, RequestBody::BridgeReady)));
    typed(&world, "t", false, "You are the WORKER");
    let (worker, _) = world.pair("t");
    assert_eq!(briefs_typed(&worker).len(), 1, "{:?}", worker.typed);
    assert!(worker.typed[0].starts_with("[duet message #1 from duet]"));
}

#[test]
fn an_agent_that_dies_before_its_brief_starts_afresh_and_gets_the_brief_once() {
    let world = World::new(&["t"]);
    let _engine = world.start(false, None);
    let (worker, _) = world.pair("t");
    let old = token(&worker);
    assert!(accepted(
        &world.agent(&old, RequestBody::ProcessStarted { pid: 4242 })
    ));
    world.agent(
        &old,
        RequestBody::ProcessExited {
            code: Some(1),
            signal: None,
        },
    );
    let (worker, _) = world.wait("the restart", || {
        world
            .runtime
            .pair(&world.pair_name("t"))
            .filter(|(w, _)| w.starts.len() == 2)
    });
    let argv = &worker.starts[1].argv;
    assert!(
        !argv.iter().any(|a| a == "--resume"),
        "no conversation to resume: {argv:?}"
    );
    // A new claude session id: the dead process may have taken the old one.
    let session = |argv: &[String]| {
        let at = argv.iter().position(|a| a == "--session-id").unwrap();
        argv[at + 1].clone()
    };
    assert_ne!(session(argv), session(&worker.starts[0].argv));
    let new = token(&worker);
    settle(&world, &new);
    let events = world.events();
    let briefs = count(
        &events,
        |e| matches!(e, Event::MessageAccepted { to, text, .. } if to == "worker" && text.contains("You are the WORKER")),
    );
    assert_eq!(briefs, 1, "{}", describe(&events));
    assert!(events.iter().any(
        |r| matches!(&r.event, Event::Note { text } if text.contains("afresh (its brief had not reached it)"))
    ));
}

#[test]
fn a_new_engine_hands_over_a_brief_the_old_one_left_undelivered_once() {
    let world = World::new(&["t"]);
    let engine = world.start(false, None);
    let (worker, reviewer) = world.pair("t");
    settle(&world, &token(&worker));
    // The reviewer's bridge is up, but duet stops before its brief was handed over.
    assert!(accepted(
        &world.agent(&token(&reviewer), RequestBody::BridgeReady)
    ));
    world.wait("the snapshot with the reviewer's bridge ready", || {
        let seats = world.snapshot()?["seats"].clone();
        (seats[1]["bridge_ready"] == true).then_some(())
    });
    engine.stop();
    assert!(briefs_typed(&world.pair("t").1).is_empty());

    let _engine = world.start(false, None);
    world.runtime.set_screen("❯ \n  ? for shortcuts");
    let brief = typed(&world, "t", true, "You are the REVIEWER");
    world.agent(
        &token(&reviewer),
        hook("UserPromptSubmit", json!({ "prompt": brief })),
    );
    world.agent(
        &token(&reviewer),
        hook("Stop", json!({"stop_hook_active": false})),
    );
    let (_, reviewer) = world.pair("t");
    assert_eq!(briefs_typed(&reviewer).len(), 1, "{:?}", reviewer.typed);
    assert_eq!(
        world.runtime.pairs_started(),
        1,
        "adopted, not started again"
    );
    let events = world.events();
    let accepted = count(&events, |e| matches!(e, Event::MessageAccepted { .. }));
    let delivered = count(&events, |e| matches!(e, Event::MessageDelivered { .. }));
    assert_eq!((accepted, delivered), (2, 2), "{}", describe(&events));
}

#[test]
fn pause_and_cancel_reach_a_running_pair_and_a_queued_task() {
    let world = World::new(&["a", "b", "c"]);
    let _engine = world.start(false, None);
    world.pair("a");
    world.pair("b");
    // max_parallel 2: c waits in the queue; paused there, it stays out of the scheduler.
    world.wait_state("c", StateKind::Queued);
    assert!(accepted(
        &world.human(RequestBody::Pause { task: "c".into() })
    ));
    world.wait_state("c", StateKind::Paused);
    // Refused by the lifecycle's own rule, which says why.
    let again = world.human(RequestBody::Pause { task: "c".into() });
    assert!(refused_with(&again, ErrorKind::WrongState), "{again:?}");
    assert!(
        format!("{again:?}").contains("(the task is already paused)"),
        "{again:?}"
    );
    assert!(accepted(
        &world.human(RequestBody::Pause { task: "a".into() })
    ));
    world.wait_state("a", StateKind::Paused);
    assert!(accepted(
        &world.human(RequestBody::Cancel { task: "b".into() })
    ));
    world.wait_state("b", StateKind::Cancelled);
    world.wait("b's pair stopped", || {
        world
            .runtime
            .stopped()
            .contains(&world.pair_name("b"))
            .then_some(())
    });
    // b's slot is free, but c is paused: nothing new starts until it is resumed.
    assert_eq!(world.runtime.pairs_started(), 2);
    assert!(accepted(
        &world.human(RequestBody::Resume { task: "c".into() })
    ));
    world.pair("c");
    let refused = world.human(RequestBody::Resume { task: "b".into() });
    assert!(refused_with(&refused, ErrorKind::WrongState), "{refused:?}");
}

#[test]
fn a_task_appended_to_the_backlog_is_queued_and_started() {
    let world = World::new(&["a"]);
    let _engine = world.start(false, None);
    world.pair("a");
    let path = world.root.join("backlog.toml");
    let tmp = world.root.join("backlog.toml.tmp");
    std::fs::write(&tmp, backlog(&["a", "b"])).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    world.pair("b");
    world.wait_state("b", StateKind::Working);
}

#[test]
fn with_a_focus_only_that_task_starts_and_the_engine_ends_with_it() {
    let world = World::new(&["a", "b"]);
    let engine = world.start(false, Some("b"));
    let (worker, _) = world.pair("b");
    assert_eq!(world.runtime.pairs(), vec![world.pair_name("b")]);
    // While it runs (once b is cancelled it may end, and remove its socket, at any moment).
    assert!(world.socket().exists());
    assert!(accepted(
        &world.human(RequestBody::Cancel { task: "b".into() })
    ));
    let summary = engine.join();
    assert!(!summary.interrupted);
    assert!(!world.socket().exists(), "the socket file is left");
    let b = summary.tasks.iter().find(|t| t.id == "b").unwrap();
    assert_eq!(b.state, "cancelled");
    assert_eq!(
        world.state("a"),
        Some(StateKind::Queued),
        "a was never started"
    );
    assert!(!token(&worker).is_empty());
}
