//! backlog.toml and duet.toml: raw and mutated bytes (UTF-8 errors at the first bad byte, TOML
//! syntax errors surfaced, every diagnostic placed in the file), and generated files whose
//! validity is known (each problem reported, a valid file accepted as written).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use duet_core::backlog::Backlog;
use duet_core::config::Config;
use duet_core::diagnostic::{Diagnostics, SourceFile};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::Runner;
use crate::mutate::{Bytes, bytes_for};

const BACKLOG: &str = "backlog.toml";
const CONFIG: &str = "duet.toml";

pub fn backlog(runner: &mut Runner) -> Result<(), String> {
    let config = Config::default();
    let base_dir = crate::corpus_root().join("backlog");
    let input = prop_oneof![
        3 => bytes_for("backlog").prop_map(Input::Bytes),
        1 => vec(gen_task(), 0..6).prop_map(Input::Tasks),
    ];
    runner.check(input, |input| match input {
        Input::Bytes(Bytes(bytes)) => check_bytes(&bytes, BACKLOG, |text| {
            Backlog::from_toml_str(text, BACKLOG, &config, &base_dir).map(|b| check_accepted(&b))
        }),
        Input::Tasks(tasks) => check_generated(&tasks, &config, &base_dir),
    })
}

pub fn config(runner: &mut Runner) -> Result<(), String> {
    let input = prop_oneof![
        3 => bytes_for("config").prop_map(ConfigInput::Bytes),
        1 => (any::<i64>(), any::<i64>(), 0..DURATIONS.len(), any::<bool>())
            .prop_map(|(p, r, d, u)| ConfigInput::Numbers { max_parallel: p, max_rounds: r, idle: d, unknown: u }),
    ];
    runner.check(input, |input| match input {
        ConfigInput::Bytes(Bytes(bytes)) => check_bytes(&bytes, CONFIG, |text| {
            Config::from_toml_str(text, CONFIG).map(|_| Ok(()))
        }),
        ConfigInput::Numbers {
            max_parallel,
            max_rounds,
            idle,
            unknown,
        } => {
            let (duration, duration_ok) = DURATIONS[idle];
            let text = format!(
                "{}max_parallel = {max_parallel}\n[review]\nmax_rounds = {max_rounds}\n[stall]\nidle = \"{duration}\"\n",
                if unknown { "max_paralel = 3\n" } else { "" }
            );
            let in_range = |n: i64| (1..=i64::from(u32::MAX)).contains(&n);
            let valid = in_range(max_parallel) && in_range(max_rounds) && duration_ok && !unknown;
            match Config::from_toml_str(&text, CONFIG) {
                Ok(config) => {
                    prop_assert!(valid, "accepted an invalid config:\n{text}");
                    prop_assert_eq!(config.max_parallel.get() as i64, max_parallel);
                    prop_assert_eq!(i64::from(config.review.max_rounds.get()), max_rounds);
                    Ok(())
                }
                Err(diagnostics) => {
                    prop_assert!(!valid, "refused a valid config:\n{text}\n{}", diagnostics.render_plain());
                    check_diagnostics(&diagnostics, CONFIG)?;
                    if unknown {
                        prop_assert!(mentions(&diagnostics, "unknown key `max_paralel`"));
                    }
                    Ok(())
                }
            }
        }
    })
}

/// `idle` values with whether duet must take them (zero is refused; humantime needs units).
const DURATIONS: &[(&str, bool)] = &[
    ("15m", true),
    ("1h 30m", true),
    ("2s", true),
    ("0s", false),
    ("abc", false),
    ("15 parsecs", false),
    ("", false),
];

#[derive(Debug, Clone)]
enum Input {
    Bytes(Bytes),
    Tasks(Vec<GenTask>),
}

#[derive(Debug, Clone)]
enum ConfigInput {
    Bytes(Bytes),
    Numbers {
        max_parallel: i64,
        max_rounds: i64,
        idle: usize,
        unknown: bool,
    },
}

