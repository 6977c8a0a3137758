//! The pair's async loop: the control socket, the agents' actors and a ticker feed the
//! controller; the loop carries out its actions (store, answers, deliveries, tmux titles).

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use duet_agents::{TmuxRuntime, tmux::pane_title};
use duet_core::config::{AgentKind, AgentProfile};
use duet_core::lifecycle::TaskState;
use duet_core::protocol::pair::PairConfig;
use duet_core::protocol::{PairState, Role, Timestamp};
use duet_proto::Response;
use duet_store::{Event, EventFilter, NewEvent, Store};
use tokio::sync::{mpsc, oneshot};

use crate::agent_actor::{AgentHandle, AgentReport};
use crate::controller::{Action, ConnId, Controller, Seat};
use crate::error::{PairError, PairErrorKind};
use crate::git_facts::{commits_since, read_git_facts};
use crate::launch::{LaunchPlace, launch_pair};
use crate::render::TaskBrief;
use crate::socket::{self, Incoming};

/// One seat's agent: the profile's name and settings.
#[derive(Debug, Clone)]
pub struct AgentSetup {
    pub profile_name: String,
    pub profile: AgentProfile,
}

/// Everything needed to run one task's pair.
#[derive(Debug, Clone)]
pub struct PairSetup {
    pub task: TaskBrief,
    pub worktree: PathBuf,
    pub socket_path: PathBuf,
    pub store_path: PathBuf,
    pub duet_exe: PathBuf,
    pub tmux: TmuxRuntime,
    pub session_name: String,
    pub worker: AgentSetup,
    pub reviewer: AgentSetup,
    pub pair_config: PairConfig,
    /// Continue the agents' earlier conversations (`duet pair --resume`).
    pub resume: bool,
}

/// What the loop reports while it runs (for the live status lines).
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    TaskState(String),
    Agent { role: Role, status: String },
    HumanNeeded(String),
}

/// How a pair run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct PairSummary {
    pub outcome: TaskState,
    pub rounds: u32,
    /// Commits on the task branch since the base, newest first.
    pub commits: Vec<String>,
    pub messages_accepted: usize,
    pub messages_delivered: usize,
    pub messages_suppressed: usize,
    /// Agents' session (claude) / thread (codex) ids, for `--resume`.
    pub sessions: Vec<(Role, Option<String>)>,
    /// True when the run was stopped (Ctrl-C or `duet stop`) before an outcome.
    pub interrupted: bool,
}

