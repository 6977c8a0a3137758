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
    read_git_facts_of(worktree, None)
}

/// [`read_git_facts`], where for a plan task (`plan_base`: the commit its branch left the base
/// at) an untracked `PLAN.md` at the worktree root does not count as a change (the plan stays
/// off the branch, and `request_review`/`mark_done` still see a clean worktree), and a HEAD
/// whose tree adds or changes `PLAN.md` against that commit is said to put it on the branch.
pub fn read_git_facts_of(worktree: &Path, plan_base: Option<&str>) -> Option<GitFacts> {
    let plan_task = plan_base.is_some();
    let repo = git2::Repository::open(worktree).ok()?;
    let head_commit = repo.head().ok()?.peel_to_commit().ok()?;
    let head = head_commit.id().to_string();
    let plan_on_branch = plan_base.is_some_and(|base| {
        let plan_at = |commit: &git2::Commit| {
            commit
                .tree()
                .ok()
                .and_then(|tree| tree.get_path(Path::new(PLAN_FILE)).ok())
                .map(|entry| entry.id())
        };
        let at_base = git2::Oid::from_str(base)
            .ok()
            .and_then(|oid| repo.find_commit(oid).ok())
            .and_then(|commit| plan_at(&commit));
        plan_at(&head_commit).is_some_and(|blob| Some(blob) != at_base)
    });
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let clean = repo.statuses(Some(&mut options)).ok()?.iter().all(|entry| {
        plan_task && entry.status() == git2::Status::WT_NEW && entry.path().ok() == Some(PLAN_FILE)
    });
    Some(GitFacts {
        head,
        clean,
        plan_on_branch,
    })
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
        let base = repo_head(root);
        let plan_task = Some(base.as_str());
        assert!(read_git_facts_of(root, plan_task).unwrap().clean);
        assert!(!read_git_facts(root).unwrap().clean);
        // Anything besides the plan is still a change, and so is a PLAN.md elsewhere.
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub").join(PLAN_FILE), "x").unwrap();
        assert!(!read_git_facts_of(root, plan_task).unwrap().clean);
        std::fs::remove_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), "b").unwrap();
        assert!(!read_git_facts_of(root, plan_task).unwrap().clean);
        drop_untracked_plan(root);
        assert_eq!(read_plan(root), "");
    }

    fn repo_head(root: &Path) -> String {
        let repo = git2::Repository::open(root).unwrap();
        repo.head()
            .unwrap()
            .peel_to_commit()
            .unwrap()
            .id()
            .to_string()
    }

    #[test]
    fn a_head_that_adds_or_changes_the_plan_puts_it_on_the_branch() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        std::fs::write(root.join("a.txt"), "a").unwrap();
        git(root, &["add", "a.txt"]);
        git(root, &["commit", "-qm", "base"]);
        let base = repo_head(root);
        let on_branch = |base: &str| read_git_facts_of(root, Some(base)).unwrap().plan_on_branch;
        assert!(!on_branch(&base));
        // Added on the branch.
        std::fs::write(root.join(PLAN_FILE), "1. do it\n").unwrap();
        git(root, &["add", PLAN_FILE]);
        git(root, &["commit", "-qm", "plan"]);
        assert!(on_branch(&base));
        // Not asked for a task without a plan step.
        assert!(!read_git_facts(root).unwrap().plan_on_branch);
        // Dropped from the branch again (kept untracked): off it, and the worktree clean.
        git(root, &["rm", "-q", "--cached", PLAN_FILE]);
        git(root, &["commit", "-qm", "drop the plan"]);
        let facts = read_git_facts_of(root, Some(&base)).unwrap();
        assert!(!facts.plan_on_branch && facts.clean, "{facts:?}");
        // A base that has a PLAN.md of its own: only a change of it counts.
        std::fs::write(root.join(PLAN_FILE), "the project's plan\n").unwrap();
        git(root, &["add", PLAN_FILE]);
        git(root, &["commit", "-qm", "project plan"]);
        let with_plan = repo_head(root);
        assert!(!on_branch(&with_plan));
        std::fs::write(root.join(PLAN_FILE), "changed\n").unwrap();
        git(root, &["commit", "-qam", "change it"]);
        assert!(on_branch(&with_plan));
    }
}
