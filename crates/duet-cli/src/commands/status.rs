//! `duet status [TASK] [--json]`: the backlog's tasks with their state from the store.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use duet_core::backlog::Backlog;
use duet_core::config::Config;
use duet_store::{Store, StoreErrorKind, TaskRow, TaskState};
use serde::Serialize;

use crate::cli::StatusArgs;
use crate::command_error::{CommandError, error_chain};
use crate::suggest::closest;
use crate::workspace::Workspace;

/// One row of `duet status`, also its JSON form.
#[derive(Debug, Serialize)]
struct TaskStatus {
    id: String,
    title: String,
    state: TaskState,
    priority: i64,
    depends_on: Vec<String>,
    branch: String,
    worker: String,
    reviewer: String,
    round: u32,
    /// Why a queued task cannot start yet, or why a task needs the human.
    blocked_by: Vec<String>,
    reason: Option<String>,
    /// False for tasks the store knows but the backlog no longer lists.
    in_backlog: bool,
}

pub fn run(cwd: &Path, args: &StatusArgs) -> Result<ExitCode, CommandError> {
    let ws = Workspace::discover(cwd)?;
    let config = ws.load_config()?;
    let backlog = ws.load_backlog(&config)?;
    let rows = read_store_rows(&ws.state_db_path())?;
    let mut statuses = merge(&config, &backlog, rows);

    if let Some(wanted) = &args.task {
        statuses.retain(|s| &s.id == wanted);
        if statuses.is_empty() {
            let ids: Vec<&str> = backlog.tasks.iter().map(|t| t.id.as_str()).collect();
            let mut err = CommandError::user(format!("unknown task `{wanted}`"));
            if let Some(close) = closest(wanted, &ids) {
                err = err.hint(format!("did you mean `{close}`?"));
            } else {
                err = err.hint("run `duet status` to list the tasks");
            }
            return Err(err);
        }
    }

    if args.json {
        let json = serde_json::json!({ "tasks": statuses });
        println!(
            "{}",
            serde_json::to_string_pretty(&json)
                .map_err(|e| CommandError::internal(e.to_string()))?
        );
    } else {
        print!("{}", render_table(&statuses));
    }
    Ok(ExitCode::SUCCESS)
}

/// The store's rows by task id; no database yet means nothing has run: every task is queued.
fn read_store_rows(db_path: &Path) -> Result<BTreeMap<String, TaskRow>, CommandError> {
    let store = match Store::open_read_only(db_path) {
        Ok(store) => store,
        Err(e) if matches!(e.kind(), StoreErrorKind::NotFound) => return Ok(BTreeMap::new()),
        Err(e) => return Err(CommandError::user(error_chain(&e))),
    };
    let rows = store
        .task_states()
        .map_err(|e| CommandError::user(error_chain(&e)))?;
    Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
}

fn merge(
    config: &Config,
    backlog: &Backlog,
    mut rows: BTreeMap<String, TaskRow>,
) -> Vec<TaskStatus> {
    let state_of = |rows: &BTreeMap<String, TaskRow>, id: &str| {
        rows.get(id).map_or(TaskState::Queued, |r| r.state)
    };
    let mut out: Vec<TaskStatus> = backlog
        .tasks
        .iter()
        .map(|task| {
            let state = state_of(&rows, task.id.as_str());
            let blocked_by = if state == TaskState::Queued {
                task.depends_on
                    .iter()
                    .filter(|dep| state_of(&rows, dep.as_str()) != TaskState::Done)
                    .map(|dep| dep.to_string())
                    .collect()
            } else {
                Vec::new()
            };
            let row = rows.get(task.id.as_str());
            TaskStatus {
                id: task.id.to_string(),
                title: task.title.clone(),
                state,
                priority: task.priority,
                depends_on: task.depends_on.iter().map(|d| d.to_string()).collect(),
                branch: config.task_branch(&task.id),
                worker: task.worker_profile(config).to_string(),
                reviewer: task.reviewer_profile(config).to_string(),
                round: row.map_or(0, |r| r.round),
                blocked_by,
                reason: row.and_then(|r| r.reason.clone()),
                in_backlog: true,
            }
        })
        .collect();
    for task in &backlog.tasks {
        rows.remove(task.id.as_str());
    }
    // Tasks the store remembers but the backlog dropped are still shown, so nothing vanishes.
    out.extend(rows.into_values().map(|row| TaskStatus {
        branch: format!("{}/{}", config.branch_prefix, row.id),
        id: row.id,
        title: row.title.unwrap_or_default(),
        state: row.state,
        priority: 0,
        depends_on: Vec::new(),
        worker: String::new(),
        reviewer: String::new(),
        round: row.round,
        blocked_by: Vec::new(),
        reason: row.reason,
        in_backlog: false,
    }));
    out
}

fn render_table(statuses: &[TaskStatus]) -> String {
    if statuses.is_empty() {
        return "no tasks in the backlog\n".to_string();
    }
    let header = ["TASK", "STATE", "PRI", "PAIR", "ROUND", "TITLE / NOTE"];
    let rows: Vec<[String; 6]> = statuses
        .iter()
        .map(|s| {
            let mut note = s.title.clone();
            if !s.blocked_by.is_empty() {
                note.push_str(&format!(" (waiting for {})", s.blocked_by.join(", ")));
            }
            if let Some(reason) = &s.reason {
                note.push_str(&format!(" ({reason})"));
            }
            if !s.in_backlog {
                note.push_str(" (no longer in the backlog)");
            }
            let pair = if s.worker.is_empty() {
                "-".to_string()
            } else {
                format!("{}+{}", s.worker, s.reviewer)
            };
            [
                s.id.clone(),
                s.state.to_string(),
                s.priority.to_string(),
                pair,
                s.round.to_string(),
                note,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push('\n');
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    let mut counts: BTreeMap<TaskState, usize> = BTreeMap::new();
    for s in statuses {
        *counts.entry(s.state).or_default() += 1;
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect();
    out.push_str(&format!(
        "\n{} tasks: {}\n",
        statuses.len(),
        summary.join(", ")
    ));
    out
}
