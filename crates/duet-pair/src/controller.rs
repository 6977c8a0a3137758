//! The pair controller's decisions: control-socket requests and hook payloads in, the pure
//! protocol (`duet_core::protocol::handle`) in the middle, IO actions out. No IO here, so every
//! rule is tested without tmux, git or a database.

use duet_agents::{AgentSignal, parse_claude_hook, parse_codex_notify};
use duet_core::config::AgentKind;
use duet_core::lifecycle::{LifecycleEvent, TaskState};
use duet_core::protocol::delivery::{DeliveryStatus, Handover, TargetStatus};
use duet_core::protocol::{
    CallId, Effect, MessageId, PairEvent, PairState, Role, Sender, Timestamp, handle,
};
use duet_core::wire::{BRIEF_MARKER, HOOK_REQUEST_ID_FIELD, MESSAGE_MARKER_PREFIX};
use duet_proto::{
    ErrorKind, HookSource, PROTOCOL_VERSION, Request, RequestBody, Response, ResponseBody,
};
use duet_store::Event;

use crate::records::record_to_event;
use crate::render::{carried_ids, render_batch};

/// Identifies one open connection on the control socket, so an answer finds its caller.
pub type ConnId = u64;

/// What the runner must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Answer the caller on connection `conn`.
    Respond { conn: ConnId, response: Response },
    /// Type `text` at `role`'s prompt; it carries messages `ids`.
    Deliver {
        role: Role,
        text: String,
        ids: Vec<MessageId>,
    },
    /// Append an event about this task to the store (before any answer that follows it).
    Store(Event),
    /// The task moved to a new state.
    StateChanged(TaskState),
    /// Tell the human: a question, a stall, an escalation.
    AskHuman { from: Sender, question: String },
    /// The human asked the controller to stop.
    Stop { stop_agents: bool },
}

/// What the runner read from git about the task's worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitFacts {
    pub head: String,
    pub clean: bool,
    /// HEAD's diff against the base adds or changes PLAN.md (read for plan tasks only).
    pub plan_on_branch: bool,
}

/// One seat of the pair: its agent and what duet knows of its process and session.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Seat {
    pub role: Role,
    pub kind: AgentKind,
    pub profile: String,
    pub token: String,
    /// claude's session id (chosen by duet) or codex's thread id (learnt from notify).
    pub session_id: Option<String>,
    pub pid: Option<u32>,
    /// Messages handed over at claude's Stop hook, confirmed by its next sign of life.
    #[serde(default)]
    handed_over_at_stop: Vec<MessageId>,
    /// The last hooks answered (their `duet_request_id` and the answer's stdout), so a hook
    /// sent again after a daemon died mid-request gets the same answer and changes nothing.
    #[serde(default)]
    answered_hooks: Vec<(String, Option<String>)>,
    /// The agent listed duet's tools (its `duet mcp` saw `tools/list`). Until then the agent
    /// cannot call duet's tools, so nothing is handed to it (snapshots from before this field:
    /// ready).
    #[serde(default = "ready_by_default")]
    pub bridge_ready: bool,
    /// When the agent became idle while its bridge was not ready yet.
    #[serde(default)]
    idle_before_bridge: Option<Timestamp>,
}

fn ready_by_default() -> bool {
    true
}

/// How long an idle agent whose bridge never reported ready is waited for before messages
/// are handed to it anyway (an agent whose MCP server failed still gets typed to).
const BRIDGE_READY_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

impl Seat {
    pub fn new(
        role: Role,
        kind: AgentKind,
        profile: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        Seat {
            role,
            kind,
            profile: profile.into(),
            token: token.into(),
            session_id: None,
            pid: None,
            handed_over_at_stop: Vec::new(),
            answered_hooks: Vec::new(),
            bridge_ready: false,
            idle_before_bridge: None,
        }
    }
}

/// The decisions of one pair.
#[derive(Debug)]
pub struct Controller {
    pub state: PairState,
    pub seats: [Seat; 2],
}

/// Text that only duet's own prompts and messages carry: a codex turn with it is the pair's
/// thread, not the TUI's hidden title thread.
const OWN_TEXT_MARKERS: [&str; 2] = [MESSAGE_MARKER_PREFIX, BRIEF_MARKER];

