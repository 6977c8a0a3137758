//! `duet attach TASK`: puts the user's terminal in the task's tmux session.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode};

use duet_agents::TmuxRuntime;
use duet_agents::tmux::session_name;

use crate::cli::AttachArgs;
use crate::command_error::{CommandError, error_chain};
use crate::workspace::Workspace;

pub fn run(cwd: &Path, args: &AttachArgs) -> Result<ExitCode, CommandError> {
    let ws = Workspace::discover(cwd)?;
    let tmux = TmuxRuntime::new(Some(args.tmux.tmux_socket.clone()));
    let session = session_name(ws.root(), &args.task);
    if !tmux.has_session(&session).unwrap_or(false) {
        return Err(CommandError::user(format!(
            "task `{}` has no running session (`{session}`)",
            args.task
        ))
        .hint(format!("start it with `duet pair {}`", args.task)));
    }
    let outer = std::env::var("TMUX").ok();
    let attach = tmux
        .attach_command(&session, outer.as_deref())
        .map_err(|e| CommandError::user(error_chain(&e)))?;
    let mut command = Command::new(&attach.argv[0]);
    command.args(&attach.argv[1..]);
    for name in &attach.env_remove {
        command.env_remove(name);
    }
    // exec: the user's terminal belongs to tmux from here on.
    let err = command.exec();
    Err(CommandError::user(format!("failed to run tmux: {err}")))
}
