//! The actor of a codex seat on its app-server (`transport = "app-server"`): one thread that
//! connects to the seat's `codex app-server` (started by `duet codex-seat` in the pane), starts
//! or resumes its thread, hands messages over with `turn/start` (idle) or `turn/steer`
//! (mid-turn), and reports turns from notifications only (no pane is read).
//!
//! - Delivery is confirmed by the thread itself: the `userMessage` item codex takes in carries
//!   duet's message markers ([`crate::render::carried_ids`]), so a message counts as delivered
//!   once, whichever method brought it and whenever it is taken in.
//! - The connection breaking (the app-server or its pane restarted) is no loss: deliveries wait
//!   in the queue while the actor connects again, and `thread/resume` re-attaches to the same
//!   thread; the user messages already in it confirm what they carry, and what is left is
//!   handed over again by the protocol (`AtRest { attached: true }`).
//! - Approvals: codex's requests are not answered by duet's policy (a reviewer's thread never
//!   asks, `approvalPolicy: never`); each one is reported (`ApprovalAsked`, the task waits for a
//!   human) and kept until the human's `duet answer` (`AnswerApproval`) answers the oldest, or
//!   its turn or connection ends (codex drops it then).

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::Duration;

use duet_agents::codex_app_server::activity::{Delivery, ThreadActivity};
use duet_agents::codex_app_server::protocol::{
    ApprovalDecision, ApprovalPolicy, Notification, RequestId, SandboxMode, ServerRequest,
    ThreadResumeParams, ThreadStartParams,
};
use duet_agents::codex_app_server::{
    AppServerClient, AppServerErrorKind, Event, connect_unix, defer_all,
};
use duet_core::protocol::{MessageId, Role};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::agent_actor::{AgentControl, AgentHandle, AgentReport, QueuedCount};
use crate::render::carried_ids;

/// How long each request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Between connection attempts while the app-server is (re)starting (no event says it listens).
const RECONNECT_EVERY: Duration = Duration::from_millis(50);

/// Where a seat's app-server is and how its thread is set up.
#[derive(Debug, Clone)]
pub struct AppServerSeat {
    pub socket: PathBuf,
    /// Written (atomically) with the thread id once the thread has a turn, for the pane's TUI.
    pub thread_file: PathBuf,
    pub cwd: PathBuf,
    pub sandbox: SandboxMode,
    pub approval: ApprovalPolicy,
    /// The seat's thread, when it has one (resumed on connect).
    pub thread_id: Option<String>,
}

enum Input {
    Control(AgentControl),
    Event(Event),
    /// The loop's handle is gone: the actor ends.
    Gone,
}

/// Starts the actor for `role`'s seat; its handle is the same as a typing actor's.
pub fn spawn(role: Role, seat: AppServerSeat, reports: mpsc::Sender<AgentReport>) -> AgentHandle {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (handle, queued) = AgentHandle::from_channel(tx);
    let (input_tx, input_rx) = std_mpsc::channel();
    let alive = Arc::new(AtomicBool::new(true));
    {
        let (input_tx, alive) = (input_tx.clone(), alive.clone());
        std::thread::spawn(move || {
            while let Some(control) = rx.blocking_recv() {
                if input_tx.send(Input::Control(control)).is_err() {
                    return;
                }
            }
            alive.store(false, Ordering::Relaxed);
            let _ = input_tx.send(Input::Gone);
        });
    }
    std::thread::Builder::new()
        .name(format!("codex-{role}"))
        .spawn(move || {
            Actor {
                role,
                seat,
                reports,
                queued,
                input_tx,
                input_rx,
                alive,
                activity: ThreadActivity::default(),
                thread_file_written: false,
                approvals: VecDeque::new(),
                carried: HashSet::new(),
                in_flight: HashSet::new(),
            }
            .run();
        })
        .expect("spawn the app-server actor thread");
    handle
}

struct Actor {
    role: Role,
    seat: AppServerSeat,
    reports: mpsc::Sender<AgentReport>,
    queued: QueuedCount,
    input_tx: std_mpsc::Sender<Input>,
    input_rx: std_mpsc::Receiver<Input>,
    alive: Arc<AtomicBool>,
    activity: ThreadActivity,
    thread_file_written: bool,
    /// Approval requests codex waits on, oldest first: their id and what they ask.
    approvals: VecDeque<(RequestId, String)>,
    /// Messages the thread has (its user messages carried them).
    carried: HashSet<MessageId>,
    /// Messages handed over in the running turn (or for the next one) and not yet carried.
    /// A delivery of only carried or in-flight messages is not sent again: one queued while
    /// the connection was down and the same one requeued when it came back, or a retry while
    /// a steered message waits for the model request in flight, would reach codex twice.
    in_flight: HashSet<MessageId>,
}

