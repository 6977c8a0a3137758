//! The mailbox: pending → sent → delivered, held, retried, failed, suppressed; Stop hook hand-over.

use std::time::Duration;

use duet_core::protocol::delivery::{
    Batch, DeliveryConfig, DeliveryStatus, Handover, Mailbox, Suppression, TargetStatus,
};
use duet_core::protocol::{MessageId, Role, Sender, Timestamp};

const W: Role = Role::Worker;
const R: Role = Role::Reviewer;
const FROM_W: Sender = Sender::Agent(Role::Worker);
const FROM_R: Sender = Sender::Agent(Role::Reviewer);

fn config() -> DeliveryConfig {
    DeliveryConfig {
        confirm_timeout: Duration::from_secs(60),
        max_attempts: 3,
        repeat_window: Duration::from_secs(600),
    }
}

fn at(secs: u64) -> Timestamp {
    Timestamp(secs * 1000)
}

fn status(mailbox: &Mailbox, id: MessageId) -> DeliveryStatus {
    mailbox.get(id).unwrap().status
}

fn sent(attempt: u32, secs: u64, via: Handover) -> DeliveryStatus {
    DeliveryStatus::Sent {
        attempt,
        at: at(secs),
        via,
    }
}

fn prompt_batch(to: Role, ids: &[MessageId]) -> Option<Batch> {
    Some(Batch {
        to,
        via: Handover::Prompt,
        message_ids: ids.to_vec(),
    })
}

#[test]
fn waits_for_idle_then_is_delivered_only_when_a_turn_starts_with_it() {
    let mut mailbox = Mailbox::default();
    let (id, accepted) = mailbox.accept(FROM_W, R, "look at foo".into(), at(0), &config());
    assert_eq!(accepted, DeliveryStatus::Pending);
    assert_eq!(
        mailbox.dispatch(R, at(1)),
        None,
        "a starting agent gets nothing"
    );

    mailbox.on_turn_ended(R, at(2));
    assert_eq!(mailbox.target(R), TargetStatus::Idle { since: at(2) });
    assert_eq!(mailbox.dispatch(R, at(3)), prompt_batch(R, &[id]));
    assert_eq!(status(&mailbox, id), sent(1, 3, Handover::Prompt));
    assert_eq!(mailbox.target(R), TargetStatus::Prompted { at: at(3) });
    assert_eq!(
        mailbox.dispatch(R, at(4)),
        None,
        "nothing typed twice while prompted"
    );

    // A turn that does not carry it confirms nothing.
    assert_eq!(mailbox.on_turn_started(R, &[MessageId(99)], at(5)), vec![]);
    assert_eq!(status(&mailbox, id), sent(1, 3, Handover::Prompt));
    assert_eq!(mailbox.on_turn_started(R, &[id], at(6)), vec![id]);
    assert_eq!(
        status(&mailbox, id),
        DeliveryStatus::Delivered { at: at(6) }
    );
    assert_eq!(mailbox.target(R), TargetStatus::Busy);
    assert_eq!(
        mailbox.on_turn_started(R, &[id], at(7)),
        vec![],
        "delivered once"
    );
}

#[test]
fn messages_for_one_target_go_together_in_order_and_not_to_the_other() {
    let mut mailbox = Mailbox::default();
    let (a, _) = mailbox.accept(FROM_W, R, "one".into(), at(0), &config());
    let (b, _) = mailbox.accept(Sender::Human, W, "for the worker".into(), at(0), &config());
    let (c, _) = mailbox.accept(Sender::Duet, R, "two".into(), at(1), &config());
    mailbox.on_turn_ended(R, at(2));
    assert_eq!(mailbox.dispatch(R, at(2)), prompt_batch(R, &[a, c]));
    assert_eq!(status(&mailbox, b), DeliveryStatus::Pending);
    // Confirmation for the wrong role does not count.
    assert_eq!(mailbox.on_turn_started(W, &[a], at(3)), vec![]);
    assert_eq!(mailbox.on_turn_started(R, &[a, c], at(3)), vec![a, c]);
}

#[test]
fn never_typed_into_a_busy_agent() {
    let mut mailbox = Mailbox::default();
    mailbox.on_turn_ended(R, at(0));
    mailbox.on_turn_started(R, &[], at(1));
    let (id, _) = mailbox.accept(FROM_W, R, "hi".into(), at(2), &config());
    assert_eq!(mailbox.dispatch(R, at(3)), None);
    assert_eq!(mailbox.on_tick(at(500), &config()).batches, vec![]);
    mailbox.on_turn_ended(R, at(600));
    assert_eq!(mailbox.dispatch(R, at(600)), prompt_batch(R, &[id]));
}

