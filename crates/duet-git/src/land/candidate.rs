//! Building a candidate: the task branch rebased onto (or squashed / merged into) the newest
//! base, as commits in the object database only. No worktree, index or ref is touched, so
//! neither the user's checkout nor any agent's worktree can be harmed, and a crash leaves
//! nothing but unreachable objects (which `git gc` collects).

use git2::{Commit, Index, Oid, Repository, Signature, Sort};

use super::{GitError, GitErrorKind, branch_tip};
use crate::repo::Repo;

/// The trailer put on every landed commit (rebase, squash) and on merge commits.
pub const TASK_TRAILER: &str = "Duet-Task";

/// How a branch lands (`merge.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LandStrategy {
    /// Each commit of the branch replayed onto the base, with the trailer.
    Rebase,
    /// One commit with the branch's whole change, titled by the task, with the approval.
    Squash,
    /// A merge commit with the base and the branch as parents.
    Merge,
}

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct CandidateSpec<'a> {
    pub task_id: &'a str,
    /// The task branch, e.g. `duet/t1`.
    pub branch: &'a str,
    /// The base branch, e.g. `main`.
    pub base: &'a str,
    pub strategy: LandStrategy,
    /// The task's title (squash and merge messages); the task id when empty.
    pub title: &'a str,
    /// The reviewer's approval (its summary), quoted in a squash commit's message.
    pub approval: Option<&'a str>,
}

/// The outcome of [`build_candidate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Built {
    Candidate(Candidate),
    Conflict(Conflict),
}

/// A commit ready to be tested and landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The commit the base would move to. Equal to `base_sha` when the branch adds nothing.
    pub sha: String,
    /// The base's tip it was built on: the expected old value for `advance_base`.
    pub base_sha: String,
    /// The branch tip it was built from (what cleanup checks the branch against).
    pub source_sha: String,
    /// Commits the base gains (rebase: the replayed ones; squash: 1; merge: 1), 0 when empty.
    pub commits: usize,
}

/// The branch does not apply to the newest base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Conflicting paths, sorted.
    pub files: Vec<String>,
    pub base_sha: String,
    pub source_sha: String,
    /// Rebase: the branch commit that did not apply (with its summary line).
    pub commit: Option<(String, String)>,
}

/// Builds the candidate for `spec` on the current tip of `spec.base`.
///
/// Rebase replays the branch's non-merge commits in order (as `git rebase` does, merge
/// commits are dropped and commits that become empty are skipped), keeping each author and
/// appending the `Duet-Task: <id>` trailer (once). Squash and merge take the three-way merge
/// of the base and the branch.
pub fn build_candidate(repo: &Repo, spec: &CandidateSpec<'_>) -> Result<Built, GitError> {
    let git = repo.main();
    let base = branch_tip(git, spec.base)?;
    let source = branch_tip(git, spec.branch)?;
    let committer = committer(git)?;
    let action = |what: &str| format!("{what} `{}` onto `{}`", spec.branch, spec.base);
    git.merge_base(base, source).map_err(|e| GitError {
        kind: GitErrorKind::NoCommonHistory {
            branch: spec.branch.to_owned(),
            base: spec.base.to_owned(),
        },
        source: Some(e),
    })?;
    let base_commit = git
        .find_commit(base)
        .map_err(|e| GitError::git(action("read the base to land"), e))?;
    let source_commit = git
        .find_commit(source)
        .map_err(|e| GitError::git(action("read the branch to land"), e))?;

    let outcome = match spec.strategy {
        LandStrategy::Rebase => rebase(git, spec, &base_commit, &committer)?,
        LandStrategy::Squash | LandStrategy::Merge => {
            let mut index = git
                .merge_commits(&base_commit, &source_commit, None)
                .map_err(|e| GitError::git(action("merge"), e))?;
            if index.has_conflicts() {
                Err((conflict_paths(&index)?, None))
            } else {
                let tree = index
                    .write_tree_to(git)
                    .map_err(|e| GitError::git(action("write the merged tree of"), e))?;
                let tree = git
                    .find_tree(tree)
                    .map_err(|e| GitError::git(action("read the merged tree of"), e))?;
                let title = if spec.title.trim().is_empty() {
                    spec.task_id
                } else {
                    spec.title.trim()
                };
                if spec.strategy == LandStrategy::Squash {
                    if tree.id() == base_commit.tree_id() {
                        Ok((base, 0))
                    } else {
                        let message = squash_message(spec.task_id, title, spec.approval);
                        let author = source_commit.author();
                        let sha = git
                            .commit(None, &author, &committer, &message, &tree, &[&base_commit])
                            .map_err(|e| GitError::git(action("commit the squash of"), e))?;
                        Ok((sha, 1))
                    }
                } else {
                    let message = with_trailer(
                        &format!("Merge task {}: {title}\n", spec.task_id),
                        spec.task_id,
                    );
                    let sha = git
                        .commit(
                            None,
                            &committer,
                            &committer,
                            &message,
                            &tree,
                            &[&base_commit, &source_commit],
                        )
                        .map_err(|e| GitError::git(action("commit the merge of"), e))?;
                    Ok((sha, 1))
                }
            }
        }
    };
    Ok(match outcome {
        Ok((sha, commits)) => Built::Candidate(Candidate {
            sha: sha.to_string(),
            base_sha: base.to_string(),
            source_sha: source.to_string(),
            commits,
        }),
        Err((files, commit)) => Built::Conflict(Conflict {
            files,
            base_sha: base.to_string(),
            source_sha: source.to_string(),
            commit,
        }),
    })
}

/// `Ok((new tip, commits replayed))` or `Err((conflicting files, the commit that did not apply))`.
type Replayed = Result<(Oid, usize), (Vec<String>, Option<(String, String)>)>;