impl Actor {
    fn run(mut self) {
        while let Some(client) = self.connect() {
            // A new connection may be a new pane process, which waits for the file again.
            self.thread_file_written = false;
            let Some(thread) = self.attach(&client) else {
                // The thread could not be opened: try again on a new connection.
                std::thread::sleep(RECONNECT_EVERY * 20);
                continue;
            };
            if !self.serve(&client, &thread) {
                return;
            }
            self.activity.forget(&thread);
            self.approvals.clear();
            // Handed over on the closed connection and not seen in the thread: may be lost.
            self.in_flight.clear();
            tracing::info!(
                "the {}'s app-server connection closed; connecting again",
                self.role
            );
        }
    }

    fn report(&self, report: AgentReport) {
        let _ = self.reports.blocking_send(report);
    }

    /// Connects (retrying while the app-server starts) and forwards its events to the input.
    fn connect(&self) -> Option<AppServerClient> {
        loop {
            if !self.alive.load(Ordering::Relaxed) {
                return None;
            }
            match connect_unix(&self.seat.socket, defer_all(), REQUEST_TIMEOUT) {
                Ok((client, events)) => {
                    let input = self.input_tx.clone();
                    std::thread::spawn(move || {
                        for event in events {
                            let closed = event == Event::Closed;
                            if input.send(Input::Event(event)).is_err() || closed {
                                return;
                            }
                        }
                    });
                    return Some(client);
                }
                Err(_) => std::thread::sleep(RECONNECT_EVERY),
            }
        }
    }

    /// Resumes the seat's thread or starts one; reports what it found.
    fn attach(&mut self, client: &AppServerClient) -> Option<String> {
        let role = self.role;
        if let Some(thread) = self.seat.thread_id.clone() {
            let resumed = client.thread_resume(&ThreadResumeParams {
                thread_id: thread.clone(),
                cwd: Some(self.seat.cwd.display().to_string()),
                approval_policy: Some(self.seat.approval),
                sandbox: Some(self.seat.sandbox),
            });
            match resumed {
                Ok(value) => {
                    self.take_resumed(&thread, &value);
                    return Some(thread);
                }
                Err(err) => {
                    tracing::warn!("failed to resume the {role}'s codex thread {thread}: {err}");
                    return None;
                }
            }
        }
        let started = client.thread_start(&ThreadStartParams {
            cwd: self.seat.cwd.display().to_string(),
            approval_policy: self.seat.approval,
            sandbox: self.seat.sandbox,
            developer_instructions: None,
        });
        match started {
            Ok(thread) => {
                self.seat.thread_id = Some(thread.clone());
                self.report(AgentReport::ThreadOpened {
                    role,
                    thread_id: thread.clone(),
                });
                self.report(AgentReport::AtRest {
                    role,
                    attached: true,
                });
                Some(thread)
            }
            Err(err) => {
                tracing::warn!("failed to start the {role}'s codex thread: {err}");
                None
            }
        }
    }