/// How many answered hooks a seat remembers (hooks of one agent run one at a time).
const ANSWERED_HOOKS_KEPT: usize = 16;

impl Controller {
    pub fn new(state: PairState, worker: Seat, reviewer: Seat) -> Self {
        Controller {
            state,
            seats: [worker, reviewer],
        }
    }

    pub fn seat(&self, role: Role) -> &Seat {
        &self.seats[role_index(role)]
    }

    fn seat_mut(&mut self, role: Role) -> &mut Seat {
        &mut self.seats[role_index(role)]
    }

    /// The task is starting: queued → preparing → working.
    pub fn start(&mut self, now: Timestamp) -> Vec<Action> {
        let mut actions = Vec::new();
        for event in [LifecycleEvent::Start, LifecycleEvent::Prepared] {
            if self.state.task_state != TaskState::Queued
                && self.state.task_state != TaskState::Preparing
            {
                break;
            }
            actions.extend(self.apply(PairEvent::Control { event }, now, None));
        }
        actions
    }

    /// Time passed: retries and stall checks.
    pub fn on_tick(&mut self, git: Option<&GitFacts>, now: Timestamp) -> Vec<Action> {
        let mut actions = self.refresh_git(git, now);
        for role in [Role::Worker, Role::Reviewer] {
            let seat = self.seat(role);
            if !seat.bridge_ready
                && seat
                    .idle_before_bridge
                    .is_some_and(|since| now.since(since) >= BRIDGE_READY_GRACE)
            {
                let note = format!(
                    "the {role} has not listed duet's tools after {}s (its `duet mcp` never saw \
                     tools/list); handing messages over anyway, it may be unable to call duet's tools",
                    BRIDGE_READY_GRACE.as_secs()
                );
                tracing::warn!("{note}");
                actions.push(Action::Store(Event::Note { text: note }));
                actions.extend(self.bridge_ready(role, now));
            }
        }
        actions.extend(self.apply(PairEvent::Tick, now, None));
        actions
    }

    /// The runner saw `role` start a turn with the messages it typed (codex: the pane shows it
    /// working after the text was entered).
    pub fn on_turn_seen(&mut self, role: Role, ids: Vec<MessageId>, now: Timestamp) -> Vec<Action> {
        // The pane is read aside and its report can come late: after the turn's own end
        // (codex notify) was handled, the messages are delivered already and the agent is idle.
        // Taking the late report as a turn start would leave the agent busy for good.
        let still_sent = ids.iter().any(|id| {
            self.state.mailbox.get(*id).is_some_and(|e| {
                matches!(e.status, duet_core::protocol::DeliveryStatus::Sent { .. })
            })
        });
        if !still_sent {
            return Vec::new();
        }
        self.apply(PairEvent::TurnStarted { role, carried: ids }, now, None)
    }

    /// The runner saw `role` at rest at its prompt although no hook said its turn ended (a new
    /// or resumed agent, or a turn end missed while no daemon listened): it is idle. Until its
    /// bridge is ready, that is only noted: nothing is handed to it before its tools are listed.
    pub fn on_agent_idle(&mut self, role: Role, now: Timestamp) -> Vec<Action> {
        if !self.seat(role).bridge_ready {
            self.seat_mut(role).idle_before_bridge = Some(now);
            return Vec::new();
        }
        self.apply(PairEvent::TurnEnded { role }, now, None)
    }

    /// The runner launched a new process in `role`'s seat (its pane command was built with
    /// [`Controller::resume_session`]). It has not listed duet's tools yet, so nothing is handed
    /// to it until it has; with `first_prompt` (a new conversation) the task brief is queued to
    /// be its first hand-over.
    pub fn launched(
        &mut self,
        role: Role,
        first_prompt: Option<String>,
        now: Timestamp,
    ) -> Vec<Action> {
        let seat = self.seat_mut(role);
        seat.bridge_ready = false;
        seat.idle_before_bridge = None;
        seat.handed_over_at_stop.clear();
        self.apply(PairEvent::Launched { role, first_prompt }, now, None)
    }

