//! `duet log TASK --ci [--json]`: a task's CI runs from the store (every finished check, own or
//! from outside, with status, duration, failing tests and log), then the whole log of the last
//! run that has one: what the worker's CI message points to.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use duet_store::{Event, EventRecord};
use serde_json::{Value, json};

use crate::client::print_json;
use crate::command_error::CommandError;

/// At most this much of the last log is printed (the log itself is bounded at 8 MiB).
const MAX_PRINTED_LOG: usize = 8 * 1024 * 1024;

pub fn print(
    root: &Path,
    task: &str,
    events: &[EventRecord],
    json: bool,
) -> Result<ExitCode, CommandError> {
    let runs: Vec<&EventRecord> = events
        .iter()
        .filter(|r| matches!(r.event, Event::CiRunFinished { .. }))
        .collect();
    let running: Vec<&EventRecord> = events
        .iter()
        .filter(|r| match &r.event {
            Event::CiRunStarted { sha, check, .. } => !runs.iter().any(|f| {
                f.seq > r.seq
                    && matches!(&f.event, Event::CiRunFinished { sha: s, check: c, .. } if s == sha && c == check)
            }),
            _ => false,
        })
        .collect();
    let last_log = runs.iter().rev().find_map(|r| match &r.event {
        Event::CiRunFinished {
            log_path: Some(path),
            sha,
            check,
            ..
        } => Some((resolve(root, path), sha.clone(), check.clone())),
        _ => None,
    });
    let log_text = last_log.as_ref().map(|(path, ..)| read_log(path));
    if json {
        let runs: Vec<Value> = runs
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(&r.event).unwrap_or(Value::Null);
                v["at_ms"] = json!(r.at_ms);
                v
            })
            .collect();
        let running: Vec<Value> = running
            .iter()
            .filter_map(|r| serde_json::to_value(&r.event).ok())
            .collect();
        let last = match (&last_log, &log_text) {
            (Some((path, sha, check)), Some(text)) => json!({
                "sha": sha, "check": check, "path": path, "text": text.as_ref().ok(),
                "error": text.as_ref().err(),
            }),
            _ => Value::Null,
        };
        print_json(&json!({"task": task, "runs": runs, "running": running, "last_log": last}))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!("task {task}: CI runs\n\n");
    if runs.is_empty() && running.is_empty() {
        out.push_str("  (none yet)\n");
    }
    for r in &runs {
        if let Event::CiRunFinished {
            sha,
            check,
            status,
            duration_ms,
            failing_tests,
            log_path,
            summary,
            ..
        } = &r.event
        {
            out.push_str(&format!(
                "  {}  {}  {check}  {}  ({:.1}s)\n",
                super::log::utc_time(r.at_ms),
                short(sha),
                summary.as_deref().unwrap_or(status),
                *duration_ms as f64 / 1000.0
            ));
            if !failing_tests.is_empty() {
                out.push_str(&format!("      failing: {}\n", failing_tests.join(", ")));
            }
            if let Some(path) = log_path {
                out.push_str(&format!("      log: {path}\n"));
            }
        }
    }
    for r in &running {
        if let Event::CiRunStarted { sha, check, .. } = &r.event {
            out.push_str(&format!(
                "  {}  {}  {check}  running\n",
                super::log::utc_time(r.at_ms),
                short(sha)
            ));
        }
    }
    if let (Some((path, sha, check)), Some(text)) = (&last_log, &log_text) {
        out.push_str(&format!(
            "\nlog of the last run ({}, {check}): {}\n",
            short(sha),
            path.display()
        ));
        match text {
            Ok(text) => {
                out.push_str(text);
                if !text.ends_with('\n') {
                    out.push('\n');
                }
            }
            Err(e) => out.push_str(&format!("  ({e})\n")),
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

fn resolve(root: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_owned()
    } else {
        root.join(p)
    }
}

/// The log as text (binary output shown lossily), or why it cannot be read.
fn read_log(path: &Path) -> Result<String, String> {
    match std::fs::read(path) {
        Ok(mut bytes) => {
            bytes.truncate(MAX_PRINTED_LOG);
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
        Err(e) => Err(format!("the log cannot be read: {e}")),
    }
}
