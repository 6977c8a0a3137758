//! Telling the human: `notify.command` runs (with `sh -c`) when a task starts needing the human
//! and when it stops, with `DUET_TASK`, `DUET_REASON`, `DUET_MESSAGE` (and `DUET_EVENT`:
//! `needs-human` or `cleared`) in its environment. Rate-limited; a failure is logged, never
//! fatal; each child is waited for on a thread of its own, so the loop never blocks and no
//! zombie is left.

use std::collections::{HashMap, VecDeque};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use duet_proto::status::StatusChange;

/// At most this many runs of the command within [`RATE_WINDOW`]; the rest are logged and
/// dropped (a burst of tasks needing the human must not fork-bomb the machine).
pub const RATE_LIMIT: usize = 10;
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// One thing to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub task: String,
    /// `needs-human` or `cleared`.
    pub event: &'static str,
    pub reason: String,
    pub message: String,
}

/// Which tasks need the human, and the rate limit.
#[derive(Debug)]
pub struct Notifier {
    command: Option<String>,
    needing: HashMap<String, bool>,
    /// The first look only learns the current state: a restarted daemon does not repeat what
    /// the one before told.
    seeded: bool,
    recent: VecDeque<Instant>,
}

impl Notifier {
    pub fn new(command: Option<String>) -> Self {
        Notifier {
            command,
            needing: HashMap::new(),
            seeded: false,
            recent: VecDeque::new(),
        }
    }

    /// The notices these changes call for (pure: no command runs).
    pub fn notices(&mut self, changes: &[StatusChange]) -> Vec<Notice> {
        let mut notices = Vec::new();
        for change in changes {
            let now = change.task.as_ref().and_then(|t| t.needs_human.as_ref());
            let was = self
                .needing
                .insert(change.id.clone(), now.is_some())
                .unwrap_or(false);
            if !self.seeded {
                continue;
            }
            match (was, now) {
                (false, Some(needs)) => notices.push(Notice {
                    task: change.id.clone(),
                    event: "needs-human",
                    reason: needs.reason.clone(),
                    message: format!("duet: task {} needs you: {}", change.id, needs.reason),
                }),
                (true, None) => notices.push(Notice {
                    task: change.id.clone(),
                    event: "cleared",
                    reason: String::new(),
                    message: format!("duet: task {} no longer needs you", change.id),
                }),
                _ => {}
            }
        }
        self.seeded = true;
        notices
    }

    /// Whether one more run fits the rate limit at `now` (and counts it if so).
    pub fn admit(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|at| now.duration_since(*at) >= RATE_WINDOW)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= RATE_LIMIT {
            return false;
        }
        self.recent.push_back(now);
        true
    }

    /// Runs the command for each notice these changes call for; answers the waiting threads.
    pub fn on_changes(&mut self, changes: &[StatusChange]) -> Vec<JoinHandle<()>> {
        let notices = self.notices(changes);
        let Some(command) = self.command.clone() else {
            return Vec::new();
        };
        let mut waiting = Vec::new();
        for notice in notices {
            if !self.admit(Instant::now()) {
                tracing::warn!(
                    "notify.command not run for task {} ({}): over {RATE_LIMIT} runs a minute",
                    notice.task,
                    notice.event
                );
                continue;
            }
            match spawn(&command, &notice) {
                Ok(handle) => waiting.push(handle),
                Err(err) => tracing::warn!(
                    "failed to run notify.command for task {}: {err}",
                    notice.task
                ),
            }
        }
        waiting
    }
}

/// Runs `notify.command` once for an engine notice that is no needs-human change (a budget
/// nearly used up): `DUET_EVENT` is `event`.
pub fn tell(
    config: &duet_core::config::NotifyConfig,
    task: &str,
    event: &'static str,
    message: &str,
) {
    let Some(command) = &config.command else {
        return;
    };
    let notice = Notice {
        task: task.to_owned(),
        event,
        reason: message.to_owned(),
        message: format!("duet: task {task}: {message}"),
    };
    if let Err(err) = spawn(command, &notice) {
        tracing::warn!("failed to run notify.command for task {task}: {err}");
    }
}

