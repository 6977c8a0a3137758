//! Soak: many simulated pairs worked for minutes by the engine on the in-memory runtime (the
//! engine tests' `World`), while the engine is aborted at random moments (its future dropped,
//! no clean shutdown) and started again, and agents are killed at random (their process
//! reported dead: the engine restarts them with a new token). Each simulated agent acts like
//! one behind `duet mcp` / `duet hook`: a call that got no answer is sent again with the same
//! call id (hooks with the same request id) once an engine is back. As tasks merge, new ones
//! are appended to the backlog, so the pairs stay busy until the time is up.
//!
//! At the end it checks from the store that every message accepted was handed over exactly
//! once (none lost, none twice), that no agent saw a message twice, and that every task
//! merged; it samples this process's VmRSS (the engine runs in it) and prints start / peak /
//! end. Seeded: the seed is printed, `--seed N` repeats the kill schedule.
//!
//! `cargo bench --profile dev -p duet-daemon --bench soak -- --minutes 10 --pairs 20`;
//! `DUET_BENCH_SMOKE=1`: 4 pairs for 20 s.

#[path = "../tests/engine_support/mod.rs"]
mod engine_support;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use duet_core::lifecycle::StateKind;
use duet_core::protocol::{CallId, ToolCall, Verdict};
use duet_daemon::DaemonProgress;
use duet_proto::{Client, Request, RequestBody, Response, ResponseBody};
use duet_store::Event;
use engine_support::{World, hook, token};
use serde_json::json;
use tokio::sync::oneshot;

/// How much the RSS may grow after the warm-up, with a constant number of live tasks.
const RSS_GROWTH_MAX: f64 = 0.10;
/// Runs from this many minutes on have their RSS checked (the smoke's 20 s only report it).
const RSS_CHECKED_FROM: f64 = 2.0;

/// How long a simulated agent keeps sending one request while no engine answers.
const GIVE_UP: Duration = Duration::from_secs(120);

struct Options {
    minutes: f64,
    pairs: usize,
    seed: u64,
    /// Print the findings but exit 0 (to look at a run's figures without failing it).
    report_only: bool,
}

fn options() -> Options {
    let smoke = std::env::var_os("DUET_BENCH_SMOKE").is_some();
    let mut o = Options {
        minutes: if smoke { 20.0 / 60.0 } else { 10.0 },
        pairs: if smoke { 4 } else { 20 },
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        report_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut text = || args.next();
        match arg.as_str() {
            "--minutes" => o.minutes = text().and_then(|v| v.parse().ok()).expect("--minutes N"),
            "--pairs" => o.pairs = text().and_then(|v| v.parse().ok()).expect("--pairs N"),
            // Parsed as u64 (a float would round a printed seed to another one).
            "--seed" => o.seed = text().and_then(|v| v.parse().ok()).expect("--seed N"),
            "--report-only" => o.report_only = true,
            _ => {} // `cargo bench` adds `--bench`
        }
    }
    o
}

