//! Scratch worktrees under `.duet/merge/`: a candidate checked out (detached) for CI, removed
//! when dropped, and [`sweep`] for the ones a crash left behind. They hold nothing of anyone's:
//! duet made every file in them from a commit, so removing them is always safe.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{GitError, parse_commit};
use crate::checkout::add_detached_worktree;
use crate::registration::{self, registrations};
use crate::repo::{Repo, canonical};

/// Where scratch worktrees live, relative to the main working directory.
pub const SCRATCH_ROOT: &str = ".duet/merge";

/// Prefix of the registration names under `<common-dir>/worktrees/`, so they never collide
/// with a task worktree's.
const ADMIN_PREFIX: &str = "duet-merge-";

/// A candidate checked out in `.duet/merge/<task-id>-<pid>-<n>`; removed (folder and
/// registration) on drop. Each checkout has a name of its own, so a run cut off (its engine
/// stopped, its thread or process not yet gone) never removes the checkout of the run that
/// replaced it.
#[derive(Debug)]
pub struct ScratchWorktree {
    path: PathBuf,
    common_dir: PathBuf,
    admin_name: String,
}

impl ScratchWorktree {
    /// Checks out `sha` (detached) in a new folder under `.duet/merge/` named after `task_id`
    /// (a valid task id: it is used in the folder's name). Leftovers of killed runs are
    /// [`sweep`]'s.
    pub fn create(repo: &Repo, task_id: &str, sha: &str) -> Result<Self, GitError> {
        crate::worktree::validate_task_id(task_id)?;
        let git = repo.main();
        let commit_id = parse_commit(git, sha)?;
        let commit = git
            .find_commit(commit_id)
            .map_err(|e| GitError::git(format!("read candidate {sha}"), e))?;
        let root = repo.main_workdir().join(SCRATCH_ROOT);
        std::fs::create_dir_all(&root)
            .map_err(|e| GitError::io("create the scratch root", &root, &e))?;
        exclude_from_main(repo)?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{task_id}-{}-{n}", std::process::id());
        let path = canonical(&root).join(&name);
        let admin_name = format!("{ADMIN_PREFIX}{name}");
        remove_one(git, &path, &admin_name)?;
        let scratch = Self {
            path: path.clone(),
            common_dir: repo.common_dir().to_owned(),
            admin_name: admin_name.clone(),
        };
        // On failure the guard's drop removes whatever part was made.
        add_detached_worktree(git, &admin_name, &path, &commit)?;
        Ok(scratch)
    }

    /// The folder CI runs in.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchWorktree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_dir_all(self.common_dir.join("worktrees").join(&self.admin_name));
    }
}

/// Removes every scratch worktree (folders under `.duet/merge/` and their registrations), as
/// after a crash; returns the folders removed.
pub fn sweep(repo: &Repo) -> Result<Vec<PathBuf>, GitError> {
    let git = repo.main();
    let root = canonical(&repo.main_workdir().join(SCRATCH_ROOT));
    let mut removed = Vec::new();
    for reg in registrations(git)? {
        if reg.name.starts_with(ADMIN_PREFIX) || reg.path.starts_with(&root) {
            remove_one(git, &reg.path, &reg.name)?;
            removed.push(reg.path);
        }
    }
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let path = entry.path();
            std::fs::remove_dir_all(&path)
                .map_err(|e| GitError::io("remove scratch worktree", &path, &e))?;
            if !removed.contains(&path) {
                removed.push(path);
            }
        }
    }
    // A registration whose admin folder was half made (no gitdir) is not listed by git.
    let admin_root = repo.common_dir().join("worktrees");
    if let Ok(entries) = std::fs::read_dir(&admin_root) {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(ADMIN_PREFIX)
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    removed.sort();
    Ok(removed)
}

fn remove_one(git: &git2::Repository, path: &Path, admin_name: &str) -> Result<(), GitError> {
    if path.symlink_metadata().is_ok() {
        std::fs::remove_dir_all(path)
            .map_err(|e| GitError::io("remove scratch worktree", path, &e))?;
    }
    let admin = registration::admin_dir(git, admin_name);
    if admin.symlink_metadata().is_ok() {
        std::fs::remove_dir_all(&admin)
            .map_err(|e| GitError::io("remove scratch worktree registration", &admin, &e))?;
    }
    Ok(())
}

/// Keeps `.duet/` out of the user's `git status` (as `duet init` does), when nothing
/// ignores it yet.
fn exclude_from_main(repo: &Repo) -> Result<(), GitError> {
    let git = repo.main();
    if git
        .is_path_ignored(Path::new(SCRATCH_ROOT).join("probe"))
        .unwrap_or(false)
    {
        return Ok(());
    }
    let exclude = repo.common_dir().join("info").join("exclude");
    let pattern = format!("/{SCRATCH_ROOT}/");
    let existing = std::fs::read_to_string(&exclude).unwrap_or_default();
    if existing.lines().any(|line| line.trim() == pattern) {
        return Ok(());
    }
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(exclude.parent().unwrap_or(Path::new(".")))?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&exclude)?;
        let separator = if existing.is_empty() || existing.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        writeln!(
            file,
            "{separator}# duet merge-queue scratch worktrees\n{pattern}"
        )
    };
    write().map_err(|e| GitError::io("add the scratch root to", &exclude, &e))
}