/// Starts the command and a thread that waits for it and logs how it ended.
fn spawn(command: &str, notice: &Notice) -> std::io::Result<JoinHandle<()>> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("DUET_TASK", &notice.task)
        .env("DUET_REASON", &notice.reason)
        .env("DUET_MESSAGE", &notice.message)
        .env("DUET_EVENT", notice.event)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let task = notice.task.clone();
    Ok(std::thread::spawn(move || match child.wait() {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!("notify.command for task {task} ended with {status}"),
        Err(err) => tracing::warn!("failed to wait for notify.command for task {task}: {err}"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_core::lifecycle::StateKind;
    use duet_proto::status::{AgentStatus, NeedsHuman, TaskStatus};

    fn change(seq: u64, id: &str, needs: Option<&str>) -> StatusChange {
        StatusChange {
            seq,
            id: id.into(),
            task: Some(TaskStatus {
                id: id.into(),
                title: String::new(),
                state: if needs.is_some() {
                    StateKind::NeedsHuman
                } else {
                    StateKind::Working
                },
                reason: needs.map(str::to_string),
                since_ms: None,
                priority: 0,
                depends_on: Vec::new(),
                round: 0,
                max_rounds: 5,
                worker: AgentStatus::idle_profile("claude", None),
                reviewer: AgentStatus::idle_profile("codex", None),
                branch: String::new(),
                head: None,
                last_activity_ms: None,
                waiting: Vec::new(),
                running: true,
                activity: None,
                session: None,
                tmux_server: None,
                diffstat: None,
                in_backlog: true,
                needs_human: needs.map(|r| NeedsHuman {
                    reason: r.into(),
                    since_ms: None,
                    evidence: Vec::new(),
                }),
                ci: None,
                merge: None,
                tokens: None,
            }),
        }
    }

    #[test]
    fn tells_once_when_a_task_starts_needing_the_human_and_once_when_it_clears() {
        let mut n = Notifier::new(None);
        // The first look (a daemon starting) only learns.
        assert!(n.notices(&[change(1, "a", Some("old"))]).is_empty());
        assert!(n.notices(&[change(2, "b", None)]).is_empty());
        let told = n.notices(&[change(3, "b", Some("stuck"))]);
        assert_eq!(told.len(), 1);
        assert_eq!((told[0].task.as_str(), told[0].event), ("b", "needs-human"));
        assert_eq!(told[0].message, "duet: task b needs you: stuck");
        // Still needing it (another field changed): nothing new.
        assert!(n.notices(&[change(4, "b", Some("stuck"))]).is_empty());
        let cleared = n.notices(&[change(5, "b", None), change(6, "a", None)]);
        assert_eq!(
            cleared
                .iter()
                .map(|c| (c.task.as_str(), c.event))
                .collect::<Vec<_>>(),
            [("b", "cleared"), ("a", "cleared")]
        );
    }

    #[test]
    fn the_rate_limit_lets_a_burst_through_then_waits_for_the_window() {
        let mut n = Notifier::new(None);
        let t0 = Instant::now();
        for _ in 0..RATE_LIMIT {
            assert!(n.admit(t0));
        }
        assert!(!n.admit(t0 + Duration::from_secs(59)));
        assert!(n.admit(t0 + RATE_WINDOW));
    }

    #[test]
    fn the_command_gets_the_task_reason_and_message_and_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env.txt");
        let script = dir.path().join("notify.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s|%s|%s|%s\\n' \"$DUET_TASK\" \"$DUET_EVENT\" \"$DUET_REASON\" \"$DUET_MESSAGE\" >> {}\nexit 3\n",
                out.display()
            ),
        )
        .unwrap();
        let mut n = Notifier::new(Some(format!("sh {}", script.display())));
        assert!(n.on_changes(&[change(1, "a", None)]).is_empty());
        let waiting = n.on_changes(&[change(2, "a", Some("max rounds reached"))]);
        assert_eq!(waiting.len(), 1);
        // The script fails (exit 3): logged, and the waiting thread ends normally.
        for handle in waiting {
            handle.join().unwrap();
        }
        for handle in n.on_changes(&[change(3, "a", None)]) {
            handle.join().unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "a|needs-human|max rounds reached|duet: task a needs you: max rounds reached\n\
             a|cleared||duet: task a no longer needs you\n"
        );
    }

    #[test]
    fn a_command_that_cannot_start_is_not_fatal() {
        let mut n = Notifier::new(Some("exec /nonexistent/notify".into()));
        n.notices(&[change(1, "a", None)]);
        for handle in n.on_changes(&[change(2, "a", Some("stuck"))]) {
            handle.join().unwrap();
        }
    }
}
