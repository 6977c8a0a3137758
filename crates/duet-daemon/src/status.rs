//! Every task's typed status (`duet_proto::status`): built from the backlog, the store's rows
//! and the running pairs, for the daemon's answer to `status`, its subscription feed
//! ([`Publisher`]), and `duet status` / `duet dash` with no duet running (no pairs, not live).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use duet_agents::tmux::session_name;
use duet_core::accounting::{Pricing, TaskTokens, total_counts};
use duet_core::backlog::Backlog;
use duet_core::config::Config;
use duet_core::lifecycle::StateKind;
use duet_core::lifecycle::merge_queue::QueueRow;
use duet_core::lifecycle::scheduler::{
    Blocker, DependencyRule, TaskView, count_running, why_blocked_all_with,
};
use duet_core::protocol::Role;
use duet_pair::socket::{StatusFeed, StatusReader};
use duet_proto::status::{AgentStatus, NeedsHuman, StatusSnapshot, TaskStatus, TokenUsage};
use duet_store::{Event, EventFilter, Store, TaskRow};

use crate::notify::Notifier;
use crate::pair_slot::PairSlot;

/// What the statuses are built from.
#[derive(Debug, Clone, Copy)]
pub struct StatusInputs<'a> {
    pub backlog: &'a Backlog,
    pub config: &'a Config,
    pub repo_root: &'a Path,
    /// True for a running duet (the scheduler's slot reasons count), false for the store's view.
    pub live: bool,
    /// When a dependency stops holding a task back (merged, with the local merge queue).
    pub dependency_rule: DependencyRule,
}

/// When the task entered its current state: the time of its last state change in the store.
pub fn state_since(store: &Store, task: &str) -> Option<i64> {
    let events = store.events(&EventFilter::all().task(task)).ok()?;
    events
        .iter()
        .rev()
        .find(|e| matches!(e.event, Event::TaskStateChanged { .. }))
        .map(|e| e.at_ms)
}

/// Every backlog task (then those the store remembers but the backlog dropped), in backlog
/// order. `since` answers when a row's task entered its state (asked only for tasks that need
/// the human, are paused or failed: it reads the task's events).
pub fn task_statuses(
    inputs: StatusInputs<'_>,
    rows: &[TaskRow],
    pairs: &BTreeMap<String, PairSlot>,
    since: &mut dyn FnMut(&TaskRow) -> Option<i64>,
) -> Vec<TaskStatus> {
    let StatusInputs {
        backlog,
        config,
        repo_root,
        live,
        dependency_rule,
    } = inputs;
    let rows: BTreeMap<&str, &TaskRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let views: Vec<TaskView> = backlog
        .tasks
        .iter()
        .map(|t| TaskView {
            id: t.id.to_string(),
            priority: t.priority,
            depends_on: t.depends_on.iter().map(ToString::to_string).collect(),
            state: rows
                .get(t.id.as_str())
                .map_or(StateKind::Queued, |r| r.state),
        })
        .collect();
    let running = count_running(&views);
    let max = config.max_parallel.get();
    let all_blockers = why_blocked_all_with(dependency_rule, &views, running, max);
    let max_rounds = config.review.max_rounds.get();
    let agent = |profile: &str| {
        AgentStatus::idle_profile(profile, config.agents.get(profile).map(|p| p.kind))
    };
    let mut out: Vec<TaskStatus> = backlog
        .tasks
        .iter()
        .zip(all_blockers)
        .map(|(t, blockers)| {
            let row = rows.get(t.id.as_str()).copied();
            let waiting = blockers
                .into_iter()
                .filter(|b| match b {
                    Blocker::NotQueued { .. } => false,
                    // With no duet running there are no slots to wait for.
                    Blocker::NoFreeSlot { .. } | Blocker::WaitingForSlot { .. } => live,
                    _ => true,
                })
                .collect();
            let base = TaskStatus {
                id: t.id.to_string(),
                title: t.title.clone(),
                state: row.map_or(StateKind::Queued, |r| r.state),
                reason: row.and_then(|r| r.reason.clone()),
                since_ms: None,
                priority: t.priority,
                depends_on: t.depends_on.iter().map(ToString::to_string).collect(),
                round: row.map_or(0, |r| r.round),
                max_rounds,
                worker: agent(t.worker_profile(config)),
                reviewer: agent(t.reviewer_profile(config)),
                branch: config.task_branch(&t.id),
                head: row.and_then(|r| r.head_sha.clone()),
                last_activity_ms: row.map(|r| r.updated_at_ms),
                waiting,
                running: false,
                activity: None,
                session: None,
                tmux_server: None,
                diffstat: None,
                in_backlog: true,
                needs_human: None,
                ci: ci_status(pairs.get(t.id.as_str()), row),
                merge: None,
                tokens: None,
            };
            finish(base, row, pairs.get(t.id.as_str()), repo_root, since)
        })
        .collect();
    // Tasks the store remembers but the backlog dropped are still shown, so nothing vanishes.
    let listed: std::collections::HashSet<&str> =
        backlog.tasks.iter().map(|t| t.id.as_str()).collect();
    for row in rows.values() {
        if listed.contains(row.id.as_str()) {
            continue;
        }
        let base = TaskStatus {
            id: row.id.clone(),
            title: row.title.clone().unwrap_or_default(),
            state: row.state,
            reason: row.reason.clone(),
            since_ms: None,
            priority: 0,
            depends_on: Vec::new(),
            round: row.round,
            max_rounds,
            worker: AgentStatus::idle_profile("", None),
            reviewer: AgentStatus::idle_profile("", None),
            branch: format!("{}/{}", config.branch_prefix, row.id),
            head: row.head_sha.clone(),
            last_activity_ms: Some(row.updated_at_ms),
            waiting: Vec::new(),
            running: false,
            activity: None,
            session: None,
            tmux_server: None,
            diffstat: None,
            in_backlog: false,
            needs_human: None,
            ci: None,
            merge: None,
            tokens: None,
        };
        out.push(finish(base, Some(row), None, repo_root, since));
    }
    out
}