    /// The conversation `role`'s next process continues: its session id, once its first prompt
    /// reached it (a seat whose brief was never taken has nothing to resume and starts afresh).
    pub fn resume_session(&self, role: Role) -> Option<String> {
        if !self.state.conversation_started(role) {
            return None;
        }
        self.seat(role).session_id.clone()
    }

    /// Whether `role` is known to be at its prompt (or gone).
    pub fn is_idle(&self, role: Role) -> bool {
        matches!(
            self.state.mailbox.target(role),
            TargetStatus::Idle { .. } | TargetStatus::Exited
        )
    }

    /// Messages to `role` waiting to be handed over.
    pub fn has_pending(&self, role: Role) -> bool {
        self.state
            .mailbox
            .envelopes
            .iter()
            .any(|e| e.to == role && e.status == duet_core::protocol::DeliveryStatus::Pending)
    }

    /// One request from the control socket. Always produces exactly one `Respond` for `conn`.
    pub fn on_request(
        &mut self,
        conn: ConnId,
        request: Request,
        git: Option<&GitFacts>,
        now: Timestamp,
    ) -> Vec<Action> {
        if request.version != PROTOCOL_VERSION {
            let message = format!(
                "protocol version {} is not supported (this duet speaks {PROTOCOL_VERSION})",
                request.version
            );
            return vec![respond(
                conn,
                Response::error(ErrorKind::VersionMismatch, message),
            )];
        }
        let mut actions = Vec::new();
        if request.body.is_agent_request() {
            let Some(role) = request
                .token
                .as_deref()
                .and_then(|t| self.role_for_token(t))
            else {
                return vec![respond(
                    conn,
                    Response::error(ErrorKind::Unauthorized, "unknown or missing agent token"),
                )];
            };
            actions.extend(self.refresh_git(git, now));
            actions.extend(self.agent_request(conn, role, request.call_id, request.body, now));
        } else {
            actions.extend(self.human_request(conn, request.body, now));
        }
        if !actions
            .iter()
            .any(|a| matches!(a, Action::Respond { conn: c, .. } if *c == conn))
        {
            actions.push(respond(conn, Response::ok(ResponseBody::Ack)));
        }
        actions
    }

    fn role_for_token(&self, token: &str) -> Option<Role> {
        self.seats
            .iter()
            .find(|s| !s.token.is_empty() && s.token == token)
            .map(|s| s.role)
    }

    fn refresh_git(&mut self, git: Option<&GitFacts>, now: Timestamp) -> Vec<Action> {
        let Some(git) = git else { return Vec::new() };
        let mut actions = Vec::new();
        if git.head != self.state.head_commit {
            actions.extend(self.apply(
                PairEvent::CommitSeen {
                    commit: git.head.clone(),
                },
                now,
                None,
            ));
        }
        if git.clean != self.state.worktree_clean {
            actions.extend(self.apply(PairEvent::WorktreeChanged { clean: git.clean }, now, None));
        }
        if git.plan_on_branch != self.state.plan_on_branch {
            let on_branch = git.plan_on_branch;
            actions.extend(self.apply(PairEvent::PlanOnBranch { on_branch }, now, None));
        }
        actions
    }

    fn agent_request(
        &mut self,
        conn: ConnId,
        role: Role,
        call_id: Option<CallId>,
        body: RequestBody,
        now: Timestamp,
    ) -> Vec<Action> {
        match body {
            RequestBody::ToolCall { call } => {
                let mut actions = self.confirm_typed_turn(role, now);
                actions.extend(self.apply(
                    PairEvent::ToolCalled {
                        // The bridge's id, the same on each retry: the protocol applies the
                        // call once and answers a repeat from its record.
                        call_id,
                        role,
                        call,
                    },
                    now,
                    Some(conn),
                ));
                actions
            }
            RequestBody::ProcessStarted { pid } => {
                let seat = self.seat_mut(role);
                if seat.pid == Some(pid) {
                    // The wrapper's retry of a report whose answer was late: taken once.
                    return Vec::new();
                }
                seat.pid = Some(pid);
                let launched = Event::AgentLaunched {
                    role: role.to_string(),
                    agent: seat.profile.clone(),
                    session_id: seat.session_id.clone(),
                };
                let mut actions = vec![Action::Store(launched)];
                actions.extend(self.apply(PairEvent::AgentStarted { role }, now, None));
                actions
            }
            RequestBody::ProcessExited { code, signal } => {
                self.seat_mut(role).pid = None;
                let code = code.or(signal.map(|s| 128 + s));
                self.apply(PairEvent::AgentExited { role, code }, now, None)
            }
            RequestBody::Hook { source, payload } => self.hook(conn, role, source, &payload, now),
            RequestBody::BridgeReady => self.bridge_ready(role, now),
            _ => unreachable!("only agent requests reach agent_request"),
        }
    }

