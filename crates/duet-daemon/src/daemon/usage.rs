//! Tokens, budgets and usage limits in the engine: at each turn end an agent's own record
//! (claude's transcript named by its hook, codex's rollout of its thread) is read off the loop,
//! its counts stored (`tokens_counted`), the task's and the run's spend checked against
//! `[budget]` (80 %: a note and `notify.command`, once; 100 %: the task goes to the human), and a
//! usage-limit error parks the seat until the reset time it states, then duet tells it to go on.
//! While parked, messages to the seat are held in its mailbox (`Mailbox::park`) and handed over
//! with the go-on, once. The run's budget counts what was spent since the run began (an engine
//! start with no task in flight; a restart with tasks in flight goes on with the same run). The
//! budget marks, parked seats and the run's start are saved in the store (engine state
//! [`USAGE_STATE`]) each time they change, so a restarted engine neither warns nor pauses twice.

use std::collections::BTreeMap;
use std::path::PathBuf;

use duet_agents::usage_records::{
    UsageRecord, find_codex_rollout, read_claude_transcript, read_codex_rollout,
};
use duet_core::accounting::{
    BudgetAction, BudgetMarks, Spend, TaskTokens, UsageByModel, assess_budget, park_until,
};
use duet_core::config::AgentKind;
use duet_core::lifecycle::StateKind;
use duet_core::protocol::Role;
use duet_proto::RequestBody;
use duet_store::Event;
use tokio::sync::mpsc;

use super::{Daemon, now};
use crate::{DaemonError, DaemonProgress};

/// Where a record is, for one seat's turn end.
#[derive(Debug, Clone)]
pub(super) struct RecordRead {
    pub task: String,
    pub role: Role,
    pub source: RecordSource,
    /// claude's StopFailure said the turn ended on a rate limit (`error: "rate_limit"`), with
    /// this text: a limit even if the transcript does not show it yet (claude writes its
    /// give-up line after the hook).
    pub limit_hint: Option<String>,
}

/// Which record to read.
#[derive(Debug, Clone)]
pub(super) enum RecordSource {
    /// claude's session transcript (the hook's `transcript_path`).
    Claude(PathBuf),
    /// codex's thread under its CODEX_HOME.
    Codex { home: PathBuf, thread: String },
}

/// A record read off the loop: its path and what it says.
pub(super) type RecordResult = (RecordRead, Option<(PathBuf, UsageRecord)>);

/// Where reads report back to the loop.
pub(super) type UsageResults = mpsc::UnboundedSender<RecordResult>;

/// How often, and how many times, a transcript whose StopFailure said "rate limit" is read
/// again until claude has written that turn's end (measured: within a second).
const RE_READ_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
const RE_READS: usize = 40;

/// The name the usage state is saved under in the store.
pub const USAGE_STATE: &str = "usage";

/// What the engine keeps between counts: budget marks and parked seats.
#[derive(Debug, Default, PartialEq)]
pub(super) struct UsageState {
    task_marks: BTreeMap<String, BudgetMarks>,
    run_marks: BudgetMarks,
    /// (task, role) → when its usage limit resets (ms since the epoch).
    parked: BTreeMap<(String, Role), u64>,
    /// The store's tokens by model when this run began: the run's spend is what came after.
    run_base: UsageByModel,
}

/// [`UsageState`] as JSON (a map with tuple keys has no JSON form: parked seats are a list).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct SavedUsage {
    #[serde(default)]
    task_marks: BTreeMap<String, BudgetMarks>,
    #[serde(default)]
    run_marks: BudgetMarks,
    #[serde(default)]
    parked: Vec<(String, Role, u64)>,
    #[serde(default)]
    run_base: UsageByModel,
}