#[test]
fn unconfirmed_prompt_is_retried_then_failed() {
    let cfg = config();
    let mut mailbox = Mailbox::default();
    mailbox.on_turn_ended(R, at(0));
    let (id, _) = mailbox.accept(FROM_W, R, "hi".into(), at(0), &cfg);
    assert_eq!(mailbox.dispatch(R, at(0)), prompt_batch(R, &[id]));

    // Before the timeout nothing happens.
    let early = mailbox.on_tick(at(59), &cfg);
    assert_eq!((early.batches, early.failed), (vec![], vec![]));
    assert_eq!(status(&mailbox, id), sent(1, 0, Handover::Prompt));

    // The turn never started: the agent is at rest again and the message is typed again.
    let second = mailbox.on_tick(at(60), &cfg);
    assert_eq!(second.batches, vec![prompt_batch(R, &[id]).unwrap()]);
    assert_eq!(status(&mailbox, id), sent(2, 60, Handover::Prompt));

    let third = mailbox.on_tick(at(120), &cfg);
    assert_eq!(third.batches, vec![prompt_batch(R, &[id]).unwrap()]);
    assert_eq!(status(&mailbox, id), sent(3, 120, Handover::Prompt));

    let last = mailbox.on_tick(at(180), &cfg);
    assert_eq!((last.batches, last.failed), (vec![], vec![id]));
    assert_eq!(status(&mailbox, id), DeliveryStatus::Failed { attempts: 3 });
    assert_eq!(mailbox.undelivered().count(), 0);
}

#[test]
fn a_turn_that_started_without_the_message_gets_it_at_the_next_idle() {
    let cfg = config();
    let mut mailbox = Mailbox::default();
    mailbox.on_turn_ended(W, at(0));
    let (id, _) = mailbox.accept(FROM_R, W, "fix bar".into(), at(0), &cfg);
    mailbox.dispatch(W, at(0));
    mailbox.on_turn_started(W, &[], at(1));
    let tick = mailbox.on_tick(at(61), &cfg);
    assert_eq!(tick.batches, vec![], "busy: wait for the turn to end");
    assert_eq!(status(&mailbox, id), DeliveryStatus::Pending);
    mailbox.on_turn_ended(W, at(70));
    assert_eq!(mailbox.dispatch(W, at(70)), prompt_batch(W, &[id]));
    assert_eq!(status(&mailbox, id), sent(2, 70, Handover::Prompt));
}

#[test]
fn held_while_the_target_waits_for_permission() {
    let cfg = config();
    let mut mailbox = Mailbox::default();
    mailbox.on_turn_ended(R, at(0));
    mailbox.on_turn_started(R, &[], at(1));
    let (before, _) = mailbox.accept(FROM_W, R, "one".into(), at(2), &cfg);
    mailbox.on_permission_wait(R, at(3));
    let (during, accepted) = mailbox.accept(FROM_W, R, "two".into(), at(4), &cfg);
    assert_eq!(accepted, DeliveryStatus::Held);
    assert_eq!(status(&mailbox, before), DeliveryStatus::Held);
    assert_eq!(
        mailbox.target(R),
        TargetStatus::WaitingPermission { since: at(3) }
    );
    assert_eq!(mailbox.dispatch(R, at(5)), None);
    assert_eq!(mailbox.on_tick(at(1000), &cfg).batches, vec![]);
    assert_eq!(
        status(&mailbox, during),
        DeliveryStatus::Held,
        "held messages never time out"
    );

    mailbox.on_permission_resolved(R);
    assert_eq!(
        mailbox.target(R),
        TargetStatus::Busy,
        "it goes on with its turn"
    );
    assert_eq!(status(&mailbox, before), DeliveryStatus::Pending);
    mailbox.on_turn_ended(R, at(1001));
    assert_eq!(
        mailbox.dispatch(R, at(1001)),
        prompt_batch(R, &[before, during])
    );
}

#[test]
fn stop_hook_hands_over_pending_messages_or_lets_the_agent_rest() {
    let cfg = config();
    let mut mailbox = Mailbox::default();
    mailbox.on_turn_started(W, &[], at(0));
    let (id, _) = mailbox.accept(FROM_R, W, "nit: typo".into(), at(1), &cfg);
    let batch = mailbox.on_stop_hook(W, at(2));
    assert_eq!(
        batch,
        Batch {
            to: W,
            via: Handover::StopHook,
            message_ids: vec![id]
        }
    );
    assert_eq!(status(&mailbox, id), sent(1, 2, Handover::StopHook));
    assert_eq!(mailbox.target(W), TargetStatus::Prompted { at: at(2) });
    assert_eq!(mailbox.on_turn_started(W, &[id], at(3)), vec![id]);

    let empty = mailbox.on_stop_hook(W, at(10));
    assert_eq!(empty.message_ids, vec![]);
    assert_eq!(mailbox.target(W), TargetStatus::Idle { since: at(10) });
    let (later, _) = mailbox.accept(FROM_R, W, "one more".into(), at(11), &cfg);
    assert_eq!(
        mailbox.dispatch(W, at(11)),
        prompt_batch(W, &[later]),
        "idle: typed at the prompt"
    );
}