/// Bytes through the UTF-8 decoding and the parser `parse`: a decoding error sits at the first
/// bad byte; TOML that does not parse is refused with a syntax error; every diagnostic is in
/// the file with a sane place.
fn check_bytes(
    bytes: &[u8],
    path: &str,
    parse: impl Fn(&str) -> Result<Result<(), TestCaseError>, Diagnostics>,
) -> Result<(), TestCaseError> {
    let text = match SourceFile::decode(path, bytes.to_vec()) {
        Ok(text) => text,
        Err(diagnostics) => {
            let bad = std::str::from_utf8(bytes).expect_err("decode refused valid UTF-8");
            let before = std::str::from_utf8(&bytes[..bad.valid_up_to()]).expect("valid prefix");
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            let d = diagnostics.iter().next().expect("one diagnostic");
            prop_assert_eq!(d.location(), Some(format!("{path}:{line}:{column}")));
            prop_assert!(
                d.message.starts_with("file is not valid UTF-8"),
                "{}",
                d.message
            );
            check_diagnostics(&diagnostics, path)?;
            return Ok(());
        }
    };
    let syntax_ok = text.parse::<toml_edit::DocumentMut>().is_ok();
    match parse(&text) {
        Ok(checked) => {
            prop_assert!(syntax_ok, "accepted text TOML refuses:\n{text:?}");
            checked
        }
        Err(diagnostics) => {
            check_diagnostics(&diagnostics, path)?;
            if !syntax_ok {
                // Refused by TOML itself (a syntax error, a key set twice, ...): said at a place.
                prop_assert!(
                    diagnostics.iter().any(|d| d.line_col().is_some()),
                    "no place given for {text:?}:\n{}",
                    diagnostics.render_plain()
                );
            }
            Ok(())
        }
    }
}

/// Every refusal holds an error; each diagnostic says what, in this file, at a place inside it.
fn check_diagnostics(diagnostics: &Diagnostics, path: &str) -> Result<(), TestCaseError> {
    prop_assert!(diagnostics.has_errors(), "refused without an error");
    for d in diagnostics.iter() {
        prop_assert!(!d.message.trim().is_empty(), "an empty message: {d:?}");
        let Some(file) = &d.file else {
            return Err(TestCaseError::fail(format!(
                "a diagnostic without its file: {d:?}"
            )));
        };
        prop_assert_eq!(file.path(), Path::new(path));
        if let Some(span) = &d.span {
            prop_assert!(
                span.start <= file.text().len(),
                "span outside the file: {d:?}"
            );
            let (line, column) = d.line_col().expect("a span has a place");
            let lines = file.text().split('\n').count();
            prop_assert!(
                line >= 1 && line <= lines && column >= 1,
                "{line}:{column} of {lines} lines"
            );
        }
        prop_assert!(d.render_short().starts_with(path), "{}", d.render_short());
        prop_assert!(d.render_plain().contains(&d.message));
    }
    let _ = diagnostics.to_json();
    Ok(())
}

fn mentions(diagnostics: &Diagnostics, needle: &str) -> bool {
    diagnostics.iter().any(|d| d.message.contains(needle))
}

/// What an accepted backlog promises: unique ids and dependencies on known tasks, no cycle.
fn check_accepted(backlog: &Backlog) -> Result<(), TestCaseError> {
    let ids: BTreeSet<&str> = backlog.tasks.iter().map(|t| t.id.as_str()).collect();
    prop_assert_eq!(ids.len(), backlog.tasks.len(), "duplicate ids accepted");
    for task in &backlog.tasks {
        for dep in &task.depends_on {
            prop_assert!(
                ids.contains(dep.as_str()),
                "unknown dependency {} accepted",
                dep
            );
        }
    }
    let edges: BTreeMap<&str, Vec<&str>> = backlog
        .tasks
        .iter()
        .map(|t| {
            (
                t.id.as_str(),
                t.depends_on.iter().map(|d| d.as_str()).collect(),
            )
        })
        .collect();
    prop_assert!(!has_cycle(&edges), "a dependency cycle accepted");
    Ok(())
}

fn has_cycle(edges: &BTreeMap<&str, Vec<&str>>) -> bool {
    // Kahn: whatever cannot be peeled off lies on or behind a cycle.
    let mut pending: BTreeMap<&str, usize> = edges
        .iter()
        .map(|(id, deps)| (*id, deps.iter().filter(|d| edges.contains_key(*d)).count()))
        .collect();
    let mut done = 0;
    loop {
        let ready: Vec<&str> = pending
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(id, _)| *id)
            .collect();
        if ready.is_empty() {
            return done < edges.len();
        }
        for id in ready {
            pending.remove(id);
            done += 1;
            for (other, deps) in edges {
                if deps.contains(&id)
                    && let Some(n) = pending.get_mut(other)
                {
                    *n -= 1;
                }
            }
        }
    }
}

/// Ids a task may get: the first six are safe, the rest are not.
const IDS: &[&str] = &[
    "a", "b", "c", "d", "task-1", "x_y.z", "a b", "-x", "", "../up",
];
const SAFE_IDS: usize = 6;
/// A dependency names a safe id or `zz`, which no task has.
const DEPS: &[&str] = &["a", "b", "c", "d", "task-1", "x_y.z", "zz"];