/// splitmix64: small, seeded, good enough to pick kill moments.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One engine run on its own thread; [`Engine::abort`] drops its future mid-flight.
struct Engine {
    abort: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Engine {
    fn start(world: &World) -> Engine {
        let setup = world.setup(false, None);
        let (abort, aborted) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                tokio::select! {
                    result = duet_daemon::run(setup, |_: DaemonProgress| {}, std::future::pending()) => {
                        if let Err(err) = result {
                            eprintln!("soak: the engine ended: {err}");
                        }
                    }
                    _ = aborted => {}
                }
            });
            // Whatever the loop had spawned is dropped, not finished.
            runtime.shutdown_timeout(Duration::from_secs(2));
        });
        Engine {
            abort: Some(abort),
            thread: Some(thread),
        }
    }

    fn abort(mut self) {
        if let Some(abort) = self.abort.take() {
            let _ = abort.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn ended(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

/// What the run saw, shared by the drivers.
#[derive(Debug, Default)]
struct Seen {
    /// (task, message number) → how many times an agent's turn started with it.
    messages: HashMap<(String, u64), u32>,
    agent_kills: u64,
    refusals: u64,
    /// The first few refusals, for the report (not all: the process's memory is measured).
    first_refusals: Vec<String>,
}

fn message_numbers(text: &str) -> Vec<u64> {
    text.match_indices("[duet message #")
        .filter_map(|(at, m)| {
            let rest = &text[at + m.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// One simulated agent: its current token, what it has read, what it still has to do.
#[derive(Debug)]
struct Agent {
    worker: bool,
    token: String,
    starts: usize,
    typed_seen: usize,
    inbox: VecDeque<String>,
    kills: u32,
    /// The next tool call to make (with its id, kept across resends), if any.
    intent: Option<(CallId, ToolCall)>,
    calls: u32,
    hooks: u32,
    /// The worker's commits so far.
    commits: u32,
}

impl Agent {
    /// A new tool call (a new id: a call answered, even by a refusal, is never sent again).
    fn new_call(&mut self, task: &str, call: ToolCall) -> (CallId, ToolCall) {
        self.calls += 1;
        let id = CallId::new(format!("soak-{task}-{}-{}", self.worker, self.calls));
        (id, call)
    }
}

/// The agent read the answer to its call `call`. Taken: nothing more to do (`mark_done` ends
/// the pair). Refused: it does what the refusal says, as a model would: commits first when told
/// to, asks for a review when its approval is for an older commit, and otherwise waits for what
/// duet hands it next (a review in progress, a task no longer in the state the call needs).
fn answered(
    world: &World,
    task: &str,
    agent: &mut Agent,
    call: &ToolCall,
    response: &Response,
    seen: &Mutex<Seen>,
    done: &mut bool,
) {
    let reasons = match response {
        Response::Ok {
            body: ResponseBody::ToolResult {
                is_error: false, ..
            },
        } => {
            agent.intent = None;
            *done |= matches!(call, ToolCall::MarkDone { .. });
            return;
        }
        Response::Ok {
            body: ResponseBody::ToolResult { text, .. },
        } => text.clone(),
        _ => {
            // Not an answer to the call (e.g. "duet is shutting down"): the bridge sends it
            // again, with the same id, a moment later.
            std::thread::sleep(Duration::from_millis(200));
            return;
        }
    };
    agent.intent = None;
    {
        let mut seen = seen.lock().unwrap();
        seen.refusals += 1;
        if seen.first_refusals.len() < 3 {
            seen.first_refusals.push(format!("{task}: {reasons}"));
        }
    }
    if !agent.worker {
        return;
    }
    if reasons.contains("commit your work first") || reasons.contains("no new commit since") {
        agent.commits += 1;
        let n = agent.commits;
        world.commit_text(task, &format!("{task}.txt"), &format!("change {n}\n"));
        let call = ToolCall::RequestReview {
            summary: format!("change {n}"),
        };
        agent.intent = Some(agent.new_call(task, call));
    } else if reasons.contains("has not approved HEAD") && reasons.contains("request a review") {
        let call = ToolCall::RequestReview {
            summary: "again".into(),
        };
        agent.intent = Some(agent.new_call(task, call));
    }
}

/// An agent with nothing left to read or do rests at its prompt (its screen says so) unless
/// more was typed into it meanwhile.
fn rest_if_idle(world: &World, pair: &str, agent: &Agent) {
    if agent.inbox.is_empty() && agent.intent.is_none() {
        world
            .runtime
            .set_at_rest(pair, agent.worker, agent.typed_seen);
    }
}

/// Sends `body` as `agent` until an engine answers (as the bridge and hooks do across a
/// restart). A refusal of the token means the agent was restarted: the caller re-reads it.
fn send(world: &World, request: &Request) -> Response {
    let started = Instant::now();
    let socket = world.socket();
    loop {
        // As `duet hook` and `duet mcp` do, "shutting down" is no answer: sent again.
        if let Ok(response) = Client::new(&socket, Duration::from_secs(10)).send(request)
            && !response.is_shutting_down()
        {
            return response;
        }
        assert!(
            started.elapsed() < GIVE_UP,
            "no engine answered for {GIVE_UP:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hook_request(agent: &mut Agent, task: &str, event: &str, extra: serde_json::Value) -> Request {
    agent.hooks += 1;
    let mut body = hook(event, extra);
    if let RequestBody::Hook { payload, .. } = &mut body {
        payload["duet_request_id"] = json!(format!("soak-{task}-{}-{}", agent.worker, agent.hooks));
    }
    Request::from_agent(agent.token.clone(), body)
}

/// A Stop hook's hand-over, if it blocked with messages.
fn handed_over(response: &Response) -> Option<String> {
    let Response::Ok {
        body: ResponseBody::HookReply { stdout: Some(text) },
    } = response
    else {
        return None;
    };
    let reply: serde_json::Value = serde_json::from_str(text).ok()?;
    (reply["decision"] == "block").then(|| reply["reason"].as_str().unwrap_or("").to_owned())
}

fn unauthorized(response: &Response) -> bool {
    matches!(response, Response::Error { error } if error.kind == duet_proto::ErrorKind::Unauthorized)
}

/// Drives one task's pair until its worker's `mark_done` was taken and the task ended.
fn drive_pair(world: &World, task: &str, seen: &Mutex<Seen>, rng: &Mutex<Rng>, stop: &AtomicBool) {
    let name = world.pair_name(task);
    let new_agent = |worker| Agent {
        worker,
        token: String::new(),
        starts: 0,
        typed_seen: 0,
        inbox: VecDeque::new(),
        kills: 0,
        intent: None,
        calls: 0,
        hooks: 0,
        commits: 0,
    };
    let mut agents = [new_agent(true), new_agent(false)];
    let mut done = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Some((w, r)) = world.runtime.pair(&name) else {
            if done {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let mut busy = false;
        for (agent, live) in agents.iter_mut().zip([w, r]) {
            // A new process in the seat (the engine restarted it, or started the pair anew).
            // What was typed into the old one and not read yet died with it (the engine hands
            // it over again); a call it had in mind survives only a resumed conversation (and
            // is made by the new process's bridge, with a new call id): a fresh one forgets
            // everything and begins again from its brief.
            if live.starts.len() != agent.starts || live.typed.len() < agent.typed_seen {
                let new_pair =
                    live.starts.len() < agent.starts || live.typed.len() < agent.typed_seen;
                agent.inbox.clear();
                agent.typed_seen = live.typed_before_start;
                agent.starts = live.starts.len();
                agent.token = token(&live);
                let resumed = live
                    .starts
                    .last()
                    .is_some_and(|c| c.argv.iter().any(|a| a == "--resume"));
                agent.intent = match agent.intent.take() {
                    Some((_, call)) if resumed && !new_pair => Some(agent.new_call(task, call)),
                    _ => None,
                };
                // It comes up at rest at its prompt: no hook says so (none fires before a
                // first turn), the engine sees it in its pane and types what it has for it.
                for body in [
                    RequestBody::ProcessStarted { pid: 4242 },
                    RequestBody::BridgeReady,
                ] {
                    send(world, &Request::from_agent(agent.token.clone(), body));
                }
                busy = true;
            }
            for text in &live.typed[agent.typed_seen.min(live.typed.len())..] {
                agent.inbox.push_back(text.clone());
            }
            agent.typed_seen = live.typed.len();

            if let Some((id, call)) = agent.intent.clone() {
                busy = true;
                let request = Request::tool_call(agent.token.clone(), id, call.clone());
                let response = send(world, &request);
                if !unauthorized(&response) {
                    // restarted when unauthorized: the next round re-settles
                    answered(world, task, agent, &call, &response, seen, &mut done);
                }
                rest_if_idle(world, &name, agent);
                continue;
            }
            let Some(text) = agent.inbox.pop_front() else {
                rest_if_idle(world, &name, agent);
                continue;
            };
            busy = true;
            // The turn starts with the text (its messages count as seen once each).
            {
                let mut seen = seen.lock().unwrap();
                for n in message_numbers(&text) {
                    *seen.messages.entry((task.to_owned(), n)).or_default() += 1;
                }
            }
            let start = hook_request(agent, task, "UserPromptSubmit", json!({ "prompt": text }));
            if unauthorized(&send(world, &start)) {
                agent.inbox.push_front(text);
                continue;
            }
            if agent.worker && text.contains("You are the WORKER") {
                agent.commits += 1;
                let n = agent.commits;
                world.commit_text(task, &format!("{task}.txt"), &format!("change {n}\n"));
                let call = ToolCall::RequestReview {
                    summary: format!("change {n}"),
                };
                agent.intent = Some(agent.new_call(task, call));
            } else if agent.worker && text.contains("approved") {
                let call = ToolCall::MarkDone {
                    summary: "done".into(),
                };
                agent.intent = Some(agent.new_call(task, call));
            } else if !agent.worker && text.contains("(round") {
                let call = ToolCall::SubmitReview {
                    verdict: Verdict::Approve,
                    findings: Vec::new(),
                    verified: vec!["read the diff".into()],
                    not_verified: vec![],
                };
                agent.intent = Some(agent.new_call(task, call));
            }
            // The call is made within the turn.
            if let Some((id, call)) = agent.intent.clone() {
                let request = Request::tool_call(agent.token.clone(), id, call.clone());
                let response = send(world, &request);
                if !unauthorized(&response) {
                    answered(world, task, agent, &call, &response, seen, &mut done);
                }
            }
            // Now and then the agent dies mid-turn (at most twice a seat: the third restart
            // would put the task to the human); otherwise its turn ends.
            if agent.kills < 2 && rng.lock().unwrap().chance(4) {
                agent.kills += 1;
                seen.lock().unwrap().agent_kills += 1;
                let exited = RequestBody::ProcessExited {
                    code: Some(137),
                    signal: None,
                };
                send(world, &Request::from_agent(agent.token.clone(), exited));
                continue;
            }
            let end = hook_request(agent, task, "Stop", json!({"stop_hook_active": false}));
            if let Some(more) = handed_over(&send(world, &end)) {
                agent.inbox.push_front(more);
            }
            rest_if_idle(world, &name, agent);
        }
        if world.state(task) == Some(StateKind::Merged) {
            return;
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn task_block(id: &str) -> String {
    format!("[[task]]\nid = \"{id}\"\ntitle = \"Task {id}\"\nprompt = \"Do {id}.\"\n\n")
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// One `… kB` line of /proc/self/status (0 when absent).
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// glibc gives each new thread its own malloc arena (up to 8 per core) and keeps what each
/// arena grew to. The soak makes threads a real daemon does not: a tokio runtime per simulated
/// engine kill (a real kill ends the process, and its memory with it) and a thread per task's
/// driver. Measured with the default, that churn alone grew the RSS by ~40 % in 2 minutes
/// (anonymous memory at the end 29.6 MiB; with two arenas 9.9 MiB, same seed). So the soak runs
/// itself again with `MALLOC_ARENA_MAX=2`: what it measures is what the engine keeps.
const ARENAS: &str = "MALLOC_ARENA_MAX";

fn main() {
    if std::env::var_os(ARENAS).is_none() {
        let status = std::env::current_exe()
            .and_then(|exe| {
                std::process::Command::new(exe)
                    .args(std::env::args_os().skip(1))
                    .env(ARENAS, "2")
                    .status()
            })
            .expect("run the soak again with MALLOC_ARENA_MAX=2");
        std::process::exit(status.code().unwrap_or(1));
    }
    let o = options();
    println!(
        "soak: seed {}, {} pairs, {:.1} min (engine aborted and agents killed at random; {ARENAS}={})",
        o.seed,
        o.pairs,
        o.minutes,
        std::env::var(ARENAS).unwrap_or_default()
    );
    let ids: Vec<String> = (0..o.pairs).map(|i| format!("s{i:04}")).collect();
    let backlog: String = ids.iter().map(|id| task_block(id)).collect();
    let mut world = World::with_backlog(&backlog, "");
    world.config = world
        .config
        .replace("max_parallel = 2", &format!("max_parallel = {}", o.pairs));
    std::fs::write(world.root.join("duet.toml"), &world.config).unwrap();
    // What a pane at rest shows: after a restart the engine sees agents at rest from their
    // screens (hooks fired while no engine listened are gone). Truthful: an agent typed into
    // shows the working footer until its turn ended with nothing left to read or do.
    world
        .runtime
        .set_screen("╭───╮\n❯ \n╰───╯\n  ? for shortcuts");
    world.runtime.typing_starts_turns();
    let world = Arc::new(world);
    let rng = Arc::new(Mutex::new(Rng(o.seed)));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(o.minutes * 60.0);

    let mut engine = Engine::start(&world);
    world.wait("the first engine answers", || {
        world.socket_answers().then_some(())
    });
    let rss_start = rss_kib();
    let rss = Arc::new(Mutex::new(Vec::<(f64, u64)>::new()));
    let sampler = {
        let (rss, stop) = (Arc::clone(&rss), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                rss.lock()
                    .unwrap()
                    .push((started.elapsed().as_secs_f64(), rss_kib()));
                std::thread::sleep(Duration::from_secs(2));
            }
        })
    };

    let engine_kills = AtomicU64::new(0);
    // A driver per task; one that ended is joined at once (a thread not joined keeps its
    // stack mapped: over hundreds of tasks that alone grows the RSS measured here).
    let mut drivers: Vec<std::thread::JoinHandle<()>> = Vec::new();
    let mut driven: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut all_ids = ids.clone();
    let mut merged: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut newly_merged: Vec<String> = Vec::new();
    // When each task was seen merged (seconds into the run).
    let mut merged_at: Vec<f64> = Vec::new();
    let mut next_kill =
        Instant::now() + Duration::from_millis(3000 + rng.lock().unwrap().below(12_000));
    loop {
        let now = Instant::now();
        // A driver for each task whose pair exists.
        for id in &all_ids {
            if !driven.contains(id) && world.runtime.pair(&world.pair_name(id)).is_some() {
                let (world, seen, rng, stop, task) = (
                    Arc::clone(&world),
                    Arc::clone(&seen),
                    Arc::clone(&rng),
                    Arc::clone(&stop),
                    id.clone(),
                );
                driven.insert(id.clone());
                drivers.push(std::thread::spawn(move || {
                    drive_pair(&world, &task, &seen, &rng, &stop)
                }));
            }
        }
        let (ended, running): (Vec<_>, Vec<_>) = drivers.drain(..).partition(|d| d.is_finished());
        drivers = running;
        for driver in ended {
            let _ = driver.join();
        }
        // Keep the pairs busy: a merged task leaves the backlog and a new one comes in until
        // the time is up (so the backlog, and what the engine holds for it, stays the same size).
        for id in all_ids.iter().filter(|id| !merged.contains(*id)) {
            if world.state(id) == Some(StateKind::Merged) {
                newly_merged.push(id.clone());
            }
        }
        let changed = !newly_merged.is_empty();
        merged_at.extend(newly_merged.iter().map(|_| started.elapsed().as_secs_f64()));
        merged.extend(newly_merged.drain(..));
        if now < deadline && changed {
            while all_ids.len() - merged.len() < o.pairs {
                all_ids.push(format!("s{:04}", all_ids.len()));
            }
        }
        if changed {
            let text: String = all_ids
                .iter()
                .filter(|id| !merged.contains(*id))
                .map(|id| task_block(id))
                .collect();
            let path = world.root.join("backlog.toml");
            let tmp = world.root.join(".backlog.toml.tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        }
        let merged = merged.len();
        if now >= deadline && merged == all_ids.len() {
            break;
        }
        // Engine kills, while the time is not up.
        if now < deadline && now >= next_kill {
            engine.abort();
            engine_kills.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(100 + rng.lock().unwrap().below(1500)));
            engine = Engine::start(&world);
            next_kill =
                Instant::now() + Duration::from_millis(5000 + rng.lock().unwrap().below(25_000));
        } else if engine.ended() {
            // It ended by itself (e.g. it could not start): that is a finding, start another.
            eprintln!("soak: the engine ended by itself; starting another");
            engine = Engine::start(&world);
        }
        if now > deadline + Duration::from_secs(180) {
            eprintln!("soak: tasks still not merged 3 minutes after the deadline");
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let elapsed = started.elapsed();
    let rss_end = rss_kib();
    // What the RSS is made of at the end: the heap (anonymous) or mapped files (the store).
    let parts = ["RssAnon:", "RssFile:", "RssShmem:", "Threads:"].map(status_kib);
    stop.store(true, Ordering::Relaxed);
    for driver in drivers {
        let _ = driver.join();
    }
    let _ = sampler.join();
    engine.abort();

    // The verdict, from the store and from what the agents saw.
    let events = world.events();
    let mut accepted: BTreeMap<(String, String), u32> = BTreeMap::new();
    let mut delivered: BTreeMap<(String, String), u32> = BTreeMap::new();
    let mut suppressed = 0;
    for record in &events {
        let task = record.task_id.clone().unwrap_or_default();
        match &record.event {
            Event::MessageAccepted { id, .. } => {
                *accepted.entry((task, id.clone())).or_default() += 1
            }
            Event::MessageDelivered { id } => {
                *delivered.entry((task, id.clone())).or_default() += 1
            }
            Event::MessageSuppressed { .. } => suppressed += 1,
            _ => {}
        }
    }
    let suppressed_ids: std::collections::BTreeSet<(String, String)> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::MessageSuppressed { id, .. } => {
                Some((r.task_id.clone().unwrap_or_default(), id.clone()))
            }
            _ => None,
        })
        .collect();
    // A mailbox hands over in order: an undelivered message older than one its recipient got
    // was skipped (lost); one newer than the last delivery was still waiting when its task
    // ended (a notice to a pair that was done).
    let number = |id: &str| {
        id.rsplit('#')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let recipient: BTreeMap<(String, String), String> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::MessageAccepted { id, to, .. } => Some((
                (r.task_id.clone().unwrap_or_default(), id.clone()),
                to.clone(),
            )),
            _ => None,
        })
        .collect();
    let mut last_delivered: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (task, id) in delivered.keys() {
        if let Some(to) = recipient.get(&(task.clone(), id.clone())) {
            let last = last_delivered
                .entry((task.clone(), to.clone()))
                .or_default();
            *last = (*last).max(number(id));
        }
    }
    let (lost, pending_at_end): (Vec<_>, Vec<_>) = accepted
        .keys()
        .filter(|k| !delivered.contains_key(*k) && !suppressed_ids.contains(*k))
        .partition(|(task, id)| {
            let to = recipient
                .get(&(task.clone(), id.clone()))
                .cloned()
                .unwrap_or_default();
            last_delivered
                .get(&(task.clone(), to))
                .is_some_and(|last| number(id) < *last)
        });
    let doubled_store: Vec<_> = delivered.iter().filter(|(_, n)| **n > 1).collect();
    let accepted_twice: Vec<_> = accepted.iter().filter(|(_, n)| **n > 1).collect();
    let seen = seen.lock().unwrap();
    let doubled_seen: Vec<_> = seen.messages.iter().filter(|(_, n)| **n > 1).collect();
    // From the agents' side: a message older than one its recipient's turns started with, that
    // no turn started with, never reached it.
    let mut last_seen: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (task, n) in seen.messages.keys() {
        if let Some(to) = recipient.get(&(task.clone(), format!("{task}#{n}"))) {
            let last = last_seen.entry((task.clone(), to.clone())).or_default();
            *last = (*last).max(*n);
        }
    }
    let never_reached: Vec<_> = accepted
        .keys()
        .filter(|(task, id)| {
            let n = number(id);
            let to = recipient
                .get(&(task.clone(), id.clone()))
                .cloned()
                .unwrap_or_default();
            !seen.messages.contains_key(&(task.clone(), n))
                && !suppressed_ids.contains(&(task.clone(), id.clone()))
                && last_seen
                    .get(&(task.clone(), to))
                    .is_some_and(|last| n < *last)
        })
        .collect();
    let not_merged: Vec<&String> = all_ids
        .iter()
        .filter(|id| world.state(id) != Some(StateKind::Merged))
        .collect();
    let samples = rss.lock().unwrap().clone();
    let peak = samples
        .iter()
        .map(|(_, k)| *k)
        .max()
        .unwrap_or(rss_end)
        .max(rss_end);
    let window = |from: f64, to: f64| {
        let xs: Vec<u64> = samples
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, k)| *k)
            .collect();
        if xs.is_empty() {
            0
        } else {
            xs.iter().sum::<u64>() / xs.len() as u64
        }
    };
    let total = elapsed.as_secs_f64();
    // "Flat", with the same number of live tasks all along (a merged task is replaced until
    // the deadline): after a warm-up (the first fifth of the working time), the mean RSS of the
    // last fifth is at most RSS_GROWTH_MAX above that of the second fifth. What growth there
    // is is also given per task merged in between.
    let work = (o.minutes * 60.0).min(total);
    let (first, warm, last) = (
        window(0.0, work * 0.2),
        window(work * 0.2, work * 0.4),
        window(work * 0.8, work),
    );
    let merged_between = merged_at
        .iter()
        .filter(|t| **t >= work * 0.3 && **t < work * 0.9)
        .count();
    let growth = last.saturating_sub(warm);
    let growth_share = growth as f64 / warm.max(1) as f64;
    let mib = |k: u64| k as f64 / 1024.0;

    println!(
        "soak: {:.1} min, {} tasks merged of {}, engine aborted {} times, agents killed {}",
        total / 60.0,
        all_ids.len() - not_merged.len(),
        all_ids.len(),
        engine_kills.load(Ordering::Relaxed),
        seen.agent_kills
    );
    println!(
        "soak: messages accepted {}, recorded delivered {}, suppressed {suppressed}, still waiting when their task ended {}, skipped in the record {}, recorded twice {}, accepted twice {}",
        accepted.len(),
        delivered.len(),
        pending_at_end.len(),
        lost.len(),
        doubled_store.len(),
        accepted_twice.len(),
    );
    println!(
        "soak: agents' turns started with {} messages: {} never reached their agent (lost), {} reached it more than once (doubled)",
        seen.messages.len(),
        never_reached.len(),
        doubled_seen.len()
    );
    println!(
        "soak: RSS start {:.1} MiB, peak {:.1} MiB, end {:.1} MiB (mean of the first fifth {:.1}, of the last fifth {:.1}; {} samples)",
        mib(rss_start),
        mib(peak),
        mib(rss_end),
        mib(first),
        mib(last),
        samples.len()
    );
    println!(
        "soak: at the end: anonymous {:.1} MiB, file {:.1} MiB, shared {:.1} MiB; {} threads",
        mib(parts[0]),
        mib(parts[1]),
        mib(parts[2]),
        parts[3]
    );
    println!(
        "soak: RSS after warm-up {:.1} MiB (second fifth) -> {:.1} MiB (last fifth): {:+.1} % ({} KiB per task merged in between, {merged_between} tasks; flat: at most {:.0} %)",
        mib(warm),
        mib(last),
        growth_share * 100.0,
        growth / merged_between.max(1) as u64,
        RSS_GROWTH_MAX * 100.0
    );
    if seen.refusals > 0 {
        println!(
            "soak: {} tool calls refused (retried), first: {:?}",
            seen.refusals, seen.first_refusals
        );
    }
    let mut failures = Vec::new();
    // One message's story: the events of its task that name it, or restart / adopt its pair.
    let story = |task: &str, n: u64| -> String {
        let key = format!("{task}#{n}");
        let named = |text: &str| {
            text.match_indices(&key)
                .any(|(at, m)| !text[at + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
        };
        let lines: Vec<String> = events
            .iter()
            .filter(|r| r.task_id.as_deref() == Some(task))
            .filter_map(|r| {
                let text = format!("{:?}", r.event);
                let keep = named(&text)
                    || matches!(
                        r.event,
                        Event::AgentExited { .. } | Event::AgentLaunched { .. }
                    )
                    || text.contains("adopted");
                keep.then(|| {
                    format!(
                        "{} {}",
                        r.at_ms % 1_000_000,
                        text.chars().take(140).collect::<String>()
                    )
                })
            })
            .collect();
        format!("{key}:\n      {}", lines.join("\n      "))
    };
    // A run shorter than RSS_CHECKED_FROM has no warm-up worth the name: reported only.
    if o.minutes >= RSS_CHECKED_FROM && growth_share > RSS_GROWTH_MAX {
        failures.push(format!(
            "RSS not flat: {:.1} -> {:.1} MiB after warm-up ({:+.1} %)",
            mib(warm),
            mib(last),
            growth_share * 100.0
        ));
    }
    if !never_reached.is_empty() {
        let detail: Vec<String> = never_reached
            .iter()
            .take(6)
            .map(|(task, id)| story(task, number(id)))
            .collect();
        failures.push(format!(
            "never reached their agent: {never_reached:?}\n    {}",
            detail.join("\n    ")
        ));
    }
    if !lost.is_empty() {
        let detail: Vec<String> = lost
            .iter()
            .take(8)
            .map(|(task, id)| {
                let texts: Vec<String> = events
                    .iter()
                    .filter(|r| r.task_id.as_deref() == Some(task))
                    .map(|r| match &r.event {
                        Event::MessageAccepted {
                            id: m,
                            from,
                            to,
                            text,
                        } if m == id => {
                            format!(
                                ">>> {from}->{to}: {}",
                                text.chars().take(100).collect::<String>()
                            )
                        }
                        other => format!("{other:?}").chars().take(100).collect(),
                    })
                    .collect();
                format!("{task} {id}:\n      {}", texts.join("\n      "))
            })
            .collect();
        failures.push(format!(
            "not recorded delivered though later ones were: {lost:?}\n    {}",
            detail.join("\n    ")
        ));
    }
    if !doubled_store.is_empty() || !accepted_twice.is_empty() {
        failures.push(format!(
            "doubled in the store: {doubled_store:?} {accepted_twice:?}"
        ));
    }
    if !doubled_seen.is_empty() {
        let detail: Vec<String> = doubled_seen
            .iter()
            .take(6)
            .map(|((task, n), _)| story(task, *n))
            .collect();
        failures.push(format!(
            "seen twice by an agent: {doubled_seen:?}\n    {}",
            detail.join("\n    ")
        ));
    }
    // Last: a stuck task's history (its last lines say where it stopped).
    for task in &not_merged {
        let history: Vec<String> = events
            .iter()
            .filter(|r| r.task_id.as_deref() == Some(task.as_str()))
            .map(|r| format!("{:?}", r.event).chars().take(160).collect())
            .collect();
        let from = history.len().saturating_sub(60);
        failures.push(format!(
            "not merged: {task} (last {} of {} events):\n      {}",
            history.len() - from,
            history.len(),
            history[from..].join("\n      ")
        ));
    }
    if !failures.is_empty() {
        // Long histories are cut: the first lines say enough.
        let text: Vec<&str> = failures.iter().flat_map(|f| f.lines()).take(400).collect();
        eprintln!("soak FAILED (seed {}):\n  {}", o.seed, text.join("\n"));
        if !o.report_only {
            std::process::exit(1);
        }
        return;
    }
    println!("soak: ok (seed {})", o.seed);
}
