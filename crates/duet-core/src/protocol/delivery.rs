//! Message delivery that loses nothing: the [`Mailbox`] of a pair, one [`Envelope`] per accepted
//! message, each moving `Pending → Sent{attempt, at} → Delivered` (or `Held`, `Failed`,
//! `Suppressed`), and the status of each target agent ([`TargetStatus`]).
//!
//! Rules:
//! - A message is handed to its target only when the target is idle (typed at its prompt), or at
//!   the end of a claude turn through the Stop hook ([`Mailbox::on_stop_hook`]). Never into a busy
//!   agent, never to an agent waiting for a permission answer (its messages are `Held`).
//! - It is `Delivered` only when the target's next turn starts carrying it
//!   ([`Mailbox::on_turn_started`]). Not confirmed within `confirm_timeout` → sent again, up to
//!   `max_attempts`, then `Failed` (the caller reports it).
//! - From an agent: an exact repeat (same sender, same target, same normalised text) or an echo
//!   (the partner's message sent straight back) within `repeat_window` is stored `Suppressed`,
//!   not delivered. Messages from the human are never suppressed; from duet, only a notice
//!   that a newer one of the same kind makes stale ([`superseded_by`]: "`main` moved", without a
//!   conflict warning, while it still waits to be handed over) is `Suppressed` as `Superseded`.
//! - A seat's first prompt (the task brief, [`Brief`]) is a message from duet like any other, so
//!   it waits for the same readiness, but it is handed over alone: a new conversation starts
//!   with it, and what was queued meanwhile follows in the next hand-over.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{MessageId, Role, Sender, Timestamp, normalize_text};

/// Timing of delivery and suppression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryConfig {
    /// How long a sent message may wait for the turn that carries it before it is sent again.
    pub confirm_timeout: Duration,
    /// Sends per message before it is `Failed`.
    pub max_attempts: u32,
    /// How far back repeats and echoes are looked for.
    pub repeat_window: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            confirm_timeout: Duration::from_secs(120),
            max_attempts: 3,
            repeat_window: Duration::from_secs(30 * 60),
        }
    }
}

/// How a message was handed to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handover {
    /// Typed at the idle agent's prompt (or sent as a new turn to a headless agent).
    Prompt,
    /// Returned from claude's Stop hook, which makes it go on with the text.
    StopHook,
}

/// Why a message was not delivered on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Suppression {
    /// The same sender sent the same text to the same target before.
    Repeat { of: MessageId },
    /// The text is the partner's message sent straight back.
    Echo { of: MessageId },
    /// A notice from duet made stale by a newer one of the same kind before it was handed over.
    Superseded { by: MessageId },
}

/// How a notice that the base branch moved ends when the landed task shares no file with the
/// pair's branch (`lifecycle::merge_queue`): it says nothing the next such notice does not.
pub const NO_SHARED_FILES: &str = " It changes none of the files your branch changes.";

/// Whether `newer`, from duet, makes the waiting message `older` (to the same target) stale:
/// both say the base branch moved (`` `main` moved to ``), and `older` warns of no conflict (a
/// warning of a shared file stays: the newer notice does not repeat it).
pub fn superseded_by(older: &Envelope, from: Sender, to: Role, newer: &str) -> bool {
    let base_moved = |text: &str| {
        text.strip_prefix('`')
            .and_then(|rest| rest.split_once("` moved to "))
            .is_some_and(|(base, _)| !base.is_empty() && !base.contains('`'))
    };
    from == Sender::Duet
        && older.from == Sender::Duet
        && older.to == to
        && older.status == DeliveryStatus::Pending
        && base_moved(&older.text)
        && older.text.ends_with(NO_SHARED_FILES)
        && base_moved(newer)
}

/// Where one message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum DeliveryStatus {
    /// Waiting for the target to be idle.
    Pending,
    /// The target waits for a permission answer; goes back to `Pending` when it has it.
    Held,
    /// Handed over; waiting for the target's turn to start with it.
    Sent {
        attempt: u32,
        at: Timestamp,
        via: Handover,
    },
    /// The target's turn started with it.
    Delivered { at: Timestamp },
    /// Not taken after every attempt.
    Failed { attempts: u32 },
    /// Not delivered on purpose.
    Suppressed { reason: Suppression },
}

