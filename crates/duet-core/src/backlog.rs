//! backlog.toml: the typed task list and its checked reading (ids, prompts, profiles,
//! dependencies and their cycles), reporting every problem at once.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml_edit::{Item, TableLike};

use crate::config::gates::ProofSpec;
use crate::config::reader::{At, Reader, parse_document};
use crate::config::{Config, check_base_branch, check_profile_exists, same_profile_error};
use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile, did_you_mean};
use crate::task_id::TaskId;
use crate::validate::{NoRepo, RepoFacts};

/// The example `duet init` writes.
pub const EXAMPLE_BACKLOG_TOML: &str = include_str!("../../../config/backlog.toml");

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Backlog {
    /// In file order.
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: TaskId,
    /// Defaults to the id.
    pub title: String,
    pub prompt: Prompt,
    /// How to show the task works (a command or instructions), given to both agents.
    pub proof: Option<String>,
    /// `proof = { command = "..." }`: duet runs it on the final HEAD before the task may finish
    /// (the proof gate); `proof` then holds the text the agents are shown.
    pub proof_command: Option<String>,
    /// `tdd = true/false`: the TDD gate for this task (`None`: `review.tdd`).
    pub tdd: Option<bool>,
    /// `plan = true/false`: the plan step for this task (`None`: `review.plan`).
    pub plan: Option<bool>,
    /// `scope = { max_files, max_lines }`: this task's budget over `[scope]`.
    pub scope: Option<crate::config::gates::ScopeConfig>,
    pub depends_on: Vec<TaskId>,
    /// Higher runs first; default 0.
    pub priority: i64,
    /// Base branch override.
    pub base: Option<String>,
    /// Agent profile overrides.
    pub worker: Option<String>,
    pub reviewer: Option<String>,
    pub labels: Vec<String>,
    pub max_rounds: Option<NonZeroU32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Inline(String),
    /// Resolved against the backlog's folder.
    File(PathBuf),
}

impl Backlog {
    /// Parses and checks a backlog against `config`; `base_dir` is where `prompt_file`s are
    /// looked up (the backlog's folder).
    pub fn from_toml_str(
        src: &str,
        path: impl AsRef<Path>,
        config: &Config,
        base_dir: &Path,
    ) -> Result<Backlog, Diagnostics> {
        let file = SourceFile::new(path.as_ref(), src);
        let (backlog, diagnostics) = read_backlog(&file, config, base_dir, &NoRepo);
        let diagnostics = Diagnostics(diagnostics);
        if diagnostics.has_errors() {
            Err(diagnostics)
        } else {
            Ok(backlog)
        }
    }

    pub fn get(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id.as_str() == id)
    }
}

impl Task {
    /// The worker profile name, after the task's override.
    pub fn worker_profile<'a>(&'a self, config: &'a Config) -> &'a str {
        self.worker.as_deref().unwrap_or(&config.roles.worker)
    }

    pub fn reviewer_profile<'a>(&'a self, config: &'a Config) -> &'a str {
        self.reviewer.as_deref().unwrap_or(&config.roles.reviewer)
    }

    pub fn base_branch<'a>(&'a self, config: &'a Config) -> &'a str {
        self.base.as_deref().unwrap_or(&config.base_branch)
    }

    pub fn max_rounds(&self, config: &Config) -> NonZeroU32 {
        self.max_rounds.unwrap_or(config.review.max_rounds)
    }

    /// Whether the TDD gate applies to this task.
    pub fn tdd(&self, config: &Config) -> bool {
        self.tdd.unwrap_or(config.review.tdd.enabled)
    }

    /// Whether this task has the plan step (PLAN.md reviewed before any code).
    pub fn plan(&self, config: &Config) -> bool {
        self.plan.unwrap_or(config.review.plan)
    }

    /// The scope budget of this task (`[scope]` with the task's override).
    pub fn scope(&self, config: &Config) -> crate::config::gates::ScopeConfig {
        config.scope.overridden_by(self.scope)
    }
}

