//! `duet codex-seat` (hidden, run in a codex seat's pane under `duet exec-agent` when its
//! profile has `transport = "app-server"`): starts `codex app-server` on the seat's private unix
//! socket, waits until the engine names the thread (its thread file, written once the thread
//! has its first turn: the TUI can open a thread only then), then runs the codex TUI on it
//! with `codex resume THREAD --remote unix://SOCKET`, so a human sees and types into codex.
//!
//! The app-server lives as long as this process: the TUI quitting, SIGTERM or SIGHUP (the
//! pane closed) stop it (its whole process group, so the native server does not outlive the
//! node wrapper and keep the socket), and the seat's files are removed. SIGINT, SIGQUIT and
//! SIGTSTP are the TUI's (from the tty). An app-server that dies on its own is started again
//! on the same socket (the TUI with it, once the engine has resumed the thread on it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use duet_agents::adapter::codex_remote::AppServerPaths;
use duet_agents::codex_app_server::leftovers::{group_file, remove_seat_files};
use duet_agents::codex_app_server::{AppServer, AppServerCommand, Event, Listen, defer_all};
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
    stop_left_server(&args.socket);
    loop {
        // A thread file left by an earlier server could name a thread the next TUI must not
        // open yet: the engine writes it again once it has attached to this server.
        let _ = std::fs::remove_file(&args.thread_file);
        let (mut server, down) = start_server(&command, &args).await?;
        let ended = tokio::select! {
            // The server's end first: a TUI that exits because its server died is not the
            // seat ending.
            biased;
            () = down => None,
            code = run_tui(program, config_args, &args.socket, &args.thread_file) => Some(code),
            _ = term.recv() => Some(128 + nix::libc::SIGTERM),
            _ = hup.recv() => Some(128 + nix::libc::SIGHUP),
        };
        let Some(code) = ended else {
            // The app-server alone died (the TUI, connected to it, was stopped with it): a new
            // one on the same socket and CODEX_HOME; the engine resumes the same thread on it.
            eprintln!("duet: the codex app-server exited; starting it again");
            tokio::task::spawn_blocking(move || server.kill())
                .await
                .ok();
            continue;
        };
        tokio::task::spawn_blocking(move || server.stop(Duration::from_secs(3)))
            .await
            .ok();
        // The seat is over: nothing of it stays in the engine's folder.
        remove_seat_files(&AppServerPaths {
            socket: args.socket.clone(),
            thread_file: args.thread_file.clone(),
            log: args.log.clone(),
        });
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }
}

/// Starts the app-server on the seat's socket; the future ends when its connection closes
/// (the server exited).
async fn start_server(
    command: &AppServerCommand,
    args: &CodexSeatArgs,
) -> Result<(AppServer, impl std::future::Future<Output = ()>), CommandError> {
    let cmd = command.clone();
    let started = tokio::task::spawn_blocking(move || AppServer::start(&cmd, defer_all())).await;
    let (server, client, events) = match started {
        Ok(Ok(started)) => started,
        Ok(Err(err)) => {
            return Err(CommandError::user(format!(
                "duet codex-seat: {} (see {})",
                error_chain(&err),
                args.log.display()
            )));
        }
        Err(err) => return Err(CommandError::internal(err.to_string())),
    };
    // Known to the next process of this seat, should this one be killed outright.
    let _ = std::fs::write(group_file(&args.socket), server.pid().to_string());
    println!(
        "duet: codex app-server on unix://{} (pid {}); the codex TUI opens here once duet's \
         first message has started a turn",
        args.socket.display(),
        server.pid()
    );
    // This process's own connection: its end is the server's end (an event, not a poll).
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _client = client;
        for event in events {
            if event == Event::Closed {
                break;
            }
        }
        let _ = closed_tx.send(());
    });
    Ok((server, async move {
        let _ = closed_rx.await;
    }))
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
