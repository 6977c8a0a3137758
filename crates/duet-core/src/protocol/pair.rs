//! One pair's protocol state machine: [`PairState`] and
//! [`handle`]`(&mut PairState, PairEvent, now) -> Vec<Effect>`.
//!
//! It owns the review protocol (worker commits → `request_review` → reviewer `submit_review` on
//! that commit → findings to the worker → ...), round counting (`max_rounds` without approval →
//! needs-human with the open findings), `mark_done` (only with HEAD approved and a clean
//! worktree), the task's lifecycle moves, message routing through the [`Mailbox`], and stall
//! checks. Effects are to be carried out in order: a `Record` comes before the `Reply` that
//! acknowledges it, so nothing is acknowledged that was not stored.

use serde::{Deserialize, Serialize};

use super::calls::CallId;
use super::delivery::{Batch, DeliveryConfig, DeliveryStatus, Handover, Suppression, TargetStatus};
use super::stall::{StallSignals, StallThresholds, StallVerdict, assess};
use super::tools::{Limits, Refusal, ToolCall, ToolName};
use super::{Finding, Mailbox, MessageId, Role, Sender, Timestamp, Verdict, short_commit};
use crate::lifecycle::{IllegalTransition, LifecycleEvent, TaskState, transition};

/// Settings of one pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PairConfig {
    pub limits: Limits,
    pub delivery: DeliveryConfig,
    pub stall: StallThresholds,
    /// CI rules (`ci.command` set or not, loop limits); see `protocol::ci`.
    pub ci: super::ci::CiRules,
    /// duet's gates for this task (proof, TDD, scope budget); see `protocol::gates`.
    pub gates: super::gates::GateRules,
    /// What a review must contain (`[review]` in duet.toml).
    pub review: ReviewRules,
}

/// Rules on the reviewer's verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReviewRules {
    /// An approval must list what the reviewer verified (`[review] require_verification`);
    /// one that lists nothing is refused with a request to verify.
    pub require_verification: bool,
    /// The task has a plan step (`plan = true`): PLAN.md is reviewed before any code.
    pub plan: bool,
    /// Plan review rounds without approval before the task goes to the human.
    pub max_plan_rounds: u32,
    /// PLAN.md may be on the task branch (`[review] plan_in_branch`); when not, a HEAD that
    /// adds or changes it is not reviewed or finished.
    pub plan_in_branch: bool,
}

impl Default for ReviewRules {
    fn default() -> Self {
        ReviewRules {
            require_verification: true,
            plan: false,
            max_plan_rounds: 3,
            plan_in_branch: false,
        }
    }
}

/// A review request: the commit to review and the worker's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRequest {
    pub round: u32,
    pub commit: String,
    pub summary: String,
    pub at: Timestamp,
}

/// A verdict and the commit it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictRecord {
    pub round: u32,
    pub commit: String,
    pub verdict: Verdict,
}

/// Everything the protocol knows about one pair. Serialisable, so the daemon can persist it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairState {
    pub task_id: String,
    pub task_state: TaskState,
    /// The commit the task branch started from.
    pub base_commit: String,
    pub head_commit: String,
    pub worktree_clean: bool,
    /// Review requests accepted so far.
    pub round: u32,
    pub last_review_request: Option<ReviewRequest>,
    /// The last review request still waits for its verdict.
    pub review_pending: bool,
    pub last_verdict: Option<VerdictRecord>,
    /// The findings of the last verdict.
    pub open_findings: Vec<Finding>,
    /// Consecutive changes_requested rounds with the same findings (1 = seen once).
    pub same_findings_rounds: u32,
    pub(super) last_findings_fingerprint: Vec<(Option<String>, String)>,
    /// Echoes suppressed since the last new commit.
    pub ping_pongs: u32,
    /// A check failing again and again (fed by CI later).
    pub failing_check: Option<(String, u32)>,
    pub last_progress: Timestamp,
    /// Who asked the open question, so the answer goes back to them.
    pub question_from: Option<Role>,
    pub mailbox: Mailbox,
    pub config: PairConfig,
    /// The task's CI (runs per commit, what was told), fed by the engine (`protocol::ci`);
    /// `mark_done` needs its gate open at HEAD.
    #[serde(default)]
    pub ci: super::ci::CiState,
    /// The last tool calls answered, by call id: a call sent again gets the same answer
    /// (`protocol::calls`).
    #[serde(default)]
    pub answered_calls: super::calls::AnsweredCalls,
    /// The plan step (`protocol::plan`), used when `config.review.plan` is set.
    #[serde(default)]
    pub plan: super::plan::PlanState,
    /// HEAD's diff against the base adds or changes PLAN.md (read with the git facts of a
    /// plan task's requests).
    #[serde(default)]
    pub plan_on_branch: bool,
}

