//! `duet codex-seat` (hidden, run in a codex seat's pane under `duet exec-agent` when its
//! profile has `transport = "app-server"`): starts `codex app-server` on the seat's private unix
//! socket, waits until the engine names the thread (its thread file, written once the thread
//! has its first turn: the TUI can open a thread only then), then runs the codex TUI on it
//! with `codex resume THREAD --remote unix://SOCKET`, so a human sees and types into codex.
//!
//! The app-server lives as long as this process: the TUI quitting, SIGTERM or SIGHUP (the
//! pane closed) stop it (its whole process group, so the native server does not outlive the
//! node wrapper and keep the socket). SIGINT, SIGQUIT and SIGTSTP are the TUI's (from the tty).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use duet_agents::codex_app_server::{AppServer, AppServerCommand, Listen, defer_all};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::CodexSeatArgs;
use crate::command_error::{CommandError, error_chain};

/// How long the app-server has to listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the thread file is looked for (a file written by another process: no event).
const THREAD_FILE_POLL: Duration = Duration::from_millis(50);
/// A TUI that exits this soon failed to open the thread (e.g. not saved yet): tried again.
const TUI_QUICK_EXIT: Duration = Duration::from_secs(3);
const TUI_TRIES: u32 = 5;

pub fn run(args: CodexSeatArgs) -> Result<ExitCode, CommandError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::internal(format!("failed to start the async runtime: {e}")))?;
    runtime.block_on(seat(args))
}

async fn seat(args: CodexSeatArgs) -> Result<ExitCode, CommandError> {
    let Some((program, config_args)) = args.codex.split_first() else {
        return Err(CommandError::user(
            "duet codex-seat: no codex command after `--`",
        ));
    };
    // The tty's keys are the TUI's; this process only must not die of them.
    let _keys = [
        SignalKind::interrupt(),
        SignalKind::quit(),
        SignalKind::from_raw(nix::libc::SIGTSTP),
    ]
    .map(|kind| signal(kind).ok());
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| CommandError::internal(format!("failed to catch SIGTERM: {e}")))?;
    let mut hup = signal(SignalKind::hangup())
        .map_err(|e| CommandError::internal(format!("failed to catch SIGHUP: {e}")))?;

    // A thread file left by an earlier process could name a thread this one never opens: the
    // engine writes it again once it has attached (it cannot before this server listens).
    let _ = std::fs::remove_file(&args.thread_file);
    stop_left_server(&args.socket);
    let command = AppServerCommand {
        program: PathBuf::from(program),
        args: config_args.to_vec(),
        env: Vec::new(),
        cwd: std::env::current_dir()
            .map_err(|e| CommandError::internal(format!("failed to read the cwd: {e}")))?,
        listen: Listen::Unix(args.socket.clone()),
        stderr_log: Some(args.log.clone()),
        timeout: START_TIMEOUT,
    };
    let started =
        tokio::task::spawn_blocking(move || AppServer::start(&command, defer_all())).await;
    let mut server = match started {
        Ok(Ok((server, _client, _events))) => {
            // Known to the next process of this seat, should this one be killed outright.
            let _ = std::fs::write(group_file(&args.socket), server.pid().to_string());
            server
        }
        Ok(Err(err)) => {
            return Err(CommandError::user(format!(
                "duet codex-seat: {} (see {})",
                error_chain(&err),
                args.log.display()
            )));
        }
        Err(err) => return Err(CommandError::internal(err.to_string())),
    };
    println!(
        "duet: codex app-server on unix://{} (pid {}); the codex TUI opens here once duet's \
         first message has started a turn",
        args.socket.display(),
        server.pid()
    );
    let code = tokio::select! {
        code = run_tui(program, config_args, &args.socket, &args.thread_file) => code,
        _ = term.recv() => 128 + nix::libc::SIGTERM,
        _ = hup.recv() => 128 + nix::libc::SIGHUP,
    };
    tokio::task::spawn_blocking(move || server.stop(Duration::from_secs(3)))
        .await
        .ok();
    let _ = std::fs::remove_file(group_file(&args.socket));
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Waits for the thread file, then runs the TUI on that thread until it exits; its exit code.
async fn run_tui(program: &str, config_args: &[String], socket: &Path, thread_file: &Path) -> i32 {
    let thread = loop {
        if let Ok(text) = std::fs::read_to_string(thread_file)
            && !text.trim().is_empty()
        {
            break text.trim().to_owned();
        }
        tokio::time::sleep(THREAD_FILE_POLL).await;
    };
    let mut tries = 0;
    loop {
        tries += 1;
        let began = std::time::Instant::now();
        let status = tokio::process::Command::new(program)
            .arg("resume")
            .arg(&thread)
            .arg("--remote")
            .arg(format!("unix://{}", socket.display()))
            .args(config_args)
            .kill_on_drop(true)
            .status()
            .await;
        match status {
            Ok(status) if status.success() => return 0,
            Ok(status) if began.elapsed() < TUI_QUICK_EXIT && tries < TUI_TRIES => {
                eprintln!("duet: the codex TUI exited at once ({status}); trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(status) => return status.code().unwrap_or(1),
            Err(err) => {
                eprintln!("duet: failed to start the codex TUI {program}: {err}");
                return 127;
            }
        }
    }
}

/// Where the app-server's process group is written (beside its socket).
fn group_file(socket: &Path) -> PathBuf {
    socket.with_extension("pgid")
}

/// An app-server left by an earlier process of this seat that was killed outright (SIGKILL
/// gives it no chance to stop its server, which is in a group of its own and keeps codex's
/// control socket for this path, so a new one could not start): its group is killed first.
fn stop_left_server(socket: &Path) {
    let file = group_file(socket);
    let Some(pgid) = std::fs::read_to_string(&file)
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok())
        .filter(|pgid| *pgid > 1)
    else {
        return;
    };
    let group = nix::unistd::Pid::from_raw(pgid);
    if nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).is_ok() {
        eprintln!(
            "duet: stopped the app-server an earlier process of this seat left (group {pgid})"
        );
        // The group's end is not an event this process can await (not its child): look briefly.
        for _ in 0..100 {
            if nix::sys::signal::killpg(group, None).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = std::fs::remove_file(file);
}
