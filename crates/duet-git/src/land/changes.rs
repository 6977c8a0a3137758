//! Which files a change touches, and which files two changes both touch: the early warning
//! "the base moved and touched files your branch changes too".

use git2::{Diff, DiffOptions, Oid, Repository};

use super::{GitError, branch_tip, parse_commit};
use crate::repo::Repo;

/// The files `branch` changes since it left `base` (against their merge base, as
/// `git diff base...branch`), sorted. A rename counts as its old and its new path.
pub fn changed_files(repo: &Repo, base: &str, branch: &str) -> Result<Vec<String>, GitError> {
    let git = repo.main();
    let base_tip = branch_tip(git, base)?;
    let tip = branch_tip(git, branch)?;
    let fork = git
        .merge_base(base_tip, tip)
        .map_err(|e| GitError::git(format!("find where `{branch}` left `{base}`"), e))?;
    paths_between(git, fork, tip)
}

/// The files that differ between commits `old` and `new` (what a base move changed), sorted.
pub fn files_between(repo: &Repo, old: &str, new: &str) -> Result<Vec<String>, GitError> {
    let git = repo.main();
    paths_between(git, parse_commit(git, old)?, parse_commit(git, new)?)
}

/// The commits on `base` that carry task `task_id`'s `Duet-Task` trailer (what the merge queue
/// landed for it), newest first, walking at most `limit` commits back from the base's tip.
pub fn landed_commits(
    repo: &Repo,
    base: &str,
    task_id: &str,
    limit: usize,
) -> Result<Vec<String>, GitError> {
    let git = repo.main();
    let tip = branch_tip(git, base)?;
    let trailer = format!("{}: {task_id}", super::candidate::TASK_TRAILER);
    let mut walk = git
        .revwalk()
        .map_err(|e| GitError::git(format!("walk `{base}`"), e))?;
    walk.push(tip)
        .map_err(|e| GitError::git(format!("walk `{base}`"), e))?;
    let mut found = Vec::new();
    for oid in walk.take(limit) {
        let oid = oid.map_err(|e| GitError::git(format!("walk `{base}`"), e))?;
        let commit = git
            .find_commit(oid)
            .map_err(|e| GitError::git(format!("read commit {oid}"), e))?;
        let message = commit.message().unwrap_or_default();
        if message.lines().any(|line| line.trim() == trailer) {
            found.push(oid.to_string());
        }
    }
    Ok(found)
}

/// The paths in both sorted lists (the files two changes both touch).
pub fn overlap(a: &[String], b: &[String]) -> Vec<String> {
    let (mut i, mut j) = (0, 0);
    let mut both = Vec::new();
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both.push(a[i].clone());
                i += 1;
                j += 1;
            }
        }
    }
    both
}

pub(crate) fn paths_between(git: &Repository, old: Oid, new: Oid) -> Result<Vec<String>, GitError> {
    let action = || format!("diff {old} and {new}");
    let tree = |oid: Oid| {
        git.find_commit(oid)
            .and_then(|commit| commit.tree())
            .map_err(|e| GitError::git(action(), e))
    };
    let (old_tree, new_tree) = (tree(old)?, tree(new)?);
    let mut options = DiffOptions::new();
    options.skip_binary_check(true);
    let diff = git
        .diff_tree_to_tree(Some(&old_tree), Some(&new_tree), Some(&mut options))
        .map_err(|e| GitError::git(action(), e))?;
    Ok(diff_paths(&diff))
}

pub(crate) fn diff_paths(diff: &Diff<'_>) -> Vec<String> {
    let mut paths: Vec<String> = diff
        .deltas()
        .flat_map(|delta| [delta.old_file().path(), delta.new_file().path()])
        .flatten()
        .map(|path| path.to_string_lossy().into_owned())
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use super::overlap;

    #[test]
    fn overlap_is_the_common_paths() {
        let a = ["a.rs", "b.rs", "d.rs"].map(String::from);
        let b = ["b.rs", "c.rs", "d.rs", "e.rs"].map(String::from);
        assert_eq!(overlap(&a, &b), ["b.rs", "d.rs"]);
        assert!(overlap(&a, &[]).is_empty());
    }
}