    /// A resumed thread: what its user messages carried is delivered; it is running or at rest.
    fn take_resumed(&mut self, thread: &str, value: &Value) {
        let turns = value["thread"]["turns"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !turns.is_empty() {
            self.write_thread_file(thread);
        }
        let mut carried = Vec::new();
        for turn in &turns {
            for item in turn["items"].as_array().into_iter().flatten() {
                if item["type"] == "userMessage" {
                    for part in item["content"].as_array().into_iter().flatten() {
                        carried.extend(part["text"].as_str().map(carried_ids).unwrap_or_default());
                    }
                }
            }
        }
        self.carried = carried.iter().copied().collect();
        let role = self.role;
        let running = turns
            .last()
            .filter(|turn| turn["status"] == "inProgress")
            .and_then(|turn| turn["id"].as_str());
        if let Some(turn_id) = running {
            self.activity.apply(&Notification::TurnStarted {
                thread_id: thread.to_owned(),
                turn: duet_agents::codex_app_server::protocol::Turn {
                    id: turn_id.to_owned(),
                    status: duet_agents::codex_app_server::protocol::TurnStatus::InProgress,
                    error: None,
                },
            });
        }
        if !carried.is_empty() || running.is_some() {
            self.report(AgentReport::TurnBegan { role, carried });
        }
        if running.is_none() {
            self.report(AgentReport::AtRest {
                role,
                attached: true,
            });
        }
    }

    /// Serves one connection until it closes (true: connect again) or the actor is gone.
    fn serve(&mut self, client: &AppServerClient, thread: &str) -> bool {
        let role = self.role;
        loop {
            let Ok(input) = self.input_rx.recv() else {
                return false;
            };
            match input {
                Input::Gone => return false,
                Input::Control(AgentControl::Deliver { text, ids }) => {
                    self.queued.fetch_sub(1, Ordering::Relaxed);
                    let taken = |id| self.carried.contains(id) || self.in_flight.contains(id);
                    if !ids.is_empty() && ids.iter().all(taken) {
                        tracing::debug!("{ids:?} are with the {role}'s codex already");
                        continue;
                    }
                    let hop = crate::agent_actor::hop_ids(&ids);
                    duet_proto::hop_log::mark("actor.take", format_args!("{role} {hop}"));
                    match self.deliver(client, thread, &text) {
                        Ok(how) => {
                            duet_proto::hop_log::mark(
                                "actor.typed",
                                format_args!("{role} {hop} {how}"),
                            );
                            self.in_flight.extend(ids.iter().copied());
                            self.report(AgentReport::HandedBy { role, ids, how });
                        }
                        Err(error) => {
                            tracing::warn!("failed to hand {ids:?} to the {role}: {error}");
                            self.report(AgentReport::DeliveryFailed { role, error });
                        }
                    }
                }
                Input::Control(AgentControl::AnswerApproval { accept }) => {
                    self.answer_approval(client, accept);
                }
                Input::Event(Event::Closed) => return true,
                Input::Event(Event::Notification(notification)) => {
                    if notification.thread_id() != Some(thread) {
                        continue;
                    }
                    self.activity.apply(&notification);
                    match notification {
                        Notification::ItemStarted { item, .. } if item.kind == "userMessage" => {
                            self.write_thread_file(thread);
                            let carried = item.text.as_deref().map(carried_ids).unwrap_or_default();
                            self.carried.extend(carried.iter().copied());
                            duet_proto::hop_log::mark(
                                "actor.turn_began",
                                format_args!("{role} {}", crate::agent_actor::hop_ids(&carried)),
                            );
                            self.report(AgentReport::TurnBegan { role, carried });
                        }
                        Notification::TurnCompleted { .. } => {
                            // What the turn asked died with it; what it never took in
                            // may go again.
                            self.approvals.clear();
                            self.in_flight.clear();
                            self.report(AgentReport::AtRest {
                                role,
                                attached: false,
                            });
                        }
                        _ => {}
                    }
                }
                Input::Event(Event::ServerRequest { id, request }) => {
                    let what = match &request {
                        ServerRequest::CommandApproval { command, .. } => {
                            format!("codex asks to run `{}`", command.as_deref().unwrap_or("?"))
                        }
                        ServerRequest::FileChangeApproval { .. } => {
                            "codex asks to change files".to_owned()
                        }
                        ServerRequest::Other { method, .. } => format!("codex asks {method}"),
                    };
                    self.approvals.push_back((id, what.clone()));
                    self.report(AgentReport::ApprovalAsked { role, what });
                }
                Input::Event(Event::Undecodable(text)) => {
                    tracing::debug!("undecodable app-server message: {text}");
                }
            }
        }
    }

    /// Answers the oldest approval codex waits on (none: it was already answered, or its turn
    /// ended).
    fn answer_approval(&mut self, client: &AppServerClient, accept: bool) {
        let role = self.role;
        let Some((id, what)) = self.approvals.pop_front() else {
            tracing::info!("the {role}'s codex waits for no approval; the answer is dropped");
            return;
        };
        let decision = if accept {
            ApprovalDecision::Accept
        } else {
            ApprovalDecision::Decline
        };
        match client.answer(&id, Ok(decision.to_result())) {
            Ok(()) => self.report(AgentReport::ApprovalAnswered { role, what, accept }),
            Err(err) => {
                // The connection is breaking: codex asks again on the resumed thread, or not.
                tracing::warn!("failed to answer the {role}'s approval ({what}): {err}");
            }
        }
    }

    /// `turn/start` when idle, `turn/steer` mid-turn (a steer refused because the turn has just
    /// ended becomes a start: never both, never neither).
    fn deliver(
        &mut self,
        client: &AppServerClient,
        thread: &str,
        text: &str,
    ) -> Result<&'static str, String> {
        let sent = match self.activity.delivery(thread) {
            Delivery::Start => client.turn_start(thread, text).map(|_| "turn/start"),
            Delivery::Steer { turn_id } => match client.turn_steer(thread, &turn_id, text) {
                Err(err) if matches!(err.kind, AppServerErrorKind::Rpc { .. }) => {
                    tracing::debug!("steer refused ({err}); starting a turn");
                    client
                        .turn_start(thread, text)
                        .map(|_| "turn/start after a refused steer")
                }
                other => other.map(|_| "turn/steer"),
            },
        };
        match sent {
            Ok(how) => {
                tracing::debug!("handed to the {} by {how}", self.role);
                Ok(how)
            }
            Err(err) => Err(err.to_string()),
        }
    }

    /// Tells the pane's `duet codex-seat` which thread its TUI opens (once per process).
    fn write_thread_file(&mut self, thread: &str) {
        if self.thread_file_written {
            return;
        }
        let tmp = self.seat.thread_file.with_extension("thread.tmp");
        let written = std::fs::write(&tmp, thread)
            .and_then(|()| std::fs::rename(&tmp, &self.seat.thread_file));
        match written {
            Ok(()) => self.thread_file_written = true,
            Err(err) => {
                tracing::warn!("failed to write {}: {err}", self.seat.thread_file.display())
            }
        }
    }
}
