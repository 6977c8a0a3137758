//! `duet dash`: the dashboard (crate duet-tui) on this terminal. The dashboard talks to the
//! running duet over the control socket only; this command gives it the stored state for when
//! none runs (the same as `duet status`), a task's conversation and reviews (`duet log`'s data,
//! from the store) for the detail, and attaching to a tmux session.

use std::path::Path;
use std::process::{Command, ExitCode};

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
    let tmux = TmuxRuntime::new(Some(args.tmux.tmux_socket.clone()));
    let stored_ws = Workspace::discover(cwd)?;
    let db = ws.state_db_path();
    let hooks = Hooks {
        stored: Box::new(move || status::stored(&stored_ws).map_err(|e| e.to_string())),
        detail: Box::new(move |task| conversation(&db, task)),
        attach: Box::new(move |session| attach(&tmux, session)),
    };
    duet_tui::run(duet_proto::find_socket(&ws.root().join(".duet")), hooks)
        .map_err(|e| CommandError::internal(error_chain(&e)))?;
    Ok(ExitCode::SUCCESS)
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
            } => {
                let mut text = format!("review round {round}: {}", verdict.as_str());
                for finding in findings {
                    let place = match (&finding.file, finding.line) {
                        (Some(file), Some(line)) => format!(" {file}:{line}"),
                        (Some(file), None) => format!(" {file}"),
                        _ => String::new(),
                    };
                    text.push_str(&format!(
                        "\n  [{}]{place} {}",
                        finding.severity, finding.text
                    ));
                }
                lines.push(ConversationLine {
                    from: "reviewer".into(),
                    to: "worker".into(),
                    text,
                    state: "delivered".into(),
                });
            }
            _ => {}
        }
    }
    lines
}

/// The terminal in the task's tmux session until the user detaches.
fn attach(tmux: &TmuxRuntime, session: &str) -> Result<(), String> {
    if !tmux.has_session(session).unwrap_or(false) {
        return Err(format!(
            "no tmux session `{session}` (the pair is not running)"
        ));
    }
    let outer = std::env::var("TMUX").ok();
    let attach = tmux
        .attach_command(session, outer.as_deref())
        .map_err(|e| error_chain(&e))?;
    let mut command = Command::new(&attach.argv[0]);
    command.args(&attach.argv[1..]);
    for name in &attach.env_remove {
        command.env_remove(name);
    }
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("tmux attach ended with {status}")),
        Err(err) => Err(format!("failed to run tmux: {err}")),
    }
}
