//! `duet pair` end to end, the plan step (`[review] plan = true`): a real `claude` worker
//! writes PLAN.md and asks for a plan review; the real `codex` reviewer is sent the plan's text,
//! asks for a change, then approves the revised plan; only then is code committed, reviewed and
//! the task done. PLAN.md never reaches the branch, and the report shows the approved plan.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_core::protocol::Verdict;
use duet_store::Event;
use e2e::{PairWorld, Roles, TASK, describe, script};

const PLAN_TWO: &str = "1. add greeting.txt saying hello\n2. check it with cat greeting.txt\n";

#[test]
fn the_plan_is_reviewed_twice_before_code_and_stays_off_the_branch() {
    let Some(world) = PairWorld::start(
        "plan",
        script("pair_plan.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    world.write_config(
        "base_branch = \"main\"\n[roles]\nworker = \"claude\"\nreviewer = \"codex\"\n\
         [review]\nmax_rounds = 5\nplan = true\n",
    );
    let run = world.run_pair();
    world.assert_task_done(&run);

    // The store: two plan verdicts (changes, then approval, each with the plan as sent), then
    // the code review's approval, in that order.
    let events = world.events();
    let steps: Vec<(String, Option<Verdict>, String)> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::PlanReviewed {
                round,
                verdict,
                plan,
                ..
            } => Some((format!("plan {round}"), Some(*verdict), plan.clone())),
            Event::ReviewSubmitted { round, verdict, .. } => {
                Some((format!("review {round}"), Some(*verdict), String::new()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        steps,
        [
            (
                "plan 1".to_owned(),
                Some(Verdict::ChangesRequested),
                "1. add greeting.txt\n".to_owned()
            ),
            (
                "plan 2".to_owned(),
                Some(Verdict::Approve),
                PLAN_TWO.to_owned()
            ),
            ("review 1".to_owned(), Some(Verdict::Approve), String::new()),
        ],
        "{}",
        describe(&events)
    );

    // The reviewer's model was sent the revised plan's text (quoted) by duet.
    let log = world.server.log();
    assert!(
        log.iter()
            .filter(|e| e.scope.as_deref() == Some("reviewer"))
            .any(|e| e.user_text.contains("> 2. check it with cat greeting.txt")),
        "{}",
        world.diagnostics()
    );
    // And its code review request quoted the approved plan, to check the code against it.
    assert!(
        log.iter()
            .filter(|e| e.scope.as_deref() == Some("reviewer"))
            .any(|e| e.user_text.contains("duet asks you to review commit")
                && e.user_text
                    .contains("Check the code against the plan you approved")
                && e.user_text.contains("> 2. check it with cat greeting.txt")),
        "{}",
        world.diagnostics()
    );

    // PLAN.md is not on the branch; the code is.
    let branch = format!("duet/{TASK}");
    let files = world
        .env
        .git(&world.repo, &["ls-tree", "-r", "--name-only", &branch]);
    assert!(files.lines().any(|f| f == "greeting.txt"), "{files}");
    assert!(!files.lines().any(|f| f == "PLAN.md"), "{files}");

    // The report has the plan section with the approved plan, and the JSON its rounds.
    let report = world.env.duet(&world.repo, &["report", TASK]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    assert!(
        report.stdout.contains("## Plan\n\n2 plan review rounds.")
            && report.stdout.contains(
                "> 1. add greeting.txt saying hello\n> 2. check it with cat greeting.txt"
            ),
        "{}",
        report.stdout
    );
    let json = world.env.duet(&world.repo, &["report", TASK, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["plan_rounds"][1]["plan"], PLAN_TWO);
}