/// One accepted message and its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: MessageId,
    pub from: Sender,
    pub to: Role,
    pub text: String,
    pub accepted_at: Timestamp,
    /// Sends so far (each `Sent` counts one).
    pub attempts: u32,
    pub status: DeliveryStatus,
}

/// What the mailbox knows about a target agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum TargetStatus {
    /// Launched, not yet at its prompt.
    Starting,
    /// At its prompt, no turn running.
    Idle { since: Timestamp },
    /// Messages were handed over at `at`; its turn has not been seen starting yet.
    Prompted { at: Timestamp },
    /// A turn is running.
    Busy,
    /// Waiting for a permission answer since `since`.
    WaitingPermission { since: Timestamp },
    /// The process is gone.
    Exited,
}

/// Messages handed over to one target in one go (one prompt, or one Stop hook answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub to: Role,
    pub via: Handover,
    pub message_ids: Vec<MessageId>,
}

/// What a timer tick changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickOutcome {
    /// Messages sent again (or for the first time, to a target that became idle).
    pub batches: Vec<Batch>,
    /// Messages given up on.
    pub failed: Vec<MessageId>,
}

/// Where a seat's first prompt (the task brief) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "brief", rename_all = "kebab-case")]
pub enum Brief {
    /// Not given: the seat has no conversation yet.
    NotGiven,
    /// Queued as message `id`; once that is delivered, the conversation has it.
    Message { id: MessageId },
    /// Given on the agent's command line (pairs saved before briefs went through the mailbox).
    CommandLine,
}

/// The first prompt of each seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Briefs {
    pub worker: Brief,
    pub reviewer: Brief,
}

impl Briefs {
    /// A snapshot from before briefs were tracked: both were given on the command line.
    fn legacy() -> Self {
        Briefs {
            worker: Brief::CommandLine,
            reviewer: Brief::CommandLine,
        }
    }
}

/// All messages of one pair and the status of both targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub envelopes: Vec<Envelope>,
    pub worker: TargetStatus,
    pub reviewer: TargetStatus,
    next_id: u64,
    /// Each seat's first prompt.
    #[serde(default = "Briefs::legacy")]
    pub briefs: Briefs,
    /// Seats parked on a usage limit: what is sent to them stays pending (not typed, not handed
    /// over at a Stop hook) until they are unparked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parked: Vec<Role>,
    /// Whether each seat (worker, reviewer) takes messages while its turn runs (codex on its
    /// app-server: `turn/steer`); others get them when the turn is over.
    #[serde(default)]
    pub mid_turn: [bool; 2],
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox {
            envelopes: Vec::new(),
            worker: TargetStatus::Starting,
            reviewer: TargetStatus::Starting,
            next_id: 1,
            briefs: Briefs {
                worker: Brief::NotGiven,
                reviewer: Brief::NotGiven,
            },
            parked: Vec::new(),
            mid_turn: [false; 2],
        }
    }
}

impl Mailbox {
    pub fn target(&self, role: Role) -> TargetStatus {
        match role {
            Role::Worker => self.worker,
            Role::Reviewer => self.reviewer,
        }
    }

    fn set_target(&mut self, role: Role, status: TargetStatus) {
        match role {
            Role::Worker => self.worker = status,
            Role::Reviewer => self.reviewer = status,
        }
    }

    /// Where `role`'s first prompt stands.
    pub fn brief(&self, role: Role) -> Brief {
        match role {
            Role::Worker => self.briefs.worker,
            Role::Reviewer => self.briefs.reviewer,
        }
    }

    /// `role`'s first prompt, if it waits to be handed over.
    fn pending_brief(&self, role: Role) -> Option<MessageId> {
        match self.brief(role) {
            Brief::Message { id } => self
                .get(id)
                .filter(|e| matches!(e.status, DeliveryStatus::Pending | DeliveryStatus::Held))
                .map(|e| e.id),
            Brief::NotGiven | Brief::CommandLine => None,
        }
    }

    /// Whether `role` has a conversation to resume: its first prompt reached it.
    pub fn conversation_started(&self, role: Role) -> bool {
        match self.brief(role) {
            Brief::NotGiven => false,
            Brief::CommandLine => true,
            Brief::Message { id } => self
                .get(id)
                .is_some_and(|e| matches!(e.status, DeliveryStatus::Delivered { .. })),
        }
    }

