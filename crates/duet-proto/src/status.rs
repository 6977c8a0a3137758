//! The typed status API: one [`StatusSnapshot`] of every task, the [`StatusChange`]s a
//! subscription streams, and the pure bookkeeping both ends share ([`StatusLog`] on the server:
//! diffs and a bounded ring of recent changes; [`StatusSnapshot::apply`] on the client).
//!
//! Sequence numbers: every change gets the next `seq`; a snapshot's `seq` is the last change it
//! contains. A feed starts its numbering at its start time in milliseconds shifted left by 20
//! bits ([`StatusLog::starting_at`]), so the numbers of a restarted duet are above those of the
//! one before: a client that reconnects with an old `from_seq` gets a full snapshot, never a
//! gap.

use std::collections::{HashMap, HashSet, VecDeque};

use duet_core::accounting::TokenCounts;
use duet_core::config::AgentKind;
use duet_core::lifecycle::StateKind;
use duet_core::lifecycle::TaskState as LifeState;
use duet_core::lifecycle::scheduler::Blocker;
use duet_core::protocol::delivery::TargetStatus;
use duet_core::protocol::{PairState, Role};
use serde::{Deserialize, Serialize};

/// The version of the status shapes below; bumped on an incompatible change.
pub const STATUS_VERSION: u32 = 1;

/// Recent changes a feed keeps for clients that reconnect (older ones get a snapshot).
pub const DEFAULT_RING: usize = 1024;

/// Every task at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    pub version: u32,
    /// The last change this snapshot contains (0 for one read from the store).
    pub seq: u64,
    /// True when it comes from a running duet, false when read from `.duet/state.db`.
    pub live: bool,
    pub tasks: Vec<TaskStatus>,
}

/// One task as `duet status` and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub id: String,
    pub title: String,
    pub state: StateKind,
    /// Why the task is in this state, when the change said so.
    #[serde(default)]
    pub reason: Option<String>,
    /// When it entered this state (ms since the epoch), when known.
    #[serde(default)]
    pub since_ms: Option<i64>,
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Review rounds so far, and the rounds allowed before the human is asked.
    pub round: u32,
    #[serde(default)]
    pub max_rounds: u32,
    pub worker: AgentStatus,
    pub reviewer: AgentStatus,
    pub branch: String,
    /// The task branch's last known commit.
    #[serde(default)]
    pub head: Option<String>,
    /// When the task last changed (ms since the epoch), if it ever did.
    #[serde(default)]
    pub last_activity_ms: Option<i64>,
    /// Why a queued task does not start now (the scheduler's reasons).
    #[serde(default)]
    pub waiting: Vec<Blocker>,
    /// A pair works on it now.
    #[serde(default)]
    pub running: bool,
    /// The running duet's own account of the pair, in words.
    #[serde(default)]
    pub activity: Option<String>,
    /// The tmux session of its pair, for attaching.
    #[serde(default)]
    pub session: Option<String>,
    /// The tmux server (`tmux -L NAME`) that holds `session`, as the running duet says: where
    /// the dashboard attaches (it never guesses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmux_server: Option<String>,
    /// What the branch changes against the base (the running duet's `git diff --shortstat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diffstat: Option<DiffStat>,
    /// False for tasks the store knows but the backlog no longer lists.
    #[serde(default = "yes")]
    pub in_backlog: bool,
    /// Set while the task needs the human.
    #[serde(default)]
    pub needs_human: Option<NeedsHuman>,
    /// CI at the branch's HEAD (filled by the CI feature; absent until then).
    #[serde(default)]
    pub ci: Option<CiStatus>,
    /// Merge-queue position or state (filled by the merge queue; absent until then).
    #[serde(default)]
    pub merge: Option<MergeStatus>,
    /// Tokens the task's agents used and what they cost (absent until a record was counted;
    /// added in version 1 without a bump: older readers ignore it, newer ones default it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenUsage>,
}

/// What a task's agents used: tokens by kind (both seats, every session) and the cost by the
/// engine's `[pricing]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Both agents together.
    pub total: TokenCounts,
    /// The worker's part (the reviewer's is `total` less this).
    #[serde(default)]
    pub worker: TokenCounts,
    /// USD; models without a price count nothing (they are listed in `unpriced`).
    pub usd: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpriced: Vec<String>,
}

impl TokenUsage {
    /// Sums tasks' usage (the run's total).
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a TokenUsage>) -> Option<TokenUsage> {
        let mut out: Option<TokenUsage> = None;
        for usage in all {
            let sum = out.get_or_insert_with(TokenUsage::default);
            sum.total.add(&usage.total);
            sum.worker.add(&usage.worker);
            sum.usd += usage.usd;
            for model in &usage.unpriced {
                if !sum.unpriced.contains(model) {
                    sum.unpriced.push(model.clone());
                }
            }
        }
        out
    }
}

