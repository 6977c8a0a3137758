//! Lands task branches one after another with duet's merge-queue git side, as the queue does
//! without CI: build the candidate on the newest base, advance the base by compare-and-swap
//! (updating the checkout when the base is checked out), delete the branch. The merge
//! benchmark (`scripts/bench-merge.sh`) times this binary.
//!
//! Usage: `land_bench <repo> <base> <rebase|squash|merge> [--scratch] <task-id>...`
//! (branches `duet/<task-id>`). `--scratch` also checks each candidate out in a scratch
//! worktree, as the queue does when `ci.command` is set (CI itself is not run).

use std::process::ExitCode;

use duet_git::land::{
    Advance, Built, CandidateSpec, LandStrategy, ScratchWorktree, advance_base, build_candidate,
    cleanup_landed,
};
use duet_git::{GitError, Repo, WorktreeManager};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, base, strategy, rest @ ..] = args.as_slice() else {
        eprintln!("usage: land_bench <repo> <base> <rebase|squash|merge> [--scratch] <task-id>...");
        return ExitCode::from(2);
    };
    let strategy = match strategy.as_str() {
        "rebase" => LandStrategy::Rebase,
        "squash" => LandStrategy::Squash,
        "merge" => LandStrategy::Merge,
        other => {
            eprintln!("unknown strategy `{other}`");
            return ExitCode::from(2);
        }
    };
    let scratch = rest.first().is_some_and(|a| a == "--scratch");
    let tasks = if scratch { &rest[1..] } else { rest };
    match land_all(repo, base, strategy, scratch, tasks) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn land_all(
    repo: &str,
    base: &str,
    strategy: LandStrategy,
    scratch: bool,
    tasks: &[String],
) -> Result<(), String> {
    let repo = Repo::discover(repo).map_err(|e| e.to_string())?;
    let manager =
        WorktreeManager::new(&repo, ".duet/worktrees", "duet").map_err(|e| e.to_string())?;
    for task_id in tasks {
        let branch = format!("duet/{task_id}");
        let spec = CandidateSpec {
            task_id,
            branch: &branch,
            base,
            strategy,
            title: task_id,
            approval: None,
        };
        let candidate = match build_candidate(&repo, &spec).map_err(|e| e.to_string())? {
            Built::Candidate(candidate) => candidate,
            Built::Conflict(conflict) => {
                return Err(format!("{task_id} conflicts in {:?}", conflict.files));
            }
        };
        if scratch {
            let checkout = ScratchWorktree::create(&repo, task_id, &candidate.sha)
                .map_err(|e| e.to_string())?;
            drop(checkout);
        }
        let message = format!("duet: land {task_id}");
        match advance_base(&repo, base, &candidate.base_sha, &candidate.sha, &message)
            .map_err(|e: GitError| e.to_string())?
        {
            Advance::Advanced { .. } => {}
            other => return Err(format!("{task_id}: {other:?}")),
        }
        cleanup_landed(&manager, task_id, &candidate.source_sha, true)
            .map_err(|e| e.to_string())?;
        println!("{task_id} {}", candidate.sha);
    }
    Ok(())
}
