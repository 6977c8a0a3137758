//! The worktree manager: one branch `<prefix>/<task-id>` and one linked worktree
//! `<root>/<task-id>` per task; creating, listing, pruning and safely removing them.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use git2::{BranchType, ConfigLevel, ErrorCode, Oid, Reference, Repository};

use crate::checkout::add_worktree;
use crate::error::{GitError, GitErrorKind};
use crate::inspect::{dirty_paths, unmerged_commits};
use crate::registration::{self, Registration, registrations};
use crate::repo::{Repo, canonical};

/// Branch config key (under `branch.<name>.`) recording the base a task branch came from, so
/// that removal can tell which commits exist only on the task branch.
const BASE_CONFIG_VAR: &str = "duetbase";

/// A task's worktree as `ensure` left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    pub path: PathBuf,
    pub branch: String,
    pub base: String,
    /// True when this call created the worktree folder; false when it already existed.
    pub created: bool,
}

/// A registered worktree under the manager's root, as `list` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedWorktree {
    pub task_id: String,
    pub path: PathBuf,
    /// The branch checked out there (`None` when detached).
    pub branch: Option<String>,
    /// The base recorded for that branch when duet created it.
    pub base: Option<String>,
    /// The folder is gone; `prune` will drop the registration.
    pub stale: bool,
    pub locked: bool,
}

/// Creates and removes task worktrees of one repository.
#[derive(Debug)]
pub struct WorktreeManager<'r> {
    repo: &'r Repo,
    /// Absolute, lexically normalised; may not exist yet.
    root: PathBuf,
    prefix: String,
}

impl<'r> WorktreeManager<'r> {
    /// `worktree_root` is relative to the main working directory or absolute; branches are
    /// named `<branch_prefix>/<task-id>`.
    pub fn new(
        repo: &'r Repo,
        worktree_root: impl AsRef<Path>,
        branch_prefix: &str,
    ) -> Result<Self, GitError> {
        validate_prefix(branch_prefix)?;
        let root = normalise(&repo.main_workdir().join(worktree_root.as_ref()));
        Ok(Self {
            repo,
            root,
            prefix: branch_prefix.to_owned(),
        })
    }

    /// The repository this manager works in.
    pub(crate) fn repo(&self) -> &Repo {
        self.repo
    }

    /// The branch a task works on.
    pub fn branch_name(&self, task_id: &str) -> String {
        format!("{}/{task_id}", self.prefix)
    }

    /// Where a task's worktree lives.
    pub fn worktree_path(&self, task_id: &str) -> PathBuf {
        canonical(&self.root).join(task_id)
    }

