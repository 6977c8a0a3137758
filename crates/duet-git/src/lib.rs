//! Git worktrees and branches for tasks (git2): one branch `<prefix>/<task-id>` and one
//! linked worktree `<root>/<task-id>` per task, created idempotently and removed only when
//! nothing a user did there would be lost.

mod checkout;
mod error;
mod inspect;
pub mod land;
mod registration;
mod repo;
pub mod reviewer_guard;
mod worktree;

pub use error::{GitError, GitErrorKind, UnmergedCommits};
pub use repo::Repo;
pub use worktree::{ListedWorktree, Worktree, WorktreeManager};