fn rebase(
    git: &Repository,
    spec: &CandidateSpec<'_>,
    base: &Commit<'_>,
    committer: &Signature<'_>,
) -> Result<Replayed, GitError> {
    let walk_error = |e| GitError::git(format!("list the commits of `{}`", spec.branch), e);
    let mut walk = git.revwalk().map_err(walk_error)?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
        .map_err(walk_error)?;
    walk.push_ref(&format!("refs/heads/{}", spec.branch))
        .map_err(walk_error)?;
    walk.hide(base.id()).map_err(walk_error)?;
    let commits: Vec<Oid> = walk.collect::<Result<_, _>>().map_err(walk_error)?;

    let pick_error = |e| GitError::git(format!("rebase `{}` onto `{}`", spec.branch, spec.base), e);
    let mut onto = base.clone();
    let mut replayed = 0;
    for oid in commits {
        let commit = git.find_commit(oid).map_err(pick_error)?;
        if commit.parent_count() != 1 {
            continue;
        }
        let mut index = git
            .cherrypick_commit(&commit, &onto, 0, None)
            .map_err(pick_error)?;
        if index.has_conflicts() {
            let summary = commit
                .summary()
                .ok()
                .flatten()
                .unwrap_or_default()
                .to_owned();
            return Ok(Err((
                conflict_paths(&index)?,
                Some((oid.to_string(), summary)),
            )));
        }
        let tree = index.write_tree_to(git).map_err(pick_error)?;
        if tree == onto.tree_id() {
            // Already on the base (or emptied by it): nothing to replay, as `git rebase` does.
            continue;
        }
        let tree = git.find_tree(tree).map_err(pick_error)?;
        let message = with_trailer(
            &String::from_utf8_lossy(commit.message_bytes()),
            spec.task_id,
        );
        let new = git
            .commit(None, &commit.author(), committer, &message, &tree, &[&onto])
            .map_err(pick_error)?;
        onto = git.find_commit(new).map_err(pick_error)?;
        replayed += 1;
    }
    Ok(Ok((onto.id(), replayed)))
}

fn conflict_paths(index: &Index) -> Result<Vec<String>, GitError> {
    let conflicts = index
        .conflicts()
        .map_err(|e| GitError::git("list conflicting files", e))?;
    let mut files = Vec::new();
    for conflict in conflicts {
        let conflict = conflict.map_err(|e| GitError::git("list conflicting files", e))?;
        for entry in [conflict.our, conflict.their, conflict.ancestor]
            .into_iter()
            .flatten()
        {
            files.push(String::from_utf8_lossy(&entry.path).into_owned());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// The repository's identity (`user.name` / `user.email`), or duet's own when none is set.
fn committer(git: &Repository) -> Result<Signature<'static>, GitError> {
    match git.signature() {
        Ok(signature) => Ok(signature.to_owned()),
        Err(_) => Signature::now("duet", "duet@localhost")
            .map_err(|e| GitError::git("make a committer signature", e)),
    }
}

fn squash_message(task_id: &str, title: &str, approval: Option<&str>) -> String {
    let mut message = format!("{title}\n");
    if let Some(approval) = approval.map(str::trim).filter(|a| !a.is_empty()) {
        message.push_str("\nApproved in review:\n");
        for line in approval.lines() {
            message.push_str(format!("> {line}").trim_end());
            message.push('\n');
        }
    }
    with_trailer(&message, task_id)
}

/// `message` with a `Duet-Task: <id>` trailer: in the existing trailer block when the last
/// paragraph is one, else in a new paragraph; not added twice.
pub(crate) fn with_trailer(message: &str, task_id: &str) -> String {
    let trailer = format!("{TASK_TRAILER}: {task_id}");
    let body = message.trim_end();
    let last_paragraph = body.rsplit("\n\n").next().unwrap_or_default();
    let in_trailer_block = body.contains("\n\n")
        && !last_paragraph.is_empty()
        && last_paragraph.lines().all(is_trailer_line);
    if in_trailer_block && last_paragraph.lines().any(|line| line.trim() == trailer) {
        return format!("{body}\n");
    }
    let separator = if in_trailer_block { "\n" } else { "\n\n" };
    format!("{body}{separator}{trailer}\n")
}

fn is_trailer_line(line: &str) -> bool {
    let Some((key, value)) = line.split_once(": ") else {
        return false;
    };
    !key.is_empty()
        && !value.trim().is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trailer_goes_into_a_new_paragraph_or_the_existing_block_once() {
        assert_eq!(with_trailer("fix it\n", "t1"), "fix it\n\nDuet-Task: t1\n");
        assert_eq!(
            with_trailer("fix it\n\nbecause: reasons here and there\nmore text", "t1"),
            "fix it\n\nbecause: reasons here and there\nmore text\n\nDuet-Task: t1\n"
        );
        assert_eq!(
            with_trailer("fix it\n\nCo-authored-by: A <a@b>\n", "t1"),
            "fix it\n\nCo-authored-by: A <a@b>\nDuet-Task: t1\n"
        );
        let once = with_trailer("fix it\n", "t1");
        assert_eq!(with_trailer(&once, "t1"), once);
    }

    #[test]
    fn a_squash_message_has_title_approval_and_trailer() {
        assert_eq!(
            squash_message("t1", "Add login", Some("Looks right.\n\nTests cover it.")),
            "Add login\n\nApproved in review:\n> Looks right.\n>\n> Tests cover it.\n\nDuet-Task: t1\n"
        );
        assert_eq!(
            squash_message("t1", "Add login", None),
            "Add login\n\nDuet-Task: t1\n"
        );
    }
}
