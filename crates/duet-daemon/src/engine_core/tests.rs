//! Unit tests of the engine's core: plain values in, actions out; no tmux, git, SQLite, tokio
//! or clock (message times are given as values).

use super::*;
use duet_core::protocol::delivery::Mailbox;
use duet_core::protocol::pair::PairConfig;
use duet_core::protocol::{Sender, Timestamp};

fn task(id: &str, priority: i64, depends_on: &[&str], stored: Option<StateKind>) -> TaskFacts {
    TaskFacts {
        id: id.into(),
        title: format!("title of {id}"),
        priority,
        depends_on: depends_on.iter().map(|d| (*d).to_string()).collect(),
        stored,
    }
}

fn state(tasks: Vec<TaskFacts>) -> EngineState {
    EngineState {
        tasks,
        pairs: BTreeMap::new(),
        max_parallel: 2,
        dependency_rule: DependencyRule::Done,
        focus: None,
    }
}

fn seat(role: Role, token: &str) -> SeatFacts {
    SeatFacts {
        role,
        token: token.into(),
        pane: format!("%{token}"),
        pid: Some(100),
        restarts: 0,
        has_conversation: true,
        bridge_ready: true,
    }
}

/// An engine with task `t1` working, its pair's seats `w1` (worker) and `r1` (reviewer).
fn with_pair() -> EngineState {
    let mut engine = state(vec![task("t1", 0, &[], Some(StateKind::Working))]);
    engine.pairs.insert(
        "t1".into(),
        PairFacts {
            finished: false,
            seats: [seat(Role::Worker, "w1"), seat(Role::Reviewer, "r1")],
        },
    );
    engine
}

fn started(actions: &[EngineAction]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            EngineAction::StartPair { task } => Some(task.as_str()),
            _ => None,
        })
        .collect()
}

fn exit(token: &str, code: Option<i32>, signal: Option<i32>) -> EngineInput {
    EngineInput::AgentExited {
        task: "t1".into(),
        token: token.into(),
        code,
        signal,
    }
}

fn set_state(task: &str, from: StateKind, to: StateKind, reason: &str) -> EngineAction {
    EngineAction::SetState {
        task: task.into(),
        from,
        to,
        reason: reason.into(),
        shown: to.to_string(),
    }
}

// --- scheduling ---

#[test]
fn at_start_new_tasks_are_queued_and_the_scheduler_starts_by_priority_within_max_parallel() {
    let mut engine = state(vec![
        task("low", 1, &[], None),
        task("high", 9, &[], None),
        task("mid", 5, &[], None),
        task("seen", 3, &[], Some(StateKind::Done)),
    ]);
    let queued = handle(&mut engine, EngineInput::Started { focus_saved: false });
    assert_eq!(
        queued,
        ["low", "high", "mid"].map(|t| EngineAction::QueueTask {
            task: t.into(),
            title: format!("title of {t}"),
        })
    );
    let actions = handle(&mut engine, EngineInput::ScheduleAsked);
    assert_eq!(started(&actions), ["high", "mid"], "two slots, best first");
}

#[test]
fn a_task_waits_for_its_dependency_and_running_pairs_take_slots() {
    let mut engine = state(vec![
        task("base", 1, &[], Some(StateKind::Working)),
        task("next", 9, &["base"], Some(StateKind::Queued)),
        task("other", 0, &[], Some(StateKind::Queued)),
        task("third", 0, &[], Some(StateKind::Queued)),
    ]);
    let actions = handle(&mut engine, EngineInput::ScheduleAsked);
    assert_eq!(started(&actions), ["other"], "one slot left, `next` waits");

    engine.dependency_rule = DependencyRule::Merged;
    engine.tasks[0].stored = Some(StateKind::Done);
    engine.tasks[2].stored = Some(StateKind::Working);
    let actions = handle(&mut engine, EngineInput::ScheduleAsked);
    assert_eq!(
        started(&actions),
        ["third"],
        "with the merge queue, done is not enough"
    );
}

#[test]
fn with_a_focus_only_that_task_starts_whatever_its_dependencies() {
    let mut engine = state(vec![
        task("a", 9, &[], Some(StateKind::Queued)),
        task("b", 1, &["a"], Some(StateKind::Queued)),
    ]);
    engine.focus = Some("b".into());
    assert_eq!(
        started(&handle(&mut engine, EngineInput::ScheduleAsked)),
        ["b"]
    );
    engine
        .pairs
        .insert("b".into(), with_pair().pairs["t1"].clone());
    assert!(started(&handle(&mut engine, EngineInput::ScheduleAsked)).is_empty());
}

