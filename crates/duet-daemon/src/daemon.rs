//! The daemon's loop and its handlers: requests routed to pairs by token or task, scheduling,
//! pair start / adoption / finish, backlog reloads, agent restarts.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use duet_agents::tmux::session_name;
use duet_core::backlog::Backlog;
use duet_core::config::AgentKind;
use duet_core::lifecycle::TaskState;
use duet_core::protocol::{PairState, Role};
use duet_git::Repo;
use duet_pair::agent_actor::{AgentHandle, AgentReport};
use duet_pair::git_facts::{commits_since, read_git_facts};
use duet_pair::launch::{LaunchPlace, launch_pair};
pub(crate) use duet_pair::now;
use duet_pair::prepare::prepare_task;
use duet_pair::socket::{self, Incoming};
use duet_pair::{Action, ConnId, Controller, Seat};
use duet_proto::{ErrorKind, Request, RequestBody, Response, ResponseBody};
use duet_store::{Event, NewEvent, Store, TaskState as StoredState};
use tokio::sync::{mpsc, oneshot};

use crate::backlog_watch::BacklogWatch;
use crate::lock::DaemonLock;
use crate::pair_slot::PairSlot;
use crate::status::{Publisher, StatusInputs, snapshot_now, stored_kind};
use crate::{DaemonError, DaemonProgress, DaemonSetup, RunSummary, TaskOutcome};

mod recovery;

/// Agent restarts (with the conversation resumed) before the task needs the human.
const MAX_AGENT_RESTARTS: u32 = 3;

/// Runs the daemon until `shutdown` resolves, `duet stop` is asked, or (with `exit_when_done`)
/// no task can make progress any more.
pub async fn run(
    setup: DaemonSetup,
    mut progress: impl FnMut(DaemonProgress) + Send,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, DaemonError> {
    let _lock = DaemonLock::acquire(&setup.lock_path())
        .map_err(|e| DaemonError::new("start the daemon", e))?;
    let repo =
        Repo::discover(&setup.repo_root).map_err(|e| DaemonError::new("open the repository", e))?;
    let store =
        Store::open(setup.store_path()).map_err(|e| DaemonError::new("open the state store", e))?;
    let backlog = read_backlog(&setup)
        .map_err(|text| DaemonError::new("read the backlog", std::io::Error::other(text)))?;
    let listener = socket::bind(&setup.socket_path())
        .map_err(|e| DaemonError::new("open the control socket", e))?;
    let (incoming_tx, mut incoming) = mpsc::channel::<Incoming>(256);
    let mut status = Publisher::new(&setup.config, &setup.repo_root, setup.tmux.clone(), now().0);
    tokio::spawn(socket::serve_with_status(
        listener,
        setup.socket_path(),
        incoming_tx,
        Some(status.reader()),
    ));
    let (reports_tx, mut reports) = mpsc::channel::<(String, AgentReport)>(256);
    let mut watch = BacklogWatch::new(&setup.backlog_path);

    let mut daemon = Daemon {
        setup: &setup,
        repo,
        store,
        backlog,
        pairs: BTreeMap::new(),
        tokens: HashMap::new(),
        pending: HashMap::new(),
        reports_tx,
        progress: &mut progress,
        stop: None,
    };
    tracing::info!("daemon {} started", std::process::id());
    daemon.queue_new_tasks()?;
    daemon.adopt_pairs()?;
    daemon.schedule()?;

    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    let mut interrupted = false;
    loop {
        // Whatever the last turn of the loop changed goes to status subscribers.
        status.publish(&daemon.backlog, &setup.config, &daemon.store, &daemon.pairs);
        if daemon.stop.is_some() {
            interrupted = true;
            break;
        }
        if setup.exit_when_done && daemon.nothing_left() {
            break;
        }
        tokio::select! {
            Some(incoming) = incoming.recv() => daemon.on_incoming(incoming)?,
            Some((task, report)) = reports.recv() => daemon.on_report(&task, report)?,
            Some(()) = watch.changes.recv() => daemon.reload_backlog()?,
            _ = ticker.tick() => {
                if watch.poll_changed() {
                    daemon.reload_backlog()?;
                }
                daemon.on_tick()?;
            }
            () = &mut shutdown => {
                interrupted = true;
                break;
            }
        }
    }
    let stop_agents = daemon.stop.unwrap_or(false) || setup.stop_agents_on_exit;
    if stop_agents {
        for slot in daemon.pairs.values() {
            let _ = setup.tmux.kill_session(&slot.session_name);
        }
    }
    Ok(daemon.summary(interrupted))
}

fn read_backlog(setup: &DaemonSetup) -> Result<Backlog, String> {
    let src = std::fs::read_to_string(&setup.backlog_path)
        .map_err(|e| format!("{}: {e}", setup.backlog_path.display()))?;
    let base_dir = setup
        .backlog_path
        .parent()
        .unwrap_or(&setup.repo_root)
        .to_path_buf();
    Backlog::from_toml_str(&src, &setup.backlog_path, &setup.config, &base_dir)
        .map_err(|d| d.render_plain())
}

struct Daemon<'a, P: FnMut(DaemonProgress)> {
    setup: &'a DaemonSetup,
    repo: Repo,
    store: Store,
    backlog: Backlog,
    pairs: BTreeMap<String, PairSlot>,
    /// Agent token → task.
    tokens: HashMap<String, String>,
    pending: HashMap<ConnId, oneshot::Sender<Response>>,
    reports_tx: mpsc::Sender<(String, AgentReport)>,
    progress: &'a mut P,
    /// Set by `duet stop`: whether to stop the agents too.
    stop: Option<bool>,
}