    /// A hook, once: a retried one (same request id) gets the first answer again.
    fn hook(
        &mut self,
        conn: ConnId,
        role: Role,
        source: HookSource,
        payload: &serde_json::Value,
        now: Timestamp,
    ) -> Vec<Action> {
        let request_id = payload
            .get(HOOK_REQUEST_ID_FIELD)
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        if let Some(id) = &request_id
            && let Some((_, stdout)) = self.seat(role).answered_hooks.iter().find(|(i, _)| i == id)
        {
            let stdout = stdout.clone();
            return vec![respond(
                conn,
                Response::ok(ResponseBody::HookReply { stdout }),
            )];
        }
        let actions = self.hook_once(conn, role, source, payload, now);
        if let Some(id) = request_id {
            let stdout = actions.iter().find_map(|a| match a {
                Action::Respond {
                    conn: c,
                    response:
                        Response::Ok {
                            body: ResponseBody::HookReply { stdout },
                        },
                } if *c == conn => Some(stdout.clone()),
                _ => None,
            });
            let answered = &mut self.seat_mut(role).answered_hooks;
            answered.push((id, stdout.flatten()));
            if answered.len() > ANSWERED_HOOKS_KEPT {
                answered.remove(0);
            }
        }
        actions
    }

    fn hook_once(
        &mut self,
        conn: ConnId,
        role: Role,
        source: HookSource,
        payload: &serde_json::Value,
        now: Timestamp,
    ) -> Vec<Action> {
        let text = payload.to_string();
        let parsed = match source {
            HookSource::Claude => parse_claude_hook(&text),
            HookSource::Codex => parse_codex_notify(&text),
        };
        let event = match parsed {
            Ok(event) => event,
            Err(err) => {
                return vec![respond(
                    conn,
                    Response::error(ErrorKind::Malformed, err.to_string()),
                )];
            }
        };
        let mut actions = Vec::new();
        match event.signal {
            AgentSignal::SessionId(id) => self.seat_mut(role).session_id = Some(id),
            AgentSignal::TurnStarted { prompt } => {
                let mut carried = carried_ids(&prompt);
                carried.extend(std::mem::take(&mut self.seat_mut(role).handed_over_at_stop));
                actions.extend(self.apply(PairEvent::TurnStarted { role, carried }, now, None));
            }
            AgentSignal::StopHook { .. } if !self.seat(role).bridge_ready => {
                // Idle, but without duet's tools yet: hold what is pending until its bridge is up.
                actions.extend(self.confirm_stop_handover(role, now));
                self.seat_mut(role).idle_before_bridge = Some(now);
            }
            AgentSignal::StopHook { .. } => {
                actions.extend(self.confirm_stop_handover(role, now));
                actions.extend(self.apply(
                    PairEvent::StopHook {
                        role,
                        hook_id: conn.to_string(),
                    },
                    now,
                    Some(conn),
                ));
            }
            AgentSignal::Activity { .. } => {
                actions.extend(self.confirm_stop_handover(role, now));
                if matches!(
                    self.state.mailbox.target(role),
                    TargetStatus::WaitingPermission { .. }
                ) {
                    actions.extend(self.apply(PairEvent::PermissionResolved { role }, now, None));
                }
                actions.extend(self.apply(PairEvent::Activity { role }, now, None));
            }
            AgentSignal::PermissionRequested { .. } => {
                actions.extend(self.apply(PairEvent::PermissionRequested { role }, now, None));
            }
            AgentSignal::TurnEnded { input_messages, .. } => {
                // claude's StopFailure: a turn that began with a Stop-hook hand-over took it.
                actions.extend(self.confirm_stop_handover(role, now));
                let ours = input_messages
                    .iter()
                    .any(|m| OWN_TEXT_MARKERS.iter().any(|k| m.contains(k)));
                let seat = self.seat_mut(role);
                let same_thread = match (&seat.session_id, &event.session_id) {
                    (Some(known), Some(got)) => known == got,
                    _ => false,
                };
                if ours && seat.session_id.is_none() {
                    seat.session_id = event.session_id.clone();
                    // Known from now on, also to a `duet pair --resume` after a hard stop.
                    if let Some(id) = &event.session_id {
                        actions.push(Action::Store(Event::Note {
                            text: format!("session {role} {id}"),
                        }));
                    }
                }
                // codex's hidden title turn runs in another thread: it says nothing about the pair.
                if ours || same_thread {
                    let carried: Vec<MessageId> =
                        input_messages.iter().flat_map(|m| carried_ids(m)).collect();
                    if !carried.is_empty() {
                        actions.extend(self.apply(
                            PairEvent::TurnStarted { role, carried },
                            now,
                            None,
                        ));
                    }
                    if self.seat(role).bridge_ready {
                        actions.extend(self.apply(PairEvent::TurnEnded { role }, now, None));
                    } else {
                        self.seat_mut(role).idle_before_bridge = Some(now);
                    }
                }
            }
            AgentSignal::Idle
            | AgentSignal::SessionEnded { .. }
            | AgentSignal::Unrecognized { .. } => {}
        }
        if !actions
            .iter()
            .any(|a| matches!(a, Action::Respond { conn: c, .. } if *c == conn))
        {
            actions.push(respond(
                conn,
                Response::ok(ResponseBody::HookReply { stdout: None }),
            ));
        }
        actions
    }