/// The wall clock as the protocol's timestamp (the edges read the clock; the core never does).
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// Runs the pair until the task is done, failed or cancelled, or `shutdown` resolves.
pub async fn run_pair(
    setup: PairSetup,
    mut progress: impl FnMut(Progress) + Send,
    shutdown: impl Future<Output = ()>,
) -> Result<PairSummary, PairError> {
    let task_id = setup.task.id.clone();
    let mut store =
        Store::open(&setup.store_path).map_err(|e| PairError::new(PairErrorKind::Store, e))?;
    let sessions = if setup.resume {
        last_sessions(&store, &task_id)
    } else {
        [None, None]
    };
    if setup.resume && sessions.iter().all(Option::is_none) {
        return Err(PairError::msg(
            PairErrorKind::Resume,
            format!("no earlier sessions of task `{task_id}` to resume"),
        ));
    }
    let listener =
        socket::bind(&setup.socket_path).map_err(|e| PairError::new(PairErrorKind::Socket, e))?;
    let (incoming_tx, mut incoming) = mpsc::channel::<Incoming>(64);
    tokio::spawn(socket::serve(
        listener,
        setup.socket_path.clone(),
        incoming_tx,
    ));

    let seat = |role: Role, agent: &AgentSetup, earlier: &Option<String>| {
        let mut seat = Seat::new(
            role,
            agent.profile.kind,
            &agent.profile_name,
            uuid::Uuid::new_v4().to_string(),
        );
        seat.session_id = match (agent.profile.kind, earlier) {
            (_, Some(id)) => Some(id.clone()),
            (AgentKind::Claude, None) => Some(uuid::Uuid::new_v4().to_string()),
            (AgentKind::Codex, None) => None,
        };
        seat
    };
    let worker = seat(Role::Worker, &setup.worker, &sessions[0]);
    let reviewer = seat(Role::Reviewer, &setup.reviewer, &sessions[1]);
    let state = PairState::new(
        &task_id,
        &setup.task.base_commit,
        now(),
        setup.pair_config.clone(),
    );
    let mut controller = Controller::new(state, worker, reviewer);

    let mut run = Run {
        store: &mut store,
        task_id: task_id.clone(),
        pending: HashMap::new(),
        finished: false,
        progress: &mut progress,
    };
    if run
        .store
        .task(&task_id)
        .map_err(|e| PairError::new(PairErrorKind::Store, e))?
        .is_none()
    {
        run.store(Event::TaskQueued {
            title: Some(setup.task.title.clone()),
        })?;
    }
    // A task worked before (stopped, done, needing the human) starts its new run from the queue.
    let stored = run
        .store
        .task(&task_id)
        .map_err(|e| PairError::new(PairErrorKind::Store, e))?;
    if let Some(row) = stored.filter(|row| row.state != duet_store::TaskState::Queued) {
        let reason = if setup.resume {
            "resumed by duet pair"
        } else {
            "started again by duet pair"
        };
        run.store(Event::TaskStateChanged {
            from: row.state,
            to: duet_store::TaskState::Queued,
            reason: Some(reason.into()),
        })?;
    }
    let mut started = controller.start(now());
    if setup.resume {
        // Resumed agents sit at their prompt with no turn running, and no hook will say so: they
        // count as idle once their bridge is up, and the worker is told to go on.
        let at = now();
        for role in [Role::Worker, Role::Reviewer] {
            controller.expect_idle_once_ready(role, at);
        }
        started.extend(controller.say_from_duet(
            Role::Worker,
            "duet pair was started again with your conversation resumed: go on with the task where you left off."
                .into(),
            at,
        ));
    }
    run.execute(started, &[])?;

    let place = LaunchPlace {
        tmux: &setup.tmux,
        session_name: &setup.session_name,
        worktree: &setup.worktree,
        duet_exe: &setup.duet_exe,
        socket: &setup.socket_path,
    };
    let panes = launch_pair(
        &place,
        &setup.task,
        [&setup.worker, &setup.reviewer],
        &controller,
        [sessions[0].as_deref(), sessions[1].as_deref()],
    )?;
    let (reports_tx, mut reports) = mpsc::channel::<AgentReport>(64);
    let actors = [Role::Worker, Role::Reviewer].map(|role| {
        AgentHandle::spawn(
            role,
            controller.seat(role).kind,
            panes.pane(role).to_string(),
            setup.tmux.clone(),
            reports_tx.clone(),
        )
    });
    let titles = |state: &str| {
        for role in [Role::Worker, Role::Reviewer] {
            let title = pane_title(&task_id, role, controller_kind(&setup, role), state);
            let _ = setup.tmux.set_pane_title(panes.pane(role), &title);
        }
    };
    titles("starting");

    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    let mut interrupted = false;
    let mut last_state = controller.state.task_state.clone();
    while !run.finished {
        let actions = tokio::select! {
            Some(Incoming { conn, request, reply }) = incoming.recv() => {
                run.pending.insert(conn, reply);
                let git = read_git_facts(&setup.worktree);
                controller.on_request(conn, request, git.as_ref(), now())
            }
            Some(report) = reports.recv() => match report {
                AgentReport::TurnSeen { role, ids } => controller.on_turn_seen(role, ids, now()),
                AgentReport::DeliveryFailed { role, error } => {
                    tracing::warn!("failed to deliver to the {role}: {error}");
                    Vec::new()
                }
            },
            _ = ticker.tick() => {
                // No git on the tick: a status of the worktree every second costs CPU that grows
                // with its size; agents' hooks and calls bring fresh git facts when they act.
                controller.on_tick(None, now())
            }
            () = &mut shutdown => {
                interrupted = true;
                break;
            }
        };
        run.execute(actions, &actors)?;
        if controller.state.task_state != last_state {
            last_state = controller.state.task_state.clone();
            titles(last_state.kind().as_str());
        }
    }
    // Stopping the session ends both agents; their conversations stay on disk for --resume.
    let _ = setup.tmux.kill_session(&setup.session_name);
    run.store(Event::Note {
        text: if interrupted {
            "pair stopped by the human".into()
        } else {
            "pair finished".into()
        },
    })?;
    let sessions =
        [Role::Worker, Role::Reviewer].map(|role| (role, controller.seat(role).session_id.clone()));
    for (role, id) in &sessions {
        if let Some(id) = id {
            run.store(Event::Note {
                text: format!("session {role} {id}"),
            })?;
        }
    }
    let messages = &controller.state.mailbox.envelopes;
    use duet_core::protocol::DeliveryStatus as S;
    Ok(PairSummary {
        outcome: controller.state.task_state.clone(),
        rounds: controller.state.round,
        commits: commits_since(&setup.worktree, &setup.task.base_commit),
        messages_accepted: messages.len(),
        messages_delivered: messages
            .iter()
            .filter(|e| matches!(e.status, S::Delivered { .. }))
            .count(),
        messages_suppressed: messages
            .iter()
            .filter(|e| matches!(e.status, S::Suppressed { .. }))
            .count(),
        sessions: sessions.to_vec(),
        interrupted,
    })
}