fn yes() -> bool {
    true
}

/// One agent of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The agent profile (`claude`, `codex`, or a profile of duet.toml).
    pub profile: String,
    #[serde(default)]
    pub kind: Option<AgentKind>,
    pub state: AgentState,
}

impl AgentStatus {
    /// An agent not running (or not known to run): only its profile.
    pub fn idle_profile(profile: impl Into<String>, kind: Option<AgentKind>) -> Self {
        AgentStatus {
            profile: profile.into(),
            kind,
            state: AgentState::Unknown,
        }
    }
}

/// What an agent is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Launched, not at its prompt yet.
    Starting,
    /// A turn runs (or messages were just typed in).
    Working,
    /// At its prompt, nothing running.
    AtRest,
    /// Waiting for a permission answer.
    WaitingPermission,
    /// Its process is gone.
    Dead,
    /// No pair runs, or nothing is known.
    Unknown,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Starting => "starting",
            AgentState::Working => "working",
            AgentState::AtRest => "at rest",
            AgentState::WaitingPermission => "waiting permission",
            AgentState::Dead => "dead",
            AgentState::Unknown => "unknown",
        }
    }
}

impl From<TargetStatus> for AgentState {
    fn from(status: TargetStatus) -> Self {
        match status {
            TargetStatus::Starting => AgentState::Starting,
            TargetStatus::Idle { .. } => AgentState::AtRest,
            TargetStatus::Prompted { .. } | TargetStatus::Busy => AgentState::Working,
            TargetStatus::WaitingPermission { .. } => AgentState::WaitingPermission,
            TargetStatus::Exited => AgentState::Dead,
        }
    }
}

/// Why a task needs the human, since when, and what shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeedsHuman {
    pub reason: String,
    #[serde(default)]
    pub since_ms: Option<i64>,
    /// The repeated findings, the question asked, the permission prompt: one item a line.
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// CI at a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiStatus {
    pub sha: String,
    /// `running`, `passed`, `failed`.
    pub state: String,
    #[serde(default)]
    pub excerpt: Option<String>,
}

/// What a task's branch changes against the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffStat {
    pub files: u32,
    pub insertions: u32,
    pub deletions: u32,
}

impl DiffStat {
    /// Reads git's `--shortstat` line (` 2 files changed, 5 insertions(+), 1 deletion(-)`);
    /// an empty one is no change.
    pub fn from_shortstat(line: &str) -> Option<DiffStat> {
        let mut stat = DiffStat {
            files: 0,
            insertions: 0,
            deletions: 0,
        };
        for part in line.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (count, what) = part.split_once(' ')?;
            let count: u32 = count.parse().ok()?;
            if what.starts_with("file") {
                stat.files = count;
            } else if what.starts_with("insertion") {
                stat.insertions = count;
            } else if what.starts_with("deletion") {
                stat.deletions = count;
            } else {
                return None;
            }
        }
        Some(stat)
    }
}

/// Where a finished task is on its way into the base branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeStatus {
    /// `queued`, `merging`, `merged`, `conflict`, `refused`...
    pub state: String,
    #[serde(default)]
    pub position: Option<u32>,
}

/// One change streamed by a subscription: the task's new status, or `None` when it is gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    pub seq: u64,
    pub id: String,
    #[serde(default)]
    pub task: Option<TaskStatus>,
}

impl StatusSnapshot {
    pub fn new(seq: u64, live: bool, tasks: Vec<TaskStatus>) -> Self {
        StatusSnapshot {
            version: STATUS_VERSION,
            seq,
            live,
            tasks,
        }
    }

    /// Applies one streamed change (a change at or below `seq` is already in; ignored).
    pub fn apply(&mut self, change: StatusChange) {
        if change.seq <= self.seq {
            return;
        }
        self.seq = change.seq;
        let at = self.tasks.iter().position(|t| t.id == change.id);
        match (at, change.task) {
            (Some(i), Some(task)) => self.tasks[i] = task,
            (None, Some(task)) => self.tasks.push(task),
            (Some(i), None) => {
                self.tasks.remove(i);
            }
            (None, None) => {}
        }
    }
}