    /// A bridge call from an agent duet typed to (only ever when it was idle) comes from the
    /// turn that the typed text started: those messages are delivered, also when the call ends
    /// the pair before the turn's own signal (codex's notify, its pane) arrives.
    fn confirm_typed_turn(&mut self, role: Role, now: Timestamp) -> Vec<Action> {
        if !matches!(
            self.state.mailbox.target(role),
            TargetStatus::Prompted { .. }
        ) {
            return Vec::new();
        }
        let carried = self.state.mailbox.ids_to(role, |status| {
            matches!(
                status,
                DeliveryStatus::Sent {
                    via: Handover::Prompt,
                    ..
                }
            )
        });
        if carried.is_empty() {
            return Vec::new();
        }
        self.apply(PairEvent::TurnStarted { role, carried }, now, None)
    }

    /// A CI result for the worker (`protocol::ci`): queued, typed when it is idle, kept in the
    /// mailbox (and the snapshot) while the pair is down.
    pub fn ci_message(&mut self, text: String, now: Timestamp) -> Vec<Action> {
        self.apply(
            PairEvent::DuetSays {
                to: Role::Worker,
                text,
            },
            now,
            None,
        )
    }

    /// Files changed in the worktree (duet-ci's activity watcher): progress, for stall detection.
    pub fn on_file_activity(&mut self, now: Timestamp) -> Vec<Action> {
        self.apply(PairEvent::Activity { role: Role::Worker }, now, None)
    }

    /// duet tells `role` something of its own (a resumed agent is told to go on): queued like
    /// any message, so it too waits until the agent is idle with duet's tools listed.
    pub fn duet_says(&mut self, role: Role, text: String, now: Timestamp) -> Vec<Action> {
        self.apply(PairEvent::DuetSays { to: role, text }, now, None)
    }

    /// `role` hit a usage limit: messages to it are held in its mailbox until [`Self::unpark`].
    pub fn park(&mut self, role: Role, now: Timestamp) -> Vec<Action> {
        self.apply(PairEvent::SeatParked { role }, now, None)
    }