#[test]
fn nothing_is_left_when_what_is_queued_can_never_start() {
    let mut engine = state(vec![
        task("broken", 1, &[], Some(StateKind::Failed)),
        task("after", 1, &["broken"], Some(StateKind::Queued)),
        task("waits", 1, &[], Some(StateKind::Ready)),
    ]);
    assert!(engine.nothing_left(false));
    assert!(!engine.nothing_left(true), "the merge queue is busy");
    engine.tasks[0].stored = Some(StateKind::Working);
    assert!(!engine.nothing_left(false), "`after` can still start");
}

// --- backlog reload ---

#[test]
fn a_reload_queues_added_tasks_starts_them_and_forgets_removed_ones() {
    let mut engine = state(vec![
        task("kept", 1, &[], Some(StateKind::Working)),
        task("removed", 5, &[], Some(StateKind::Queued)),
    ]);
    let reread = vec![
        task("kept", 1, &[], Some(StateKind::Working)),
        task("added", 3, &[], None),
    ];
    let actions = handle(&mut engine, EngineInput::BacklogRead(Ok(reread)));
    assert_eq!(
        actions,
        [
            EngineAction::ReplaceBacklog,
            EngineAction::QueueTask {
                task: "added".into(),
                title: "title of added".into(),
            },
            EngineAction::Progress("backlog reloaded: 2 tasks".into()),
            EngineAction::StartPair {
                task: "added".into()
            },
        ]
    );
    assert!(engine.tasks.iter().all(|t| t.id != "removed"));
}

#[test]
fn a_changed_priority_changes_what_starts_first() {
    let mut engine = state(vec![
        task("a", 9, &[], Some(StateKind::Queued)),
        task("b", 1, &[], Some(StateKind::Queued)),
    ]);
    engine.max_parallel = 1;
    let reread = vec![
        task("a", 1, &[], Some(StateKind::Queued)),
        task("b", 9, &[], Some(StateKind::Queued)),
    ];
    let actions = handle(&mut engine, EngineInput::BacklogRead(Ok(reread)));
    assert_eq!(started(&actions), ["b"]);
}

#[test]
fn an_empty_or_invalid_read_keeps_the_last_backlog() {
    let mut engine = state(vec![task("a", 1, &[], Some(StateKind::Working))]);
    let before = engine.clone();
    let empty = handle(&mut engine, EngineInput::BacklogRead(Ok(Vec::new())));
    assert!(matches!(empty[..], [EngineAction::Warn(ref w)] if w.contains("reads empty")));
    let invalid = handle(&mut engine, EngineInput::BacklogRead(Err("1:1 bad".into())));
    assert_eq!(
        invalid,
        [EngineAction::KeepInvalidBacklog {
            problems: "1:1 bad".into()
        }]
    );
    assert_eq!(engine, before);
    // A backlog that was empty may be replaced by an empty one (nothing is lost).
    let mut empty_engine = state(Vec::new());
    let actions = handle(&mut empty_engine, EngineInput::BacklogRead(Ok(Vec::new())));
    assert_eq!(actions[0], EngineAction::ReplaceBacklog);
}

// --- a crashed agent and the restart policy ---

#[test]
fn a_crashed_agent_is_restarted_resumed_and_counted() {
    let mut engine = with_pair();
    let actions = handle(&mut engine, exit("w1", None, Some(9)));
    assert_eq!(
        actions,
        [EngineAction::RestartAgent {
            task: "t1".into(),
            role: Role::Worker,
            token: "w1".into(),
            attempt: 1,
            resume: true,
            resume_failed: false,
            exit_code: Some(137),
            code: None,
            signal: Some(9),
        }]
    );
    engine.pairs.get_mut("t1").unwrap().seats[0].restarts = 2;
    let third = handle(&mut engine, exit("w1", Some(1), None));
    assert!(matches!(
        third[..],
        [EngineAction::RestartAgent {
            attempt: 3,
            exit_code: Some(1),
            ..
        }]
    ));
}

