//! CI in the engine with the in-memory agent runtime (no tmux, no agent CLI): a real git
//! repository, store and `ci.command` runs, the test playing the agents over the control socket.
//! `mark_done` waits while CI runs and is refused while it fails; the failure (naming the failing
//! test) reaches the worker once and status shows the checking state; a result dropped in the
//! inbox and a GitHub check failure replayed by a stand-in `gh` reach the worker (only writers'
//! submitted reviews with it); an engine stopped mid-run or with an inbox file waiting loses no
//! result; the same failure on three commits sends the task to the human.
//!
//! A CI run is held at a gate (it waits for a file named after its commit, which the test
//! creates): that is how the test sees the run under way, without timing.

mod engine_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use duet_core::lifecycle::StateKind;
use duet_core::protocol::{ToolCall, Verdict};
use duet_pair::runtime::memory::MemoryAgent;
use duet_proto::{Request, RequestBody, Response, ResponseBody};
use duet_store::Event;
use engine_support::{
    Engine, World as EngineWorld, accepted, count, describe, hook, settle, token, tool,
};
use serde_json::json;

/// Done tasks wait for `duet merge` here: these tests are about CI, not landing.
const MERGE: &str = "[merge]\nauto = false\n";

/// cargo-test-like output: `calc::adds` fails until the commit has `fixed.txt`. Each run first
/// waits at its gate, `$GATE/<sha>`.
const CI: &str = "while [ ! -e \"$GATE/$DUET_SHA\" ]; do sleep 0.02; done; \
    if [ -e fixed.txt ]; then echo 'test calc::adds ... ok'; \
    else printf 'test calc::adds ... FAILED\\nthread calc::adds panicked: 3 != 2\\n'; exit 101; fi";

/// The engine world of `engine_support` with task `t`, CI held at gates, and CI's own reads.
struct World {
    inner: EngineWorld,
    /// Where each CI run waits for a file named after its commit.
    gate: PathBuf,
    _gates: tempfile::TempDir,
}

impl std::ops::Deref for World {
    type Target = EngineWorld;

    fn deref(&self) -> &EngineWorld {
        &self.inner
    }
}

impl World {
    /// A repository with task `t`, and `extra` (TOML tables) after the agents' config.
    fn new(extra: impl Fn(&Path) -> String) -> Self {
        let gates = tempfile::tempdir().unwrap();
        let gate = gates.path().to_path_buf();
        let inner = EngineWorld::with_config(&["t"], &format!("{MERGE}{}", extra(&gate)));
        World {
            inner,
            gate,
            _gates: gates,
        }
    }

    fn with_ci() -> Self {
        World::new(|gate| {
            format!(
                "[ci]\ncommand = {}\ntimeout = \"1m\"\nenv = {{ GATE = \"{}\" }}\n[github]\nenabled = false\n",
                toml_string(CI),
                gate.display()
            )
        })
    }

    /// The engine, ending by itself once nothing is left.
    fn start(&self) -> Engine {
        self.inner.start(true, None)
    }

    fn pair(&self) -> (MemoryAgent, MemoryAgent) {
        self.inner.pair("t")
    }

    fn worker(&self) -> MemoryAgent {
        self.pair().0
    }

    fn count(&self, is: impl Fn(&Event) -> bool) -> usize {
        count(&self.events(), is)
    }

    fn wait_count(&self, what: &str, n: usize, is: impl Fn(&Event) -> bool) {
        self.wait(what, || (self.count(&is) >= n).then_some(()));
    }

    fn state(&self) -> Option<StateKind> {
        self.inner.state("t")
    }

    fn wait_state(&self, state: StateKind) {
        self.inner.wait_state("t", state);
    }

    fn worktree(&self) -> PathBuf {
        self.inner.worktree("t")
    }

    /// Commits `file` in the task's worktree; returns the new HEAD.
    fn commit(&self, file: &str) -> String {
        self.inner.commit("t", file);
        self.git(&self.worktree(), &["rev-parse", "HEAD"])
    }

    /// Lets the CI run on `sha` go on.
    fn release(&self, sha: &str) {
        std::fs::write(self.gate.join(sha), "").unwrap();
    }

    /// The task's CI state in the engine's status answer.
    fn ci_state(&self) -> Option<(String, Option<String>)> {
        let answer = self.send(Request::from_human(RequestBody::Status {
            task: Some("t".into()),
        }))?;
        let Response::Ok {
            body: ResponseBody::Status { status },
        } = answer
        else {
            return None;
        };
        let task = status.tasks.into_iter().find(|t| t.id == "t")?;
        task.ci.map(|ci| (ci.state, ci.excerpt))
    }

