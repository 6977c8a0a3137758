//! The run's summary: each backlog task's outcome (state, rounds, commits, messages).

use duet_core::lifecycle::StateKind;
use duet_pair::git_facts::commits_since;
use duet_store::MessageState;

use super::Daemon;
use crate::{DaemonProgress, MessageCounts, RunSummary, TaskOutcome};

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    pub(super) fn summary(&self, interrupted: bool) -> RunSummary {
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
                    .or_else(|| self.finished_bases.get(t.id.as_str()).cloned())
                    .or_else(|| {
                        duet_pair::git_facts::fork_point(
                            &worktree,
                            t.base_branch(&self.setup.config),
                        )
                    });
                let mut messages = MessageCounts::default();
                for message in self.store.messages(Some(t.id.as_str())).unwrap_or_default() {
                    match message.state {
                        MessageState::Accepted => {}
                        MessageState::Delivered => messages.delivered += 1,
                        MessageState::Suppressed => messages.suppressed += 1,
                    }
                    messages.accepted += 1;
                }
                TaskOutcome {
                    id: t.id.to_string(),
                    state: row
                        .as_ref()
                        .map_or("queued".to_string(), |r| match &r.reason {
                            Some(reason) if r.state == StateKind::NeedsHuman => {
                                format!("{}: {reason}", r.state)
                            }
                            _ => r.state.to_string(),
                        }),
                    rounds: row.as_ref().map_or(0, |r| r.round),
                    commits: if row.as_ref().is_some_and(|r| r.state == StateKind::Merged) {
                        // Landed: the branch and worktree may be gone; the base has the commits.
                        duet_git::land::landed_commits(
                            &self.repo,
                            t.base_branch(&self.setup.config),
                            t.id.as_str(),
                            10_000,
                        )
                        .unwrap_or_default()
                    } else {
                        base.map_or_else(Vec::new, |b| commits_since(&worktree, &b))
                    },
                    messages,
                }
            })
            .collect();
        RunSummary { tasks, interrupted }
    }
}