impl UsageState {
    /// The state the store last saved (none: nothing was marked or parked yet).
    pub(super) fn load(store: &duet_store::Store) -> UsageState {
        let saved: SavedUsage = match store.engine_state(USAGE_STATE) {
            Ok(Some(json)) => serde_json::from_str(&json).unwrap_or_else(|e| {
                tracing::warn!("failed to read the saved budget marks ({e}); starting afresh");
                SavedUsage::default()
            }),
            Ok(None) => SavedUsage::default(),
            Err(e) => {
                tracing::warn!("failed to read the saved budget marks: {e}");
                SavedUsage::default()
            }
        };
        UsageState {
            task_marks: saved.task_marks,
            run_marks: saved.run_marks,
            parked: saved
                .parked
                .into_iter()
                .map(|(task, role, until)| ((task, role), until))
                .collect(),
            run_base: saved.run_base,
        }
    }

    /// A new run begins (the engine started with no task in flight): its budget starts from
    /// what the store holds now, with no marks.
    pub(super) fn begin_run(&mut self, all: &BTreeMap<String, TaskTokens>) {
        self.run_marks = BudgetMarks::default();
        self.run_base = all_usage(all);
    }

    /// What this run spent: the store's counts past [`UsageState::begin_run`]'s.
    pub(super) fn run_usage(&self, all: &BTreeMap<String, TaskTokens>) -> UsageByModel {
        all_usage(all)
            .into_iter()
            .map(|(model, counts)| {
                let base = self.run_base.get(&model).copied().unwrap_or_default();
                (model, counts.since(&base))
            })
            .collect()
    }

    /// The parked seats with their reset times (ms).
    pub(super) fn parked(&self) -> impl Iterator<Item = (&(String, Role), &u64)> {
        self.parked.iter()
    }

    /// Saves the state, with `events` in the same transaction.
    pub(super) fn save(
        &self,
        store: &mut duet_store::Store,
        events: &[duet_store::NewEvent],
    ) -> Result<(), duet_store::StoreError> {
        let saved = SavedUsage {
            task_marks: self.task_marks.clone(),
            run_marks: self.run_marks,
            parked: self
                .parked
                .iter()
                .map(|((task, role), until)| (task.clone(), *role, *until))
                .collect(),
            run_base: self.run_base.clone(),
        };
        let json = serde_json::to_string(&saved).expect("plain data serialises");
        store.commit_with_engine_state(events, USAGE_STATE, &json)?;
        Ok(())
    }

    /// Parks `role` of `task` until `until_ms`; false if it already was parked until then.
    pub(super) fn park(&mut self, task: &str, role: Role, until_ms: u64) -> bool {
        self.parked.insert((task.to_owned(), role), until_ms) != Some(until_ms)
    }

