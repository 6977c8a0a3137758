//! Opening the user's repository: the worktree they stand in and the main one behind it.

use std::fmt;
use std::path::{Path, PathBuf};

use git2::{BranchType, ErrorCode, Repository};

use crate::error::{GitError, GitErrorKind};

/// A repository found from a path, which may be inside the main working directory or inside
/// any linked worktree of it.
pub struct Repo {
    /// The repository as seen from the discovered path (its own HEAD and index).
    here: Repository,
    /// The repository opened at the common git dir: the main worktree, owner of all linked
    /// worktrees and of duet's `.duet/` folder.
    main: Repository,
    main_workdir: PathBuf,
    common_dir: PathBuf,
}

impl fmt::Debug for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repo")
            .field("workdir", &self.here.workdir())
            .field("main_workdir", &self.main_workdir)
            .field("common_dir", &self.common_dir)
            .finish()
    }
}

impl Repo {
    /// Finds the repository containing `path` (walking up), resolving the main working
    /// directory even when `path` lies in a linked worktree.
    pub fn discover(path: impl AsRef<Path>) -> Result<Self, GitError> {
        let path = path.as_ref();
        let discover_error = |e: git2::Error| GitError {
            kind: GitErrorKind::Discover {
                path: path.to_owned(),
                message: e.message().to_owned(),
            },
            source: Some(e),
        };
        let here = Repository::discover(path).map_err(discover_error)?;
        let common_dir = canonical(here.commondir());
        let main = if here.is_worktree() {
            Repository::open(&common_dir).map_err(discover_error)?
        } else {
            Repository::open(here.path()).map_err(discover_error)?
        };
        let main_workdir = match main.workdir() {
            Some(dir) if !main.is_bare() => canonical(dir),
            _ => {
                return Err(GitError::new(GitErrorKind::BareRepository {
                    path: common_dir,
                }));
            }
        };
        Ok(Self {
            here,
            main,
            main_workdir,
            common_dir,
        })
    }

    /// The main working directory (where `.duet/` lives), canonicalised.
    pub fn main_workdir(&self) -> &Path {
        &self.main_workdir
    }

    /// The git dir shared by the main worktree and all linked worktrees, canonicalised.
    pub fn common_dir(&self) -> &Path {
        &self.common_dir
    }

    /// The working directory of the worktree `discover` was called in.
    pub fn workdir(&self) -> Option<&Path> {
        self.here.workdir()
    }

    /// Whether `discover` was called inside a linked worktree rather than the main one.
    pub fn is_linked_worktree(&self) -> bool {
        self.here.is_worktree()
    }

    /// Whether a local branch of this name exists.
    pub fn branch_exists(&self, name: &str) -> Result<bool, GitError> {
        match self.main.find_branch(name, BranchType::Local) {
            Ok(_) => Ok(true),
            Err(e) if e.code() == ErrorCode::NotFound || e.code() == ErrorCode::InvalidSpec => {
                Ok(false)
            }
            Err(e) => Err(GitError::git(format!("look up branch `{name}`"), e)),
        }
    }

    /// The branch checked out where `discover` was called (`None` when HEAD is detached).
    /// Works before the first commit too, naming the unborn branch.
    pub fn head_branch(&self) -> Result<Option<String>, GitError> {
        let head = self
            .here
            .find_reference("HEAD")
            .map_err(|e| GitError::git("read HEAD", e))?;
        Ok(head
            .symbolic_target()
            .ok()
            .flatten()
            .and_then(|target| target.strip_prefix("refs/heads/"))
            .map(str::to_owned))
    }

    /// Whether the repository has any commit (HEAD resolves, or some local branch exists).
    pub fn has_commits(&self) -> Result<bool, GitError> {
        match self.main.head() {
            Ok(_) => return Ok(true),
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => {}
            Err(e) => return Err(GitError::git("read HEAD", e)),
        }
        let mut branches = self
            .main
            .branches(Some(BranchType::Local))
            .map_err(|e| GitError::git("list branches", e))?;
        Ok(branches.next().is_some())
    }

    /// The main repository handle, used for everything that is shared between worktrees.
    pub(crate) fn main(&self) -> &Repository {
        &self.main
    }
}

/// The canonical form of `path`, or `path` itself when it cannot be resolved.
pub(crate) fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}