fn store_err(e: duet_store::StoreError) -> DaemonError {
    DaemonError::new("write the state store", e)
}

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    fn append(&mut self, task: &str, event: Event) -> Result<(), DaemonError> {
        let at = i64::try_from(now().0).unwrap_or(i64::MAX);
        self.store
            .append(&NewEvent::for_task(at, task, event))
            .map_err(store_err)?;
        Ok(())
    }

    fn stored_state(&self, task: &str) -> Option<StoredState> {
        self.store.task(task).ok().flatten().map(|row| row.state)
    }

    /// Every backlog task the store has not seen is queued.
    fn queue_new_tasks(&mut self) -> Result<(), DaemonError> {
        let new: Vec<(String, String)> = self
            .backlog
            .tasks
            .iter()
            .filter(|t| self.stored_state(t.id.as_str()).is_none())
            .map(|t| (t.id.to_string(), t.title.clone()))
            .collect();
        for (id, title) in new {
            self.append(&id, Event::TaskQueued { title: Some(title) })?;
        }
        Ok(())
    }

    /// No task can make progress: nothing runs and the scheduler has nothing to start.
    fn nothing_left(&self) -> bool {
        if !self.pairs.is_empty() {
            return false;
        }
        self.backlog
            .tasks
            .iter()
            .all(|t| match self.stored_state(t.id.as_str()) {
                Some(StoredState::Queued) => {
                    !self.startable_now().contains(&t.id.to_string())
                        && self.blocked_for_good(t.id.as_str())
                }
                Some(state) => state.is_terminal() || state == StoredState::Paused,
                None => false,
            })
    }

    /// A queued task whose dependencies can never be done.
    fn blocked_for_good(&self, task: &str) -> bool {
        let views = self.views();
        let running = duet_core::lifecycle::scheduler::count_running(&views);
        let max = self.setup.config.max_parallel.get();
        duet_core::lifecycle::scheduler::why_blocked(task, &views, running, max).is_some_and(
            |blockers| {
                blockers.iter().any(|b| {
                    matches!(
                        b,
                        duet_core::lifecycle::scheduler::Blocker::DependencyFailed { .. }
                            | duet_core::lifecycle::scheduler::Blocker::MissingDependency { .. }
                    )
                })
            },
        )
    }

    fn views(&self) -> Vec<duet_core::lifecycle::scheduler::TaskView> {
        self.backlog
            .tasks
            .iter()
            .map(|t| duet_core::lifecycle::scheduler::TaskView {
                id: t.id.to_string(),
                priority: t.priority,
                depends_on: t.depends_on.iter().map(ToString::to_string).collect(),
                state: stored_kind(
                    self.stored_state(t.id.as_str())
                        .unwrap_or(StoredState::Queued),
                ),
            })
            .collect()
    }

    fn startable_now(&self) -> Vec<String> {
        let views = self.views();
        let running = duet_core::lifecycle::scheduler::count_running(&views);
        duet_core::lifecycle::scheduler::next_to_start(
            &views,
            running,
            self.setup.config.max_parallel.get(),
        )
    }

    /// Starts what the scheduler picks.
    fn schedule(&mut self) -> Result<(), DaemonError> {
        for task in self.startable_now() {
            self.start_pair(&task)?;
        }
        Ok(())
    }

    fn place<'s>(
        &'s self,
        slot_session: &'s str,
        worktree: &'s std::path::Path,
        socket: &'s std::path::PathBuf,
    ) -> LaunchPlace<'s> {
        LaunchPlace {
            tmux: &self.setup.tmux,
            session_name: slot_session,
            worktree,
            duet_exe: &self.setup.duet_exe,
            socket,
        }
    }

    fn start_pair(&mut self, task_id: &str) -> Result<(), DaemonError> {
        let Some(task) = self.backlog.get(task_id).cloned() else {
            return Ok(());
        };
        let prepared = match prepare_task(&self.repo, &self.setup.config, &task) {
            Ok(prepared) => prepared,
            Err(err) => return self.fail_unstarted(task_id, err.to_string()),
        };
        let seat = |role: Role, kind: AgentKind, profile: &str| {
            let mut seat = Seat::new(role, kind, profile, uuid::Uuid::new_v4().to_string());
            if kind == AgentKind::Claude {
                seat.session_id = Some(uuid::Uuid::new_v4().to_string());
            }
            seat
        };
        let state = PairState::new(
            task_id,
            &prepared.brief.base_commit,
            now(),
            prepared.pair_config.clone(),
        );
        let mut controller = Controller::new(
            state,
            seat(
                Role::Worker,
                prepared.worker.profile.kind,
                &prepared.worker.profile_name,
            ),
            seat(
                Role::Reviewer,
                prepared.reviewer.profile.kind,
                &prepared.reviewer.profile_name,
            ),
        );
        let started = controller.start(now());
        let session = session_name(&self.setup.repo_root, task_id);
        let socket = self.setup.socket_path();
        let panes = {
            let place = self.place(&session, &prepared.worktree, &socket);
            launch_pair(
                &place,
                &prepared.brief,
                [&prepared.worker, &prepared.reviewer],
                &controller,
                [None, None],
            )
        };
        let panes = match panes {
            Ok(panes) => panes,
            Err(err) => return self.fail_unstarted(task_id, err.to_string()),
        };
        let slot = PairSlot {
            controller,
            actors: Vec::new(),
            panes,
            brief: prepared.brief,
            worktree: prepared.worktree,
            session_name: session,
            agents: [prepared.worker, prepared.reviewer],
            restarts: [0, 0],
            last_snapshot: String::new(),
            watches: [None, None],
        };
        self.install(task_id, slot);
        self.apply(task_id, started)
    }

    /// Registers a pair's tokens and starts its agents' actors.
    fn install(&mut self, task_id: &str, mut slot: PairSlot) {
        for seat in &slot.controller.seats {
            self.tokens.insert(seat.token.clone(), task_id.to_string());
        }
        let (tx, mut rx) = mpsc::channel::<AgentReport>(64);
        let forward = self.reports_tx.clone();
        let task = task_id.to_string();
        tokio::spawn(async move {
            while let Some(report) = rx.recv().await {
                if forward.send((task.clone(), report)).await.is_err() {
                    return;
                }
            }
        });
        slot.actors = [Role::Worker, Role::Reviewer]
            .into_iter()
            .map(|role| {
                AgentHandle::spawn(
                    role,
                    slot.controller.seat(role).kind,
                    slot.panes.pane(role).to_string(),
                    self.setup.tmux.clone(),
                    tx.clone(),
                )
            })
            .collect();
        (self.progress)(DaemonProgress::TaskState {
            task: task_id.to_string(),
            state: slot.controller.state.task_state.to_string(),
        });
        self.pairs.insert(task_id.to_string(), slot);
    }

    /// A task that could not even start: failed, with the reason.
    fn fail_unstarted(&mut self, task_id: &str, reason: String) -> Result<(), DaemonError> {
        tracing::error!("task {task_id}: {reason}");
        let from = self.stored_state(task_id).unwrap_or(StoredState::Queued);
        self.append(
            task_id,
            Event::TaskStateChanged {
                from,
                to: StoredState::Failed,
                reason: Some(reason.clone()),
            },
        )?;
        (self.progress)(DaemonProgress::TaskState {
            task: task_id.to_string(),
            state: format!("failed: {reason}"),
        });
        Ok(())
    }

    fn on_incoming(&mut self, incoming: Incoming) -> Result<(), DaemonError> {
        let Incoming {
            conn,
            request,
            reply,
        } = incoming;
        self.pending.insert(conn, reply);
        if request.body.is_agent_request() {
            let task = request
                .token
                .as_deref()
                .and_then(|t| self.tokens.get(t))
                .cloned();
            let Some(task) = task.filter(|t| self.pairs.contains_key(t)) else {
                tracing::warn!(
                    "refused an agent request with an unknown token: {}",
                    request_summary(&request.body)
                );
                self.respond(
                    conn,
                    Response::error(ErrorKind::Unauthorized, "unknown or missing agent token"),
                );
                return Ok(());
            };
            if let RequestBody::ProcessExited { code, signal } = &request.body
                && self.restart_agent(
                    &task,
                    request.token.as_deref().unwrap_or_default(),
                    *code,
                    *signal,
                )?
            {
                self.respond(conn, Response::ok(ResponseBody::Ack));
                return Ok(());
            }
            let slot = self.pairs.get_mut(&task).expect("checked above");
            tracing::debug!(
                "task {task}: agent request {}",
                request_summary(&request.body)
            );
            let role = request
                .token
                .as_deref()
                .and_then(|t| slot.controller.seats.iter().find(|s| s.token == t))
                .map(|s| s.role);
            let is_hook = matches!(request.body, RequestBody::Hook { .. });
            let before = role.map(|r| slot.controller.state.mailbox.target(r));
            let git = read_git_facts(&slot.worktree);
            let actions = slot
                .controller
                .on_request(conn, request, git.as_ref(), now());
            if let (true, Some(role), Some(before)) = (is_hook, role, before) {
                let after = slot.controller.state.mailbox.target(role);
                slot.hook_moved(role, before, after);
            }
            let mailbox = &slot.controller.state.mailbox;
            tracing::debug!(
                "task {task}: worker {:?}, reviewer {:?}",
                mailbox.worker,
                mailbox.reviewer
            );
            return self.apply(&task, actions);
        }
        self.human_request(conn, request)
    }

    fn human_request(&mut self, conn: ConnId, request: Request) -> Result<(), DaemonError> {
        let task = match &request.body {
            RequestBody::Status { task } => {
                if let Some(task) = task
                    && self.backlog.get(task).is_none()
                {
                    self.respond(conn, unknown_task(task));
                    return Ok(());
                }
                let inputs = StatusInputs {
                    backlog: &self.backlog,
                    config: &self.setup.config,
                    repo_root: &self.setup.repo_root,
                    live: true,
                };
                let status = snapshot_now(inputs, &self.store, &self.pairs, task.as_deref());
                self.respond(conn, Response::ok(ResponseBody::Status { status }));
                return Ok(());
            }
            RequestBody::Merge { .. } => {
                self.respond(
                    conn,
                    Response::error(ErrorKind::Unsupported, "this duet does not merge tasks yet"),
                );
                return Ok(());
            }
            // Subscriptions are served by the socket from the status feed; one that reaches
            // the loop came from elsewhere.
            RequestBody::Subscribe { .. } => {
                self.respond(
                    conn,
                    Response::error(ErrorKind::Unsupported, "subscribe is served by the socket"),
                );
                return Ok(());
            }
            RequestBody::Stop { stop_agents } => {
                self.stop = Some(*stop_agents);
                self.respond(conn, Response::ok(ResponseBody::Ack));
                return Ok(());
            }
            RequestBody::Say { task, .. }
            | RequestBody::Answer { task, .. }
            | RequestBody::Pause { task }
            | RequestBody::Resume { task }
            | RequestBody::Cancel { task } => task.clone(),
            _ => unreachable!("agent requests are routed by token"),
        };
        if let Some(slot) = self.pairs.get_mut(&task) {
            let git = read_git_facts(&slot.worktree);
            let actions = slot
                .controller
                .on_request(conn, request, git.as_ref(), now());
            return self.apply(&task, actions);
        }
        let Some(state) = self.backlog.get(&task).and(self.stored_state(&task)) else {
            self.respond(conn, unknown_task(&task));
            return Ok(());
        };
        // A task without a running pair: only its place in the queue can change.
        let to = match (&request.body, state) {
            (RequestBody::Pause { .. }, StoredState::Queued) => Some(StoredState::Paused),
            (RequestBody::Resume { .. }, StoredState::Paused) => Some(StoredState::Queued),
            (RequestBody::Cancel { .. }, StoredState::Queued | StoredState::Paused) => {
                Some(StoredState::Cancelled)
            }
            _ => None,
        };
        match to {
            Some(to) => {
                self.append(
                    &task,
                    Event::TaskStateChanged {
                        from: state,
                        to,
                        reason: Some("by the human".into()),
                    },
                )?;
                (self.progress)(DaemonProgress::TaskState {
                    task: task.clone(),
                    state: to.to_string(),
                });
                self.respond(conn, Response::ok(ResponseBody::Ack));
                self.schedule()
            }
            None => {
                let what = match &request.body {
                    RequestBody::Say { .. } => "say something to",
                    RequestBody::Answer { .. } => "answer",
                    RequestBody::Pause { .. } => "pause",
                    RequestBody::Resume { .. } => "resume",
                    _ => "cancel",
                };
                let message = format!(
                    "cannot {what} task `{task}`: it is {state} and no pair is working on it"
                );
                self.respond(conn, Response::error(ErrorKind::WrongState, message));
                Ok(())
            }
        }
    }

    fn on_report(&mut self, task: &str, report: AgentReport) -> Result<(), DaemonError> {
        let Some(slot) = self.pairs.get_mut(task) else {
            return Ok(());
        };
        let actions = match report {
            AgentReport::TurnSeen { role, ids } => {
                slot.watches[usize::from(role == Role::Reviewer)] = None;
                slot.controller.on_turn_seen(role, ids, now())
            }
            AgentReport::DeliveryFailed { role, error } => {
                tracing::warn!("task {task}: failed to deliver to the {role}: {error}");
                Vec::new()
            }
        };
        self.apply(task, actions)
    }

    fn on_tick(&mut self) -> Result<(), DaemonError> {
        let tasks: Vec<String> = self.pairs.keys().cloned().collect();
        for task in tasks {
            self.look_at_watched_panes(&task)?;
            let Some(slot) = self.pairs.get_mut(&task) else {
                continue;
            };
            // No git on the tick: a status of every worktree every second costs CPU that grows
            // with pairs and files; agents' hooks and calls bring fresh git facts when they act.
            let actions = slot.controller.on_tick(None, now());
            self.apply(&task, actions)?;
        }
        Ok(())
    }

    fn reload_backlog(&mut self) -> Result<(), DaemonError> {
        match read_backlog(self.setup) {
            // An editor writing the file in place can show it empty for a moment; an empty read
            // never replaces a backlog with tasks (the write that follows triggers a reload).
            Ok(backlog) if backlog.tasks.is_empty() && !self.backlog.tasks.is_empty() => {
                tracing::warn!(
                    "the backlog reads empty; keeping the last one until it changes again"
                );
                Ok(())
            }
            Ok(backlog) => {
                self.backlog = backlog;
                self.queue_new_tasks()?;
                (self.progress)(DaemonProgress::Note(format!(
                    "backlog reloaded: {} tasks",
                    self.backlog.tasks.len()
                )));
                self.schedule()
            }
            Err(problems) => {
                tracing::warn!(
                    "the backlog does not validate; keeping the last good one:\n{problems}"
                );
                (self.progress)(DaemonProgress::Note(format!(
                    "{} is invalid; keeping the last good backlog (run `duet validate`)",
                    self.setup.backlog_path.display()
                )));
                Ok(())
            }
        }
    }

    fn respond(&mut self, conn: ConnId, response: Response) {
        if let Some(reply) = self.pending.remove(&conn) {
            let _ = reply.send(response);
        }
    }

    /// Carries out a pair's actions: its events and new snapshot are committed in one
    /// transaction first (nothing is acknowledged before it is stored), then the rest in order.
    fn apply(&mut self, task: &str, actions: Vec<Action>) -> Result<(), DaemonError> {
        let at = i64::try_from(now().0).unwrap_or(i64::MAX);
        let events: Vec<NewEvent> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Store(event) => Some(NewEvent::for_task(at, task, event.clone())),
                _ => None,
            })
            .collect();
        let Some(slot) = self.pairs.get_mut(task) else {
            return Ok(());
        };
        let snapshot = serde_json::to_string(&slot.snapshot())
            .map_err(|e| DaemonError::new("save a pair's state", e))?;
        if !events.is_empty() || snapshot != slot.last_snapshot {
            self.store
                .commit_with_snapshot(&events, task, &snapshot)
                .map_err(store_err)?;
            slot.last_snapshot = snapshot;
        }
        let mut finished = false;
        for action in actions {
            match action {
                Action::Store(_) => {}
                Action::Respond { conn, response } => self.respond(conn, response),
                Action::Deliver { role, text, ids } => {
                    tracing::debug!("task {task}: delivering {ids:?} to the {role}");
                    if let Some(actor) = self.pairs.get(task).and_then(|s| s.actor(role)) {
                        actor.deliver(text, ids);
                    }
                }
                Action::StateChanged(state) => {
                    if let Some(slot) = self.pairs.get(task) {
                        for role in [Role::Worker, Role::Reviewer] {
                            let kind = slot.controller.seat(role).kind;
                            let title = duet_agents::tmux::pane_title(
                                task,
                                role,
                                kind,
                                state.kind().as_str(),
                            );
                            let _ = self
                                .setup
                                .tmux
                                .set_pane_title(slot.panes.pane(role), &title);
                        }
                    }
                    (self.progress)(DaemonProgress::TaskState {
                        task: task.to_string(),
                        state: state.to_string(),
                    });
                    if let TaskState::NeedsHuman { reason, .. } = &state {
                        (self.progress)(DaemonProgress::HumanNeeded {
                            task: task.to_string(),
                            text: reason.clone(),
                        });
                    }
                    finished |= state.is_terminal();
                }
                Action::AskHuman { from, question } => {
                    (self.progress)(DaemonProgress::HumanNeeded {
                        task: task.to_string(),
                        text: format!("{from}: {question}"),
                    });
                }
                Action::Stop { stop_agents } => self.stop = Some(stop_agents),
            }
        }
        if finished {
            self.finish_pair(task);
            self.schedule()?;
        }
        Ok(())
    }

    /// The task ended: its agents stop, its tokens are void, its slot is free.
    fn finish_pair(&mut self, task: &str) {
        if let Some(slot) = self.pairs.remove(task) {
            for seat in &slot.controller.seats {
                self.tokens.remove(&seat.token);
            }
            let _ = self.setup.tmux.kill_session(&slot.session_name);
        }
    }

    fn summary(&self, interrupted: bool) -> RunSummary {
        let tasks = self
            .backlog
            .tasks
            .iter()
            .map(|t| {
                let row = self.store.task(t.id.as_str()).ok().flatten();
                let worktree = self
                    .setup
                    .repo_root
                    .join(&self.setup.config.worktree_root)
                    .join(t.id.as_str());
                let base = self
                    .pairs
                    .get(t.id.as_str())
                    .map(|s| s.brief.base_commit.clone())
                    .or_else(|| {
                        duet_pair::git_facts::fork_point(
                            &worktree,
                            t.base_branch(&self.setup.config),
                        )
                    });
                TaskOutcome {
                    id: t.id.to_string(),
                    state: row
                        .as_ref()
                        .map_or("queued".to_string(), |r| r.state.to_string()),
                    rounds: row.as_ref().map_or(0, |r| r.round),
                    commits: base.map_or(0, |b| commits_since(&worktree, &b).len()),
                }
            })
            .collect();
        RunSummary { tasks, interrupted }
    }
}

/// A request in a few words, for the log (payloads can be long).
fn request_summary(body: &RequestBody) -> String {
    match body {
        RequestBody::Hook { source, payload } => {
            let event = payload
                .get("hook_event_name")
                .or_else(|| payload.get("type"))
                .and_then(|v| v.as_str())
                .unwrap_or("?");
            format!("hook {source:?} {event}")
        }
        RequestBody::ToolCall { call } => {
            let text = format!("{call:?}");
            format!("tool call {}", text.chars().take(80).collect::<String>())
        }
        other => format!("{other:?}"),
    }
}

fn unknown_task(task: &str) -> Response {
    Response::error(ErrorKind::UnknownTask, format!("unknown task `{task}`"))
}