const TASK_KEYS: &[&str] = &[
    "id",
    "title",
    "prompt",
    "prompt_file",
    "proof",
    "depends_on",
    "priority",
    "base",
    "worker",
    "reviewer",
    "labels",
    "max_rounds",
    "tdd",
    "plan",
    "scope",
];

/// A task as read, with the spans later cross-task checks point at.
struct RawTask {
    id: Option<At<TaskId>>,
    /// The id as written, even when invalid (so dependencies on it are not "unknown").
    raw_id: Option<String>,
    depends_on: Vec<At<String>>,
    task: Option<Task>,
}

/// Reads and checks `file`; returns the tasks that are fully valid and every problem found.
pub(crate) fn read_backlog(
    file: &Arc<SourceFile>,
    config: &Config,
    base_dir: &Path,
    repo: &dyn RepoFacts,
) -> (Backlog, Vec<Diagnostic>) {
    let doc = match parse_document(file) {
        Ok(doc) => doc,
        Err(d) => return (Backlog::default(), vec![d]),
    };
    let mut r = Reader::new(file);
    let top = doc.as_table() as &dyn TableLike;
    r.check_keys(top, "", &["task"]);
    let mut raw = Vec::new();
    match top.get("task") {
        None => r.push(
            Diagnostic::warning("the backlog has no tasks")
                .in_file(file)
                .with_hint("add a task with `[[task]]`, `id = \"...\"` and `prompt = \"...\"`"),
        ),
        Some(Item::ArrayOfTables(tables)) => {
            for table in tables.iter() {
                raw.push(read_task(&mut r, table, config, base_dir, repo));
            }
        }
        Some(item) => r.error(
            item.span(),
            format!(
                "`task` must be an array of tables, found {}",
                crate::config::reader::describe(item)
            ),
            "expected [[task]] tables",
            Some("write each task as a `[[task]]` section".to_owned()),
        ),
    }
    check_unique_ids(&mut r, &raw);
    check_dependencies(&mut r, &raw);
    let tasks = raw.into_iter().filter_map(|t| t.task).collect();
    (Backlog { tasks }, r.into_sorted())
}