#[test]
fn repeats_and_echoes_from_agents_are_suppressed_within_the_window() {
    let cfg = config();
    let mut mailbox = Mailbox::default();
    let (first, _) = mailbox.accept(FROM_W, R, "please   re-review".into(), at(0), &cfg);
    let cases: Vec<(&str, Sender, Role, &str, u64, DeliveryStatus)> = vec![
        (
            "exact repeat",
            FROM_W,
            R,
            "please re-review",
            10,
            DeliveryStatus::Suppressed {
                reason: Suppression::Repeat { of: first },
            },
        ),
        (
            "echo from the partner",
            FROM_R,
            W,
            " please re-review\n",
            20,
            DeliveryStatus::Suppressed {
                reason: Suppression::Echo { of: first },
            },
        ),
        (
            "different text",
            FROM_W,
            R,
            "please re-review now",
            30,
            DeliveryStatus::Pending,
        ),
        (
            "the human may repeat",
            Sender::Human,
            R,
            "please re-review",
            40,
            DeliveryStatus::Pending,
        ),
        (
            "duet may repeat",
            Sender::Duet,
            R,
            "please re-review",
            50,
            DeliveryStatus::Pending,
        ),
        (
            "repeat after the window",
            FROM_W,
            R,
            "please re-review",
            601,
            DeliveryStatus::Pending,
        ),
    ];
    for (name, from, to, text, secs, expected) in cases {
        let (_, status) = mailbox.accept(from, to, text.into(), at(secs), &cfg);
        assert_eq!(status, expected, "{name}");
    }
    // Suppressed messages are kept as facts but never handed over.
    mailbox.on_turn_ended(W, at(700));
    assert_eq!(mailbox.dispatch(W, at(700)), None);
}

#[test]
fn an_exited_agent_keeps_its_messages_for_the_restart() {
    let cfg = config();
    let mut mailbox = Mailbox::default();
    mailbox.on_turn_ended(R, at(0));
    let (id, _) = mailbox.accept(FROM_W, R, "hi".into(), at(0), &cfg);
    mailbox.dispatch(R, at(0));
    mailbox.on_exit(R);
    assert_eq!(mailbox.target(R), TargetStatus::Exited);
    assert_eq!(status(&mailbox, id), DeliveryStatus::Pending);
    mailbox.on_turn_ended(R, at(1));
    assert_eq!(
        mailbox.target(R),
        TargetStatus::Exited,
        "a stray event does not revive it"
    );
    assert_eq!(mailbox.on_tick(at(500), &cfg).batches, vec![]);

    mailbox.on_start(R);
    mailbox.on_turn_ended(R, at(600));
    assert_eq!(mailbox.dispatch(R, at(600)), prompt_batch(R, &[id]));
    assert_eq!(
        status(&mailbox, id),
        sent(1, 600, Handover::Prompt),
        "the lost attempt does not count"
    );
}

#[test]
fn mailbox_survives_a_json_round_trip() {
    let cfg = config();
    let mut mailbox = Mailbox::default();
    mailbox.on_turn_ended(R, at(0));
    mailbox.accept(FROM_W, R, "a".into(), at(0), &cfg);
    mailbox.dispatch(R, at(1));
    let json = serde_json::to_string(&mailbox).unwrap();
    let mut restored: Mailbox = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, mailbox);
    // Ids keep counting after a restart of the daemon.
    let (next, _) = restored.accept(FROM_W, R, "b".into(), at(2), &cfg);
    assert_eq!(next, MessageId(2));
}

#[test]
fn a_turn_that_ends_while_waiting_for_permission_releases_held_messages() {
    let cfg = config();
    for stop_hook in [false, true] {
        let mut mailbox = Mailbox::default();
        mailbox.on_turn_started(W, &[], at(0));
        mailbox.on_permission_wait(W, at(1));
        let (id, held) = mailbox.accept(FROM_R, W, "x".into(), at(2), &cfg);
        assert_eq!(held, DeliveryStatus::Held);
        if stop_hook {
            assert_eq!(mailbox.on_stop_hook(W, at(3)).message_ids, vec![id]);
        } else {
            mailbox.on_turn_ended(W, at(3));
            assert_eq!(mailbox.dispatch(W, at(3)), prompt_batch(W, &[id]));
        }
    }
}