    /// Makes sure the task has its branch (created at `base` if missing, reused as it is if
    /// present) and its worktree checked out on that branch, and records `base` as the
    /// branch's base (`branch.<name>.duetbase`) for later removal checks. Calling it again
    /// returns the existing worktree. On failure nothing it made is left behind.
    ///
    /// The first creation in a process turns off libgit2's strict hash verification
    /// process-wide (see the `checkout` module for why).
    pub fn ensure(&self, task_id: &str, base: &str) -> Result<Worktree, GitError> {
        validate_task_id(task_id)?;
        let git = self.repo.main();
        if !self.repo.has_commits()? {
            return Err(GitError::new(GitErrorKind::NoCommits));
        }
        let base_commit = resolve_commit(git, base)?;
        let branch = self.branch_name(task_id);

        std::fs::create_dir_all(&self.root)
            .map_err(|e| GitError::io("create worktree root", &self.root, &e))?;
        self.exclude_root_from_main()?;
        let path = self.worktree_path(task_id);
        let found = Worktree {
            path: path.clone(),
            branch: branch.clone(),
            base: base.to_owned(),
            created: false,
        };

        let existing = registrations(git)?;
        if let Some(reg) = existing.iter().find(|reg| same_location(&reg.path, &path)) {
            if !reg.stale {
                if reg.has_branch(&branch) {
                    self.record_base(&branch, base)?;
                    return Ok(found);
                }
                let detail = match reg.head_ref.as_deref() {
                    Some(other) => {
                        format!("it is a worktree of `{other}`, not of branch `{branch}`")
                    }
                    None => {
                        format!("it is a worktree with a detached HEAD, not on branch `{branch}`")
                    }
                };
                return Err(GitError::new(GitErrorKind::ForeignFolder { path, detail }));
            }
            registration::prune(git, &reg.name)?;
        }
        if path.symlink_metadata().is_ok() {
            let detail =
                "the folder exists but is not a registered worktree of this repository".to_owned();
            return Err(GitError::new(GitErrorKind::ForeignFolder { path, detail }));
        }
        // A stale registration still claims its branch as checked out; a live one really has it.
        for reg in existing.iter().filter(|reg| reg.has_branch(&branch)) {
            if reg.stale {
                registration::prune(git, &reg.name)?;
            } else {
                return Err(GitError::new(GitErrorKind::BranchCheckedOut {
                    branch,
                    path: reg.path.clone(),
                }));
            }
        }
        if main_head_branch(git).as_deref() == Some(branch.as_str()) {
            let main = self.repo.main_workdir().to_owned();
            return Err(GitError::new(GitErrorKind::BranchCheckedOut {
                branch,
                path: main,
            }));
        }

        let (branch_ref, branch_created) = find_or_create_branch(git, &branch, base_commit)?;
        let admin_name = free_admin_name(git, task_id);
        let added = self
            .record_base(&branch, base)
            .and_then(|()| add_worktree(git, &admin_name, &path, &branch_ref));
        if let Err(err) = added {
            // Leave nothing half-made: the folder and registration are ours (we checked that
            // neither existed), and so is the branch if this call created it.
            let _ = std::fs::remove_dir_all(&path);
            let _ = std::fs::remove_dir_all(registration::admin_dir(git, &admin_name));
            if branch_created && let Ok(mut created) = git.find_branch(&branch, BranchType::Local) {
                let _ = created.delete();
            }
            return Err(err);
        }
        Ok(Worktree {
            created: true,
            ..found
        })
    }

    /// Removes the task's worktree folder and registration. Without `force` it refuses when
    /// the worktree has uncommitted changes (untracked files included) or commits that the
    /// recorded base does not contain, naming them. The branch is kept (`delete_branch`).
    pub fn remove(&self, task_id: &str, force: bool) -> Result<(), GitError> {
        validate_task_id(task_id)?;
        let git = self.repo.main();
        let path = self.worktree_path(task_id);
        let Some(reg) = registrations(git)?
            .into_iter()
            .find(|reg| same_location(&reg.path, &path))
        else {
            if path.symlink_metadata().is_ok() {
                let detail =
                    "the folder is not a registered worktree of this repository".to_owned();
                return Err(GitError::new(GitErrorKind::ForeignFolder { path, detail }));
            }
            return Err(GitError::new(GitErrorKind::WorktreeNotFound {
                task_id: task_id.to_owned(),
                path,
            }));
        };
        if reg.stale {
            return registration::prune(git, &reg.name);
        }
        if !force {
            if let Some(reason) = &reg.locked {
                return Err(GitError::new(GitErrorKind::Locked {
                    path,
                    reason: reason.clone(),
                }));
            }
            self.check_nothing_lost(&reg, task_id)?;
        }
        std::fs::remove_dir_all(&reg.path)
            .map_err(|e| GitError::io("remove worktree", &reg.path, &e))?;
        registration::prune(git, &reg.name)
    }