fn read_task(
    r: &mut Reader,
    table: &toml_edit::Table,
    config: &Config,
    base_dir: &Path,
    repo: &dyn RepoFacts,
) -> RawTask {
    let errors_at_start = r.diagnostics.len();
    let t = table as &dyn TableLike;
    let raw_id = t.get("id").and_then(Item::as_str).map(str::to_owned);
    r.check_keys(t, "[task]", TASK_KEYS);
    let header = header_span(r, table);
    let id = match r.string(t, "id", "id") {
        None if !t.contains_key("id") => {
            r.error(
                header.clone(),
                "task has no `id`",
                "task without id",
                Some(
                    "add `id = \"...\"`: a short name that is safe as a branch and folder name"
                        .to_owned(),
                ),
            );
            None
        }
        None => None,
        Some(id) => match TaskId::parse(&id.value) {
            Ok(value) => Some(At {
                value,
                span: id.span,
            }),
            Err(err) => {
                r.error(
                    id.span,
                    err.to_string(),
                    "not a safe branch and folder name",
                    Some("task ids name a git branch and a folder: use up to 64 ASCII letters, digits, `-`, `_` and `.`".to_owned()),
                );
                None
            }
        },
    };
    let who = id
        .as_ref()
        .map_or_else(|| "task".to_owned(), |id| format!("task `{}`", id.value));
    let title = r.non_empty_string(t, "title", "title");
    let prompt = read_prompt(r, t, &who, header.clone(), base_dir);
    let proof = crate::config::gates::read_proof(r, t);
    let tdd = r.bool(t, "tdd", "tdd");
    let plan = r.bool(t, "plan", "plan");
    let scope = crate::config::gates::read_task_scope(r, t);
    let depends_on = r.string_array(t, "depends_on", "depends_on");
    let priority = r.integer(t, "priority", "priority");
    let base = r.non_empty_string(t, "base", "base");
    if let Some(base) = &base {
        check_base_branch(r, base, repo);
    }
    let worker = r.non_empty_string(t, "worker", "worker");
    let reviewer = r.non_empty_string(t, "reviewer", "reviewer");
    let mut profiles_ok = true;
    for profile in worker.iter().chain(reviewer.iter()) {
        profiles_ok &= check_profile_exists(r, profile, &config.agents);
    }
    let worker_name = worker.as_ref().map_or(&config.roles.worker, |w| &w.value);
    let reviewer_name = reviewer
        .as_ref()
        .map_or(&config.roles.reviewer, |w| &w.value);
    if profiles_ok && (worker.is_some() || reviewer.is_some()) && worker_name == reviewer_name {
        let label = match (&worker, &reviewer) {
            (Some(_), Some(_)) => "same profile as the worker",
            (Some(_), None) => "same profile as the reviewer in [roles]",
            _ => "same profile as the worker in [roles]",
        };
        let span = reviewer
            .as_ref()
            .or(worker.as_ref())
            .and_then(|at| at.span.clone());
        r.push(same_profile_error(worker_name, label).at(&r.file, span));
    }
    let labels = r.string_array(t, "labels", "labels");
    let max_rounds = r.positive(t, "max_rounds", "max_rounds");

    // Only a task that read without a single problem becomes a `Task`.
    let all_clean = r.diagnostics.len() == errors_at_start;
    let depends_on = depends_on.unwrap_or_default();
    let task = match (&id, prompt) {
        (Some(id), Some(prompt)) if all_clean => {
            let deps: Option<Vec<TaskId>> = depends_on
                .iter()
                .map(|d| TaskId::parse(&d.value).ok())
                .collect();
            deps.map(|deps| Task {
                id: id.value.clone(),
                title: title.map_or_else(|| id.value.to_string(), |t| t.value),
                prompt,
                proof_command: match &proof {
                    Some(ProofSpec::Command(c)) => Some(c.clone()),
                    _ => None,
                },
                proof: proof.map(|p| match p {
                    ProofSpec::Text(text) => text,
                    ProofSpec::Command(c) => format!(
                        "`{c}` passes (duet runs it itself on the final HEAD before the task may finish)"
                    ),
                }),
                tdd,
                plan,
                scope,
                depends_on: deps,
                priority: priority.unwrap_or(0),
                base: base.map(|b| b.value),
                worker: worker.map(|w| w.value),
                reviewer: reviewer.map(|w| w.value),
                labels: labels
                    .unwrap_or_default()
                    .into_iter()
                    .map(|l| l.value)
                    .collect(),
                max_rounds,
            })
        }
        _ => None,
    };
    RawTask {
        id,
        raw_id,
        depends_on,
        task,
    }
}

/// The span of the `[[task]]` header line (the table's own span covers its whole body).
fn header_span(r: &Reader, table: &toml_edit::Table) -> Option<std::ops::Range<usize>> {
    let start = table.span()?.start;
    let text = r.file.text();
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    Some(start..end.max(start + 1).min(text.len()))
}

fn read_prompt(
    r: &mut Reader,
    t: &dyn TableLike,
    who: &str,
    header: Option<std::ops::Range<usize>>,
    base_dir: &Path,
) -> Option<Prompt> {
    let inline = r.non_empty_string(t, "prompt", "prompt");
    let file = r.non_empty_string(t, "prompt_file", "prompt_file");
    if t.contains_key("prompt") && t.contains_key("prompt_file") {
        let span = t.key("prompt_file").and_then(|k| k.span());
        r.error(
            span,
            format!("{who} sets both `prompt` and `prompt_file`"),
            "second prompt",
            Some(
                "keep one: `prompt` for text, `prompt_file` for a file next to the backlog"
                    .to_owned(),
            ),
        );
        return None;
    }
    if !t.contains_key("prompt") && !t.contains_key("prompt_file") {
        r.error(
            header,
            format!("{who} has no prompt"),
            "task without prompt",
            Some("add `prompt = \"...\"` or `prompt_file = \"path/to/prompt.md\"`".to_owned()),
        );
        return None;
    }
    if let Some(inline) = inline {
        return Some(Prompt::Inline(inline.value));
    }
    let file = file?;
    let resolved = base_dir.join(&file.value);
    if resolved.is_file() {
        Some(Prompt::File(resolved))
    } else {
        let what = if resolved.exists() {
            "is not a file"
        } else {
            "does not exist"
        };
        r.error(
            file.span,
            format!("prompt file `{}` {what}", file.value),
            "not found next to the backlog",
            Some("`prompt_file` is relative to the backlog's folder".to_owned()),
        );
        None
    }
}