#[test]
fn a_mailbox_numbered_after_earlier_runs_never_reuses_their_ids() {
    let mut mailbox = Mailbox::default();
    mailbox.number_after(3);
    let (first, _) = mailbox.accept(FROM_W, R, "again".into(), at(0), &config());
    assert_eq!(first, MessageId(4));
    // A lower number never moves it back.
    mailbox.number_after(1);
    let (second, _) = mailbox.accept(FROM_W, R, "and again".into(), at(1), &config());
    assert_eq!(second, MessageId(5));
}

#[test]
fn typed_messages_of_an_agent_at_rest_after_a_restart_are_pending_again_at_once() {
    let mut mailbox = Mailbox::default();
    let (id, _) = mailbox.accept(FROM_R, W, "approved".into(), at(0), &config());
    mailbox.on_turn_ended(W, at(1));
    assert_eq!(mailbox.dispatch(W, at(2)), prompt_batch(W, &[id]));
    // The engine died before typing it; the new one sees the worker at rest at 5 s, long
    // before the 60 s confirm timeout.
    assert_eq!(mailbox.requeue_typed(W, at(5)), vec![id]);
    assert_eq!(status(&mailbox, id), DeliveryStatus::Pending);
    assert_eq!(mailbox.target(W), TargetStatus::Idle { since: at(5) });
    assert_eq!(
        mailbox.dispatch(W, at(5)),
        prompt_batch(W, &[id]),
        "sent again now"
    );
    assert_eq!(mailbox.get(id).unwrap().attempts, 2);
    // Nothing to do for an agent that is not waiting for a typed prompt's turn.
    assert_eq!(mailbox.on_turn_started(W, &[id], at(6)), vec![id]);
    assert_eq!(mailbox.requeue_typed(W, at(7)), vec![]);
    assert_eq!(mailbox.target(W), TargetStatus::Busy);
}

#[test]
fn messages_handed_over_by_a_stop_hook_are_not_requeued() {
    let mut mailbox = Mailbox::default();
    let (id, _) = mailbox.accept(FROM_R, W, "fix it".into(), at(0), &config());
    let batch = mailbox.on_stop_hook(W, at(1));
    assert_eq!(batch.message_ids, vec![id]);
    assert_eq!(mailbox.requeue_typed(W, at(2)), vec![]);
    assert_eq!(status(&mailbox, id), sent(1, 1, Handover::StopHook));
    assert_eq!(mailbox.target(W), TargetStatus::Prompted { at: at(1) });
}

#[test]
fn a_newer_base_moved_notice_supersedes_a_waiting_one_that_warns_of_nothing() {
    let cfg = config();
    let mut mailbox = Mailbox::default();
    let quiet = |task: &str| {
        format!(
            "`main` moved to c{task}: task `{task}` landed.{}",
            duet_core::protocol::delivery::NO_SHARED_FILES
        )
    };
    let (first, _) = mailbox.accept(Sender::Duet, W, quiet("a"), at(0), &cfg);
    let (second, status) = mailbox.accept(Sender::Duet, W, quiet("b"), at(1), &cfg);
    assert_eq!(status, DeliveryStatus::Pending, "the newest one waits");
    assert_eq!(
        mailbox.get(first).unwrap().status,
        DeliveryStatus::Suppressed {
            reason: Suppression::Superseded { by: second }
        },
        "a waiting notice that said nothing the newer one does not is stale"
    );
    assert_eq!(mailbox.superseded_by(second), vec![first]);

    // A warning of a shared file stays; so does a notice already handed over, and anything
    // that is not a base-moved notice from duet (to the same target).
    let warning = "`main` moved to c1: task `c` landed. It also changes a.rs, which your branch \
                   changes too: expect a conflict when yours lands.";
    let (warned, _) = mailbox.accept(Sender::Duet, W, warning.into(), at(2), &cfg);
    assert_eq!(mailbox.superseded_by(warned), vec![second]);
    mailbox.on_turn_ended(W, at(3));
    let batch = mailbox.dispatch(W, at(3)).unwrap();
    assert_eq!(batch.message_ids, vec![warned]);
    let (third, _) = mailbox.accept(Sender::Duet, W, quiet("d"), at(4), &cfg);
    assert_eq!(mailbox.superseded_by(third), Vec::<MessageId>::new());
    let (to_reviewer, _) = mailbox.accept(Sender::Duet, R, quiet("e"), at(5), &cfg);
    let (ci, _) = mailbox.accept(Sender::Duet, W, "CI failed on c2".into(), at(6), &cfg);
    let (human, _) = mailbox.accept(Sender::Human, W, quiet("f"), at(7), &cfg);
    for id in [warned, to_reviewer, ci, human] {
        assert!(
            !matches!(
                mailbox.get(id).unwrap().status,
                DeliveryStatus::Suppressed { .. }
            ),
            "{id} is not superseded"
        );
    }
    assert_eq!(
        mailbox.get(third).unwrap().status,
        DeliveryStatus::Pending,
        "a human's text is not a notice from duet: it supersedes nothing"
    );
}