    /// Deletes the task's branch (and its recorded base). Refuses while a worktree has it
    /// checked out, and without `force` when it has commits the recorded base lacks.
    pub fn delete_branch(&self, task_id: &str, force: bool) -> Result<(), GitError> {
        validate_task_id(task_id)?;
        let git = self.repo.main();
        let branch = self.branch_name(task_id);
        let mut found = match git.find_branch(&branch, BranchType::Local) {
            Ok(found) => found,
            Err(e) if e.code() == ErrorCode::NotFound => {
                return Err(GitError {
                    kind: GitErrorKind::BranchNotFound { branch },
                    source: Some(e),
                });
            }
            Err(e) => return Err(GitError::git(format!("look up branch `{branch}`"), e)),
        };
        if let Some(reg) = registrations(git)?
            .iter()
            .find(|reg| !reg.stale && reg.has_branch(&branch))
        {
            return Err(GitError::new(GitErrorKind::BranchInUse {
                branch,
                path: reg.path.clone(),
            }));
        }
        if main_head_branch(git).as_deref() == Some(branch.as_str()) {
            let path = self.repo.main_workdir().to_owned();
            return Err(GitError::new(GitErrorKind::BranchInUse { branch, path }));
        }
        if !force {
            let tip = found.get().target().into_iter().collect::<Vec<_>>();
            let (base, base_commit) = self.recorded_base(&branch)?;
            if let Some(unmerged) = unmerged_commits(git, &tip, &base, base_commit)? {
                return Err(GitError::new(GitErrorKind::BranchUnmerged {
                    branch,
                    unmerged,
                }));
            }
        }
        found
            .delete()
            .map_err(|e| GitError::git(format!("delete branch `{branch}`"), e))
    }

    /// Drops registrations under the root whose folder is gone; returns their paths.
    pub fn prune(&self) -> Result<Vec<PathBuf>, GitError> {
        let git = self.repo.main();
        let mut pruned = Vec::new();
        for reg in registrations(git)? {
            if reg.stale && self.task_id_of(&reg.path).is_some() {
                registration::prune(git, &reg.name)?;
                pruned.push(reg.path);
            }
        }
        Ok(pruned)
    }

    /// Duet's worktrees: the registrations whose folder is directly under the root.
    pub fn list(&self) -> Result<Vec<ListedWorktree>, GitError> {
        let git = self.repo.main();
        let mut listed = Vec::new();
        for reg in registrations(git)? {
            let Some(task_id) = self.task_id_of(&reg.path) else {
                continue;
            };
            let branch = reg
                .head_ref
                .as_deref()
                .and_then(|r| r.strip_prefix("refs/heads/"))
                .map(str::to_owned);
            let base = match &branch {
                Some(branch) => read_base(git, branch)?,
                None => None,
            };
            listed.push(ListedWorktree {
                task_id,
                path: reg.path,
                branch,
                base,
                stale: reg.stale,
                locked: reg.locked.is_some(),
            });
        }
        listed.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        Ok(listed)
    }

    /// Refuses (with everything that would be lost) when the worktree holds uncommitted
    /// changes or commits — on its branch or a detached HEAD — that the base does not contain.
    fn check_nothing_lost(&self, reg: &Registration, task_id: &str) -> Result<(), GitError> {
        let git = self.repo.main();
        let dirty = dirty_paths(&reg.path)?;
        let mut tips = Vec::new();
        if let Ok(wt_repo) = Repository::open(&reg.path)
            && let Ok(head) = wt_repo.head()
        {
            tips.extend(head.target());
        }
        let branch = reg
            .head_ref
            .as_deref()
            .and_then(|r| r.strip_prefix("refs/heads/"));
        let base_branch = branch
            .map(str::to_owned)
            .unwrap_or_else(|| self.branch_name(task_id));
        if let Ok(found) = git.find_branch(&base_branch, BranchType::Local) {
            tips.extend(found.get().target());
        }
        let unmerged = if tips.is_empty() {
            None
        } else {
            let (base, base_commit) = self.recorded_base(&base_branch)?;
            unmerged_commits(git, &tips, &base, base_commit)?
        };
        if dirty.is_empty() && unmerged.is_none() {
            return Ok(());
        }
        Err(GitError::new(GitErrorKind::RemovalRefused {
            path: reg.path.clone(),
            dirty_paths: dirty,
            unmerged,
        }))
    }

