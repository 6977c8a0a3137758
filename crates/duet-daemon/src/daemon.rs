//! The daemon's loop and its handlers: pair start / finish, actions carried out, agent reports,
//! backlog reloads; requests, scheduling, recovery, CI, the merge queue and the summary live in
//! the submodules.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use duet_agents::tmux::session_name;
use duet_core::backlog::Backlog;
use duet_core::config::AgentKind;
use duet_core::lifecycle::StateKind;
use duet_core::lifecycle::TaskState;
use duet_core::protocol::{PairState, Role};
use duet_git::Repo;
use duet_pair::agent_actor::{AgentHandle, AgentReport};
use duet_pair::launch::{LaunchPlace, launch_pair};
pub(crate) use duet_pair::now;
use duet_pair::prepare::prepare_task;
use duet_pair::reviewer_guard::{GuardCheck, GuardOutcome};
use duet_pair::socket::{self, Incoming};
use duet_pair::{Action, ConnId, Controller, Seat};
use duet_proto::{ErrorKind, Request, Response};
use duet_store::{Event, NewEvent, Store};
use tokio::sync::{mpsc, oneshot};

use crate::backlog_watch::BacklogWatch;
use crate::engine_core::{self, EngineAction, EngineInput};
use crate::lock::DaemonLock;
use crate::pair_slot::PairSlot;
use crate::status::Publisher;
use crate::{DaemonError, DaemonErrorKind, DaemonProgress, DaemonSetup, RunSummary};

mod app_server;
mod ci;
mod dead_panes;
mod engine_edge;
mod gates;
mod guard;
mod merge;
mod pr;
mod recovery;
mod requests;
mod schedule;
mod summary;
mod usage;