/// Something that happened to the pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum PairEvent {
    /// An agent called a bridge tool; answered by one `Effect::Reply` with the same `call_id`.
    /// A call whose id was answered before gets that answer again and changes nothing; one
    /// without an id (a caller that never retries) is applied as it comes.
    ToolCalled {
        call_id: Option<CallId>,
        role: Role,
        call: ToolCall,
    },
    /// The task branch's HEAD is now `commit`.
    CommitSeen {
        commit: String,
    },
    /// The worktree's files changed; `clean` says whether it matches HEAD.
    WorktreeChanged {
        clean: bool,
    },
    /// Whether HEAD's diff against the base adds or changes PLAN.md, as git now says.
    PlanOnBranch {
        on_branch: bool,
    },
    /// An agent process was (re)started (its wrapper reports its pid).
    AgentStarted {
        role: Role,
    },
    /// duet launched a new process in `role`'s seat (before it can report anything). With
    /// `first_prompt` it starts a new conversation: the text (the task brief) is queued as a
    /// message from duet, handed over like any other once the agent rests at its prompt with
    /// duet's tools listed, and alone. Without, it resumes its conversation.
    Launched {
        role: Role,
        first_prompt: Option<String>,
    },
    /// A turn started (UserPromptSubmit, codex turn started), carrying these messages.
    TurnStarted {
        role: Role,
        carried: Vec<MessageId>,
    },
    /// A turn ended and the agent is idle (codex notify, headless turn completed).
    TurnEnded {
        role: Role,
    },
    /// claude's Stop hook asks for pending messages; answered by one `Effect::HandOver`.
    StopHook {
        role: Role,
        hook_id: String,
    },
    /// Any sign of work in a running turn (tool use...).
    Activity {
        role: Role,
    },
    PermissionRequested {
        role: Role,
    },
    PermissionResolved {
        role: Role,
    },
    AgentExited {
        role: Role,
        code: Option<i32>,
    },
    /// The daemon or the human moves the task (start, prepared, pause, resume, cancel, fail).
    Control {
        event: LifecycleEvent,
    },
    /// The human answers the open question (or lets a stuck pair go on).
    HumanAnswered {
        text: String,
    },
    /// The human says something to one agent.
    HumanSays {
        to: Role,
        text: String,
    },
    /// duet itself tells one agent something (a CI result): queued like any message.
    DuetSays {
        to: Role,
        text: String,
    },
    /// The seat hit a usage limit: messages to it are held (accepted, not handed over).
    SeatParked {
        role: Role,
    },
    /// The seat's limit has reset: duet tells it `text` (go on) and hands over what was held,
    /// together; nothing if it was not parked.
    SeatUnparked {
        role: Role,
        text: String,
    },
    /// The CI rules (`protocol::ci`) found a loop or no progress: the task needs the human.
    CiNeedsHuman {
        reason: String,
    },
    /// A check (CI, the task's proof) finished on the task branch; repeated failures of the
    /// same check count towards a loop.
    CheckFinished {
        check: String,
        passed: bool,
    },
    /// Time passed: retry deliveries, check for stalls.
    Tick,
}

