//! Landing a finished task branch on its base (the merge queue's git side): building the
//! candidate commit, checking it out in a scratch worktree for CI, moving the base by
//! compare-and-swap fast-forward (updating the user's checkout only when that loses nothing),
//! the files two changes both touch, cleaning up after landing, and pull requests instead.
//!
//! Every step here is one call that either does all of its work or none that matters: the
//! decisions about order, retries and what to tell whom are the pure queue's
//! (`duet_core::lifecycle::merge_queue`).

mod advance;
mod candidate;
mod changes;
mod cleanup;
mod pr;
mod scratch;

pub use advance::{Advance, advance_base};
pub use candidate::{Built, Candidate, CandidateSpec, Conflict, LandStrategy, build_candidate};
pub use changes::{changed_files, files_between, landed_commits, overlap};
pub use cleanup::{Cleaned, cleanup_landed};
pub use pr::{PrDescription, PrOpened, PrRequest, open_pull_request};
pub use scratch::{SCRATCH_ROOT, ScratchWorktree, sweep};

use git2::{BranchType, Oid, Repository};

use crate::error::{GitError, GitErrorKind};

/// The commit a local branch points at.
fn branch_tip(git: &Repository, branch: &str) -> Result<Oid, GitError> {
    let found = git.find_branch(branch, BranchType::Local).map_err(|e| {
        if e.code() == git2::ErrorCode::NotFound {
            GitError {
                kind: GitErrorKind::BranchNotFound {
                    branch: branch.to_owned(),
                },
                source: Some(e),
            }
        } else {
            GitError::git(format!("look up branch `{branch}`"), e)
        }
    })?;
    found
        .get()
        .peel_to_commit()
        .map(|commit| commit.id())
        .map_err(|e| GitError::git(format!("read the tip of branch `{branch}`"), e))
}

/// Parses a full or abbreviated commit id given by the caller.
fn parse_commit(git: &Repository, sha: &str) -> Result<Oid, GitError> {
    git.revparse_single(sha)
        .and_then(|object| object.peel_to_commit())
        .map(|commit| commit.id())
        .map_err(|e| GitError::git(format!("find commit {sha}"), e))
}
