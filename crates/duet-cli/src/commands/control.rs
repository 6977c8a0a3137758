//! The human commands that act on the running duet through its control socket:
//! `duet say`, `duet answer`, `duet pause | resume | cancel`, `duet merge`, `duet stop`.

use std::path::Path;
use std::process::ExitCode;

use duet_core::protocol::Role;
use duet_proto::{RequestBody, Response, ResponseBody};

use crate::cli::{AnswerArgs, MergeArgs, RoleArg, SayArgs, StopArgs, TaskControlArgs};
use crate::client::{ControlClient, backlog_ids, print_json};
use crate::command_error::CommandError;
use crate::workspace::Workspace;

/// Which of pause / resume / cancel.
#[derive(Debug, Clone, Copy)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
}

pub fn say(cwd: &Path, args: &SayArgs) -> Result<ExitCode, CommandError> {
    let text = message_text(&args.text)?;
    let to = match args.to {
        RoleArg::Worker => Role::Worker,
        RoleArg::Reviewer => Role::Reviewer,
    };
    let body = RequestBody::Say {
        task: args.task.clone(),
        to: Some(to),
        text,
    };
    let done = format!("message to the {to} of task `{}` accepted", args.task);
    exchange(cwd, Some(&args.task), body, args.json, done)
}

pub fn answer(cwd: &Path, args: &AnswerArgs) -> Result<ExitCode, CommandError> {
    let text = message_text(&args.text)?;
    let body = RequestBody::Answer {
        task: args.task.clone(),
        text,
    };
    let done = format!("answer for task `{}` sent; the pair goes on", args.task);
    exchange(cwd, Some(&args.task), body, args.json, done)
}

pub fn control(
    cwd: &Path,
    which: Control,
    args: &TaskControlArgs,
) -> Result<ExitCode, CommandError> {
    let task = args.task.clone();
    let (body, verb) = match which {
        Control::Pause => (RequestBody::Pause { task }, "paused"),
        Control::Resume => (RequestBody::Resume { task }, "resumed"),
        Control::Cancel => (RequestBody::Cancel { task }, "cancelled"),
    };
    let done = format!("task `{}` {verb}", args.task);
    exchange(cwd, Some(&args.task), body, args.json, done)
}

pub fn merge(cwd: &Path, args: &MergeArgs) -> Result<ExitCode, CommandError> {
    let done = match &args.task {
        Some(task) => format!("task `{task}` is in the merge queue; `duet status` shows it land"),
        None => "every ready task is in the merge queue; `duet status` shows them land".into(),
    };
    let body = RequestBody::Merge {
        task: args.task.clone(),
    };
    exchange(cwd, args.task.as_deref(), body, args.json, done)
}

pub fn stop(cwd: &Path, args: &StopArgs) -> Result<ExitCode, CommandError> {
    let body = RequestBody::Stop {
        stop_agents: args.agents,
    };
    let done = if args.agents {
        "duet is stopping, with its agents".to_string()
    } else {
        "duet is stopping; the agents keep running in tmux".to_string()
    };
    exchange(cwd, None, body, args.json, done)
}

/// The words of TEXT joined by spaces; an empty message is refused before anything is sent.
fn message_text(words: &[String]) -> Result<String, CommandError> {
    let text = words.join(" ");
    if text.trim().is_empty() {
        return Err(
            CommandError::user("the message is empty").hint("write the text after the task id")
        );
    }
    Ok(text)
}

/// Sends `body`; prints `done` (or the JSON response) on success.
fn exchange(
    cwd: &Path,
    task: Option<&str>,
    body: RequestBody,
    json: bool,
    done: String,
) -> Result<ExitCode, CommandError> {
    let ws = Workspace::discover(cwd)?;
    let client = ControlClient::for_workspace(&ws);
    match client.send(body) {
        Ok(body) => {
            if json {
                print_json(&Response::ok(body))?;
            } else {
                match body {
                    ResponseBody::Status { status } => print_json(&status)?,
                    ResponseBody::StatusChanged { changes } => print_json(&changes)?,
                    ResponseBody::ToolResult { text, .. } => println!("{text}"),
                    ResponseBody::Report { markdown, .. } => print!("{markdown}"),
                    ResponseBody::Ack | ResponseBody::HookReply { .. } => println!("{done}"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            if json {
                print_json(&failure.to_json())?;
            }
            Err(failure.into_command_error(task, &backlog_ids(&ws)))
        }
    }
}