    /// The parked seats whose reset time has come at `now_ms` (still parked: see
    /// [`UsageState::unparked`]).
    pub(super) fn due(&self, now_ms: u64) -> Vec<(String, Role)> {
        self.parked
            .iter()
            .filter(|(_, until)| **until <= now_ms)
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// `role` of `task` was told to go on: parked no more.
    pub(super) fn unparked(&mut self, task: &str, role: Role) {
        self.parked.remove(&(task.to_owned(), role));
    }

    /// The human resumed or answered `task`: a budget that paused it pauses no more. True if
    /// that changed a mark (to be saved).
    pub(super) fn human_resumed(&mut self, task: &str) -> bool {
        let before = (self.task_marks.get(task).copied(), self.run_marks);
        if let Some(marks) = self.task_marks.get_mut(task) {
            duet_core::accounting::waive(marks);
        }
        duet_core::accounting::waive(&mut self.run_marks);
        before != (self.task_marks.get(task).copied(), self.run_marks)
    }
}

/// The record a hook payload points at, for the seat's kind: claude's Stop / StopFailure
/// name their transcript; codex's notify names its thread.
pub(super) fn record_of(
    task: &str,
    role: Role,
    kind: AgentKind,
    codex_home: Option<PathBuf>,
    body: &RequestBody,
) -> Option<RecordRead> {
    let RequestBody::Hook { payload, .. } = body else {
        return None;
    };
    let mut limit_hint = None;
    let source = match kind {
        AgentKind::Claude => {
            let event = payload.get("hook_event_name")?.as_str()?;
            if event != "Stop" && event != "StopFailure" {
                return None;
            }
            if event == "StopFailure"
                && payload.get("error").and_then(|e| e.as_str()) == Some("rate_limit")
            {
                let text = payload
                    .get("last_assistant_message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("API Error: rate_limit (429)");
                limit_hint = Some(text.to_owned());
            }
            RecordSource::Claude(payload.get("transcript_path")?.as_str()?.into())
        }
        AgentKind::Codex => {
            let thread = payload.get("thread-id")?.as_str()?.to_owned();
            RecordSource::Codex {
                home: codex_home?,
                thread,
            }
        }
    };
    Some(RecordRead {
        task: task.to_owned(),
        role,
        source,
        limit_hint,
    })
}

/// The rollout of `role`'s codex thread in `slot` (an app-server seat whose turn ended).
pub(super) fn codex_turn_record(
    task: &str,
    role: Role,
    slot: &crate::pair_slot::PairSlot,
) -> Option<RecordRead> {
    let setup = &slot.agents[usize::from(role == Role::Reviewer)];
    let home = duet_agents::adapter::codex_home(&setup.profile)?;
    let thread = slot
        .controller
        .seats
        .iter()
        .find(|s| s.role == role)?
        .session_id
        .clone()?;
    Some(RecordRead {
        task: task.to_owned(),
        role,
        source: RecordSource::Codex { home, thread },
        limit_hint: None,
    })
}

fn read(source: &RecordSource) -> Option<(PathBuf, UsageRecord)> {
    let path = match source {
        RecordSource::Claude(path) => path.clone(),
        RecordSource::Codex { home, thread } => find_codex_rollout(home, thread)?,
    };
    let record = match source {
        RecordSource::Claude(_) => read_claude_transcript(&path),
        RecordSource::Codex { .. } => read_codex_rollout(&path),
    };
    match record {
        Ok(record) => Some((path, record)),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// Reads the record off the loop (a transcript can be megabytes).
    pub(super) fn count_tokens(&self, read_at: Option<RecordRead>) {
        let Some(read_at) = read_at else { return };
        let tx = self.usage_tx.clone();
        tokio::task::spawn_blocking(move || {
            let result = read(&read_at.source);
            let settled = result
                .as_ref()
                .is_some_and(|(_, r)| r.limit_error.is_some());
            let hinted = read_at.limit_hint.is_some();
            let _ = tx.send((read_at.clone(), result));
            if hinted && !settled {
                // claude ran its StopFailure hook before writing the failed turn to its
                // transcript (nothing tells when it has): read again until the give-up line,
                // with the reset time its retries recorded, is there.
                for _ in 0..RE_READS {
                    std::thread::sleep(RE_READ_EVERY);
                    let again = read(&read_at.source);
                    if again.as_ref().is_some_and(|(_, r)| r.limit_error.is_some()) {
                        let _ = tx.send((read_at, again));
                        return;
                    }
                }
            }
        });
    }

    /// A record is back: store its counts, check the budgets, park on a usage limit.
    pub(super) fn on_record(&mut self, (at, result): RecordResult) -> Result<(), DaemonError> {
        let Some((path, record)) = result else {
            return Ok(());
        };
        let task = at.task.clone();
        let role = at.role.as_str().to_owned();
        self.append(
            &task,
            Event::TokensCounted {
                role: role.clone(),
                record: path.display().to_string(),
                usage: record.usage.clone(),
            },
        )?;
        if let Some(text) = record.limit_error.as_ref().or(at.limit_hint.as_ref()) {
            let now_ms = (self.setup.usage_clock)().0;
            let reset_s = park_until(record.limit_resets_at, text, now_ms / 1000);
            let until_ms = reset_s.saturating_mul(1000);
            if self.usage.park(&task, at.role, until_ms) {
                // Saved before the mailbox holds anything: a restart in between parks it again.
                self.save_usage()?;
                self.hold_messages(&task, at.role)?;
                let secs = until_ms.saturating_sub(now_ms) / 1000;
                let source = if record.limit_resets_at.is_some_and(|t| t == reset_s) {
                    "the reset time it recorded"
                } else {
                    "its reset"
                };
                let note = format!(
                    "the {role} hit a usage limit ({}); parked for {secs}s, until {source}, then duet tells it to go on (messages to it are held until then)",
                    text.trim(),
                );
                self.tell(&task, note)?;
            }
        }
        self.check_budgets(&task)
    }

    fn check_budgets(&mut self, task: &str) -> Result<(), DaemonError> {
        let budget = self.setup.config.budget;
        if budget.task.is_none() && budget.run.is_none() {
            return Ok(());
        }
        let all = self.store.task_tokens().unwrap_or_default();
        let pricing = &self.setup.config.pricing;
        let task_spend = all
            .get(task)
            .map(|t| t.spend(pricing).0)
            .unwrap_or_default();
        let run_usage = self.usage.run_usage(&all);
        let run_spend = Spend {
            tokens: duet_core::accounting::total_counts(&run_usage).total(),
            usd: pricing.cost(&run_usage).usd,
        };
        let mut actions = Vec::new();
        if let Some(b) = budget.task {
            let marks = self.usage.task_marks.entry(task.to_owned()).or_default();
            for a in assess_budget(&b, &task_spend, marks) {
                actions.push((
                    format!("the task's budget of {}", b.describe()),
                    a,
                    task_spend,
                ));
            }
        }
        if let Some(b) = budget.run {
            for a in assess_budget(&b, &run_spend, &mut self.usage.run_marks) {
                actions.push((
                    format!("the run's budget of {}", b.describe()),
                    a,
                    run_spend,
                ));
            }
        }
        if !actions.is_empty() {
            // Marked before it is acted on: a restarted engine does not warn or pause again.
            self.save_usage()?;
        }
        for (what, action, spend) in actions {
            match action {
                BudgetAction::Warn { percent } => {
                    let note = format!("{percent} % of {what} is used ({})", spent(&spend));
                    self.tell(task, note.clone())?;
                    crate::notify::tell(&self.setup.config.notify, task, "budget", &note);
                }
                BudgetAction::Pause { percent } => {
                    let reason = format!(
                        "{percent} % of {what} is used ({}); resume to go on past it",
                        spent(&spend)
                    );
                    let tasks: Vec<String> = if what.starts_with("the run") {
                        self.pairs.keys().cloned().collect()
                    } else {
                        vec![task.to_owned()]
                    };
                    for t in tasks {
                        if let Some(slot) = self.pairs.get_mut(&t) {
                            let actions = slot.controller.ci_needs_human(reason.clone(), now());
                            self.apply(&t, actions)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Saves the budget marks and parked seats in the store.
    pub(super) fn save_usage(&mut self) -> Result<(), DaemonError> {
        self.usage
            .save(&mut self.store, &[])
            .map_err(super::store_err)
    }

    /// Called once at the engine's start, with the budget marks loaded: with no task in flight
    /// a new run begins (its budget counts from here); else the run before goes on.
    pub(super) fn begin_or_continue_run(&mut self) -> Result<(), DaemonError> {
        let in_flight = self
            .store
            .task_states()
            .map_err(super::store_err)?
            .iter()
            .any(|row| {
                matches!(
                    row.state,
                    StateKind::Preparing
                        | StateKind::Working
                        | StateKind::Reviewing
                        | StateKind::NeedsHuman
                        | StateKind::Paused
                )
            });
        if !in_flight {
            let all = self.store.task_tokens().unwrap_or_default();
            self.usage.begin_run(&all);
            self.save_usage()?;
        }
        Ok(())
    }

    /// The seat's mailbox holds what is sent to it (from now until the go-on).
    fn hold_messages(&mut self, task: &str, role: Role) -> Result<(), DaemonError> {
        let Some(slot) = self.pairs.get_mut(task) else {
            return Ok(());
        };
        if slot.controller.is_parked(role) {
            return Ok(());
        }
        let actions = slot.controller.park(role, now());
        self.apply(task, actions)
    }

    /// The parked seats whose limit has reset are told to go on, with what was held for them.
    pub(super) fn usage_tick(&mut self) -> Result<(), DaemonError> {
        let now_ms = (self.setup.usage_clock)().0;
        // A seat parked in the saved usage state but not (yet) in its mailbox: the engine
        // stopped between the two, or the pair was adopted since. Held again.
        let to_hold: Vec<(String, Role)> = self
            .usage
            .parked()
            .filter(|(_, until)| **until > now_ms)
            .map(|(key, _)| key.clone())
            .collect();
        for (task, role) in to_hold {
            self.hold_messages(&task, role)?;
        }
        for (task, role) in self.usage.due(now_ms) {
            if let Some(slot) = self.pairs.get_mut(&task) {
                let text = format!(
                    "duet: the usage limit you hit has reset (parked until {} UTC). Go on with the task where you left off.",
                    clock_utc(now_ms / 1000)
                );
                // The mailbox says it once: an engine restarted after this and before the
                // save below asks again and is told nothing.
                let was_parked = slot.controller.is_parked(role);
                let actions = slot.controller.unpark(role, text, now());
                // Stored before what the unpark hands over, so that the log reads in order.
                if was_parked {
                    self.tell(
                        &task,
                        format!(
                            "the {} is unparked: its usage limit has reset",
                            role.as_str()
                        ),
                    )?;
                }
                self.apply(&task, actions)?;
            }
            self.usage.unparked(&task, role);
            self.save_usage()?;
        }
        Ok(())
    }

    /// A note in the task's log and the progress line.
    fn tell(&mut self, task: &str, note: String) -> Result<(), DaemonError> {
        tracing::info!("task {task}: {note}");
        (self.progress)(DaemonProgress::Note(format!("task {task}: {note}")));
        self.append(task, Event::Note { text: note })
    }
}

/// Tokens by model over all tasks.
fn all_usage(all: &BTreeMap<String, TaskTokens>) -> UsageByModel {
    let mut out = UsageByModel::new();
    for task in all.values() {
        for (model, counts) in task.usage(None) {
            out.entry(model).or_default().add(&counts);
        }
    }
    out
}

/// `HH:MM:SS` of a unix time, in UTC (the go-on text differs per park: a repeat is not
/// suppressed).
fn clock_utc(secs: u64) -> String {
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

fn spent(spend: &Spend) -> String {
    format!("{} tokens, ${:.2}", spend.tokens, spend.usd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_seat_is_due_at_its_reset_time_and_only_once() {
        let mut state = UsageState::default();
        assert!(state.park("t", Role::Worker, 10_000));
        assert!(
            !state.park("t", Role::Worker, 10_000),
            "the same limit read again"
        );
        assert!(state.due(9_999).is_empty());
        assert_eq!(state.due(10_000), vec![("t".to_owned(), Role::Worker)]);
        assert_eq!(
            state.due(10_001),
            vec![("t".to_owned(), Role::Worker)],
            "due until told to go on"
        );
        state.unparked("t", Role::Worker);
        assert!(state.due(20_000).is_empty());
        assert!(
            state.park("t", Role::Worker, 10_000),
            "parked again by a new limit"
        );
    }

    #[test]
    fn budget_marks_and_parked_seats_survive_a_restart_through_the_store() {
        use duet_core::accounting::Budget;
        let dir = tempfile::tempdir().unwrap();
        let mut store = duet_store::Store::open(dir.path().join("state.db")).unwrap();
        let budget = Budget::Tokens(1_000);
        let mut state = UsageState::load(&store);
        assert_eq!(state, UsageState::default(), "nothing saved yet");
        let marks = state.task_marks.entry("t".into()).or_default();
        let spend = Spend {
            tokens: 850,
            usd: 0.0,
        };
        assert_eq!(
            assess_budget(&budget, &spend, marks),
            [BudgetAction::Warn { percent: 85 }]
        );
        state.park("t", Role::Reviewer, 5_000);
        state.save(&mut store, &[]).unwrap();
        drop(store);

        // A restarted engine reads the marks back: the same spend warns no more.
        let store = duet_store::Store::open(dir.path().join("state.db")).unwrap();
        let mut again = UsageState::load(&store);
        assert_eq!(again, state);
        let marks = again.task_marks.entry("t".into()).or_default();
        assert!(assess_budget(&budget, &spend, marks).is_empty());
        // It still pauses at 100 %, once.
        let full = Spend {
            tokens: 1_000,
            usd: 0.0,
        };
        assert_eq!(
            assess_budget(&budget, &full, marks),
            [BudgetAction::Pause { percent: 100 }]
        );
        assert!(again.human_resumed("t"));
        assert!(!again.human_resumed("t"), "waived already: nothing to save");
        assert_eq!(again.due(5_000), [("t".to_owned(), Role::Reviewer)]);
        assert_eq!(again.run_base, state.run_base);
    }

    #[test]
    fn the_run_counts_what_was_spent_since_it_began() {
        use duet_core::accounting::TokenCounts;
        let counts = |input| TokenCounts {
            input,
            ..TokenCounts::default()
        };
        let tokens = |records: &[(&str, &str, u64)]| {
            let mut all: BTreeMap<String, TaskTokens> = BTreeMap::new();
            for (task, record, input) in records {
                all.entry((*task).to_owned()).or_default().record(
                    "worker",
                    record,
                    UsageByModel::from([("m".to_owned(), counts(*input))]),
                );
            }
            all
        };
        let mut state = UsageState::default();
        // An earlier run's task spent 500.
        let before = tokens(&[("old", "a.jsonl", 500)]);
        state.begin_run(&before);
        assert_eq!(state.run_usage(&before)["m"], counts(0));
        // This run: a new task spends 40, the old one's record grows by 10.
        let now = tokens(&[("old", "a.jsonl", 510), ("new", "b.jsonl", 40)]);
        assert_eq!(state.run_usage(&now)["m"], counts(50));
        // Saved and loaded (an engine restarted within the run): the same base.
        let dir = tempfile::tempdir().unwrap();
        let mut store = duet_store::Store::open(dir.path().join("state.db")).unwrap();
        state.save(&mut store, &[]).unwrap();
        assert_eq!(UsageState::load(&store).run_usage(&now)["m"], counts(50));
    }

    #[test]
    fn the_go_on_text_names_the_reset_time_in_utc() {
        assert_eq!(clock_utc(1_893_456_000 + 3 * 3600 + 4 * 60 + 5), "03:04:05");
    }

    #[test]
    fn claude_stop_names_the_transcript_and_codex_notify_the_thread() {
        let claude = RequestBody::Hook {
            source: duet_proto::HookSource::Claude,
            payload: serde_json::json!({"hook_event_name": "Stop", "transcript_path": "/h/t.jsonl"}),
        };
        let read = record_of("t", Role::Worker, AgentKind::Claude, None, &claude).unwrap();
        assert!(
            matches!(read.source, RecordSource::Claude(p) if p == std::path::Path::new("/h/t.jsonl"))
        );
        assert_eq!(read.limit_hint, None);
        let failed = RequestBody::Hook {
            source: duet_proto::HookSource::Claude,
            payload: serde_json::json!({"hook_event_name": "StopFailure", "transcript_path": "/h/t.jsonl",
                "error": "rate_limit", "last_assistant_message": "API Error: Request rejected (429) · slow down"}),
        };
        let read = record_of("t", Role::Worker, AgentKind::Claude, None, &failed).unwrap();
        assert_eq!(
            read.limit_hint.as_deref(),
            Some("API Error: Request rejected (429) · slow down")
        );
        let pre = RequestBody::Hook {
            source: duet_proto::HookSource::Claude,
            payload: serde_json::json!({"hook_event_name": "PreToolUse", "transcript_path": "/h/t.jsonl"}),
        };
        assert!(record_of("t", Role::Worker, AgentKind::Claude, None, &pre).is_none());
        let codex = RequestBody::Hook {
            source: duet_proto::HookSource::Codex,
            payload: serde_json::json!({"type": "agent-turn-complete", "thread-id": "th1"}),
        };
        let read = record_of(
            "t",
            Role::Reviewer,
            AgentKind::Codex,
            Some("/c".into()),
            &codex,
        )
        .unwrap();
        assert!(matches!(read.source, RecordSource::Codex { thread, .. } if thread == "th1"));
        assert!(record_of("t", Role::Reviewer, AgentKind::Codex, None, &codex).is_none());
    }
}
