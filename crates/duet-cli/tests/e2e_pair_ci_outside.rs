//! CI from outside, end to end with the real `claude` and `codex` CLIs: the worker commits; an
//! outside CI (the repository's post-commit hook) drops a failing result into the CI inbox, and
//! the task's pull request, replayed by a stand-in `gh` on the recorded JSON of gh's documented
//! `--json` shapes, has a failing check and reviews. The inbox failure, the GitHub check failure
//! and the maintainer's review each reach the worker's model, the drive-by's approval (no write
//! access) and the draft do not; `mark_done` is refused while they fail. `duet pair` is then
//! killed (SIGKILL), a result dropped while it is down, and the next `duet pair` delivers it.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use duet_store::Event;
use e2e::{PairWorld, Roles, STEP_TIMEOUT, script};

/// The stand-in `gh` of duet-ci's tests, behind a wrapper that points it at its answers and
/// opens the pull request once the task branch has a commit (its head is the branch's).
fn gh_stand_in(dir: &Path, repo: &Path) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../duet-ci/tests/fixtures/gh");
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let to = if name == "pr_view.json" {
            dir.join("pr_view.recorded")
        } else {
            dir.join(name)
        };
        std::fs::copy(entry.path(), to).unwrap();
    }
    std::fs::write(dir.join("logged_in"), "").unwrap();
    let wrapper = dir.join("gh-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            r#"#!/bin/sh
d='{dir}'
head=$(git -C '{repo}' rev-parse --verify -q duet/greet)
base=$(git -C '{repo}' rev-parse --verify -q main)
if [ -n "$head" ] && [ "$head" != "$base" ]; then
  sed "s/0123456789abcdef0123456789abcdef01234567/$head/g" "$d/pr_view.recorded" > "$d/pr_view.tmp"
  mv "$d/pr_view.tmp" "$d/pr_view.json"
fi
GH_FIXTURES="$d" exec "$d/gh" "$@"
"#,
            dir = dir.display(),
            repo = repo.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

/// A post-commit hook: the "outside CI" drops a failing result for each new commit.
fn outside_ci_hook(repo: &Path) {
    let hook = repo.join(".git/hooks/post-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        format!(
            r#"#!/bin/sh
sha=$(git rev-parse HEAD)
d='{repo}/.duet/ci-inbox/greet'
mkdir -p "$d"
printf '{{"sha":"%s","check":"jenkins","status":"fail","summary":"1 test failed","failing_tests":["greet::says_hello"]}}' "$sha" > "$d/.$sha.json"
mv "$d/.$sha.json" "$d/$sha.json"
"#,
            repo = repo.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn worker_saw(world: &PairWorld, needle: &str) -> bool {
    world
        .server
        .log()
        .iter()
        .any(|e| e.scope.as_deref() == Some("worker") && e.user_text.contains(needle))
}

fn wait_worker_saw(world: &PairWorld, needle: &str) {
    world.wait_for_events(
        &format!("the worker's model to see {needle:?}"),
        STEP_TIMEOUT,
        |_| worker_saw(world, needle),
    );
}

#[test]
fn an_inbox_result_and_a_replayed_github_check_failure_reach_the_worker_and_survive_a_kill() {
    let Some(world) = PairWorld::start(
        "ci-outside",
        script("pair_ci_outside.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    let gh = gh_stand_in(&world.env.root().join("gh"), &world.repo);
    outside_ci_hook(&world.repo);
    world.write_config(&format!(
        "base_branch = \"main\"\n\
         [roles]\nworker = \"claude\"\nreviewer = \"codex\"\n\
         [merge]\nauto = false\n\
         [github]\nenabled = true\ninterval = \"1s\"\ncommand = \"{}\"\n",
        gh.display()
    ));
    let mut pair = world.spawn_pair();
    wait_worker_saw(&world, "CI check `jenkins` failed");
    wait_worker_saw(&world, "CI check `github/test` failed");
    wait_worker_saw(&world, "@maintainer requested changes");
    wait_worker_saw(&world, "Please handle the empty input.");
    let events = world.wait_for_events("mark_done refused", STEP_TIMEOUT, |events| {
        events.iter().any(|r| {
            matches!(&r.event, Event::Note { text }
                if text.contains("mark_done refused") && text.contains("done needs CI: check `"))
        })
    });
    assert!(
        !worker_saw(&world, "lgtm!!"),
        "the drive-by's review reached the worker"
    );
    assert!(
        !worker_saw(&world, "draft"),
        "the pending review reached the worker"
    );
    let finished: Vec<String> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::CiRunFinished { check, status, .. } => Some(format!("{check} {status}")),
            _ => None,
        })
        .collect();
    for want in ["jenkins failed", "github/test failed", "github/lint passed"] {
        assert!(finished.iter().any(|f| f == want), "{want} in {finished:?}");
    }

    // SIGKILL; a result arrives while no duet runs; the next `duet pair` takes over and routes it.
    let pid = pair.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = pair.wait_timeout(STEP_TIMEOUT);
    let out = Command::new("git")
        .args(["rev-parse", "duet/greet"])
        .current_dir(&world.repo)
        .output()
        .unwrap();
    let head = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let drop = world.repo.join(".duet/ci-inbox/greet");
    std::fs::write(
        drop.join(".late.json"),
        format!(r#"{{"sha":"{head}","check":"buildkite","status":"fail","summary":"lint"}}"#),
    )
    .unwrap();
    std::fs::rename(drop.join(".late.json"), drop.join("late.json")).unwrap();
    let again = world.spawn_pair();
    wait_worker_saw(&world, "CI check `buildkite` failed");
    let events = world.events();
    let said = |needle: &str| {
        events
            .iter()
            .filter(|r| matches!(&r.event, Event::MessageAccepted { to, text, .. } if to == "worker" && text.contains(needle)))
            .count()
    };
    // Once each, also across the kill (the new poller reports the same checks again).
    assert_eq!(said("CI check `jenkins` failed"), 1);
    assert_eq!(said("CI check `github/test` failed"), 1);
    assert_eq!(said("Please handle the empty input."), 1);
    assert_eq!(said("CI check `buildkite` failed"), 1);
    let stopped = again.interrupt();
    assert_eq!(stopped.code, 130, "{stopped:?}");
}
