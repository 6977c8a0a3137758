//! The same CI failure three times, end to end with the real `claude` and `codex` CLIs: the
//! worker commits again after each failure of the same test; on the third commit failing the
//! same way (`stall.repeat_limit`, default 3) the task needs the human, with the failing test
//! and the commits tried as evidence.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_store::Event;
use e2e::{PairWorld, Roles, script};

const CI: &str = "echo 'test greet::says_hello ... FAILED'; echo 'assertion failed: greeting says hello in French'; exit 1";

#[test]
fn the_same_failure_on_three_commits_sends_the_task_to_the_human() {
    let Some(world) = PairWorld::start(
        "ci-loop",
        script("pair_ci_loop.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    world.write_config(&format!(
        "base_branch = \"main\"\n\
         [roles]\nworker = \"claude\"\nreviewer = \"codex\"\n\
         [ci]\ncommand = \"{}\"\ntimeout = \"2m\"\n",
        CI.replace('\\', "\\\\").replace('"', "\\\"")
    ));
    let pair = world.spawn_pair();
    let reason = world.wait_for_needs_human();
    assert!(
        reason.contains("failed the same way on 3 commits in a row"),
        "{reason}"
    );
    assert!(reason.contains("greet::says_hello"), "{reason}");
    let events = world.events();
    let failed: Vec<String> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::CiRunFinished { sha, status, .. } if status == "failed" => Some(sha.clone()),
            _ => None,
        })
        .collect();
    assert!(failed.len() >= 3, "{failed:?}");
    for sha in &failed[..3] {
        assert!(reason.contains(&sha[..7]), "{reason} names {sha}");
    }
    let _ = pair.interrupt();
}
