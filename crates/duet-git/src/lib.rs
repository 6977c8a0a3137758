//! Git worktrees and branches for tasks (git2).
