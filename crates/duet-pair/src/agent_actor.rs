//! One actor per agent: it owns the agent's place in the runtime and types what the loop asks it to,
//! one delivery at a time, and reports back what it saw (watchexec's supervisor pattern:
//! a handle, a control enum, acknowledgements).

use std::time::{Duration, Instant};

use duet_core::config::AgentKind;
use duet_core::protocol::{MessageId, Role};
use tokio::sync::mpsc;

use crate::runtime::SharedRuntime;

/// What the loop can ask of an agent's actor.
#[derive(Debug)]
pub enum AgentControl {
    /// Type `text` at the agent's prompt; it carries `ids`.
    Deliver { text: String, ids: Vec<MessageId> },
    /// The human's answer to the approval codex waits for (an app-server seat only; a typing
    /// actor has none to answer).
    AnswerApproval { accept: bool },
}

/// What an actor tells the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentReport {
    /// The text was entered and the agent is visibly working on it (codex; claude's own
    /// UserPromptSubmit hook confirms claude's turns).
    TurnSeen { role: Role, ids: Vec<MessageId> },
    /// Typing failed; the messages stay unconfirmed and are retried by the protocol.
    DeliveryFailed { role: Role, error: String },
    /// An app-server seat (`crate::app_server_actor`) started or resumed its codex thread.
    ThreadOpened { role: Role, thread_id: String },
    /// An app-server seat's codex took in a user message (duet's, carrying `carried`, or one a
    /// human typed into the TUI): it is in a turn, and those messages are delivered.
    TurnBegan { role: Role, carried: Vec<MessageId> },
    /// An app-server seat's turn ended (completed, interrupted or failed), or its thread was
    /// found at rest after (re)attaching (`attached`: messages typed and never taken in go
    /// again).
    AtRest { role: Role, attached: bool },
    /// An app-server seat's codex asks for an approval duet's policy does not give.
    ApprovalAsked { role: Role, what: String },
    /// An app-server seat's pending approval was answered (`duet answer`): codex goes on.
    ApprovalAnswered {
        role: Role,
        what: String,
        accept: bool,
    },
    /// An app-server seat was handed `ids` by `how` (`turn/start` when idle, `turn/steer`
    /// mid-turn): stored as a note, so that the log says which.
    HandedBy {
        role: Role,
        ids: Vec<MessageId>,
        how: &'static str,
    },
}

/// The loop's handle on one agent's actor. Its queue is unbounded and accounted: a delivery the
/// protocol accepted is never dropped (the actor types one at a time, so the queue only grows
/// while tmux is slow, and `queued` says by how much).
#[derive(Debug, Clone)]
pub struct AgentHandle {
    tx: mpsc::UnboundedSender<AgentControl>,
    queued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl AgentHandle {
    /// Starts the actor for `role`'s agent in `pane`.
    pub fn spawn(
        role: Role,
        kind: AgentKind,
        pane: String,
        tmux: SharedRuntime,
        reports: mpsc::Sender<AgentReport>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        tokio::spawn(run(role, kind, pane, tmux, rx, reports, queued.clone()));
        AgentHandle { tx, queued }
    }

    /// A handle whose deliveries go to `tx` (another kind of actor reads them).
    pub(crate) fn from_channel(tx: mpsc::UnboundedSender<AgentControl>) -> (Self, QueuedCount) {
        let queued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (
            AgentHandle {
                tx,
                queued: queued.clone(),
            },
            queued,
        )
    }

    /// Queues a delivery; never blocks the loop and never drops it while the actor lives (a
    /// dead actor's pane is gone: the protocol's retry goes to the agent's next process).
    pub fn deliver(&self, text: String, ids: Vec<MessageId>) {
        self.queued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(err) = self.tx.send(AgentControl::Deliver { text, ids }) {
            self.queued
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!("agent actor is gone, delivery left to the protocol's retry: {err}");
        }
    }

    /// Answers the approval the agent waits for (see [`AgentControl::AnswerApproval`]).
    pub fn answer_approval(&self, accept: bool) {
        if self
            .tx
            .send(AgentControl::AnswerApproval { accept })
            .is_err()
        {
            tracing::warn!("agent actor is gone, the approval answer is dropped");
        }
    }

    /// Deliveries handed to the actor and not yet typed.
    pub fn queued(&self) -> usize {
        self.queued.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Deliveries handed to an actor and not yet taken by it.
pub(crate) type QueuedCount = std::sync::Arc<std::sync::atomic::AtomicUsize>;

/// How long to look for codex's "working" footer after entering text.
const CODEX_TURN_START_TIMEOUT: Duration = Duration::from_secs(20);
/// The footer codex (and claude) show while a turn runs.
const WORKING_FOOTER: &str = "esc to interrupt";

async fn run(
    role: Role,
    kind: AgentKind,
    pane: String,
    tmux: SharedRuntime,
    mut rx: mpsc::UnboundedReceiver<AgentControl>,
    reports: mpsc::Sender<AgentReport>,
    queued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    while let Some(control) = rx.recv().await {
        let AgentControl::Deliver { text, ids } = control else {
            continue;
        };
        queued.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let (tmux2, pane2) = (tmux.clone(), pane.clone());
        duet_proto::hop_log::mark("actor.take", format_args!("{role} {}", hop_ids(&ids)));
        let typed = tokio::task::spawn_blocking(move || tmux2.type_text(&pane2, &text, kind)).await;
        if matches!(typed, Ok(Ok(()))) {
            duet_proto::hop_log::mark("actor.typed", format_args!("{role} {}", hop_ids(&ids)));
            crate::failpoint!("delivery-typed");
        }
        let report = match typed {
            Ok(Ok(())) if kind == AgentKind::Codex => {
                // codex has no hook at turn start: its pane is the (fallback) signal. Watched
                // aside, so that a turn too quick to be seen (its notify confirms it) does not
                // hold up this agent's next delivery.
                let (tmux3, pane3, reports3) = (tmux.clone(), pane.clone(), reports.clone());
                tokio::spawn(async move {
                    let seen =
                        tokio::task::spawn_blocking(move || wait_for_working(&tmux3, &pane3))
                            .await
                            .unwrap_or(false);
                    if seen {
                        let _ = reports3.send(AgentReport::TurnSeen { role, ids }).await;
                    }
                });
                None
            }
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(AgentReport::DeliveryFailed {
                role,
                error: err.to_string(),
            }),
            Err(err) => Some(AgentReport::DeliveryFailed {
                role,
                error: err.to_string(),
            }),
        };
        if let Some(report) = report
            && reports.send(report).await.is_err()
        {
            return;
        }
    }
}

/// Message ids for the hop log (`#3,#4`).
pub(crate) fn hop_ids(ids: &[MessageId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn wait_for_working(tmux: &SharedRuntime, pane: &str) -> bool {
    let deadline = Instant::now() + CODEX_TURN_START_TIMEOUT;
    while Instant::now() < deadline {
        if tmux
            .screen(pane)
            .is_ok_and(|screen| screen.contains(WORKING_FOOTER))
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
