//! Reading the task worktree's HEAD and cleanliness (git2), for the protocol's done and review rules.

use std::path::Path;

use duet_core::protocol::plan::PLAN_FILE;

use crate::controller::GitFacts;

/// The text of `PLAN.md` at the worktree root (empty when it is missing or unreadable: the
/// protocol then refuses the plan review with "missing or empty").
pub fn read_plan(worktree: &Path) -> String {
    std::fs::read_to_string(worktree.join(PLAN_FILE)).unwrap_or_default()
}

/// HEAD's commit id and whether the worktree has no uncommitted changes (untracked files
/// count as changes; ignored files do not). `None` if the worktree cannot be read.
pub fn read_git_facts(worktree: &Path) -> Option<GitFacts> {
    read_git_facts_of(worktree, false)
}

/// [`read_git_facts`], where for a plan task (`plan_task`) an untracked `PLAN.md` at the
/// worktree root does not count as a change: the plan stays off the branch, and
/// `request_review`/`mark_done` still see a clean worktree.
pub fn read_git_facts_of(worktree: &Path, plan_task: bool) -> Option<GitFacts> {
    let repo = git2::Repository::open(worktree).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?.id().to_string();
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let clean = repo.statuses(Some(&mut options)).ok()?.iter().all(|entry| {
        plan_task && entry.status() == git2::Status::WT_NEW && entry.path().ok() == Some(PLAN_FILE)
    });
    Some(GitFacts { head, clean })
}

/// Commits on `head` that are not on `base`, newest first (short ids and subjects).
pub fn commits_since(worktree: &Path, base: &str) -> Vec<String> {
    let Ok(repo) = git2::Repository::open(worktree) else {
        return Vec::new();
    };
    let (Ok(base), Ok(mut walk)) = (git2::Oid::from_str(base), repo.revwalk()) else {
        return Vec::new();
    };
    if walk.push_head().is_err() || walk.hide(base).is_err() {
        return Vec::new();
    }
    walk.filter_map(Result::ok)
        .filter_map(|oid| repo.find_commit(oid).ok())
        .map(|c| {
            format!(
                "{} {}",
                &c.id().to_string()[..7],
                c.summary().ok().flatten().unwrap_or("")
            )
        })
        .collect()
}

/// The commit where the task branch (the worktree's HEAD) left `base` (a branch, tag or sha).
pub fn fork_point(worktree: &Path, base: &str) -> Option<String> {
    let repo = git2::Repository::open(worktree).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?.id();
    let base = repo.revparse_single(base).ok()?.peel_to_commit().ok()?.id();
    Some(repo.merge_base(head, base).ok()?.to_string())
}

/// Removes the plan step's `PLAN.md` from a landed task's worktree when it is untracked: it is
/// kept in the store (`plan_reviewed`) and never on the branch, and left there it would make
/// the worktree dirty and its removal refused. A tracked PLAN.md is the task's own file.
pub fn drop_untracked_plan(worktree: &std::path::Path) {
    let Ok(repo) = git2::Repository::open(worktree) else {
        return;
    };
    if repo
        .status_file(std::path::Path::new(PLAN_FILE))
        .is_ok_and(|status| status == git2::Status::WT_NEW)
    {
        let _ = std::fs::remove_file(worktree.join(PLAN_FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn an_untracked_plan_is_clean_only_for_a_plan_task() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        std::fs::write(root.join("a.txt"), "a").unwrap();
        git(root, &["add", "a.txt"]);
        git(root, &["commit", "-qm", "a"]);
        std::fs::write(root.join(PLAN_FILE), "1. do it\n").unwrap();
        assert_eq!(read_plan(root), "1. do it\n");
        assert!(read_git_facts_of(root, true).unwrap().clean);
        assert!(!read_git_facts(root).unwrap().clean);
        // Anything besides the plan is still a change, and so is a PLAN.md elsewhere.
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub").join(PLAN_FILE), "x").unwrap();
        assert!(!read_git_facts_of(root, true).unwrap().clean);
        std::fs::remove_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), "b").unwrap();
        assert!(!read_git_facts_of(root, true).unwrap().clean);
        drop_untracked_plan(root);
        assert_eq!(read_plan(root), "");
    }
}