    /// `role`'s usage limit has reset: it is told `text` together with what was held. Nothing
    /// if it was not parked (an engine restarted after the unpark asks again).
    pub fn unpark(&mut self, role: Role, text: String, now: Timestamp) -> Vec<Action> {
        self.apply(PairEvent::SeatUnparked { role, text }, now, None)
    }

    /// Whether `role` is parked.
    pub fn is_parked(&self, role: Role) -> bool {
        self.state.mailbox.is_parked(role)
    }

    /// The CI rules found a loop or no progress: the task goes to the human.
    pub fn ci_needs_human(&mut self, reason: String, now: Timestamp) -> Vec<Action> {
        self.apply(PairEvent::CiNeedsHuman { reason }, now, None)
    }

    /// The agent's bridge is up: if it already sat idle at its prompt, it is idle now.
    fn bridge_ready(&mut self, role: Role, now: Timestamp) -> Vec<Action> {
        let seat = self.seat_mut(role);
        seat.bridge_ready = true;
        match seat.idle_before_bridge.take() {
            Some(_) => self.apply(PairEvent::TurnEnded { role }, now, None),
            None => Vec::new(),
        }
    }

    /// claude went on after a Stop-hook hand-over: the messages it was handed are delivered.
    fn confirm_stop_handover(&mut self, role: Role, now: Timestamp) -> Vec<Action> {
        let carried = std::mem::take(&mut self.seat_mut(role).handed_over_at_stop);
        if carried.is_empty() {
            return Vec::new();
        }
        self.apply(PairEvent::TurnStarted { role, carried }, now, None)
    }

    fn human_request(&mut self, conn: ConnId, body: RequestBody, now: Timestamp) -> Vec<Action> {
        let task_matches = |task: &str, state: &PairState| task == state.task_id;
        let unknown = |task: &str| {
            respond(
                conn,
                Response::error(ErrorKind::UnknownTask, format!("unknown task `{task}`")),
            )
        };
        match body {
            RequestBody::Status { task } => {
                if let Some(task) = task.filter(|t| !task_matches(t, &self.state)) {
                    return vec![unknown(&task)];
                }
                vec![respond(
                    conn,
                    Response::ok(ResponseBody::Status {
                        status: duet_proto::status::StatusSnapshot::new(
                            0,
                            true,
                            vec![self.task_status()],
                        ),
                    }),
                )]
            }
            RequestBody::Say { task, to, text } => {
                if !task_matches(&task, &self.state) {
                    return vec![unknown(&task)];
                }
                self.apply(
                    PairEvent::HumanSays {
                        to: to.unwrap_or(Role::Worker),
                        text,
                    },
                    now,
                    Some(conn),
                )
            }
            RequestBody::Answer { task, text } => {
                if !task_matches(&task, &self.state) {
                    return vec![unknown(&task)];
                }
                self.apply(PairEvent::HumanAnswered { text }, now, Some(conn))
            }
            RequestBody::Pause { task } => self.control(conn, &task, LifecycleEvent::Pause, now),
            RequestBody::Resume { task } => self.control(conn, &task, LifecycleEvent::Resume, now),
            RequestBody::Cancel { task } => self.control(conn, &task, LifecycleEvent::Cancel, now),
            RequestBody::Merge { .. } => vec![respond(
                conn,
                Response::error(ErrorKind::Unsupported, "this duet does not merge tasks yet"),
            )],
            // Reports are built by the engine, off its loop, from the store and git.
            RequestBody::Report { .. } => vec![respond(
                conn,
                Response::error(ErrorKind::Unsupported, "this duet does not build reports"),
            )],
            // The socket server streams status itself when it has a feed; this one has none.
            RequestBody::Subscribe { .. } => vec![respond(
                conn,
                Response::error(
                    ErrorKind::Unsupported,
                    "this duet does not stream status changes",
                ),
            )],
            RequestBody::Stop { stop_agents } => {
                vec![
                    respond(conn, Response::ok(ResponseBody::Ack)),
                    Action::Stop { stop_agents },
                ]
            }
            RequestBody::ToolCall { .. }
            | RequestBody::Hook { .. }
            | RequestBody::ProcessStarted { .. }
            | RequestBody::ProcessExited { .. }
            | RequestBody::BridgeReady => {
                unreachable!("agent requests never reach human_request")
            }
        }
    }