    fn wait_ci_state(&self, state: &str) -> Option<String> {
        self.wait(&format!("CI {state} in status"), || {
            self.ci_state()
                .filter(|(s, _)| s == state)
                .map(|(_, excerpt)| excerpt)
        })
    }
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn ok(response: &Response) -> bool {
    accepted(response)
}

/// The text of a refused tool call.
fn refusal(response: &Response) -> String {
    match response {
        Response::Ok {
            body:
                ResponseBody::ToolResult {
                    is_error: true,
                    text,
                },
        } => text.clone(),
        other => panic!("not refused: {other:?}"),
    }
}

/// What an agent is handed, typed into its pane or in a Stop-hook reply: the agent takes each
/// typed text (a turn starts with it and ends), and what its Stop hook is handed counts too.
struct Inbox {
    token: String,
    taken: usize,
    got: Vec<String>,
}

impl Inbox {
    fn new(token: String) -> Self {
        Inbox {
            token,
            taken: 0,
            got: Vec::new(),
        }
    }

    /// Waits until something handed to the worker contains `needle`; returns it.
    fn wait_for(&mut self, world: &World, needle: &str) -> String {
        world.wait(&format!("{needle:?} handed to the worker"), || {
            let typed = world.worker().typed;
            for text in typed.iter().skip(self.taken) {
                self.got.push(text.clone());
                let answer = world.agent(
                    &self.token,
                    hook("UserPromptSubmit", json!({ "prompt": text })),
                );
                assert!(ok(&answer), "{answer:?}");
                let answer = world.agent(
                    &self.token,
                    hook("Stop", json!({"stop_hook_active": false})),
                );
                if let Response::Ok {
                    body: ResponseBody::HookReply { stdout: Some(out) },
                } = answer
                {
                    let reply: serde_json::Value = serde_json::from_str(&out).unwrap();
                    let reason = reply["reason"].as_str().unwrap_or_default().to_owned();
                    // Handed over: its turn goes on with it and ends.
                    world.agent(&self.token, hook("Stop", json!({"stop_hook_active": true})));
                    self.got.push(reason);
                }
            }
            self.taken = typed.len();
            self.got.iter().find(|t| t.contains(needle)).cloned()
        })
    }

    fn count(&self, needle: &str) -> usize {
        self.got.iter().filter(|t| t.contains(needle)).count()
    }
}

fn is_failure_message(e: &Event) -> bool {
    matches!(e, Event::MessageAccepted { to, text, .. }
        if to == "worker" && text.contains("Failing tests (1): calc::adds"))
}

#[test]
fn mark_done_waits_while_ci_runs_is_refused_while_it_fails_and_the_failure_is_said_once() {
    let world = World::with_ci();
    let engine = world.start();
    let (worker, reviewer) = world.pair();
    let (w, r) = (token(&worker), token(&reviewer));
    settle(&world, &w);
    settle(&world, &r);
    let mut inbox = Inbox::new(w.clone());

    // The first commit fails; while its run is held, the task is checking and done waits.
    let first = world.commit("a.txt");
    world.wait_count(
        "the run started",
        1,
        |e| matches!(e, Event::CiRunStarted { sha, .. } if *sha == first),
    );
    let excerpt = world.wait_ci_state("running");
    assert!(excerpt.unwrap_or_default().contains("running"));
    let answer = tool(
        &world,
        &w,
        ToolCall::MarkDone {
            summary: "a".into(),
        },
    );
    let text = refusal(&answer);
    assert!(text.contains("CI is still running on"), "{text}");

    world.release(&first);
    let failure = inbox.wait_for(&world, "Failing tests (1): calc::adds");
    assert!(failure.contains("duet log t --ci"), "{failure}");
    assert!(failure.contains("exit code 101"), "{failure}");
    let excerpt = world.wait_ci_state("failed").unwrap_or_default();
    assert!(excerpt.contains("1 failing test"), "{excerpt}");
    let text = refusal(&tool(
        &world,
        &w,
        ToolCall::MarkDone {
            summary: "a".into(),
        },
    ));
    assert!(text.contains("check `ci` failed on"), "{text}");

    // The fix passes, which is said; the review request carries it; approved, then done.
    let fixed = world.commit("fixed.txt");
    world.release(&fixed);
    inbox.wait_for(&world, "passed on");
    let answer = tool(
        &world,
        &w,
        ToolCall::RequestReview {
            summary: "fix".into(),
        },
    );
    assert!(ok(&answer), "{answer:?}");
    let request = world.wait("the review request", || {
        world
            .pair()
            .1
            .typed
            .into_iter()
            .find(|t| t.contains("(round 1 of"))
    });
    assert!(request.contains(": passed"), "{request}");
    world.agent(&r, hook("UserPromptSubmit", json!({ "prompt": request })));
    let answer = tool(
        &world,
        &r,
        ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: Vec::new(),
            verified: vec!["read the diff".into()],
            not_verified: vec![],
        },
    );
    assert!(ok(&answer), "{answer:?}");
    world.agent(&r, hook("Stop", json!({"stop_hook_active": false})));
    inbox.wait_for(&world, "approved");
    let answer = tool(
        &world,
        &w,
        ToolCall::MarkDone {
            summary: "a".into(),
        },
    );
    assert!(ok(&answer), "{answer:?}");
    let summary = engine.join();
    assert_eq!(
        summary.tasks[0].state, "ready",
        "done, waiting for `duet merge`"
    );