impl TaskStatus {
    /// A task as a running pair sees it: state, round, HEAD, agents, why it needs the human.
    /// Title, branch and priority are the caller's to fill (the pair does not know them).
    pub fn from_pair(
        state: &PairState,
        worker: (&str, AgentKind),
        reviewer: (&str, AgentKind),
    ) -> TaskStatus {
        let agent = |(profile, kind): (&str, AgentKind), role| AgentStatus {
            profile: profile.to_string(),
            kind: Some(kind),
            state: AgentState::from(state.mailbox.target(role)),
        };
        let reason = match &state.task_state {
            LifeState::NeedsHuman { reason, .. } | LifeState::Failed { reason } => {
                Some(reason.clone())
            }
            _ => None,
        };
        let needs_human = match &state.task_state {
            LifeState::NeedsHuman { reason, .. } => {
                let mut evidence: Vec<String> = state
                    .open_findings
                    .iter()
                    .map(|f| format!("finding: {f}"))
                    .collect();
                if let Some((check, times)) = &state.failing_check {
                    evidence.push(format!("failing check {check}, {times} times"));
                }
                for role in [Role::Worker, Role::Reviewer] {
                    if let TargetStatus::WaitingPermission { .. } = state.mailbox.target(role) {
                        evidence.push(format!("the {role} waits for a permission answer"));
                    }
                }
                Some(NeedsHuman {
                    reason: reason.clone(),
                    since_ms: None,
                    evidence,
                })
            }
            _ => None,
        };
        TaskStatus {
            id: state.task_id.clone(),
            title: String::new(),
            state: state.task_state.kind(),
            reason,
            since_ms: None,
            priority: 0,
            depends_on: Vec::new(),
            round: state.round,
            max_rounds: state.config.limits.max_rounds,
            worker: agent(worker, Role::Worker),
            reviewer: agent(reviewer, Role::Reviewer),
            branch: String::new(),
            head: Some(state.head_commit.clone()).filter(|h| !h.is_empty()),
            last_activity_ms: None,
            waiting: Vec::new(),
            running: true,
            activity: Some(state.status_text()),
            session: None,
            tmux_server: None,
            diffstat: None,
            in_backlog: true,
            needs_human,
            ci: None,
            merge: None,
            tokens: None,
        }
    }
}

/// What a subscriber is sent to catch up from its `from_seq`.
#[derive(Debug, Clone, PartialEq)]
pub enum Catchup {
    /// The changes after `from_seq` (maybe none).
    Changes(Vec<StatusChange>),
    /// Too far behind (or new, or from another run): everything.
    Snapshot(StatusSnapshot),
}

/// The server's side of the feed: the current tasks, the last seq, a bounded ring of recent
/// changes. Pure: the socket server wraps it in a lock and wakes subscribers.
#[derive(Debug, Clone)]
pub struct StatusLog {
    seq: u64,
    tasks: Vec<TaskStatus>,
    ring: VecDeque<StatusChange>,
    capacity: usize,
}