#[test]
fn after_the_last_restart_or_with_the_task_over_the_protocol_hears_of_the_exit() {
    let mut engine = with_pair();
    engine.pairs.get_mut("t1").unwrap().seats[1].restarts = restart_policy::MAX_AGENT_RESTARTS;
    let actions = handle(&mut engine, exit("r1", Some(2), None));
    assert!(matches!(&actions[0], EngineAction::Log(why) if why.contains("as often as allowed")));
    assert_eq!(
        actions[1],
        EngineAction::NoRestart {
            task: "t1".into(),
            token: "r1".into(),
            code: Some(2),
            signal: None,
        }
    );

    let mut finished = with_pair();
    finished.pairs.get_mut("t1").unwrap().finished = true;
    let actions = handle(&mut finished, exit("w1", Some(0), None));
    assert!(matches!(
        actions[..],
        [EngineAction::Log(_), EngineAction::NoRestart { .. }]
    ));
}

#[test]
fn a_resume_that_failed_is_forgotten_and_the_agent_starts_afresh() {
    let mut engine = with_pair();
    engine.pairs.get_mut("t1").unwrap().seats[0].bridge_ready = false;
    let actions = handle(&mut engine, exit("w1", Some(1), None));
    assert_eq!(
        actions[0],
        EngineAction::ForgetResume {
            task: "t1".into(),
            role: Role::Worker
        }
    );
    assert!(matches!(
        actions[1],
        EngineAction::RestartAgent {
            resume: false,
            resume_failed: true,
            ..
        }
    ));
    // One that never had a conversation (its brief never reached it): afresh, nothing failed.
    let mut fresh = with_pair();
    fresh.pairs.get_mut("t1").unwrap().seats[0].has_conversation = false;
    fresh.pairs.get_mut("t1").unwrap().seats[0].bridge_ready = false;
    let actions = handle(&mut fresh, exit("w1", Some(1), None));
    assert!(matches!(
        actions[..],
        [EngineAction::RestartAgent {
            resume: false,
            resume_failed: false,
            ..
        }]
    ));
}

// --- late reports ---

#[test]
fn an_exit_reported_by_a_replaced_process_or_for_an_ended_pair_changes_nothing() {
    let mut engine = with_pair();
    let late = handle(&mut engine, exit("w0-old", Some(1), None));
    assert!(matches!(&late[..], [EngineAction::Warn(w)] if w.contains("already replaced")));
    engine.pairs.clear();
    let ended = handle(&mut engine, exit("w1", Some(1), None));
    assert!(matches!(&ended[..], [EngineAction::Warn(w)] if w.contains("has ended")));
}

#[test]
fn a_dead_pane_with_a_live_seat_ends_the_orphan_and_restarts_one_already_reported_is_left() {
    let mut engine = with_pair();
    // The reviewer's wrapper reported its exit (pid cleared): its dead pane is not news.
    engine.pairs.get_mut("t1").unwrap().seats[1].pid = None;
    let exited = vec![
        ("%w1".to_string(), None, Some(9)),
        ("%r1".to_string(), Some(0), None),
        ("%elsewhere".to_string(), Some(0), None),
    ];
    let actions = handle(&mut engine, EngineInput::PanesExited(exited));
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert!(
        matches!(&actions[0], EngineAction::Note { task, text } if task == "t1" && text.contains("the worker's pane died"))
    );
    assert_eq!(actions[1], EngineAction::EndProcess { pid: 100 });
    assert!(matches!(
        actions[2],
        EngineAction::RestartAgent {
            role: Role::Worker,
            exit_code: Some(137),
            ..
        }
    ));
}

// --- pause, cancel, resume of tasks with no pair; the human ---

#[test]
fn pause_and_resume_a_queued_task_without_a_pair() {
    let mut engine = state(vec![task("q", 1, &[], Some(StateKind::Queued))]);
    let pause = HumanAsked("q", HumanAsk::Pause);
    let actions = handle(&mut engine, pause);
    assert_eq!(
        actions,
        [
            set_state("q", StateKind::Queued, StateKind::Paused, "by the human"),
            EngineAction::Ack
        ],
        "paused, and not started"
    );
    let actions = handle(&mut engine, HumanAsked("q", HumanAsk::Resume));
    assert_eq!(
        actions,
        [
            set_state("q", StateKind::Paused, StateKind::Queued, "by the human"),
            EngineAction::Ack,
            EngineAction::StartPair { task: "q".into() },
        ]
    );
}

#[test]
fn cancelling_a_ready_task_takes_it_out_of_the_merge_queue() {
    let mut engine = state(vec![task("r", 1, &[], Some(StateKind::Ready))]);
    let actions = handle(&mut engine, HumanAsked("r", HumanAsk::Cancel));
    assert_eq!(
        actions[..2],
        [
            set_state("r", StateKind::Ready, StateKind::Cancelled, "by the human"),
            EngineAction::Withdraw { task: "r".into() },
        ]
    );
}

