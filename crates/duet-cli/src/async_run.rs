//! Running one async job (a pair, the daemon) to its end from the synchronous commands.

use std::future::Future;
use std::time::Duration;

use crate::command_error::CommandError;

/// Runs `job` on a fresh two-thread runtime and returns its output. Blocking helpers still
/// watching a pane (a codex turn start) are given a second, not waited for, at the end.
pub fn block_on<F: Future>(job: F) -> Result<F::Output, CommandError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CommandError::internal(format!("failed to start the async runtime: {e}")))?;
    let output = runtime.block_on(job);
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(output)
}

/// Resolves at SIGINT or SIGTERM. The handlers are installed when this is called, so call it
/// inside the runtime before the engine starts: a signal sent the moment the engine answers on
/// its socket is then handled (a clean stop), never the default action that kills duet.
pub fn shutdown_signals() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            (Ok(mut one), Err(_)) | (Err(_), Ok(mut one)) => {
                one.recv().await;
            }
            (Err(_), Err(_)) => std::future::pending().await,
        }
    }
}
