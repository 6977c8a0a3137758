//! `duet dash`: the dashboard (crate duet-tui) on this terminal. The dashboard talks to the
//! running duet over the control socket only; this command gives it the stored state for when
//! none runs (the same as `duet status`), a task's conversation and reviews (`duet log`'s data,
//! and CI runs, from the store) for the detail, and attaching to a tmux session.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use duet_agents::TmuxRuntime;
use duet_store::{Event, EventFilter, MessageState, Store};
use duet_tui::{ConversationLine, Hooks};

use crate::cli::DashArgs;
use crate::command_error::{CommandError, error_chain};
use crate::commands::status;
use crate::workspace::Workspace;

pub fn run(cwd: &Path, args: &DashArgs) -> Result<ExitCode, CommandError> {
    let ws = Workspace::discover(cwd)?;
    // Config or backlog errors are reported here, before the screen is taken over.
    status::stored(&ws)?;
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(CommandError::user("duet dash needs a terminal")
            .hint("use `duet status --watch` for a plain redrawn table"));
    }
    let default_server = args.tmux.tmux_socket.clone();
    let stored_ws = Workspace::discover(cwd)?;
    let db = ws.state_db_path();
    let report_ws = Workspace::discover(cwd)?;
    let hooks = Hooks {
        stored: Box::new(move || status::stored(&stored_ws).map_err(|e| e.to_string())),
        detail: Box::new(move |task| conversation(&db, task)),
        report: Box::new(move |task| stored_report(&report_ws, task)),
        attach: Box::new(move |session, server| attach(&default_server, session, server)),
    };
    duet_tui::run(duet_proto::find_socket(&ws.root().join(".duet")), hooks)
        .map_err(|e| CommandError::internal(error_chain(&e)))?;
    Ok(ExitCode::SUCCESS)
}

/// A finished task's report built from the stored state (as `duet report` does), or why
/// there is none, for the dashboard when no duet runs.
fn stored_report(ws: &Workspace, task: &str) -> Result<String, String> {
    let config = ws.load_config().map_err(|e| e.to_string())?;
    let backlog = ws.load_backlog(&config).map_err(|e| e.to_string())?;
    let task = backlog
        .get(task)
        .ok_or_else(|| format!("unknown task `{task}`"))?;
    let store = match Store::open_read_only(ws.state_db_path()) {
        Ok(store) => store,
        Err(_) => {
            return Err(duet_daemon::report_io::no_report_yet(
                task.id.as_str(),
                None,
            ));
        }
    };
    duet_daemon::report_io::finished_markdown(ws.root(), &store, &config, task)
        .map_err(|e| format!("failed to build the report: {e}"))?
}

/// The task's messages with their fate, and its reviews with their findings, in order.
fn conversation(db: &Path, task: &str) -> Vec<ConversationLine> {
    let Ok(store) = Store::open_read_only(db) else {
        return Vec::new();
    };
    let states: std::collections::HashMap<String, MessageState> = store
        .messages(Some(task))
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.id, m.state))
        .collect();
    let events = store
        .events(&EventFilter::all().task(task))
        .unwrap_or_default();
    // Each review's findings, in order, for what became of them in the review after.
    let reviews: Vec<(u32, Vec<String>)> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::ReviewSubmitted {
                round, findings, ..
            } => Some((*round, findings.iter().map(finding_line).collect())),
            _ => None,
        })
        .collect();
    let mut fates = finding_fates(&reviews).into_iter();
    let mut lines = Vec::new();
    for record in events {
        match record.event {
            Event::MessageAccepted {
                id, from, to, text, ..
            } => {
                let state = match states.get(&id) {
                    Some(MessageState::Delivered) => "delivered",
                    Some(MessageState::Suppressed) => "suppressed",
                    _ => "accepted",
                };
                lines.push(ConversationLine {
                    from,
                    to,
                    text,
                    state: state.into(),
                });
            }
            Event::ReviewSubmitted {
                round,
                verdict,
                findings,
                ..
            } => {
                let mut text = format!("review round {round}: {}", verdict.as_str());
                let fate = fates.next().unwrap_or_default();
                for (i, finding) in findings.iter().enumerate() {
                    let fate = fate.get(i).map_or(String::new(), |f| format!(" ({f})"));
                    text.push_str(&format!("\n  {}{fate}", finding_line(finding)));
                }
                lines.push(ConversationLine {
                    from: "reviewer".into(),
                    to: "worker".into(),
                    text,
                    state: "delivered".into(),
                });
            }
            Event::CiRunFinished {
                sha,
                check,
                status,
                failing_tests,
                summary,
                ..
            } => {
                let mut text = format!(
                    "CI {check} at {}: {}",
                    sha.get(..8).unwrap_or(&sha),
                    summary.unwrap_or(status)
                );
                if !failing_tests.is_empty() {
                    text.push_str(&format!("\n  failing: {}", failing_tests.join(", ")));
                }
                lines.push(ConversationLine {
                    from: "ci".into(),
                    to: "pair".into(),
                    text,
                    state: "note".into(),
                });
            }
            _ => {}
        }
    }
    lines
}

