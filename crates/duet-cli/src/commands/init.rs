//! `duet init`: writes duet.toml and backlog.toml into a repository and ignores `.duet/`.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::InitArgs;
use crate::command_error::{CommandError, error_chain};
use crate::fs_atomic::write_atomic;
use crate::workspace::Workspace;

/// The line added to `.git/info/exclude` so duet's state never shows up as untracked files.
const EXCLUDE_LINE: &str = "/.duet/";

pub fn run(cwd: &Path, args: &InitArgs) -> Result<ExitCode, CommandError> {
    let ws = Workspace::discover(cwd)?;
    let config_path = ws.config_path();
    let backlog_path = ws.root().join("backlog.toml");

    let existing: Vec<&Path> = [config_path.as_path(), backlog_path.as_path()]
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    if !existing.is_empty() && !args.force {
        let names: Vec<String> = existing.iter().map(|p| p.display().to_string()).collect();
        return Err(CommandError::user(format!(
            "{} already exist(s); nothing was changed",
            names.join(" and ")
        ))
        .hint("pass --force to overwrite them"));
    }

    let write = |path: &Path, contents: &str| {
        write_atomic(path, contents.as_bytes()).map_err(|e| {
            CommandError::internal(format!(
                "failed to write {}: {}",
                path.display(),
                error_chain(&e)
            ))
        })
    };
    write(&config_path, duet_core::config::DEFAULT_CONFIG_TOML)?;
    write(&backlog_path, duet_core::backlog::EXAMPLE_BACKLOG_TOML)?;
    let exclude_added = add_exclude(&ws.exclude_file_path())?;

    println!("wrote {}", config_path.display());
    println!("wrote {}", backlog_path.display());
    if exclude_added {
        println!(
            "added {EXCLUDE_LINE} to {}",
            ws.exclude_file_path().display()
        );
    }
    println!("next: edit backlog.toml, then run `duet validate` and `duet status`");
    Ok(ExitCode::SUCCESS)
}

/// Appends the exclude line unless it is there; returns whether it was added.
fn add_exclude(exclude_path: &Path) -> Result<bool, CommandError> {
    let current = match std::fs::read_to_string(exclude_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(CommandError::internal(format!(
                "failed to read {}: {}",
                exclude_path.display(),
                error_chain(&e)
            )));
        }
    };
    if current
        .lines()
        .any(|line| matches!(line.trim(), "/.duet/" | ".duet/" | "/.duet" | ".duet"))
    {
        return Ok(false);
    }
    let mut updated = current;
    if !updated.is_empty() && !updated.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str("# duet's state, worktrees and logs\n");
    updated.push_str(EXCLUDE_LINE);
    updated.push('\n');
    if let Some(parent) = exclude_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_atomic(exclude_path, updated.as_bytes()).map_err(|e| {
        CommandError::internal(format!(
            "failed to write {}: {}",
            exclude_path.display(),
            error_chain(&e)
        ))
    })?;
    Ok(true)
}