fn controller_kind(setup: &PairSetup, role: Role) -> AgentKind {
    match role {
        Role::Worker => setup.worker.profile.kind,
        Role::Reviewer => setup.reviewer.profile.kind,
    }
}

/// The sessions recorded by the last run of `task_id` ("session <role> <id>" notes).
fn last_sessions(store: &Store, task_id: &str) -> [Option<String>; 2] {
    let mut found = [None, None];
    let Ok(events) = store.events(&EventFilter::all().task(task_id)) else {
        return found;
    };
    for record in events {
        if let Event::Note { text } = record.event
            && let Some(rest) = text.strip_prefix("session ")
            && let Some((role, id)) = rest.split_once(' ')
        {
            match role {
                "worker" => found[0] = Some(id.to_string()),
                "reviewer" => found[1] = Some(id.to_string()),
                _ => {}
            }
        }
    }
    found
}

/// The loop's IO state: where answers go, the store, the progress callback.
struct Run<'a, P: FnMut(Progress)> {
    store: &'a mut Store,
    task_id: String,
    pending: HashMap<ConnId, oneshot::Sender<Response>>,
    finished: bool,
    progress: &'a mut P,
}

impl<P: FnMut(Progress)> Run<'_, P> {
    fn store(&mut self, event: Event) -> Result<(), PairError> {
        let at = i64::try_from(now().0).unwrap_or(i64::MAX);
        self.store
            .append(&NewEvent::for_task(at, &self.task_id, event))
            .map_err(|e| PairError::new(PairErrorKind::Store, e))?;
        Ok(())
    }

    /// Carries out actions in order. A failed store write is fatal: nothing after it (in
    /// particular no answer that would acknowledge it) is carried out.
    fn execute(&mut self, actions: Vec<Action>, actors: &[AgentHandle]) -> Result<(), PairError> {
        for action in actions {
            match action {
                Action::Store(event) => self.store(event)?,
                Action::Respond { conn, response } => {
                    if let Some(reply) = self.pending.remove(&conn) {
                        let _ = reply.send(response);
                    }
                }
                Action::Deliver { role, text, ids } => {
                    if let Some(actor) = actors.get(usize::from(role == Role::Reviewer)) {
                        (self.progress)(Progress::Agent {
                            role,
                            status: format!("message {} handed over", ids_text(&ids)),
                        });
                        actor.deliver(text, ids);
                    }
                }
                Action::StateChanged(state) => {
                    (self.progress)(Progress::TaskState(state.to_string()));
                    if matches!(
                        state,
                        TaskState::Done | TaskState::Failed { .. } | TaskState::Cancelled
                    ) {
                        self.finished = true;
                    }
                    if let TaskState::NeedsHuman { reason, .. } = &state {
                        (self.progress)(Progress::HumanNeeded(reason.clone()));
                    }
                }
                Action::AskHuman { from, question } => {
                    (self.progress)(Progress::HumanNeeded(format!("{from}: {question}")))
                }
                Action::Stop { .. } => self.finished = true,
            }
        }
        Ok(())
    }
}

fn ids_text(ids: &[duet_core::protocol::MessageId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