/// The pair's live view over the stored one, the session, and why it needs the human.
fn finish(
    mut status: TaskStatus,
    row: Option<&TaskRow>,
    pair: Option<&PairSlot>,
    repo_root: &Path,
    since: &mut dyn FnMut(&TaskRow) -> Option<i64>,
) -> TaskStatus {
    if let Some(pair) = pair {
        let live = pair.controller.task_status();
        status.state = live.state;
        status.reason = live.reason.or(status.reason);
        status.round = live.round.max(status.round);
        status.max_rounds = live.max_rounds;
        status.worker = live.worker;
        status.reviewer = live.reviewer;
        status.head = live.head.or(status.head);
        status.running = true;
        status.activity = live.activity;
        status.session = Some(pair.session_name.clone());
        status.needs_human = live.needs_human;
    } else if status.state.occupies_slot() || status.state == StateKind::Paused {
        // Agents outlive a stopped duet in tmux; their session is where to look.
        status.session = Some(session_name(repo_root, &status.id));
    }
    if let Some(row) = row
        && matches!(
            status.state,
            StateKind::NeedsHuman | StateKind::Paused | StateKind::Failed
        )
    {
        status.since_ms = since(row);
    }
    if status.state == StateKind::NeedsHuman {
        let needs = status.needs_human.get_or_insert_with(|| NeedsHuman {
            reason: status
                .reason
                .clone()
                .unwrap_or_else(|| "no reason given".into()),
            since_ms: None,
            evidence: Vec::new(),
        });
        needs.since_ms = status.since_ms;
    } else {
        status.needs_human = None;
    }
    status
}

/// The daemon's status feed: builds the statuses after each turn of its loop, publishes what
/// changed to subscribers, tells the human (`notify.command`) when a task starts or stops
/// needing them, and shows the count on duet's tmux status lines.
#[derive(Debug)]
pub struct Publisher {
    feed: StatusFeed,
    /// Task → (its last event seq, when it entered its state): reads a task's events only
    /// when something happened to it.
    since: HashMap<String, (i64, Option<i64>)>,
    notifier: Notifier,
    runtime: duet_pair::SharedRuntime,
    repo_root: PathBuf,
    /// The needs-human count last shown on the tmux status lines, and on which sessions.
    shown: Option<(usize, Vec<String>)>,
    diffstats: crate::diffstat::DiffStats,
    reporter: crate::report_io::Reporter,
}

impl Publisher {
    pub fn new(
        config: &Config,
        repo_root: &Path,
        runtime: duet_pair::SharedRuntime,
        start_ms: u64,
    ) -> Self {
        Publisher {
            feed: StatusFeed::new(start_ms, duet_proto::status::DEFAULT_RING),
            since: HashMap::new(),
            notifier: Notifier::new(config.notify.command.clone()),
            runtime,
            repo_root: repo_root.to_path_buf(),
            shown: None,
            diffstats: crate::diffstat::DiffStats::new(repo_root),
            reporter: crate::report_io::Reporter::new(repo_root),
        }
    }

    pub fn reader(&self) -> StatusReader {
        self.feed.reader()
    }

