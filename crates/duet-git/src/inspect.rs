//! What removing a worktree or branch would lose: uncommitted paths and commits that the
//! base does not contain.

use std::path::Path;

use git2::{Oid, Repository, Status, StatusOptions};

use crate::error::{GitError, UnmergedCommits};

/// How many short commit ids an `UnmergedCommits` keeps.
const KEPT_SHORT_IDS: usize = 10;

/// Paths in the worktree at `workdir` that hold uncommitted work: modified, staged, deleted,
/// renamed, conflicted and untracked files (untracked folders are listed file by file).
/// Ignored files are not counted: the repository declares them regenerable (build output,
/// caches), and counting them would make every built worktree unremovable without force.
pub(crate) fn dirty_paths(workdir: &Path) -> Result<Vec<String>, GitError> {
    let repo = Repository::open(workdir)
        .map_err(|e| GitError::git(format!("open worktree {}", workdir.display()), e))?;
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(false);
    let statuses = repo
        .statuses(Some(&mut options))
        .map_err(|e| GitError::git(format!("read status of worktree {}", workdir.display()), e))?;
    let mut paths: Vec<String> = statuses
        .iter()
        .filter(|entry| !entry.status().is_empty() && entry.status() != Status::IGNORED)
        .map(|entry| String::from_utf8_lossy(entry.path_bytes()).into_owned())
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Commits reachable from any of `tips` but not from `base_commit`; `None` when there are none.
pub(crate) fn unmerged_commits(
    repo: &Repository,
    tips: &[Oid],
    base_name: &str,
    base_commit: Oid,
) -> Result<Option<Box<UnmergedCommits>>, GitError> {
    let walk_error = |e| GitError::git(format!("walk commits not on `{base_name}`"), e);
    let mut walk = repo.revwalk().map_err(walk_error)?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
        .map_err(walk_error)?;
    for tip in tips {
        walk.push(*tip).map_err(walk_error)?;
    }
    walk.hide(base_commit).map_err(walk_error)?;
    let mut count = 0;
    let mut short_ids = Vec::new();
    for oid in walk {
        let oid = oid.map_err(walk_error)?;
        count += 1;
        if short_ids.len() < KEPT_SHORT_IDS {
            short_ids.push(short_id(repo, oid));
        }
    }
    Ok((count > 0).then(|| {
        Box::new(UnmergedCommits {
            base: base_name.to_owned(),
            count,
            short_ids,
        })
    }))
}

fn short_id(repo: &Repository, oid: Oid) -> String {
    repo.find_object(oid, None)
        .ok()
        .and_then(|object| object.short_id().ok())
        .and_then(|buf| buf.as_str().ok().map(str::to_owned))
        .unwrap_or_else(|| oid.to_string()[..7].to_owned())
}