/// A fact to store (in order, before the reply that depends on it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum PairRecord {
    MessageAccepted {
        id: MessageId,
        from: Sender,
        to: Role,
        text: String,
    },
    MessageSuppressed {
        id: MessageId,
        reason: Suppression,
    },
    MessageSent {
        id: MessageId,
        attempt: u32,
        via: Handover,
    },
    MessageDelivered {
        id: MessageId,
    },
    MessageFailed {
        id: MessageId,
    },
    ToolRefused {
        role: Role,
        refusal: Refusal,
    },
    ReviewRequested {
        round: u32,
        commit: String,
        summary: String,
    },
    ReviewSubmitted {
        round: u32,
        commit: String,
        verdict: Verdict,
        findings: Vec<Finding>,
        /// What the reviewer says it checked (commands run, files read).
        #[serde(default)]
        verified: Vec<String>,
        /// What the reviewer says it did not check.
        #[serde(default)]
        not_verified: Vec<String>,
    },
    DoneDeclared {
        commit: String,
        summary: String,
    },
    /// The worker asked for a review of its plan (PLAN.md's text).
    PlanReviewRequested {
        round: u32,
        summary: String,
        plan: String,
    },
    /// The reviewer's verdict on the plan (the plan it judged included).
    PlanReviewed {
        round: u32,
        verdict: Verdict,
        findings: Vec<Finding>,
        #[serde(default)]
        verified: Vec<String>,
        #[serde(default)]
        not_verified: Vec<String>,
        plan: String,
    },
    QuestionAsked {
        from: Role,
        question: String,
    },
    HumanAnswered {
        to: Role,
        text: String,
    },
    CommitSeen {
        commit: String,
    },
    AgentExited {
        role: Role,
        code: Option<i32>,
    },
    StallDetected {
        verdict: StallVerdict,
    },
    /// A tool call came again (a bridge retrying after a daemon died mid-call): it got its
    /// stored answer and was not applied again.
    CallRepeated {
        role: Role,
        tool: ToolName,
        call_id: CallId,
    },
}

/// What the edges must do, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum Effect {
    Record(PairRecord),
    /// Answer a tool call.
    Reply {
        call_id: Option<CallId>,
        result: Result<String, Refusal>,
    },
    /// Type these messages at `to`'s prompt as one turn.
    Deliver {
        to: Role,
        message_ids: Vec<MessageId>,
    },
    /// Answer the Stop hook `hook_id` with these messages (none: let the agent stop).
    HandOver {
        hook_id: String,
        to: Role,
        message_ids: Vec<MessageId>,
    },
    SetTaskState(TaskState),
    /// Tell the human and wait for an answer.
    AskHuman {
        asker: Sender,
        question: String,
    },
    /// A control event did not apply.
    Rejected(IllegalTransition),
}

impl PairState {
    pub fn new(
        task_id: impl Into<String>,
        base_commit: impl Into<String>,
        now: Timestamp,
        config: PairConfig,
    ) -> Self {
        let base_commit = base_commit.into();
        PairState {
            task_id: task_id.into(),
            task_state: TaskState::Queued,
            head_commit: base_commit.clone(),
            base_commit,
            worktree_clean: true,
            round: 0,
            last_review_request: None,
            review_pending: false,
            last_verdict: None,
            open_findings: Vec::new(),
            same_findings_rounds: 0,
            last_findings_fingerprint: Vec::new(),
            ping_pongs: 0,
            failing_check: None,
            last_progress: now,
            question_from: None,
            mailbox: Mailbox::default(),
            config,
            ci: super::ci::CiState::default(),
            answered_calls: super::calls::AnsweredCalls::default(),
            plan: super::plan::PlanState::default(),
            plan_on_branch: false,
        }
    }

    /// The review request still waiting for its verdict.
    pub fn pending_review(&self) -> Option<&ReviewRequest> {
        self.last_review_request
            .as_ref()
            .filter(|_| self.review_pending)
    }

    /// Whether `role`'s seat has a conversation to resume (its first prompt reached it); if not,
    /// its agent is started afresh and given the brief.
    pub fn conversation_started(&self, role: Role) -> bool {
        self.mailbox.conversation_started(role)
    }