    /// One look at every task; subscribers get what changed.
    pub fn publish(
        &mut self,
        backlog: &Backlog,
        config: &Config,
        store: &Store,
        pairs: &BTreeMap<String, PairSlot>,
        merge: Option<&[QueueRow]>,
    ) {
        let rows = match store.task_states() {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!("failed to read the task states for the status feed: {err}");
                return;
            }
        };
        let cache = &mut self.since;
        let mut since = |row: &TaskRow| {
            if let Some((seq, at)) = cache.get(&row.id)
                && *seq == row.last_event_seq
            {
                return *at;
            }
            let at = state_since(store, &row.id);
            cache.insert(row.id.clone(), (row.last_event_seq, at));
            at
        };
        let inputs = StatusInputs {
            backlog,
            config,
            repo_root: &self.repo_root,
            live: true,
            dependency_rule: dependency_rule(config, merge.is_some()),
        };
        let mut tasks = task_statuses(inputs, &rows, pairs, &mut since);
        with_merge_queue(&mut tasks, merge.unwrap_or_default());
        with_tokens(&mut tasks, store, &config.pricing);
        // Where the dashboard attaches: this runtime's server, for tasks with a session.
        let server = self.runtime.attach_server();
        for task in tasks.iter_mut().filter(|t| t.session.is_some()) {
            task.tmux_server.clone_from(&server);
        }
        for task in &mut tasks {
            if let Some(head) = &task.head {
                task.diffstat = self.diffstats.get(&task.id, &config.base_branch, head);
            }
        }
        let needing = tasks.iter().filter(|t| t.needs_human.is_some()).count();
        let changes = self.feed.publish(tasks);
        if changes.is_empty() {
            return;
        }
        self.notifier.on_changes(&changes);
        self.reporter.on_changes(&changes, backlog, config);
        let sessions: Vec<String> = pairs.values().map(|p| p.session_name.clone()).collect();
        if self.shown.as_ref() != Some(&(needing, sessions.clone())) {
            let text = match needing {
                0 => String::new(),
                1 => "duet: 1 task needs you ".to_string(),
                n => format!("duet: {n} tasks need you "),
            };
            for session in &sessions {
                self.runtime.set_status_line(session, &text);
            }
            self.shown = Some((needing, sessions));
        }
    }
}

/// The dependency rule of a duet with this config; `merges`: it runs the merge queue (`duet
/// pair` does not).
pub fn dependency_rule(config: &Config, merges: bool) -> DependencyRule {
    if merges && config.merge.mode == duet_core::config::MergeMode::Local {
        DependencyRule::Merged
    } else {
        DependencyRule::Done
    }
}

/// The name the merge queue's state is saved under in the store.
pub const MERGE_QUEUE_STATE: &str = "merge-queue";

/// The merge queue's rows as the store last saved them (a status with no duet running).
pub fn stored_merge_rows(store: &Store) -> Vec<QueueRow> {
    #[derive(serde::Deserialize)]
    struct Saved {
        queue: duet_core::lifecycle::merge_queue::QueueState,
    }
    store
        .engine_state(MERGE_QUEUE_STATE)
        .ok()
        .flatten()
        .and_then(|json| serde_json::from_str::<Saved>(&json).ok())
        .map(|saved| saved.queue.rows())
        .unwrap_or_default()
}

/// Each task's place in the merge queue (its row's position and what it waits for).
pub fn with_merge_queue(tasks: &mut [TaskStatus], rows: &[QueueRow]) {
    for row in rows {
        if let Some(task) = tasks.iter_mut().find(|t| t.id == row.task_id) {
            task.merge = Some(duet_proto::status::MergeStatus {
                state: row.what.clone(),
                position: row.position.and_then(|p| u32::try_from(p).ok()),
            });
        }
    }
}

/// Each task's tokens and cost, from the store's latest count of each of its agents' records,
/// priced by `pricing`. A task with no counted record keeps `tokens: None` (its status, and
/// `duet status` without any counts, stay as they were).
pub fn with_tokens(tasks: &mut [TaskStatus], store: &Store, pricing: &Pricing) {
    let all = match store.task_tokens() {
        Ok(all) => all,
        Err(err) => {
            tracing::warn!("failed to read the token counts for the status: {err}");
            return;
        }
    };
    for task in tasks {
        task.tokens = all.get(&task.id).map(|t| token_usage(t, pricing));
    }
}

/// One task's counts as the status shows them.
pub fn token_usage(tokens: &TaskTokens, pricing: &Pricing) -> TokenUsage {
    let (_, cost) = tokens.spend(pricing);
    TokenUsage {
        total: total_counts(&tokens.usage(None)),
        worker: total_counts(&tokens.usage(Some(Role::Worker.as_str()))),
        usd: cost.usd,
        unpriced: cost.unpriced,
    }
}