fn check_unique_ids(r: &mut Reader, raw: &[RawTask]) {
    let mut first: HashMap<&str, &At<TaskId>> = HashMap::new();
    for id in raw.iter().filter_map(|t| t.id.as_ref()) {
        match first.get(id.value.as_str()) {
            None => {
                first.insert(id.value.as_str(), id);
            }
            Some(earlier) => {
                let hint = earlier.span.as_ref().map(|s| {
                    let (line, col) = r.file.line_col(s.start);
                    format!("first defined at line {line}, column {col}; task ids must be unique")
                });
                r.error(
                    id.span.clone(),
                    format!("duplicate task id `{}`", id.value),
                    "used again here",
                    hint,
                );
            }
        }
    }
}

/// Unknown dependencies, then cycles (each printed in full, pointing at the entry closing it).
fn check_dependencies(r: &mut Reader, raw: &[RawTask]) {
    // First task with each id; duplicates were reported already.
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, t) in raw.iter().enumerate() {
        if let Some(id) = &t.id {
            index.entry(id.value.as_str()).or_insert(i);
        }
    }
    let known: Vec<&str> = raw
        .iter()
        .filter_map(|t| t.id.as_ref().map(|id| id.value.as_str()))
        .collect();
    let mut edges: Vec<Vec<(usize, &At<String>)>> = vec![Vec::new(); raw.len()];
    for (i, t) in raw.iter().enumerate() {
        let who =
            t.id.as_ref()
                .map_or_else(|| "task".to_owned(), |id| format!("task `{}`", id.value));
        for dep in &t.depends_on {
            match index.get(dep.value.as_str()) {
                Some(&j) => edges[i].push((j, dep)),
                None if raw
                    .iter()
                    .any(|t| t.raw_id.as_deref() == Some(dep.value.as_str())) => {}
                None => {
                    let hint = match did_you_mean(&dep.value, known.iter().copied()) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => "depends_on lists ids of tasks in this backlog".to_owned(),
                    };
                    r.error(
                        dep.span.clone(),
                        format!("{who} depends on unknown task `{}`", dep.value),
                        "no task with this id",
                        Some(hint),
                    );
                }
            }
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    fn visit(
        node: usize,
        edges: &[Vec<(usize, &At<String>)>],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        cycles: &mut Vec<(Vec<usize>, Option<std::ops::Range<usize>>)>,
    ) {
        marks[node] = Mark::OnStack;
        stack.push(node);
        for &(next, dep) in &edges[node] {
            match marks[next] {
                Mark::New => visit(next, edges, marks, stack, cycles),
                Mark::OnStack => {
                    let from = stack.iter().position(|&n| n == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next);
                    cycles.push((cycle, dep.span.clone()));
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[node] = Mark::Done;
    }
    let mut marks = vec![Mark::New; raw.len()];
    let mut cycles = Vec::new();
    for start in 0..raw.len() {
        if marks[start] == Mark::New {
            visit(start, &edges, &mut marks, &mut Vec::new(), &mut cycles);
        }
    }
    for (cycle, span) in cycles {
        let path: Vec<&str> = cycle
            .iter()
            .filter_map(|&i| raw[i].id.as_ref().map(|id| id.value.as_str()))
            .collect();
        r.error(
            span,
            format!("dependency cycle: {}", path.join(" -> ")),
            "closes the cycle",
            Some("remove one of these dependencies; tasks in a cycle can never start".to_owned()),
        );
    }
}