#[test]
fn what_a_task_without_a_pair_cannot_do_is_refused_with_why() {
    let mut engine = state(vec![task("d", 1, &[], Some(StateKind::Merged))]);
    let actions = handle(&mut engine, HumanAsked("d", HumanAsk::Pause));
    let [EngineAction::Refuse(why)] = &actions[..] else {
        panic!("{actions:?}");
    };
    assert!(
        why.starts_with("cannot pause task `d`: it is merged and no pair is working on it ("),
        "{why}"
    );
    let say = handle(&mut engine, HumanAsked("d", HumanAsk::Say));
    assert!(
        matches!(&say[..], [EngineAction::Refuse(w)] if w.starts_with("cannot say something to"))
    );
    let unknown = handle(&mut engine, HumanAsked("nope", HumanAsk::Cancel));
    assert_eq!(
        unknown,
        [EngineAction::Refuse("unknown task `nope`".into())]
    );
}

#[allow(non_snake_case)]
fn HumanAsked(task: &str, ask: HumanAsk) -> EngineInput {
    EngineInput::HumanAsked {
        task: task.into(),
        ask,
    }
}

#[test]
fn agents_that_cannot_start_ask_the_human_and_a_failed_start_fails_the_task() {
    let mut engine = state(vec![task("t", 1, &[], Some(StateKind::Queued))]);
    let missing = EngineInput::AgentsMissing {
        task: "t".into(),
        reason: "claude is not installed".into(),
    };
    assert_eq!(
        handle(&mut engine, missing),
        [
            set_state(
                "t",
                StateKind::Queued,
                StateKind::NeedsHuman,
                "claude is not installed"
            ),
            EngineAction::TellHuman {
                task: "t".into(),
                text: "claude is not installed".into()
            },
        ]
    );
    engine.tasks[0].stored = Some(StateKind::Preparing);
    let failed = EngineInput::CouldNotStart {
        task: "t".into(),
        reason: "no worktree".into(),
    };
    assert_eq!(
        handle(&mut engine, failed),
        [EngineAction::SetState {
            task: "t".into(),
            from: StateKind::Preparing,
            to: StateKind::Failed,
            reason: "no worktree".into(),
            shown: "failed: no worktree".into(),
        }]
    );
    // A task that has ended cannot fail again: only a warning.
    engine.tasks[0].stored = Some(StateKind::Merged);
    let again = EngineInput::CouldNotStart {
        task: "t".into(),
        reason: "x".into(),
    };
    assert!(matches!(
        &handle(&mut engine, again)[..],
        [EngineAction::Warn(_)]
    ));
}

// --- adoption after a restart ---

fn saved(task: &str, stored: StateKind, readable: Result<(), String>) -> SavedPair {
    SavedPair {
        task: task.into(),
        stored: Some(stored),
        readable,
    }
}

#[test]
fn live_saved_pairs_are_adopted_and_unreadable_or_removed_ones_fail_their_task() {
    let mut engine = state(vec![
        task("live", 1, &[], Some(StateKind::Reviewing)),
        task("over", 1, &[], Some(StateKind::Done)),
        task("garbled", 1, &[], Some(StateKind::Working)),
        task("paused", 1, &[], Some(StateKind::Paused)),
    ]);
    let found = EngineInput::SnapshotsFound(vec![
        saved("live", StateKind::Reviewing, Ok(())),
        saved("over", StateKind::Done, Ok(())),
        saved("garbled", StateKind::Working, Err("eof at 1:3".into())),
        saved("gone", StateKind::Working, Ok(())),
        saved("paused", StateKind::Paused, Ok(())),
    ]);
    let actions = handle(&mut engine, found);
    assert_eq!(
        actions,
        [
            EngineAction::Adopt {
                task: "live".into()
            },
            EngineAction::SetState {
                task: "garbled".into(),
                from: StateKind::Working,
                to: StateKind::Failed,
                reason: "its saved state cannot be read (eof at 1:3)".into(),
                shown: "failed: its saved state cannot be read (eof at 1:3)".into(),
            },
            // Not in the backlog: failed from the state the store holds.
            EngineAction::SetState {
                task: "gone".into(),
                from: StateKind::Working,
                to: StateKind::Failed,
                reason: "it is no longer in the backlog".into(),
                shown: "failed: it is no longer in the backlog".into(),
            },
            EngineAction::Adopt {
                task: "paused".into()
            },
        ]
    );
}

