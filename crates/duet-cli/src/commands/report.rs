//! `duet report TASK [--json]`: the task's handoff report (what changed, each review round's
//! findings and what became of them, CI, messages, time), built now from the store and git.
//! The engine writes the same report to `.duet/reports/<task>.md` when the task finishes.

use std::path::Path;
use std::process::ExitCode;

use duet_daemon::report::render_markdown;
use duet_daemon::report_io::gather;
use duet_store::{Store, StoreErrorKind};

use crate::cli::ReportArgs;
use crate::client::print_json;
use crate::command_error::CommandError;
use crate::suggest::closest;
use crate::workspace::Workspace;

pub fn run(cwd: &Path, args: &ReportArgs) -> Result<ExitCode, CommandError> {
    let ws = Workspace::discover(cwd)?;
    let config = ws.load_config()?;
    let backlog = ws.load_backlog(&config)?;
    let Some(task) = backlog.get(&args.task) else {
        let ids: Vec<&str> = backlog.tasks.iter().map(|t| t.id.as_str()).collect();
        let err = CommandError::user(format!("unknown task `{}`", args.task));
        return Err(match closest(&args.task, &ids) {
            Some(close) => err.hint(format!("did you mean `{close}`?")),
            None => err.hint("run `duet status` to list the tasks"),
        });
    };
    let store = match Store::open_read_only(ws.state_db_path()) {
        Ok(store) => store,
        Err(e) if matches!(e.kind(), StoreErrorKind::NotFound) => {
            return Err(CommandError::user(format!(
                "task `{}` has not run yet: there is no state in {}",
                args.task,
                ws.state_db_path().display()
            ))
            .hint("`duet run` or `duet pair TASK` works it"));
        }
        Err(e) => return Err(e.into()),
    };
    let report = gather(ws.root(), &store, &config, task)?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", render_markdown(&report));
    }
    Ok(ExitCode::SUCCESS)
}