/// Runs the daemon until `shutdown` resolves, `duet stop` is asked, or (with `exit_when_done`)
/// no task can make progress any more.
pub async fn run(
    setup: DaemonSetup,
    mut progress: impl FnMut(DaemonProgress) + Send,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, DaemonError> {
    let _lock = DaemonLock::acquire(&setup.lock_path())
        .map_err(|e| DaemonError::of_kind(DaemonErrorKind::Busy, "start the daemon", e))?;
    let repo = Repo::discover(&setup.repo_root)
        .map_err(|e| DaemonError::of_kind(DaemonErrorKind::Setup, "open the repository", e))?;
    let store = Store::open(setup.store_path())
        .map_err(|e| DaemonError::of_kind(DaemonErrorKind::Store, "open the state store", e))?;
    let backlog = read_backlog(&setup).map_err(|text| {
        DaemonError::of_kind(
            DaemonErrorKind::Setup,
            "read the backlog",
            std::io::Error::other(text),
        )
    })?;
    let listener = socket::bind(&setup.socket_path())
        .map_err(|e| DaemonError::of_kind(DaemonErrorKind::Setup, "open the control socket", e))?;
    let _socket_file = SocketFile(setup.socket_path());
    app_server::sweep_left_seats(&setup.socket_path());
    let (incoming_tx, mut incoming) = mpsc::channel::<Incoming>(256);
    let mut status = Publisher::new(
        &setup.config,
        &setup.repo_root,
        setup.runtime.clone(),
        now().0,
    );
    tokio::spawn(socket::serve_with_status(
        listener,
        setup.socket_path(),
        incoming_tx,
        Some(status.reader()),
    ));
    let (reports_tx, mut reports) = mpsc::channel::<(String, AgentReport)>(256);
    let (git_tx, mut git_reads) = mpsc::unbounded_channel::<(String, requests::GitRead)>();
    let mut watch = BacklogWatch::new(&setup.backlog_path);
    let (ci_watch_tx, mut ci_watch) = mpsc::channel::<duet_ci::WatchEvent>(256);
    let (ci_run_tx, mut ci_runs) = mpsc::channel::<duet_ci::RunEvent>(64);
    let (pr_tx, mut pr_results) = mpsc::unbounded_channel::<pr::PrOutcome>();
    let (queue_ci_tx, mut queue_ci) =
        mpsc::unbounded_channel::<duet_core::lifecycle::merge_queue::QueueEvent>();
    let (scope_tx, mut scope_sizes) = mpsc::unbounded_channel::<gates::Measured>();
    let gates = gates::Gates::start(
        &setup,
        ci_run_tx.clone(),
        scope_tx,
        setup.config.ci.command.is_none(),
    )
    .await;
    let ci_runner = match duet_ci::RunConfig::from_config(&setup.config.ci) {
        Some(config) => {
            let paths = duet_ci::RunPaths {
                repo: setup.repo_root.clone(),
                duet_dir: setup.state_dir(),
            };
            // What a killed duet left; and the CI commands' orphans are reaped here.
            ci::sweep_checkouts(&paths, "CI").await;
            if let Err(e) = duet_ci::become_subreaper() {
                tracing::warn!("failed to become the reaper of CI processes: {e}");
            }
            Some(duet_ci::CiRunner::new(paths, config, ci_run_tx))
        }
        None => None,
    };
    let (candidate_runs_tx, mut candidate_runs) = mpsc::channel::<duet_ci::RunEvent>(64);
    let candidate_ci = merge::candidate_ci_runner(&setup, candidate_runs_tx).await;
    let (github, mut gh_events) = ci::spawn_github(&setup);
    let (guard_tx, mut guard_results) = mpsc::unbounded_channel();
    let (usage_tx, mut usage_results) = mpsc::unbounded_channel();

    let mut daemon = Daemon {
        setup: &setup,
        repo,
        store,
        backlog,
        pairs: BTreeMap::new(),
        finished_bases: HashMap::new(),
        tokens: HashMap::new(),
        pending: HashMap::new(),
        reports_tx,
        git_tx,
        git_queue: HashMap::new(),
        progress: &mut progress,
        stop: None,
        ci_watch_tx,
        ci_runner,
        candidate_ci,
        ci_watchers: HashMap::new(),
        merge: None,
        queue_ci_tx,
        pr_tx,
        prs_pending: 0,
        github,
        guard_tx,
        gates,
        usage_tx,
        usage: usage::UsageState::default(),
    };
    // The budget marks and parked seats of the engine before (none on a first start).
    daemon.usage = usage::UsageState::load(&daemon.store);
    daemon.begin_or_continue_run()?;
    tracing::info!("daemon {} started", std::process::id());
    daemon.queue_at_start()?;
    daemon.adopt_pairs()?;
    daemon.open_merge_queue()?;
    daemon.schedule()?;

    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    let mut interrupted = false;
    loop {
        // Whatever the last turn of the loop changed goes to status subscribers.
        let merge_rows = daemon.merge.as_ref().map(merge::MergeQueue::rows);
        status.publish(
            &daemon.backlog,
            &setup.config,
            &daemon.store,
            &daemon.pairs,
            merge_rows.as_deref(),
        );
        if daemon.stop.is_some() {
            interrupted = true;
            break;
        }
        if setup.exit_when_done && daemon.nothing_left() || daemon.focus_ended() {
            break;
        }
        // Each source turns what happened into one `EngineEvent`; `handle` decides and acts.
        let event = tokio::select! {
            Some(incoming) = incoming.recv() => EngineEvent::Request(incoming),
            Some((task, report)) = reports.recv() => EngineEvent::Agent { task, report },
            Some((task, read)) = git_reads.recv() => EngineEvent::GitRead { task, read },
            Some(measured) = scope_sizes.recv() => EngineEvent::ScopeMeasured(measured),
            Some(()) = watch.changes.recv() => EngineEvent::BacklogChanged,
            Some(event) = ci_watch.recv() => EngineEvent::CiWatch(event),
            Some(event) = ci_runs.recv() => EngineEvent::CiRun(event),
            Some(event) = queue_ci.recv() => EngineEvent::CandidateCi(event),
            Some(run) = candidate_runs.recv() => match crate::merge_edge::candidate_ci_event(run) {
                Some(event) => EngineEvent::CandidateCi(event),
                None => continue,
            },
            Some(outcome) = pr_results.recv() => EngineEvent::PullRequest(outcome),
            Some(event) = gh_events.recv() => EngineEvent::Github(event),
            Some(result) = guard_results.recv() => EngineEvent::ReviewerGuard(result),
            Some(result) = usage_results.recv() => EngineEvent::Record(result),
            _ = ticker.tick() => {
                if watch.poll_changed() {
                    daemon.handle(EngineEvent::BacklogChanged)?;
                }
                EngineEvent::Tick
            }
            () = &mut shutdown => {
                interrupted = true;
                break;
            }
        };
        daemon.handle(event)?;
    }
    let stop_agents = daemon.stop.unwrap_or(false) || setup.stop_agents_on_exit;
    if stop_agents {
        let live: Vec<(String, String)> = daemon
            .pairs
            .iter()
            .map(|(task, slot)| (task.clone(), slot.session_name.clone()))
            .collect();
        for (task, session) in live {
            setup.runtime.stop_pair(&session);
            daemon.append(
                &task,
                Event::Note {
                    text: "pair stopped by the human".into(),
                },
            )?;
        }
    }
    Ok(daemon.summary(interrupted))
}

/// Everything the engine reacts to, one variant per source of its loop.
enum EngineEvent {
    /// A request on the control socket (an agent's helper or a human).
    Request(Incoming),
    /// An agent's actor reports on its pane.
    Agent { task: String, report: AgentReport },
    /// A worktree's git facts, read off the loop for an agent's request.
    GitRead {
        task: String,
        read: requests::GitRead,
    },
    /// The scope guard measured a task's diff (off the loop).
    ScopeMeasured(gates::Measured),
    /// The backlog file changed.
    BacklogChanged,
    /// A task branch's commit, file activity, or a CI inbox file.
    CiWatch(duet_ci::WatchEvent),
    /// A CI run of a task commit started, ended or was cut off.
    CiRun(duet_ci::RunEvent),
    /// The CI run of a merge candidate ended.
    CandidateCi(duet_core::lifecycle::merge_queue::QueueEvent),
    /// A pull request was opened, or failed to be (`merge.mode = "pr"`).
    PullRequest(pr::PrOutcome),
    /// GitHub's checks and reviews of a task branch.
    Github(ci::GhEvent),
    /// A check of the reviewer's worktree came back (it must not have changed it).
    ReviewerGuard((GuardCheck, GuardOutcome)),
    /// An agent's own record of its tokens was read (`daemon/usage.rs`).
    Record(usage::RecordResult),
    /// The 1 s tick: stall clocks, panes watched for rest, the merge queue's held entries.
    Tick,
}

/// Removes the engine's socket file when its run ends, however it ends. Declared after the lock,
/// so dropped before it: a newer engine cannot have bound the path yet.
struct SocketFile(std::path::PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_file(&self.0)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("failed to remove the socket {}: {err}", self.0.display());
        }
    }
}