    /// The stall signals of this pair at `now`.
    pub fn stall_signals(&self, now: Timestamp) -> StallSignals {
        let permission_waits = Role::BOTH
            .into_iter()
            .filter_map(|role| match self.mailbox.target(role) {
                TargetStatus::WaitingPermission { since } => Some((role, since)),
                _ => None,
            })
            .collect();
        StallSignals {
            now,
            last_progress: self.last_progress,
            permission_waits,
            same_findings_rounds: self.same_findings_rounds,
            ping_pongs: self.ping_pongs,
            failing_check: self.failing_check.clone(),
        }
    }

    /// The answer to `task_status`.
    pub fn status_text(&self) -> String {
        let mut lines = vec![format!("task {} is {}", self.task_id, self.task_state)];
        lines.push(format!(
            "round {} of {}; HEAD {}{}",
            self.round,
            self.config.limits.max_rounds,
            short_commit(&self.head_commit),
            if self.worktree_clean {
                ""
            } else {
                " with uncommitted changes"
            }
        ));
        if self.config.review.plan {
            lines.push(if self.plan.approved {
                "plan approved".to_owned()
            } else if self.plan.pending {
                format!(
                    "plan review {} requested, waiting for the verdict",
                    self.plan.rounds
                )
            } else {
                "plan not yet approved: write PLAN.md and call request_plan_review".to_owned()
            });
        }
        if let Some(request) = self.pending_review() {
            lines.push(format!(
                "review of {} requested, waiting for the verdict",
                short_commit(&request.commit)
            ));
        }
        if let Some(verdict) = &self.last_verdict {
            lines.push(format!(
                "last verdict: {} on {}",
                verdict.verdict,
                short_commit(&verdict.commit)
            ));
        }
        for (index, finding) in self.open_findings.iter().enumerate() {
            lines.push(format!("open finding {}: {finding}", index + 1));
        }
        let waiting = self.mailbox.undelivered().count();
        if waiting > 0 {
            lines.push(format!("{waiting} message(s) not yet delivered"));
        }
        lines.join("\n")
    }
}