    /// duet starts a new process in `role`'s seat. What was handed to the process before it and
    /// not confirmed is pending again (not counted as an attempt); the new one is starting. With
    /// `first_prompt` it begins a new conversation with that text, queued as a message from duet
    /// unless the seat's brief still waits (then that one is kept: one brief per conversation).
    /// Returns the brief's id and status when a new one was queued.
    pub fn on_launched(
        &mut self,
        role: Role,
        first_prompt: Option<String>,
        now: Timestamp,
        config: &DeliveryConfig,
    ) -> Option<(MessageId, DeliveryStatus)> {
        self.on_exit(role);
        self.on_start(role);
        let text = first_prompt?;
        if self.pending_brief(role).is_some() {
            return None;
        }
        let accepted = self.accept(Sender::Duet, role, text, now, config);
        let brief = Brief::Message { id: accepted.0 };
        match role {
            Role::Worker => self.briefs.worker = brief,
            Role::Reviewer => self.briefs.reviewer = brief,
        }
        Some(accepted)
    }

    pub fn get(&self, id: MessageId) -> Option<&Envelope> {
        self.envelopes.iter().find(|envelope| envelope.id == id)
    }

    /// Messages to `role` with the given status predicate, in acceptance order.
    pub fn ids_to(
        &self,
        role: Role,
        mut wanted: impl FnMut(&DeliveryStatus) -> bool,
    ) -> Vec<MessageId> {
        self.envelopes
            .iter()
            .filter(|envelope| envelope.to == role && wanted(&envelope.status))
            .map(|envelope| envelope.id)
            .collect()
    }

    /// The next message gets a number after `last`: a task worked again (sent back by the merge
    /// queue, or restarted by `duet pair`) keeps numbering where its earlier runs stopped, so
    /// message ids stay unique per task.
    pub fn number_after(&mut self, last: u64) {
        self.next_id = self.next_id.max(last + 1);
    }

    /// Store a message. It is `Pending` (or `Held` if the target awaits a permission answer), or
    /// `Suppressed` if it repeats or echoes a recent one. Waiting messages it supersedes
    /// ([`superseded_by`]) become `Suppressed` (see [`Mailbox::superseded_by`]). Returns its id
    /// and status.
    pub fn accept(
        &mut self,
        from: Sender,
        to: Role,
        text: String,
        now: Timestamp,
        config: &DeliveryConfig,
    ) -> (MessageId, DeliveryStatus) {
        let id = MessageId(self.next_id);
        self.next_id += 1;
        let status = match self.suppression(from, to, &text, now, config) {
            Some(reason) => DeliveryStatus::Suppressed { reason },
            None if matches!(self.target(to), TargetStatus::WaitingPermission { .. }) => {
                DeliveryStatus::Held
            }
            None => DeliveryStatus::Pending,
        };
        for older in &mut self.envelopes {
            if superseded_by(older, from, to, &text) {
                older.status = DeliveryStatus::Suppressed {
                    reason: Suppression::Superseded { by: id },
                };
            }
        }
        self.envelopes.push(Envelope {
            id,
            from,
            to,
            text,
            accepted_at: now,
            attempts: 0,
            status,
        });
        (id, status)
    }

    /// The messages message `by` superseded when it was accepted, in order.
    pub fn superseded_by(&self, by: MessageId) -> Vec<MessageId> {
        self.envelopes
            .iter()
            .filter(|e| {
                e.status
                    == DeliveryStatus::Suppressed {
                        reason: Suppression::Superseded { by },
                    }
            })
            .map(|e| e.id)
            .collect()
    }

    fn suppression(
        &self,
        from: Sender,
        to: Role,
        text: &str,
        now: Timestamp,
        config: &DeliveryConfig,
    ) -> Option<Suppression> {
        let Sender::Agent(sender) = from else {
            return None;
        };
        let text = normalize_text(text);
        let recent = self.envelopes.iter().rev().filter(|envelope| {
            now.since(envelope.accepted_at) <= config.repeat_window
                && !matches!(envelope.status, DeliveryStatus::Suppressed { .. })
        });
        for envelope in recent {
            if normalize_text(&envelope.text) != text {
                continue;
            }
            if envelope.from == from && envelope.to == to {
                return Some(Suppression::Repeat { of: envelope.id });
            }
            if envelope.from == Sender::Agent(sender.partner()) && envelope.to == sender {
                return Some(Suppression::Echo { of: envelope.id });
            }
        }
        None
    }

