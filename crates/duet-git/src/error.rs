//! The error type of duet-git: one struct carrying a typed kind and the underlying git2 error.

use std::fmt;
use std::path::PathBuf;

/// How many paths or commit ids an error message lists before summarising the rest.
const LISTED_IN_MESSAGE: usize = 10;

/// A failed git operation: what went wrong (`kind`) and, when libgit2 said why, its error.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct GitError {
    pub kind: GitErrorKind,
    #[source]
    pub source: Option<git2::Error>,
}

impl GitError {
    pub(crate) fn new(kind: GitErrorKind) -> Self {
        Self { kind, source: None }
    }

    /// A libgit2 failure while doing `action` (phrased to follow "failed to ").
    pub(crate) fn git(action: impl Into<String>, source: git2::Error) -> Self {
        Self {
            kind: GitErrorKind::Git {
                action: action.into(),
                message: source.message().to_owned(),
            },
            source: Some(source),
        }
    }

    /// A filesystem failure while doing `action` on `path`.
    pub(crate) fn io(
        action: impl Into<String>,
        path: impl Into<PathBuf>,
        err: &std::io::Error,
    ) -> Self {
        Self::new(GitErrorKind::Io {
            action: action.into(),
            path: path.into(),
            message: err.to_string(),
        })
    }
}

/// Commits that would be lost: how many, and the short ids of the first few.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmergedCommits {
    /// The base they are not reachable from.
    pub base: String,
    /// Total number of commits not reachable from `base`.
    pub count: usize,
    /// Abbreviated ids, newest first, at most ten.
    pub short_ids: Vec<String>,
}

impl fmt::Display for UnmergedCommits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.count == 1 { "commit" } else { "commits" };
        write!(f, "{} {noun} not on `{}` (", self.count, self.base)?;
        write_list(f, &self.short_ids, self.count)?;
        write!(f, ")")
    }
}

/// What went wrong, with the names (branch, path, base) needed to act on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitErrorKind {
    #[error("failed to open a git repository at {}: {message}", path.display())]
    Discover { path: PathBuf, message: String },

    #[error("failed to find a main working directory: the repository at {} is bare", path.display())]
    BareRepository { path: PathBuf },

    #[error("repository has no commits yet; make a first commit before running duet")]
    NoCommits,

    #[error("failed to find base `{base}`: no branch, tag or commit by that name")]
    BaseNotFound { base: String },

    #[error("failed to use task id `{task_id}`: {reason}")]
    InvalidTaskId { task_id: String, reason: String },

    #[error("failed to use branch prefix `{prefix}`: {reason}")]
    InvalidBranchPrefix { prefix: String, reason: String },

    #[error("failed to create worktree at {}: {detail}; duet leaves it untouched", path.display())]
    ForeignFolder { path: PathBuf, detail: String },

    #[error("failed to check out branch `{branch}`: it is already checked out at {}", path.display())]
    BranchCheckedOut { branch: String, path: PathBuf },

    #[error("failed to find a worktree for task `{task_id}` at {}", path.display())]
    WorktreeNotFound { task_id: String, path: PathBuf },

    #[error(
        "failed to remove worktree {}: {}; pass force to remove it anyway",
        path.display(),
        describe_blockers(dirty_paths, unmerged.as_deref())
    )]
    RemovalRefused {
        path: PathBuf,
        /// Modified, staged, deleted, conflicted and untracked paths (ignored files are not
        /// counted: they are build output by the repository's own declaration).
        dirty_paths: Vec<String>,
        unmerged: Option<Box<UnmergedCommits>>,
    },

    #[error("failed to remove worktree {}: it is locked ({reason}); pass force to remove it anyway", path.display())]
    Locked { path: PathBuf, reason: String },

    #[error(
        "failed to check branch `{branch}` against its base: no base is recorded for it; pass force to go ahead"
    )]
    BaseUnknown { branch: String },

    #[error("failed to find branch `{branch}`")]
    BranchNotFound { branch: String },

    #[error("failed to delete branch `{branch}`: it is checked out at {}", path.display())]
    BranchInUse { branch: String, path: PathBuf },

    #[error(
        "failed to delete branch `{branch}`: it has {unmerged}; pass force to delete it anyway"
    )]
    BranchUnmerged {
        branch: String,
        unmerged: Box<UnmergedCommits>,
    },

    #[error("failed to {action}: {message}")]
    Git { action: String, message: String },

    #[error("failed to {action} {}: {message}", path.display())]
    Io {
        action: String,
        path: PathBuf,
        message: String,
    },

    #[error("failed to {action}: `git` {message}")]
    GitCommand { action: String, message: String },

    #[error("failed to {action}: `gh` {message}")]
    GhCommand { action: String, message: String },

    #[error(
        "failed to advance `{base}` from {from} to {to}: {to} does not descend from {from} (only fast-forwards are allowed)"
    )]
    NotFastForward {
        base: String,
        from: String,
        to: String,
    },

    #[error("failed to land branch `{branch}` onto `{base}`: they share no history")]
    NoCommonHistory { branch: String, base: String },

    #[error(
        "failed to clean up after landing branch `{branch}`: it is at {now}, not at the landed {landed}; its newer commits are kept"
    )]
    LandedTipMoved {
        branch: String,
        landed: String,
        now: String,
    },

    /// The base moved but a checkout of it could not follow; `message` says how to finish.
    #[error("failed to update the checkout {} after the base moved: {message}", path.display())]
    CheckoutUpdate { path: PathBuf, message: String },
}

fn describe_blockers(dirty_paths: &[String], unmerged: Option<&UnmergedCommits>) -> String {
    let mut parts = Vec::new();
    if !dirty_paths.is_empty() {
        let mut text = String::from("it has uncommitted changes (");
        let _ = write_list(&mut text, dirty_paths, dirty_paths.len());
        text.push(')');
        parts.push(text);
    }
    if let Some(unmerged) = unmerged {
        parts.push(format!("it has {unmerged}"));
    }
    parts.join(" and ")
}

fn write_list(out: &mut impl fmt::Write, items: &[String], total: usize) -> fmt::Result {
    for (i, item) in items.iter().take(LISTED_IN_MESSAGE).enumerate() {
        if i > 0 {
            out.write_str(", ")?;
        }
        out.write_str(item)?;
    }
    let shown = items.len().min(LISTED_IN_MESSAGE);
    if total > shown {
        write!(out, " and {} more", total - shown)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_message_names_paths_and_commits() {
        let kind = GitErrorKind::RemovalRefused {
            path: PathBuf::from("/r/.duet/worktrees/t1"),
            dirty_paths: vec!["a.txt".into(), "new.txt".into()],
            unmerged: Some(Box::new(UnmergedCommits {
                base: "main".into(),
                count: 12,
                short_ids: (0..10).map(|i| format!("abc{i}")).collect(),
            })),
        };
        let text = kind.to_string();
        assert!(
            text.starts_with("failed to remove worktree /r/.duet/worktrees/t1: "),
            "{text}"
        );
        assert!(
            text.contains("uncommitted changes (a.txt, new.txt)"),
            "{text}"
        );
        assert!(text.contains("12 commits not on `main` (abc0,"), "{text}");
        assert!(text.contains("abc9 and 2 more)"), "{text}");
        assert!(text.ends_with("pass force to remove it anyway"), "{text}");
    }

    #[test]
    fn single_commit_is_singular() {
        let unmerged = UnmergedCommits {
            base: "dev".into(),
            count: 1,
            short_ids: vec!["1234567".into()],
        };
        assert_eq!(unmerged.to_string(), "1 commit not on `dev` (1234567)");
    }
}