/// Apply `event` at time `now`; returns the effects to carry out, in order.
pub fn handle(state: &mut PairState, event: PairEvent, now: Timestamp) -> Vec<Effect> {
    let mut fx = Vec::new();
    match event {
        PairEvent::ToolCalled {
            call_id,
            role,
            call,
        } => super::calls::on_tool_called(state, &mut fx, call_id, role, call, now),
        PairEvent::CommitSeen { commit } => {
            state.last_progress = now;
            if commit != state.head_commit {
                state.head_commit = commit.clone();
                state.ping_pongs = 0;
                fx.push(Effect::Record(PairRecord::CommitSeen { commit }));
            }
        }
        PairEvent::WorktreeChanged { clean } => {
            state.last_progress = now;
            state.worktree_clean = clean;
        }
        PairEvent::PlanOnBranch { on_branch } => state.plan_on_branch = on_branch,
        PairEvent::AgentStarted { role } => state.mailbox.on_start(role),
        PairEvent::Launched { role, first_prompt } => {
            let queued = state
                .mailbox
                .on_launched(role, first_prompt, now, &state.config.delivery);
            if let Some((id, _)) = queued {
                let text = state.mailbox.get(id).map(|e| e.text.clone());
                fx.push(Effect::Record(PairRecord::MessageAccepted {
                    id,
                    from: Sender::Duet,
                    to: role,
                    text: text.unwrap_or_default(),
                }));
            }
        }
        PairEvent::TurnStarted { role, carried } => {
            state.last_progress = now;
            for id in state.mailbox.on_turn_started(role, &carried, now) {
                fx.push(Effect::Record(PairRecord::MessageDelivered { id }));
            }
            // A seat that takes messages mid-turn gets what waited for its turn to start.
            dispatch(state, &mut fx, now);
        }
        PairEvent::TurnEnded { role } => {
            state.last_progress = now;
            state.mailbox.on_turn_ended(role, now);
            dispatch(state, &mut fx, now);
        }
        PairEvent::StopHook { role, hook_id } => {
            state.last_progress = now;
            let message_ids = if state.task_state.phase().is_some() {
                let batch = state.mailbox.on_stop_hook(role, now);
                record_sent(state, &mut fx, &batch);
                batch.message_ids
            } else {
                state.mailbox.on_turn_ended(role, now);
                Vec::new()
            };
            fx.push(Effect::HandOver {
                hook_id,
                to: role,
                message_ids,
            });
        }
        PairEvent::Activity { .. } => state.last_progress = now,
        PairEvent::PermissionRequested { role } => state.mailbox.on_permission_wait(role, now),
        PairEvent::PermissionResolved { role } => {
            state.last_progress = now;
            state.mailbox.on_permission_resolved(role);
        }
        PairEvent::AgentExited { role, code } => {
            state.mailbox.on_exit(role);
            fx.push(Effect::Record(PairRecord::AgentExited { role, code }));
            let code = code.map_or_else(
                || "no exit code".to_owned(),
                |code| format!("exit code {code}"),
            );
            escalate(
                state,
                &mut fx,
                format!("the {role} exited ({code})"),
                Sender::Duet,
            );
        }
        PairEvent::Control { event } => match transition(&state.task_state, &event) {
            Ok(next) => {
                state.last_progress = now;
                set_state(state, &mut fx, next);
                dispatch(state, &mut fx, now);
            }
            Err(illegal) => fx.push(Effect::Rejected(illegal)),
        },
        PairEvent::HumanAnswered { text } => on_human_answer(state, &mut fx, text, now),
        PairEvent::HumanSays { to, text } => {
            enqueue(state, &mut fx, Sender::Human, to, text, now);
            dispatch(state, &mut fx, now);
        }
        PairEvent::DuetSays { to, text } => {
            enqueue(state, &mut fx, Sender::Duet, to, text, now);
            dispatch(state, &mut fx, now);
        }
        PairEvent::SeatParked { role } => {
            state.mailbox.park(role);
        }
        PairEvent::SeatUnparked { role, text } => {
            if state.mailbox.unpark(role) {
                state.last_progress = now;
                enqueue(state, &mut fx, Sender::Duet, role, text, now);
                dispatch(state, &mut fx, now);
            }
        }
        PairEvent::CiNeedsHuman { reason } => escalate(state, &mut fx, reason, Sender::Duet),
        PairEvent::CheckFinished { check, passed } => {
            count_check_failures(state, check, passed);
            check_stall(state, &mut fx, now);
        }
        PairEvent::Tick => {
            if state.task_state.phase().is_some() {
                let outcome = state.mailbox.on_tick(now, &state.config.delivery);
                for id in &outcome.failed {
                    fx.push(Effect::Record(PairRecord::MessageFailed { id: *id }));
                }
                for batch in &outcome.batches {
                    push_batch(state, &mut fx, batch);
                }
                if let Some(id) = outcome.failed.first() {
                    let attempts = state.config.delivery.max_attempts;
                    let to = state
                        .mailbox
                        .get(*id)
                        .map_or(Role::Worker, |envelope| envelope.to);
                    let reason =
                        format!("message {id} to the {to} was not taken after {attempts} attempts");
                    escalate(state, &mut fx, reason, Sender::Duet);
                }
            }
            check_stall(state, &mut fx, now);
        }
    }
    fx
}

fn count_check_failures(state: &mut PairState, check: String, passed: bool) {
    let same = state
        .failing_check
        .as_ref()
        .is_some_and(|(name, _)| *name == check);
    state.failing_check = match (passed, same, state.failing_check.take()) {
        (true, true, _) => None,
        (true, false, other) => other,
        (false, true, Some((name, times))) => Some((name, times + 1)),
        (false, _, _) => Some((check, 1)),
    };
}