    /// `role` hit a usage limit: hold what is sent to it until [`Mailbox::unpark`]. False if it
    /// already was parked.
    pub fn park(&mut self, role: Role) -> bool {
        if self.is_parked(role) {
            return false;
        }
        self.parked.push(role);
        true
    }

    /// `role`'s limit has reset: what was held may go again. False if it was not parked (so a
    /// go-on is said once, also when an engine restart asks again).
    pub fn unpark(&mut self, role: Role) -> bool {
        let before = self.parked.len();
        self.parked.retain(|r| *r != role);
        self.parked.len() != before
    }

    /// Whether `role` is parked.
    pub fn is_parked(&self, role: Role) -> bool {
        self.parked.contains(&role)
    }

    /// `role`'s seat takes messages while its turn runs (see [`Mailbox::mid_turn`]).
    pub fn takes_messages_mid_turn(&mut self, role: Role) {
        self.mid_turn[usize::from(role == Role::Reviewer)] = true;
    }

    /// Hand every pending message to `role` if it is idle, or mid-turn if its seat takes them
    /// then (never while it is parked); the returned batch is to be delivered.
    pub fn dispatch(&mut self, role: Role, now: Timestamp) -> Option<Batch> {
        if self.is_parked(role) {
            return None;
        }
        let mid_turn = self.mid_turn[usize::from(role == Role::Reviewer)];
        if mid_turn && self.target(role) == TargetStatus::Busy {
            // Into the running turn: the user message that carries it confirms it.
            return self.send_pending(role, now, Handover::Prompt);
        }
        if !matches!(self.target(role), TargetStatus::Idle { .. }) {
            return None;
        }
        let batch = self.send_pending(role, now, Handover::Prompt)?;
        self.set_target(role, TargetStatus::Prompted { at: now });
        Some(batch)
    }

    fn send_pending(&mut self, role: Role, now: Timestamp, via: Handover) -> Option<Batch> {
        // A waiting brief goes alone: the conversation begins with it.
        let brief = self.pending_brief(role);
        let mut message_ids = Vec::new();
        for envelope in &mut self.envelopes {
            if envelope.to == role
                && envelope.status == DeliveryStatus::Pending
                && brief.is_none_or(|id| id == envelope.id)
            {
                envelope.attempts += 1;
                envelope.status = DeliveryStatus::Sent {
                    attempt: envelope.attempts,
                    at: now,
                    via,
                };
                message_ids.push(envelope.id);
            }
        }
        (!message_ids.is_empty()).then_some(Batch {
            to: role,
            via,
            message_ids,
        })
    }

    /// `role` is seen at rest after an engine restart while messages typed at its prompt
    /// wait for their turn to be seen: the typing may never have happened (the engine died
    /// between committing the hand-over and typing it), so they are pending again, at once,
    /// not after `confirm_timeout`. Returns their ids. (Messages handed over by a Stop hook
    /// are not: that answer is stored and a retried hook gets it again.)
    pub fn requeue_typed(&mut self, role: Role, now: Timestamp) -> Vec<MessageId> {
        if !matches!(self.target(role), TargetStatus::Prompted { .. }) {
            return Vec::new();
        }
        let mut ids = Vec::new();
        for envelope in &mut self.envelopes {
            if envelope.to == role
                && matches!(
                    envelope.status,
                    DeliveryStatus::Sent {
                        via: Handover::Prompt,
                        ..
                    }
                )
            {
                envelope.status = DeliveryStatus::Pending;
                ids.push(envelope.id);
            }
        }
        if !ids.is_empty() {
            self.set_target(role, TargetStatus::Idle { since: now });
        }
        ids
    }

    /// `role`'s turn ended (codex notify, headless turn completed): it is idle.
    pub fn on_turn_ended(&mut self, role: Role, now: Timestamp) {
        self.release_held(role);
        if self.target(role) != TargetStatus::Exited {
            self.set_target(role, TargetStatus::Idle { since: now });
        }
    }

    /// claude's Stop hook asks for pending messages at the end of a turn: hand them all over
    /// (claude goes on with them), or none, and then it is idle.
    pub fn on_stop_hook(&mut self, role: Role, now: Timestamp) -> Batch {
        self.release_held(role);
        let handed = if self.is_parked(role) {
            None
        } else {
            self.send_pending(role, now, Handover::StopHook)
        };
        match handed {
            Some(batch) => {
                self.set_target(role, TargetStatus::Prompted { at: now });
                batch
            }
            None => {
                self.set_target(role, TargetStatus::Idle { since: now });
                Batch {
                    to: role,
                    via: Handover::StopHook,
                    message_ids: Vec::new(),
                }
            }
        }
    }