/// A finding as the detail shows it: `[major] src/a.rs:3 text`.
fn finding_line(finding: &duet_core::protocol::Finding) -> String {
    let place = match (&finding.file, finding.line) {
        (Some(file), Some(line)) => format!(" {file}:{line}"),
        (Some(file), None) => format!(" {file}"),
        _ => String::new(),
    };
    format!("[{}]{place} {}", finding.severity, finding.text)
}

/// What became of each finding of each review (`reviews`: round and findings, in order): raised
/// again by the next review, resolved by it (not raised again), or still open (no review since).
fn finding_fates(reviews: &[(u32, Vec<String>)]) -> Vec<Vec<String>> {
    reviews
        .iter()
        .enumerate()
        .map(|(i, (_, findings))| {
            let next = reviews.get(i + 1);
            findings
                .iter()
                .map(|finding| match next {
                    None => "open".to_string(),
                    Some((round, later)) if later.contains(finding) => {
                        format!("raised again in round {round}")
                    }
                    Some((round, _)) => format!("resolved by round {round}"),
                })
                .collect()
        })
        .collect()
}

/// The terminal in the task's tmux session, on the server the running duet named (else this
/// command's `--tmux-socket`), until the user detaches. Inside that same tmux server the client
/// switches sessions instead (tmux cannot nest itself): the dashboard stays in its own pane.
fn attach(default_server: &str, session: &str, server: Option<&str>) -> Result<String, String> {
    let tmux = TmuxRuntime::new(Some(server.unwrap_or(default_server).to_owned()));
    let outer = std::env::var("TMUX").ok();
    let attach = tmux
        .attach_command(session, outer.as_deref())
        .map_err(|e| error_chain(&e))?;
    let switches = attach.argv.iter().any(|a| a == "switch-client");
    let mut command = Command::new(&attach.argv[0]);
    command.args(&attach.argv[1..]).stderr(Stdio::piped());
    for name in &attach.env_remove {
        command.env_remove(name);
    }
    // tmux takes the terminal through stdin/stdout; its complaint, if any, is on stderr.
    let output = command
        .spawn()
        .and_then(std::process::Child::wait_with_output)
        .map_err(|err| format!("failed to run tmux: {err}"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.lines().last().unwrap_or("").trim();
        return Err(if said.is_empty() {
            format!("tmux ended with {}", output.status)
        } else {
            format!("tmux: {said}")
        });
    }
    Ok(if switches {
        format!("switched to {session} (tmux's last-session key comes back here)")
    } else {
        "detached, back".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::finding_fates;

    #[test]
    fn a_finding_is_resolved_when_the_next_review_drops_it_and_open_until_then() {
        let reviews = vec![
            (
                1,
                vec!["[major] a.rs:1 x".to_string(), "[nit] y".to_string()],
            ),
            (2, vec!["[major] a.rs:1 x".to_string()]),
            (3, vec![]),
            (4, vec!["[minor] z".to_string()]),
        ];
        assert_eq!(
            finding_fates(&reviews),
            vec![
                vec!["raised again in round 2", "resolved by round 2"],
                vec!["resolved by round 3"],
                vec![],
                vec!["open"],
            ]
        );
    }
}