    assert_eq!(world.count(is_failure_message), 1, "one failure message");
    assert_eq!(inbox.count("Failing tests (1): calc::adds"), 1);
    let runs: Vec<(String, String)> = world
        .events()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::CiRunFinished { sha, status, .. } => Some((sha, status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        runs,
        vec![(first, "failed".to_owned()), (fixed, "passed".to_owned())]
    );
}

#[test]
fn the_same_failure_on_three_commits_sends_the_task_to_the_human_with_the_evidence() {
    let world = World::with_ci();
    let _engine = world.start();
    let (worker, _reviewer) = world.pair();
    settle(&world, &token(&worker));
    let mut commits = Vec::new();
    for (n, file) in ["a.txt", "b.txt", "c.txt"].into_iter().enumerate() {
        let sha = world.commit(file);
        world.release(&sha);
        // Each run ends before the next commit (a newer commit would cancel it).
        world.wait_count("the run finished", n + 1, |e| {
            matches!(e, Event::CiRunFinished { .. })
        });
        commits.push(sha);
    }
    world.wait_state(StateKind::NeedsHuman);
    let reason = world
        .events()
        .into_iter()
        .rev()
        .find_map(|r| match r.event {
            Event::TaskStateChanged {
                to: StateKind::NeedsHuman,
                reason,
                ..
            } => reason,
            _ => None,
        })
        .expect("a reason");
    assert!(reason.contains("3 commits in a row"), "{reason}");
    assert!(reason.contains("calc::adds"), "{reason}");
    for sha in &commits {
        assert!(reason.contains(&sha[..7]), "{reason} names {sha}");
    }
}

/// The stand-in `gh` (duet-ci's fixtures, in gh's documented `--json` shapes) behind a wrapper
/// that tells it where its answers are; `logged_in`, no pull request until the test opens one.
fn gh_stand_in(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../duet-ci/tests/fixtures/gh");
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "pr_view.json" {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    std::fs::write(dir.join("logged_in"), "").unwrap();
    let wrapper = dir.join("gh-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nGH_FIXTURES='{0}' exec '{0}/gh' \"$@\"\n",
            dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

/// Opens the task's pull request at `sha` (the recorded answer, for this commit), atomically.
fn open_pr(dir: &Path, sha: &str) {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../duet-ci/tests/fixtures/gh/pr_view.json");
    let recorded = std::fs::read_to_string(src).unwrap();
    let answer = recorded.replace("0123456789abcdef0123456789abcdef01234567", sha);
    std::fs::write(dir.join("pr_view.tmp"), answer).unwrap();
    std::fs::rename(dir.join("pr_view.tmp"), dir.join("pr_view.json")).unwrap();
}

#[test]
fn an_inbox_result_and_a_replayed_github_check_failure_reach_the_worker() {
    let gh_dir = tempfile::tempdir().unwrap();
    let gh = gh_stand_in(gh_dir.path());
    let world = World::new(|_| {
        format!(
            "[github]\nenabled = true\ninterval = \"1s\"\ncommand = \"{}\"\n",
            gh.display()
        )
    });
    let _engine = world.start();
    let worker = world.worker();
    settle(&world, &token(&worker));
    let mut inbox = Inbox::new(token(&worker));
    let sha = world.commit("a.txt");

    // An outside CI drops a result for the commit.
    let drop = world.root.join(".duet/ci-inbox/t");
    std::fs::create_dir_all(&drop).unwrap();
    let result = json!({"sha": sha, "check": "jenkins", "status": "fail",
        "summary": "1 test failed", "failing_tests": ["calc::adds"], "url": "https://ci.example/42"});
    std::fs::write(drop.join(".r.json"), result.to_string()).unwrap();
    std::fs::rename(drop.join(".r.json"), drop.join("r.json")).unwrap();
    let text = inbox.wait_for(&world, "CI check `jenkins` failed");
    assert!(text.contains("Failing tests (1): calc::adds"), "{text}");
    assert!(text.contains("https://ci.example/42"), "{text}");

    // The pull request opens: its failed check and the maintainer's review reach the worker;
    // the drive-by's approval (no write access) and the pending draft do not.
    open_pr(gh_dir.path(), &sha);
    let check = inbox.wait_for(&world, "CI check `github/test` failed");
    assert!(check.contains("2 tests failed"), "{check}");
    let review = inbox.wait_for(&world, "Please handle the empty input.");
    assert!(review.contains("@maintainer requested changes"), "{review}");
    let all = inbox.got.join("\n");
    assert!(!all.contains("lgtm!!"), "{all}");
    assert!(!all.contains("draft"), "{all}");
    // Both are stored, and the failing checks hold done back.
    let checks: Vec<String> = world
        .events()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::CiRunFinished { check, status, .. } => Some(format!("{check} {status}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        checks,
        ["jenkins failed", "github/test failed", "github/lint passed"]
    );
    let text = refusal(&tool(
        &world,
        &token(&worker),
        ToolCall::MarkDone {
            summary: "a".into(),
        },
    ));
    assert!(text.contains("failed on"), "{text}");
    // Polled again and again, each is said once.
    let polls = |dir: &Path| {
        std::fs::read_to_string(dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("pr checks"))
            .count()
    };
    let seen = polls(gh_dir.path());
    world.wait("two more polls", || {
        (polls(gh_dir.path()) >= seen + 2).then_some(())
    });
    assert_eq!(
        world.count(
            |e| matches!(e, Event::MessageAccepted { text, .. } if text.contains("github/test"))
        ),
        1
    );
    assert_eq!(
        world.count(
            |e| matches!(e, Event::MessageAccepted { text, .. } if text.contains("Please handle"))
        ),
        1
    );
}

#[test]
fn an_engine_stopped_mid_run_or_with_an_inbox_file_waiting_loses_no_result() {
    let world = World::with_ci();
    let engine = world.start();
    let worker = world.worker();
    settle(&world, &token(&worker));
    let sha = world.commit("a.txt");
    world.wait_count("the run started", 1, |e| {
        matches!(e, Event::CiRunStarted { .. })
    });
    let summary = engine.stop();
    assert!(summary.interrupted);
    assert_eq!(world.count(|e| matches!(e, Event::CiRunFinished { .. })), 0);
    // Meanwhile an outside system drops its result.
    let drop = world.root.join(".duet/ci-inbox/t");
    std::fs::create_dir_all(&drop).unwrap();
    let result = json!({"sha": sha, "check": "jenkins", "status": "fail", "summary": "lint"});
    std::fs::write(drop.join("r.json"), result.to_string()).unwrap();

    // The next engine adopts the pair, runs the commit again and reads the inbox.
    let _engine = world.start();
    world.wait_count("the run started again", 2, |e| {
        matches!(e, Event::CiRunStarted { .. })
    });
    world.release(&sha);
    let mut inbox = Inbox::new(token(&worker));
    inbox.wait_for(&world, "CI check `jenkins` failed");
    inbox.wait_for(&world, "Failing tests (1): calc::adds");
    world.wait_count("both stored", 2, |e| {
        matches!(e, Event::CiRunFinished { .. })
    });
    assert_eq!(world.count(is_failure_message), 1);
    assert!(drop.join("done/r.json").exists() || !drop.join("r.json").exists());
}

#[test]
fn a_pair_whose_files_change_is_not_stalled_and_one_whose_files_stop_is() {
    let world = World::new(|_| "[stall]\nidle = \"3s\"\n[github]\nenabled = false\n".into());
    let _engine = world.start();
    let (worker, reviewer) = world.pair();
    settle(&world, &token(&worker));
    settle(&world, &token(&reviewer));
    // No hook, no call, no commit for longer than `stall.idle`: only files changing.
    let until = Instant::now() + Duration::from_secs(5);
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        std::fs::write(world.worktree().join("wip.txt"), format!("{n}\n")).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        world.state(),
        Some(StateKind::Working),
        "{}",
        describe(&world.events())
    );
    // Files quiet: the pair is stalled.
    world.wait_state(StateKind::NeedsHuman);
}