fn read_backlog(setup: &DaemonSetup) -> Result<Backlog, String> {
    let bytes = std::fs::read(&setup.backlog_path)
        .map_err(|e| format!("{}: {e}", setup.backlog_path.display()))?;
    // Not UTF-8: reported at the first bad byte, like every other problem of the file.
    let src = duet_core::diagnostic::SourceFile::decode(&setup.backlog_path, bytes)
        .map_err(|d| d.render_plain())?;
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
    /// The base commit of each pair that finished in this run (its commits are counted from
    /// there: once merged, the branch's fork point is its own tip).
    finished_bases: HashMap<String, String>,
    /// Agent token → task.
    tokens: HashMap<String, String>,
    pending: HashMap<ConnId, oneshot::Sender<Response>>,
    reports_tx: mpsc::Sender<(String, AgentReport)>,
    /// Git reads of a worktree (off the loop) come back here, with the task they are for.
    git_tx: mpsc::UnboundedSender<(String, requests::GitRead)>,
    /// Agent requests per task waiting for a fresh git read, in arrival order; `true` while
    /// a read for the head of the queue is running.
    git_queue: HashMap<String, (bool, std::collections::VecDeque<(ConnId, Request)>)>,
    progress: &'a mut P,
    /// Set by `duet stop`: whether to stop the agents too.
    stop: Option<bool>,
    /// Where the pairs' CI watchers report.
    ci_watch_tx: mpsc::Sender<duet_ci::WatchEvent>,
    /// Runs `ci.command` (none when it is not set).
    ci_runner: Option<duet_ci::CiRunner>,
    /// Tests merge candidates (none when this engine does not land tasks or has no
    /// `ci.command`).
    candidate_ci: Option<duet_ci::CiRunner>,
    /// Each live pair's CI watchers.
    ci_watchers: HashMap<String, ci::CiWatchers>,
    /// The merge queue (none when this engine does not land tasks: `duet pair`, `merge.mode =
    /// "pr"`).
    merge: Option<merge::MergeQueue>,
    /// Where a merge candidate's CI run (off the loop) reports.
    queue_ci_tx: mpsc::UnboundedSender<duet_core::lifecycle::merge_queue::QueueEvent>,
    /// Where a pull request being opened (`merge.mode = "pr"`, off the loop) reports.
    pr_tx: mpsc::UnboundedSender<pr::PrOutcome>,
    /// Pull requests being opened now.
    prs_pending: usize,
    /// Polls the pairs' pull requests (none when `github.enabled` is off).
    github: Option<ci::Github>,
    /// Where the reviewer guard's checks report (`daemon/guard.rs`).
    guard_tx: guard::GuardResults,
    /// duet's gate runs under way (proof, TDD; `daemon/gates.rs`).
    gates: gates::Gates,
    /// Where reads of the agents' token records report (`daemon/usage.rs`).
    usage_tx: usage::UsageResults,
    /// Budget marks and seats parked on a usage limit.
    usage: usage::UsageState,
}