/// The answer to `status` (all tasks, or the one asked for), read now.
pub fn snapshot_now(
    inputs: StatusInputs<'_>,
    store: &Store,
    pairs: &BTreeMap<String, PairSlot>,
    only: Option<&str>,
) -> StatusSnapshot {
    let rows = store.task_states().unwrap_or_default();
    let mut tasks = task_statuses(inputs, &rows, pairs, &mut |row| state_since(store, &row.id));
    with_tokens(&mut tasks, store, &inputs.config.pricing);
    if let Some(only) = only {
        tasks.retain(|t| t.id == only);
    }
    StatusSnapshot::new(0, inputs.live, tasks)
}

/// CI at the task's HEAD: from its running pair's CI state (pending, running, passed, failed with
/// the description naming the failing tests), else the last result the store recorded.
fn ci_status(
    pair: Option<&PairSlot>,
    row: Option<&duet_store::TaskRow>,
) -> Option<duet_proto::status::CiStatus> {
    use duet_core::protocol::ci::{CiGate, Waiting, ci_gate, describe_head};
    if let Some(pair) = pair {
        let state = &pair.controller.state;
        // The CI watcher's head moves with the branch, whoever commits; the pair's own is read
        // from git only when an agent acts.
        let head = state.ci.head.as_ref().unwrap_or(&state.head_commit);
        // No commit of the task yet (CI never runs the base), or no CI at all.
        let at_base = state.ci.base.as_deref() == Some(head.as_str());
        if head.is_empty()
            || at_base && !state.ci.runs.contains_key(head)
            || !state.config.ci.has_command && !state.ci.runs.contains_key(head)
        {
            return None;
        }
        let kind = match ci_gate(&state.ci, head, &state.config.ci) {
            CiGate::Ok => "passed".to_string(),
            CiGate::Waiting(Waiting::Running) => "running".to_string(),
            CiGate::Waiting(Waiting::Pending) => "pending".to_string(),
            CiGate::Failed { .. } => "failed".to_string(),
        };
        return Some(duet_proto::status::CiStatus {
            sha: head.clone(),
            state: kind,
            excerpt: Some(describe_head(&state.ci, head, &state.config.ci)),
        });
    }
    row.and_then(|r| r.ci.as_ref())
        .map(|ci| duet_proto::status::CiStatus {
            sha: ci.sha.clone(),
            state: if ci.passed { "passed" } else { "failed" }.into(),
            excerpt: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_store::NewEvent;

    const BACKLOG: &str = r#"
[[task]]
id = "parser"
title = "Write the parser"
prompt = "Write it."

[[task]]
id = "printer"
title = "Pretty printer"
prompt = "Print it."
depends_on = ["parser"]
worker = "codex"
reviewer = "claude"
"#;

    fn backlog(config: &Config) -> Backlog {
        Backlog::from_toml_str(BACKLOG, Path::new("backlog.toml"), config, Path::new(".")).unwrap()
    }

    #[test]
    fn a_stored_needs_human_task_says_why_and_since_when() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::default();
        let backlog = backlog(&config);
        let mut store = Store::open(dir.path().join("state.db")).unwrap();
        let append = |store: &mut Store, at, event| {
            store
                .append(&NewEvent::for_task(at, "parser", event))
                .unwrap();
        };
        append(&mut store, 1_000, Event::TaskQueued { title: None });
        append(
            &mut store,
            7_000,
            Event::TaskStateChanged {
                from: StateKind::Queued,
                to: StateKind::NeedsHuman,
                reason: Some("the pair looks stuck".into()),
            },
        );
        let inputs = StatusInputs {
            backlog: &backlog,
            config: &config,
            repo_root: Path::new("/repos/demo"),
            live: false,
            dependency_rule: DependencyRule::Done,
        };
        let snapshot = snapshot_now(inputs, &store, &BTreeMap::new(), None);
        assert!(!snapshot.live);
        let parser = &snapshot.tasks[0];
        assert_eq!(parser.state, StateKind::NeedsHuman);
        let needs = parser.needs_human.as_ref().unwrap();
        assert_eq!(needs.reason, "the pair looks stuck");
        assert_eq!(needs.since_ms, Some(7_000));
        assert_eq!(parser.session.as_deref(), Some("duet-demo-parser"));
        let printer = &snapshot.tasks[1];
        assert_eq!(printer.worker.profile, "codex");
        assert_eq!(printer.state, StateKind::Queued);
        assert!(
            matches!(&printer.waiting[..], [Blocker::Dependency { id, .. }] if id == "parser"),
            "{:?}",
            printer.waiting
        );
        assert!(printer.needs_human.is_none());
    }
}