fn on_human_answer(state: &mut PairState, fx: &mut Vec<Effect>, text: String, now: Timestamp) {
    if let Err(illegal) = transition(&state.task_state, &LifecycleEvent::HumanAnswered) {
        fx.push(Effect::Rejected(illegal));
        return;
    }
    let to = state.question_from.take().unwrap_or(Role::Worker);
    fx.push(Effect::Record(PairRecord::HumanAnswered {
        to,
        text: text.clone(),
    }));
    enqueue(state, fx, Sender::Human, to, text, now);
    apply(state, fx, LifecycleEvent::HumanAnswered);
    // The human has looked: loop counters and timers start over.
    state.last_progress = now;
    state.same_findings_rounds = 0;
    state.ping_pongs = 0;
    state.failing_check = None;
    for role in Role::BOTH {
        if let TargetStatus::WaitingPermission { .. } = state.mailbox.target(role) {
            state.mailbox.on_permission_wait(role, now);
        }
    }
    dispatch(state, fx, now);
}

/// Store a message; records it, and its suppression if any.
pub(super) fn enqueue(
    state: &mut PairState,
    fx: &mut Vec<Effect>,
    from: Sender,
    to: Role,
    text: String,
    now: Timestamp,
) -> (MessageId, DeliveryStatus) {
    let (id, status) = state
        .mailbox
        .accept(from, to, text.clone(), now, &state.config.delivery);
    fx.push(Effect::Record(PairRecord::MessageAccepted {
        id,
        from,
        to,
        text,
    }));
    if let DeliveryStatus::Suppressed { reason } = status {
        fx.push(Effect::Record(PairRecord::MessageSuppressed { id, reason }));
    }
    for older in state.mailbox.superseded_by(id) {
        fx.push(Effect::Record(PairRecord::MessageSuppressed {
            id: older,
            reason: Suppression::Superseded { by: id },
        }));
    }
    (id, status)
}

/// Hand pending messages to idle targets, while the pair runs.
pub(super) fn dispatch(state: &mut PairState, fx: &mut Vec<Effect>, now: Timestamp) {
    if state.task_state.phase().is_none() {
        return;
    }
    for role in Role::BOTH {
        if let Some(batch) = state.mailbox.dispatch(role, now) {
            push_batch(state, fx, &batch);
        }
    }
}

fn record_sent(state: &PairState, fx: &mut Vec<Effect>, batch: &Batch) {
    for id in &batch.message_ids {
        let attempt = state
            .mailbox
            .get(*id)
            .map_or(1, |envelope| envelope.attempts);
        fx.push(Effect::Record(PairRecord::MessageSent {
            id: *id,
            attempt,
            via: batch.via,
        }));
    }
}

fn push_batch(state: &PairState, fx: &mut Vec<Effect>, batch: &Batch) {
    record_sent(state, fx, batch);
    fx.push(Effect::Deliver {
        to: batch.to,
        message_ids: batch.message_ids.clone(),
    });
}

fn set_state(state: &mut PairState, fx: &mut Vec<Effect>, next: TaskState) {
    state.task_state = next.clone();
    fx.push(Effect::SetTaskState(next));
}

/// Apply a lifecycle event the protocol has already checked.
pub(super) fn apply(state: &mut PairState, fx: &mut Vec<Effect>, event: LifecycleEvent) {
    match transition(&state.task_state, &event) {
        Ok(next) => set_state(state, fx, next),
        Err(illegal) => fx.push(Effect::Rejected(illegal)),
    }
}

/// Stop a running pair for the human; nothing to do if the pair is not running.
pub(super) fn escalate(state: &mut PairState, fx: &mut Vec<Effect>, reason: String, asker: Sender) {
    let event = LifecycleEvent::Escalate {
        reason: reason.clone(),
    };
    if let Ok(next) = transition(&state.task_state, &event) {
        set_state(state, fx, next);
        fx.push(Effect::AskHuman {
            asker,
            question: reason,
        });
    }
}

pub(super) fn check_stall(state: &mut PairState, fx: &mut Vec<Effect>, now: Timestamp) {
    if state.task_state.phase().is_none() {
        return;
    }
    let verdict = assess(&state.stall_signals(now), &state.config.stall);
    if let Some(summary) = verdict.summary() {
        fx.push(Effect::Record(PairRecord::StallDetected { verdict }));
        escalate(
            state,
            fx,
            format!("the pair looks stuck: {summary}"),
            Sender::Duet,
        );
    }
}