fn store_err(e: duet_store::StoreError) -> DaemonError {
    DaemonError::of_kind(DaemonErrorKind::Store, "write the state store", e)
}

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// One event in: the engine decides and carries out what follows, before the next one.
    fn handle(&mut self, event: EngineEvent) -> Result<(), DaemonError> {
        match event {
            EngineEvent::Request(incoming) => self.on_incoming(incoming),
            EngineEvent::Agent { task, report } => self.on_report(&task, report),
            EngineEvent::GitRead { task, read } => self.on_git_read(&task, read),
            EngineEvent::ScopeMeasured(measured) => self.on_scope_measured(measured),
            EngineEvent::BacklogChanged => self.reload_backlog(),
            EngineEvent::CiWatch(event) => self.on_ci_watch(event),
            EngineEvent::CiRun(event) => self.on_ci_run(event),
            EngineEvent::CandidateCi(event) => self.on_queue_ci(event),
            EngineEvent::PullRequest(outcome) => self.on_pull_request(outcome),
            EngineEvent::Github(event) => self.on_github(event),
            EngineEvent::ReviewerGuard(result) => self.on_guard(result),
            EngineEvent::Record(result) => self.on_record(result),
            EngineEvent::Tick => {
                self.on_tick()?;
                self.usage_tick()?;
                self.merge_tick()
            }
        }
    }

    fn append(&mut self, task: &str, event: Event) -> Result<(), DaemonError> {
        let at = i64::try_from(now().0).unwrap_or(i64::MAX);
        self.store
            .append(&NewEvent::for_task(at, task, event))
            .map_err(store_err)?;
        Ok(())
    }

    fn stored_state(&self, task: &str) -> Option<StateKind> {
        self.store.task(task).ok().flatten().map(|row| row.state)
    }

    /// The highest message number the store holds for `task` (0 for none).
    fn last_message_number(&self, task: &str) -> u64 {
        self.store
            .messages(Some(task))
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m.id.rsplit_once('#')?.1.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
    }

    fn place<'s>(
        &'s self,
        slot_session: &'s str,
        worktree: &'s std::path::Path,
        socket: &'s std::path::PathBuf,
    ) -> LaunchPlace<'s> {
        LaunchPlace {
            runtime: self.setup.runtime.as_ref(),
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
        // Agents that cannot start: the human is asked before anything is made.
        if let Err(reason) = (self.setup.check_agents)(&self.setup.config, &task) {
            tracing::error!("task {task_id}: {reason}");
            let task = task_id.to_string();
            self.decide(EngineInput::AgentsMissing { task, reason })?;
            return Ok(());
        }
        let mut prepared = match prepare_task(&self.repo, &self.setup.config, &task) {
            Ok(prepared) => prepared,
            Err(err) => return self.fail_unstarted(task_id, err.to_string()),
        };
        if let Some(text) = self.take_sent_back(task_id) {
            // Back from the merge queue: the worker starts with what to do about it.
            prepared.brief.prompt = format!(
                "{}\n\nThis task was finished once and came back from the merge queue: {text}",
                prepared.brief.prompt
            );
        }
        let seat = |role: Role, kind: AgentKind, profile: &str| {
            let mut seat = Seat::new(role, kind, profile, uuid::Uuid::new_v4().to_string());
            if kind == AgentKind::Claude {
                seat.session_id = Some(uuid::Uuid::new_v4().to_string());
            }
            seat
        };
        let mut state = PairState::new(
            task_id,
            &prepared.brief.base_commit,
            now(),
            prepared.pair_config.clone(),
        );
        state
            .mailbox
            .number_after(self.last_message_number(task_id));
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
        let mut started = controller.start(now());
        let session = session_name(&self.setup.repo_root, task_id);
        let socket = self.setup.socket_path();
        let launched = {
            let place = self.place(&session, &prepared.worktree, &socket);
            launch_pair(
                &place,
                &prepared.brief,
                [&prepared.worker, &prepared.reviewer],
                &mut controller,
                now(),
            )
        };
        let panes = match launched {
            Ok((panes, briefed)) => {
                started.extend(briefed);
                panes
            }
            Err(err) => return self.fail_unstarted(task_id, err.to_string()),
        };
        // Each agent's brief is handed over once its pane shows it at rest at its prompt.
        let watch = || {
            Some(crate::idle_watch::IdleWatch::new(
                std::time::Instant::now(),
                None,
            ))
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
            watches: [watch(), watch()],
            worker_hold: Default::default(),
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
                let agent = &slot.agents[usize::from(role == Role::Reviewer)];
                if duet_pair::launch::on_app_server(agent) {
                    return self.app_server_actor(task_id, &slot, role, tx.clone());
                }
                AgentHandle::spawn(
                    role,
                    slot.controller.seat(role).kind,
                    slot.panes.pane(role).to_string(),
                    self.setup.runtime.clone(),
                    tx.clone(),
                )
            })
            .collect();
        self.pairs.insert(task_id.to_string(), slot);
        self.start_ci(task_id);
    }

    /// A task that could not even start: failed, with the reason.
    fn fail_unstarted(&mut self, task_id: &str, reason: String) -> Result<(), DaemonError> {
        tracing::error!("task {task_id}: {reason}");
        let task = task_id.to_string();
        self.decide(EngineInput::CouldNotStart { task, reason })?;
        Ok(())
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
            other => return self.on_app_server_report(task, other),
        };
        self.apply(task, actions)
    }

    fn on_tick(&mut self) -> Result<(), DaemonError> {
        self.notice_dead_panes()?;
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
        self.ci_tick()
    }

    fn reload_backlog(&mut self) -> Result<(), DaemonError> {
        let mut read = read_backlog(self.setup);
        let facts = match &read {
            Ok(backlog) => Ok(self.task_facts(backlog)),
            Err(problems) => Err(problems.clone()),
        };
        let mut state = self.engine_state();
        let actions = engine_core::handle(&mut state, EngineInput::BacklogRead(facts));
        // The new backlog goes in place when the core says so, before what follows it (its
        // new tasks queued, the scheduler's picks started).
        for action in actions {
            if action == EngineAction::ReplaceBacklog {
                if let Ok(backlog) = std::mem::replace(&mut read, Err(String::new())) {
                    self.backlog = backlog;
                }
                continue;
            }
            let left = self.carry_out(vec![action])?;
            debug_assert!(left.is_empty(), "{left:?}");
        }
        Ok(())
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
            duet_pair::failpoint::committed(&events);
            if duet_proto::hop_log::hop_log_path().is_some() {
                requests::mark_committed(&events);
            }
        }
        let mut finished = false;
        for action in actions {
            match action {
                Action::Store(_) => {}
                Action::Respond { conn, response } => self.respond(conn, response),
                Action::Deliver { role, text, ids } => {
                    tracing::debug!("task {task}: delivering {ids:?} to the {role}");
                    if !ids.is_empty() {
                        (self.progress)(DaemonProgress::Agent {
                            task: task.to_string(),
                            role,
                            status: format!("message {} handed over", ids_text(&ids)),
                        });
                    }
                    let Some(slot) = self.pairs.get_mut(task) else {
                        continue;
                    };
                    let delivery = match role {
                        Role::Worker => slot.worker_hold.pass((text, ids)),
                        Role::Reviewer => Some((text, ids)),
                    };
                    if let (Some((text, ids)), Some(actor)) = (delivery, slot.actor(role)) {
                        duet_proto::hop_log::mark(
                            "engine.deliver",
                            format_args!("{role} {}", ids_text(&ids)),
                        );
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
                            self.setup.runtime.set_title(slot.panes.pane(role), &title);
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
            if self.stored_state(task) == Some(StateKind::Done) {
                if self.opens_pull_requests() {
                    if let Err(why) = self.open_pull_request(task) {
                        tracing::warn!("task {task}: no pull request: {why}");
                    }
                } else {
                    self.task_done(task)?;
                }
            }
            self.schedule()?;
        } else {
            // An approved HEAD starts the gates it needs (proof, TDD).
            self.poll_gates(task);
        }
        Ok(())
    }

    /// The task ended: its agents stop, its tokens are void, its slot is free.
    fn finish_pair(&mut self, task: &str) {
        self.stop_ci(task);
        if let Some(slot) = self.pairs.remove(task) {
            self.finished_bases
                .insert(task.to_string(), slot.brief.base_commit.clone());
            for seat in &slot.controller.seats {
                self.tokens.remove(&seat.token);
            }
            self.setup.runtime.stop_pair(&slot.session_name);
        }
        if let Some((_, waiting)) = self.git_queue.remove(task) {
            for (conn, _) in waiting {
                let message = format!("task `{task}` has ended");
                self.respond(conn, Response::error(ErrorKind::WrongState, message));
            }
        }
    }
}

fn ids_text(ids: &[duet_core::protocol::MessageId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