    /// The base recorded for `branch`, resolved to its current commit.
    fn recorded_base(&self, branch: &str) -> Result<(String, Oid), GitError> {
        let git = self.repo.main();
        let Some(base) = read_base(git, branch)? else {
            return Err(GitError::new(GitErrorKind::BaseUnknown {
                branch: branch.to_owned(),
            }));
        };
        let commit = resolve_commit(git, &base)?;
        Ok((base, commit))
    }

    fn record_base(&self, branch: &str, base: &str) -> Result<(), GitError> {
        let git = self.repo.main();
        if read_base(git, branch)?.as_deref() == Some(base) {
            return Ok(());
        }
        let action = || format!("record base `{base}` for branch `{branch}`");
        let config = git.config().map_err(|e| GitError::git(action(), e))?;
        let mut local = config
            .open_level(ConfigLevel::Local)
            .map_err(|e| GitError::git(action(), e))?;
        local
            .set_str(&base_key(branch), base)
            .map_err(|e| GitError::git(action(), e))
    }

    /// The task id of a worktree path directly under the root, if it is one.
    fn task_id_of(&self, path: &Path) -> Option<String> {
        let parent = path.parent()?;
        if !same_location(parent, &self.root) {
            return None;
        }
        let name = path.file_name()?.to_str()?;
        validate_task_id(name).ok().map(|()| name.to_owned())
    }

    /// Keeps the worktree root out of the main worktree's `git status` by adding it to
    /// `info/exclude` (local to this clone, never committed) when nothing ignores it yet.
    fn exclude_root_from_main(&self) -> Result<(), GitError> {
        let main_workdir = self.repo.main_workdir();
        let Ok(relative) = canonical(&self.root)
            .strip_prefix(main_workdir)
            .map(Path::to_owned)
        else {
            return Ok(());
        };
        if relative.as_os_str().is_empty() {
            return Ok(());
        }
        let git = self.repo.main();
        let probe = relative.join("probe");
        if git.is_path_ignored(&relative).unwrap_or(false)
            || git.is_path_ignored(&probe).unwrap_or(false)
        {
            return Ok(());
        }
        let exclude = self.repo.common_dir().join("info").join("exclude");
        let pattern = format!("/{}/", relative.to_string_lossy().replace('\\', "/"));
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
            writeln!(file, "{separator}# duet task worktrees\n{pattern}")
        };
        write().map_err(|e| GitError::io("add the worktree root to", &exclude, &e))
    }
}

fn base_key(branch: &str) -> String {
    format!("branch.{branch}.{BASE_CONFIG_VAR}")
}

fn read_base(git: &Repository, branch: &str) -> Result<Option<String>, GitError> {
    let config = git
        .config()
        .map_err(|e| GitError::git("read repository config", e))?;
    match config.get_string(&base_key(branch)) {
        Ok(base) => Ok(Some(base)),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(GitError::git(
            format!("read the base of branch `{branch}`"),
            e,
        )),
    }
}

/// The commit `base` names: a local branch first, then anything `git rev-parse` accepts.
fn resolve_commit(git: &Repository, base: &str) -> Result<Oid, GitError> {
    let not_found = |source| GitError {
        kind: GitErrorKind::BaseNotFound {
            base: base.to_owned(),
        },
        source,
    };
    if let Ok(branch) = git.find_branch(base, BranchType::Local)
        && let Ok(commit) = branch.get().peel_to_commit()
    {
        return Ok(commit.id());
    }
    let object = git.revparse_single(base).map_err(|e| not_found(Some(e)))?;
    let commit = object.peel_to_commit().map_err(|e| not_found(Some(e)))?;
    Ok(commit.id())
}