impl StatusLog {
    /// A log whose numbering starts at `seq` (see the module docs), keeping `capacity` changes.
    pub fn new(seq: u64, capacity: usize) -> Self {
        StatusLog {
            seq,
            tasks: Vec::new(),
            ring: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// A log numbered from `start_ms` (ms since the epoch) so that a later run's numbers are
    /// higher.
    pub fn starting_at(start_ms: u64, capacity: usize) -> Self {
        StatusLog::new(start_ms << 20, capacity)
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn snapshot(&self) -> StatusSnapshot {
        StatusSnapshot::new(self.seq, true, self.tasks.clone())
    }

    /// Replaces the tasks; answers the changes (one per task that differs, then one per task
    /// gone), each with its new seq, also kept in the ring.
    pub fn publish(&mut self, tasks: Vec<TaskStatus>) -> Vec<StatusChange> {
        // By id, so a publish stays linear in the number of tasks.
        let old: HashMap<&str, &TaskStatus> =
            self.tasks.iter().map(|t| (t.id.as_str(), t)).collect();
        let mut changes = Vec::new();
        for task in &tasks {
            if old.get(task.id.as_str()) != Some(&task) {
                changes.push((task.id.clone(), Some(task.clone())));
            }
        }
        let new: HashSet<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        for old in &self.tasks {
            if !new.contains(old.id.as_str()) {
                changes.push((old.id.clone(), None));
            }
        }
        self.tasks = tasks;
        let changes: Vec<StatusChange> = changes
            .into_iter()
            .map(|(id, task)| {
                self.seq += 1;
                StatusChange {
                    seq: self.seq,
                    id,
                    task,
                }
            })
            .collect();
        for change in &changes {
            if self.ring.len() == self.capacity {
                self.ring.pop_front();
            }
            self.ring.push_back(change.clone());
        }
        changes
    }

    /// What a client that has seen everything up to `from_seq` needs (`None`: everything).
    pub fn since(&self, from_seq: Option<u64>) -> Catchup {
        let Some(from) = from_seq else {
            return Catchup::Snapshot(self.snapshot());
        };
        if from == self.seq {
            return Catchup::Changes(Vec::new());
        }
        let oldest = self.ring.front().map_or(self.seq + 1, |c| c.seq);
        if from > self.seq || from + 1 < oldest {
            return Catchup::Snapshot(self.snapshot());
        }
        Catchup::Changes(self.ring.iter().filter(|c| c.seq > from).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_shortstat_line_is_read_and_a_strange_one_refused() {
        assert_eq!(
            DiffStat::from_shortstat(" 2 files changed, 5 insertions(+), 1 deletion(-)\n"),
            Some(DiffStat {
                files: 2,
                insertions: 5,
                deletions: 1
            })
        );
        assert_eq!(
            DiffStat::from_shortstat(" 1 file changed, 3 deletions(-)"),
            Some(DiffStat {
                files: 1,
                insertions: 0,
                deletions: 3
            })
        );
        assert_eq!(
            DiffStat::from_shortstat(""),
            Some(DiffStat {
                files: 0,
                insertions: 0,
                deletions: 0
            })
        );
        assert_eq!(DiffStat::from_shortstat("fatal: bad revision"), None);
    }

    use super::*;

    fn task(id: &str, state: StateKind) -> TaskStatus {
        TaskStatus {
            id: id.into(),
            title: format!("task {id}"),
            state,
            reason: None,
            since_ms: None,
            priority: 0,
            depends_on: Vec::new(),
            round: 0,
            max_rounds: 5,
            worker: AgentStatus::idle_profile("claude", Some(AgentKind::Claude)),
            reviewer: AgentStatus::idle_profile("codex", Some(AgentKind::Codex)),
            branch: format!("duet/{id}"),
            head: None,
            last_activity_ms: None,
            waiting: Vec::new(),
            running: false,
            activity: None,
            session: None,
            tmux_server: None,
            diffstat: None,
            in_backlog: true,
            needs_human: None,
            ci: None,
            merge: None,
            tokens: None,
        }
    }

    #[test]
    fn publish_numbers_only_what_changed() {
        let mut log = StatusLog::new(100, 8);
        let first = log.publish(vec![
            task("a", StateKind::Queued),
            task("b", StateKind::Queued),
        ]);
        assert_eq!(first.iter().map(|c| c.seq).collect::<Vec<_>>(), [101, 102]);
        assert!(
            log.publish(vec![
                task("a", StateKind::Queued),
                task("b", StateKind::Queued)
            ])
            .is_empty()
        );
        let second = log.publish(vec![task("a", StateKind::Working)]);
        assert_eq!(second.len(), 2);
        assert_eq!(second[0].task.as_ref().unwrap().state, StateKind::Working);
        assert_eq!(
            (second[1].id.as_str(), second[1].task.is_none()),
            ("b", true)
        );
        assert_eq!(log.seq(), 104);
    }

    #[test]
    fn a_client_catching_up_gets_the_missed_changes_then_nothing_twice() {
        let mut log = StatusLog::new(0, 8);
        log.publish(vec![task("a", StateKind::Queued)]);
        let mut client = match log.since(None) {
            Catchup::Snapshot(s) => s,
            other => panic!("{other:?}"),
        };
        log.publish(vec![task("a", StateKind::Working)]);
        log.publish(vec![task("a", StateKind::NeedsHuman)]);
        let Catchup::Changes(missed) = log.since(Some(client.seq)) else {
            panic!("expected changes");
        };
        assert_eq!(missed.len(), 2);
        for change in missed.clone() {
            client.apply(change);
        }
        // Applying the same changes again changes nothing.
        for change in missed {
            client.apply(change);
        }
        assert_eq!(client.tasks, log.snapshot().tasks);
        assert_eq!(log.since(Some(client.seq)), Catchup::Changes(Vec::new()));
    }

    #[test]
    fn too_far_behind_or_from_another_run_gets_a_snapshot() {
        let mut log = StatusLog::new(0, 2);
        for state in [StateKind::Queued, StateKind::Working, StateKind::Reviewing] {
            log.publish(vec![task("a", state)]);
        }
        // Seq 1 fell out of the ring of 2 (it holds 2 and 3): from 0 is a gap.
        assert!(matches!(log.since(Some(0)), Catchup::Snapshot(_)));
        assert!(matches!(log.since(Some(1)), Catchup::Changes(c) if c.len() == 2));
        // A seq above ours comes from another (earlier, numbered higher) run.
        assert!(matches!(log.since(Some(99)), Catchup::Snapshot(_)));
        let later = StatusLog::starting_at(2_000, 4);
        let earlier = StatusLog::starting_at(1_000, 4);
        assert!(later.seq() > earlier.seq() + 1_000_000);
    }

    #[test]
    fn agent_states_come_from_the_mailbox() {
        use duet_core::protocol::Timestamp;
        assert_eq!(
            AgentState::from(TargetStatus::Idle {
                since: Timestamp(1)
            }),
            AgentState::AtRest
        );
        assert_eq!(AgentState::from(TargetStatus::Exited), AgentState::Dead);
        assert_eq!(
            serde_json::to_value(AgentState::WaitingPermission).unwrap(),
            "waiting_permission"
        );
    }
}
