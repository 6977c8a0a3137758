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