#[test]
fn with_a_focus_only_its_pair_is_adopted_and_an_ended_focus_is_worked_again() {
    let mut engine = state(vec![
        task("a", 1, &[], Some(StateKind::Working)),
        task("b", 1, &[], Some(StateKind::Working)),
    ]);
    engine.focus = Some("b".into());
    let found = EngineInput::SnapshotsFound(vec![
        saved("a", StateKind::Working, Ok(())),
        saved("b", StateKind::Working, Ok(())),
    ]);
    assert_eq!(
        handle(&mut engine, found),
        [EngineAction::Adopt { task: "b".into() }]
    );
    // Live with a saved pair: adopted as it is, not queued again.
    assert!(handle(&mut engine, EngineInput::Started { focus_saved: true }).is_empty());
    // Live but killed before its first snapshot: it starts over.
    let actions = handle(&mut engine, EngineInput::Started { focus_saved: false });
    assert_eq!(
        actions,
        [set_state(
            "b",
            StateKind::Working,
            StateKind::Queued,
            "started again by duet pair"
        )]
    );
}

#[test]
fn an_adopted_session_that_runs_is_attached_and_one_that_is_gone_relaunched() {
    let mut engine = EngineState::default();
    let attach = handle(
        &mut engine,
        EngineInput::SessionLooked {
            task: "t".into(),
            session_exists: true,
            exited: [false, true],
        },
    );
    assert_eq!(
        attach,
        [EngineAction::Attach {
            task: "t".into(),
            restart: [false, true]
        }]
    );
    let relaunch = handle(
        &mut engine,
        EngineInput::SessionLooked {
            task: "t".into(),
            session_exists: false,
            exited: [false, false],
        },
    );
    assert_eq!(relaunch, [EngineAction::Relaunch { task: "t".into() }]);
}

// --- a message to a dead agent ---

/// A message to an agent whose process is gone waits in the mailbox (stored, not typed into a
/// dead pane); the engine restarts the seat, and the message is handed over once, when the new
/// process is at rest. With no restart left it stays undelivered and the protocol asks the
/// human.
#[test]
fn a_message_to_a_dead_agent_waits_for_its_restart_and_is_handed_over_once() {
    let config = PairConfig::default().delivery;
    let mut mailbox = Mailbox::default();
    mailbox.on_turn_ended(Role::Worker, Timestamp(1));
    mailbox.on_exit(Role::Worker);
    let (id, _) = mailbox.accept(
        Sender::Agent(Role::Reviewer),
        Role::Worker,
        "fix the test".into(),
        Timestamp(2),
        &config,
    );
    assert_eq!(
        mailbox.dispatch(Role::Worker, Timestamp(3)),
        None,
        "dead: held"
    );

    let mut engine = with_pair();
    let actions = handle(&mut engine, exit("w1", Some(1), None));
    assert!(matches!(
        actions[..],
        [EngineAction::RestartAgent { attempt: 1, .. }]
    ));
    // What the restart does to the mailbox (`restart_seat`): a new process, starting.
    mailbox.on_launched(Role::Worker, None, Timestamp(4), &config);
    assert_eq!(
        mailbox.dispatch(Role::Worker, Timestamp(5)),
        None,
        "still starting"
    );
    mailbox.on_turn_ended(Role::Worker, Timestamp(6));
    let batch = mailbox
        .dispatch(Role::Worker, Timestamp(7))
        .expect("handed over");
    assert_eq!(batch.message_ids, [id]);
    assert_eq!(mailbox.dispatch(Role::Worker, Timestamp(8)), None, "once");

    // No restart left: nothing to hand over to, the message stays undelivered.
    let mut spent = with_pair();
    spent.pairs.get_mut("t1").unwrap().seats[0].restarts = restart_policy::MAX_AGENT_RESTARTS;
    let actions = handle(&mut spent, exit("w1", Some(1), None));
    assert!(matches!(
        actions.last(),
        Some(EngineAction::NoRestart { .. })
    ));
    let mut dead = Mailbox::default();
    dead.on_exit(Role::Worker);
    dead.accept(
        Sender::Human,
        Role::Worker,
        "hello".into(),
        Timestamp(2),
        &config,
    );
    assert_eq!(dead.dispatch(Role::Worker, Timestamp(3)), None);
    assert_eq!(dead.undelivered().count(), 1);
}
