//! Getting a backlog task ready to be worked: its worktree and branch, where it left its base,
//! the prompt text, the two agent profiles and the protocol settings.

use std::path::PathBuf;

use duet_core::backlog::{Prompt, Task};
use duet_core::config::Config;
use duet_core::error_chain::error_chain;
use duet_core::protocol::pair::PairConfig;
use duet_git::{Repo, WorktreeManager};

use crate::git_facts::fork_point;
use crate::render::TaskBrief;
use crate::seat_setup::AgentSetup;

/// A task with everything a pair needs to start on it.
#[derive(Debug, Clone)]
pub struct PreparedTask {
    pub brief: TaskBrief,
    pub worktree: PathBuf,
    pub worker: AgentSetup,
    pub reviewer: AgentSetup,
    pub pair_config: PairConfig,
}

/// Why a task could not be prepared (said in words a user can act on).
#[derive(Debug, thiserror::Error)]
#[error("failed to prepare task `{task}`: {reason}")]
pub struct PrepareError {
    pub task: String,
    pub reason: String,
}

/// Creates (or re-enters) the task's worktree and collects what its pair needs.
pub fn prepare_task(
    repo: &Repo,
    config: &Config,
    task: &Task,
) -> Result<PreparedTask, PrepareError> {
    let fail = |reason: String| PrepareError {
        task: task.id.to_string(),
        reason,
    };
    let profile = |name: &str| -> Result<AgentSetup, PrepareError> {
        let profile = config
            .agents
            .get(name)
            .ok_or_else(|| fail(format!("unknown agent profile `{name}`")))?;
        Ok(AgentSetup {
            profile_name: name.to_string(),
            profile: profile.clone(),
        })
    };
    let worker = profile(task.worker_profile(config))?;
    let reviewer = profile(task.reviewer_profile(config))?;
    let base = task.base_branch(config);
    let manager = WorktreeManager::new(repo, &config.worktree_root, &config.branch_prefix)
        .map_err(|e| fail(error_chain(&e)))?;
    let worktree = manager
        .ensure(task.id.as_str(), base)
        .map_err(|e| fail(error_chain(&e)))?;
    let base_commit = fork_point(&worktree.path, base).ok_or_else(|| {
        fail(format!(
            "cannot find where branch `{}` left `{base}`",
            worktree.branch
        ))
    })?;
    let prompt = match &task.prompt {
        Prompt::Inline(text) => text.clone(),
        Prompt::File(path) => std::fs::read_to_string(path)
            .map_err(|e| fail(format!("cannot read prompt file {}: {e}", path.display())))?,
    };
    let pair_config = pair_config(task, config);
    Ok(PreparedTask {
        brief: TaskBrief {
            id: task.id.to_string(),
            title: task.title.clone(),
            prompt,
            proof: task.proof.clone(),
            base_branch: base.to_string(),
            base_commit,
            branch: worktree.branch.clone(),
            plan: pair_config.review.plan,
        },
        worktree: worktree.path,
        worker,
        reviewer,
        pair_config,
    })
}

/// The protocol settings of `task` under `config` (its own overrides first: `plan`,
/// `max_rounds`, `tdd`, the scope budget).
pub fn pair_config(task: &Task, config: &Config) -> PairConfig {
    let mut pair_config = PairConfig::default();
    pair_config.limits.max_rounds = task.max_rounds(config).get();
    pair_config.review.require_verification = config.review.require_verification;
    pair_config.review.plan = task.plan(config);
    pair_config.review.max_plan_rounds = config.review.max_plan_rounds.get();
    pair_config.review.plan_in_branch = config.review.plan_in_branch;
    // duet.toml's [stall] settings: idle = no activity at all; the repeat limit counts the
    // same findings, echoed messages and the same failing check alike.
    pair_config.stall.idle_after = config.stall.idle;
    pair_config.stall.same_findings_rounds = config.stall.repeat_limit.get();
    pair_config.stall.ping_pongs = config.stall.repeat_limit.get();
    pair_config.stall.same_check_failures = config.stall.repeat_limit.get();
    // duet's gates for this task (protocol::gates): the engine runs them, mark_done waits.
    let scope = task.scope(config);
    pair_config.gates = duet_core::protocol::gates::GateRules {
        proof: task.proof_command.is_some(),
        tdd: task.tdd(config),
        max_files: scope.max_files.map(|n| n.get()),
        max_lines: scope.max_lines.map(|n| n.get()),
    };
    pair_config
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_core::backlog::Backlog;

    fn task_of(task_line: &str, config: &str) -> PairConfig {
        let config = Config::from_toml_str(config, "duet.toml").unwrap();
        let backlog =
            format!("[[task]]\nid = \"t\"\ntitle = \"T\"\nprompt = \"Do it.\"\n{task_line}\n");
        let backlog =
            Backlog::from_toml_str(&backlog, "backlog.toml", &config, std::path::Path::new("."))
                .unwrap();
        pair_config(&backlog.tasks[0], &config)
    }

    #[test]
    fn a_tasks_plan_setting_overrides_the_review_default() {
        let plan_on = "[review]\nplan = true\n";
        assert!(task_of("", plan_on).review.plan, "[review] plan = true");
        assert!(
            !task_of("plan = false", plan_on).review.plan,
            "the task's false wins"
        );
        assert!(
            task_of("plan = true", "").review.plan,
            "the task's true wins"
        );
        assert!(!task_of("", "").review.plan, "off by default");
        // The plan keys of [review] come along.
        let config = task_of(
            "",
            "[review]\nplan = true\nmax_plan_rounds = 2\nplan_in_branch = true\n",
        );
        assert_eq!(config.review.max_plan_rounds, 2);
        assert!(config.review.plan_in_branch);
        assert!(!task_of("", plan_on).review.plan_in_branch);
    }
}