    /// `role`'s turn started; the messages it carries are delivered. Returns the ids that became
    /// delivered now (ids not sent to `role`, or already delivered, are ignored).
    pub fn on_turn_started(
        &mut self,
        role: Role,
        carried: &[MessageId],
        now: Timestamp,
    ) -> Vec<MessageId> {
        if self.target(role) != TargetStatus::Exited {
            self.set_target(role, TargetStatus::Busy);
        }
        let mut delivered = Vec::new();
        for envelope in &mut self.envelopes {
            let sent = matches!(envelope.status, DeliveryStatus::Sent { .. });
            if envelope.to == role && sent && carried.contains(&envelope.id) {
                envelope.status = DeliveryStatus::Delivered { at: now };
                delivered.push(envelope.id);
            }
        }
        delivered
    }

    /// `role` waits for a permission answer: its pending messages are held.
    pub fn on_permission_wait(&mut self, role: Role, now: Timestamp) {
        self.set_target(role, TargetStatus::WaitingPermission { since: now });
        for envelope in &mut self.envelopes {
            if envelope.to == role && envelope.status == DeliveryStatus::Pending {
                envelope.status = DeliveryStatus::Held;
            }
        }
    }

    /// `role` got its permission answer and goes on with its turn: held messages are pending.
    pub fn on_permission_resolved(&mut self, role: Role) {
        if matches!(self.target(role), TargetStatus::WaitingPermission { .. }) {
            self.set_target(role, TargetStatus::Busy);
        }
        self.release_held(role);
    }

    /// A turn that ends is no longer waiting for a permission answer either (it may have been
    /// refused or interrupted): held messages are pending again.
    fn release_held(&mut self, role: Role) {
        for envelope in &mut self.envelopes {
            if envelope.to == role && envelope.status == DeliveryStatus::Held {
                envelope.status = DeliveryStatus::Pending;
            }
        }
    }

    /// `role`'s process is gone: what was sent but not confirmed is pending again (for a
    /// restarted agent), without counting against its attempts.
    pub fn on_exit(&mut self, role: Role) {
        self.set_target(role, TargetStatus::Exited);
        for envelope in &mut self.envelopes {
            if envelope.to == role
                && matches!(
                    envelope.status,
                    DeliveryStatus::Sent { .. } | DeliveryStatus::Held
                )
            {
                envelope.attempts = envelope.attempts.saturating_sub(1);
                envelope.status = DeliveryStatus::Pending;
            }
        }
    }

    /// `role` was (re)started.
    pub fn on_start(&mut self, role: Role) {
        self.set_target(role, TargetStatus::Starting);
    }

    /// Time passed: unconfirmed messages past `confirm_timeout` are sent again or failed; a target
    /// that was prompted but never started a turn is treated as idle again.
    pub fn on_tick(&mut self, now: Timestamp, config: &DeliveryConfig) -> TickOutcome {
        let mut outcome = TickOutcome::default();
        for role in Role::BOTH {
            let mut expired = false;
            for envelope in &mut self.envelopes {
                let DeliveryStatus::Sent { attempt, at, .. } = envelope.status else {
                    continue;
                };
                if envelope.to != role || now.since(at) < config.confirm_timeout {
                    continue;
                }
                expired = true;
                if attempt >= config.max_attempts {
                    envelope.status = DeliveryStatus::Failed { attempts: attempt };
                    outcome.failed.push(envelope.id);
                } else {
                    envelope.status = DeliveryStatus::Pending;
                }
            }
            // Handed over, yet no turn ever started: the prompt was lost; the agent is at rest.
            if let TargetStatus::Prompted { at } = self.target(role)
                && (expired || now.since(at) >= config.confirm_timeout)
            {
                self.set_target(role, TargetStatus::Idle { since: now });
            }
            outcome.batches.extend(self.dispatch(role, now));
        }
        outcome
    }

    /// Messages accepted but not yet delivered, failed or suppressed.
    pub fn undelivered(&self) -> impl Iterator<Item = &Envelope> {
        self.envelopes.iter().filter(|envelope| {
            matches!(
                envelope.status,
                DeliveryStatus::Pending | DeliveryStatus::Held | DeliveryStatus::Sent { .. }
            )
        })
    }
}
