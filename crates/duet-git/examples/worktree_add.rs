//! Creates one task worktree with duet's code; the worktree benchmark times this binary.
//!
//! Usage: `worktree_add <repo> <worktree-root> <task-id> <base> [branch-prefix]`

use std::process::ExitCode;

use duet_git::{Repo, WorktreeManager};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, root, task_id, base, rest @ ..] = args.as_slice() else {
        eprintln!("usage: worktree_add <repo> <worktree-root> <task-id> <base> [branch-prefix]");
        return ExitCode::from(2);
    };
    let prefix = rest.first().map_or("duet", String::as_str);
    let result = Repo::discover(repo).and_then(|repo| {
        let manager = WorktreeManager::new(&repo, root, prefix)?;
        manager.ensure(task_id, base)
    });
    match result {
        Ok(worktree) => {
            println!("{}", worktree.path.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