fn find_or_create_branch<'a>(
    git: &'a Repository,
    branch: &str,
    at: Oid,
) -> Result<(Reference<'a>, bool), GitError> {
    match git.find_branch(branch, BranchType::Local) {
        Ok(found) => return Ok((found.into_reference(), false)),
        Err(e) if e.code() == ErrorCode::NotFound => {}
        Err(e) => return Err(GitError::git(format!("look up branch `{branch}`"), e)),
    }
    let action = || format!("create branch `{branch}`");
    let commit = git
        .find_commit(at)
        .map_err(|e| GitError::git(action(), e))?;
    let created = git
        .branch(branch, &commit, false)
        .map_err(|e| GitError::git(action(), e))?;
    Ok((created.into_reference(), true))
}

/// The branch the main worktree has checked out.
fn main_head_branch(git: &Repository) -> Option<String> {
    let head = git.find_reference("HEAD").ok()?;
    head.symbolic_target()
        .ok()??
        .strip_prefix("refs/heads/")
        .map(str::to_owned)
}

/// A registration name under `<common-dir>/worktrees/` not yet taken (git's own scheme:
/// the folder name, then with a number appended).
fn free_admin_name(git: &Repository, task_id: &str) -> String {
    let taken = |name: &str| {
        registration::admin_dir(git, name)
            .symlink_metadata()
            .is_ok()
    };
    if !taken(task_id) {
        return task_id.to_owned();
    }
    (1..)
        .map(|n| format!("{task_id}{n}"))
        .find(|name| !taken(name))
        .unwrap_or_default()
}

/// Whether two paths name the same place, also when one of them no longer exists (then its
/// parent is resolved instead).
pub(crate) fn same_location(a: &Path, b: &Path) -> bool {
    resolve_loosely(a) == resolve_loosely(b)
}

fn resolve_loosely(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => resolve_loosely(parent).join(name),
        _ => normalise(path),
    }
}

/// Removes `.` and resolves `..` lexically.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Task ids become a folder name and part of a branch name: keep them to a safe alphabet.
pub(crate) fn validate_task_id(task_id: &str) -> Result<(), GitError> {
    let invalid = |reason: &str| {
        Err(GitError::new(GitErrorKind::InvalidTaskId {
            task_id: task_id.to_owned(),
            reason: reason.to_owned(),
        }))
    };
    if task_id.is_empty() {
        return invalid("it is empty");
    }
    if task_id.len() > 100 {
        return invalid("it is longer than 100 characters");
    }
    if let Some(bad) = task_id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return invalid(&format!(
            "`{bad}` is not allowed (use letters, digits, `-`, `_` and `.`)"
        ));
    }
    if task_id.starts_with(['.', '-']) || task_id.ends_with('.') {
        return invalid("it must not start with `.` or `-` nor end with `.`");
    }
    if task_id.contains("..") || task_id.ends_with(".lock") {
        return invalid("it must not contain `..` nor end with `.lock`");
    }
    Ok(())
}

fn validate_prefix(prefix: &str) -> Result<(), GitError> {
    let full = format!("refs/heads/{prefix}/task");
    if prefix.is_empty() || prefix.ends_with('/') || !Reference::is_valid_name(&full) {
        return Err(GitError::new(GitErrorKind::InvalidBranchPrefix {
            prefix: prefix.to_owned(),
            reason: "it must be a valid branch name without a trailing `/`".to_owned(),
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_checked() {
        for good in ["t1", "fix-login", "A_b.c", "x".repeat(100).as_str()] {
            assert!(validate_task_id(good).is_ok(), "{good}");
        }
        for bad in [
            "", "a/b", "..", ".hidden", "-x", "a..b", "x.lock", "sp ace", "é", "end.",
        ] {
            let err = validate_task_id(bad).unwrap_err();
            assert!(
                matches!(err.kind, GitErrorKind::InvalidTaskId { .. }),
                "{bad}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("failed to use task id `{bad}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(validate_prefix("duet").is_ok());
        assert!(validate_prefix("team/duet").is_ok());
        for bad in ["", "duet/", "a..b", "sp ace", "x~"] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalise_resolves_dots() {
        assert_eq!(
            normalise(Path::new("/r/./.duet/../wt")),
            PathBuf::from("/r/wt")
        );
    }
}