    /// A human's pause / resume / cancel.
    fn control(
        &mut self,
        conn: ConnId,
        task: &str,
        event: LifecycleEvent,
        now: Timestamp,
    ) -> Vec<Action> {
        if task != self.state.task_id {
            return vec![respond(
                conn,
                Response::error(ErrorKind::UnknownTask, format!("unknown task `{task}`")),
            )];
        }
        self.apply(PairEvent::Control { event }, now, Some(conn))
    }

    /// This pair's task in the typed status shape (`duet pair`'s answer to `status`).
    pub fn task_status(&self) -> duet_proto::status::TaskStatus {
        let seat = |role| {
            let seat = self.seat(role);
            (seat.profile.as_str(), seat.kind)
        };
        duet_proto::status::TaskStatus::from_pair(
            &self.state,
            seat(Role::Worker),
            seat(Role::Reviewer),
        )
    }

    /// Runs one event through the protocol and turns its effects into actions. `conn` is the
    /// caller whose request caused it (for refusals of control events).
    fn apply(&mut self, event: PairEvent, now: Timestamp, conn: Option<ConnId>) -> Vec<Action> {
        let before = self.state.task_state.clone();
        let effects = handle(&mut self.state, event, now);
        let mut actions = Vec::new();
        let mut previous = before;
        for effect in effects {
            match effect {
                Effect::Record(record) => {
                    actions.extend(record_to_event(&self.state.task_id, record).map(Action::Store))
                }
                Effect::Reply { result, .. } => {
                    let (text, is_error) = match result {
                        Ok(text) => (text, false),
                        Err(refusal) => (refusal.to_string(), true),
                    };
                    // Only a tool call is replied to, and it is applied for its caller.
                    if let Some(conn) = conn {
                        actions.push(respond(
                            conn,
                            Response::ok(ResponseBody::ToolResult { text, is_error }),
                        ));
                    }
                }
                Effect::Deliver { to, message_ids } => {
                    let text = self.batch_text(&message_ids);
                    actions.push(Action::Deliver {
                        role: to,
                        text,
                        ids: message_ids,
                    });
                }
                Effect::HandOver {
                    hook_id,
                    to,
                    message_ids,
                } => {
                    let stdout = (!message_ids.is_empty()).then(|| {
                        let reason = self.batch_text(&message_ids);
                        serde_json::json!({ "decision": "block", "reason": reason }).to_string()
                    });
                    self.seat_mut(to).handed_over_at_stop = message_ids;
                    if let Ok(conn) = hook_id.parse() {
                        actions.push(respond(
                            conn,
                            Response::ok(ResponseBody::HookReply { stdout }),
                        ));
                    }
                }
                Effect::SetTaskState(state) => {
                    let reason = match &state {
                        TaskState::NeedsHuman { reason, .. } | TaskState::Failed { reason } => {
                            Some(reason.clone())
                        }
                        _ => None,
                    };
                    actions.push(Action::Store(Event::TaskStateChanged {
                        from: previous.kind(),
                        to: state.kind(),
                        reason,
                    }));
                    previous = state.clone();
                    actions.push(Action::StateChanged(state));
                }
                Effect::AskHuman { asker, question } => actions.push(Action::AskHuman {
                    from: asker,
                    question,
                }),
                Effect::Rejected(illegal) => {
                    if let Some(conn) = conn {
                        actions.push(respond(
                            conn,
                            Response::error(ErrorKind::WrongState, illegal.to_string()),
                        ));
                    }
                }
            }
        }
        actions
    }

    fn batch_text(&self, ids: &[MessageId]) -> String {
        let envelopes: Vec<_> = ids
            .iter()
            .filter_map(|id| self.state.mailbox.get(*id))
            .collect();
        render_batch(&envelopes)
    }
}

fn respond(conn: ConnId, response: Response) -> Action {
    Action::Respond { conn, response }
}

fn role_index(role: Role) -> usize {
    match role {
        Role::Worker => 0,
        Role::Reviewer => 1,
    }
}

mod app_server;
pub use app_server::approval_answer;