#[derive(Debug, Clone)]
struct GenTask {
    id: usize,
    /// 0: no prompt, 1: `prompt`, 2: `prompt_file` (exists), 3: both.
    prompt: u8,
    deps: BTreeSet<usize>,
    unknown_key: bool,
    priority: i64,
}

fn gen_task() -> impl Strategy<Value = GenTask> {
    (
        prop_oneof![6 => 0..SAFE_IDS, 1 => SAFE_IDS..IDS.len()],
        prop_oneof![1 => Just(0u8), 6 => Just(1u8), 2 => Just(2u8), 1 => Just(3u8)],
        btree_set(0..DEPS.len(), 0..3),
        prop::bool::weighted(0.1),
        any::<i64>(),
    )
        .prop_map(|(id, prompt, deps, unknown_key, priority)| GenTask {
            id,
            prompt,
            deps,
            unknown_key,
            priority,
        })
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

fn render(tasks: &[GenTask]) -> String {
    let mut out = String::new();
    for t in tasks {
        out.push_str(&format!("[[task]]\nid = {}\n", quoted(IDS[t.id])));
        if t.prompt & 1 == 1 {
            out.push_str("prompt = \"Do it.\"\n");
        }
        if t.prompt & 2 == 2 {
            out.push_str("prompt_file = \"prompts/fix.md\"\n");
        }
        let deps: Vec<String> = t.deps.iter().map(|d| quoted(DEPS[*d])).collect();
        out.push_str(&format!(
            "depends_on = [{}]\npriority = {}\n",
            deps.join(", "),
            t.priority
        ));
        if t.unknown_key {
            out.push_str("dependson = []\n");
        }
        out.push('\n');
    }
    out
}

/// A generated backlog is accepted exactly when it has none of the problems put in, and each
/// problem put in is reported.
fn check_generated(
    tasks: &[GenTask],
    config: &Config,
    base_dir: &Path,
) -> Result<(), TestCaseError> {
    let text = render(tasks);
    let ids: Vec<&str> = tasks.iter().map(|t| IDS[t.id]).collect();
    let unsafe_id = tasks.iter().any(|t| t.id >= SAFE_IDS);
    // Only safe ids are compared (an unsafe one is refused before).
    let safe: Vec<&str> = tasks
        .iter()
        .filter(|t| t.id < SAFE_IDS)
        .map(|t| IDS[t.id])
        .collect();
    let duplicate = safe.iter().collect::<BTreeSet<_>>().len() < safe.len();
    let no_prompt = tasks.iter().any(|t| t.prompt == 0);
    let both = tasks.iter().any(|t| t.prompt == 3);
    let unknown_key = tasks.iter().any(|t| t.unknown_key);
    let unknown_dep = tasks
        .iter()
        .any(|t| t.deps.iter().any(|d| !ids.contains(&DEPS[*d])));
    let local = unsafe_id || duplicate || no_prompt || both || unknown_key || unknown_dep;
    let edges: BTreeMap<&str, Vec<&str>> = tasks
        .iter()
        .map(|t| (IDS[t.id], t.deps.iter().map(|d| DEPS[*d]).collect()))
        .collect();
    let cycle = !local && has_cycle(&edges);
    let valid = !local && !cycle;
    match Backlog::from_toml_str(&text, BACKLOG, config, base_dir) {
        Ok(backlog) => {
            prop_assert!(valid, "accepted an invalid backlog:\n{text}");
            let read: Vec<&str> = backlog.tasks.iter().map(|t| t.id.as_str()).collect();
            prop_assert_eq!(read, ids, "not the tasks written");
            for (task, generated) in backlog.tasks.iter().zip(tasks) {
                prop_assert_eq!(task.priority, generated.priority);
                prop_assert_eq!(task.depends_on.len(), generated.deps.len());
            }
            check_accepted(&backlog)
        }
        Err(diagnostics) => {
            prop_assert!(
                !valid,
                "refused a valid backlog:\n{text}\n{}",
                diagnostics.render_plain()
            );
            check_diagnostics(&diagnostics, BACKLOG)?;
            for (put_in, needle) in [
                (duplicate, "duplicate task id"),
                (no_prompt, "has no prompt"),
                (both, "sets both `prompt` and `prompt_file`"),
                (unknown_key, "unknown key `dependson`"),
                (unknown_dep, "depends on unknown task"),
                (cycle, "dependency cycle"),
            ] {
                prop_assert!(
                    !put_in || mentions(&diagnostics, needle),
                    "{needle:?} not reported for:\n{text}\n{}",
                    diagnostics.render_plain()
                );
            }
            Ok(())
        }
    }
}
