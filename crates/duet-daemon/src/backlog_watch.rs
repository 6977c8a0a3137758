//! Watching the backlog file: a `notify` watcher on its folder whose callback never blocks
//! (`try_send` into a one-slot channel, so bursts coalesce), with a fallback to comparing the
//! file's modification time on the daemon's tick when the watcher cannot be set up (e.g. the
//! inotify watch limit).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Tells the daemon when the backlog may have changed.
pub struct BacklogWatch {
    _watcher: Option<notify::RecommendedWatcher>,
    pub changes: mpsc::Receiver<()>,
    path: PathBuf,
    last_modified: Option<SystemTime>,
    polling: bool,
}

impl std::fmt::Debug for BacklogWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BacklogWatch")
            .field("path", &self.path)
            .field("polling", &self.polling)
            .finish()
    }
}

impl BacklogWatch {
    pub fn new(path: &Path) -> Self {
        let (tx, changes) = mpsc::channel(1);
        let file_name = path.file_name().map(|n| n.to_os_string());
        let watched = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            // Reading the file (our own reload does) is no change: reacting to it would make
            // every reload trigger the next one.
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            if event
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == file_name)
            {
                // Full means a reload is already pending: this change is covered by it.
                let _ = tx.try_send(());
            }
        })
        .and_then(|mut watcher| {
            watcher
                .watch(&watched, RecursiveMode::NonRecursive)
                .map(|()| watcher)
        });
        let (watcher, polling) = match watcher {
            Ok(watcher) => (Some(watcher), false),
            Err(err) => {
                tracing::warn!(
                    "cannot watch {} ({err}); checking its modification time every second instead",
                    path.display()
                );
                (None, true)
            }
        };
        BacklogWatch {
            _watcher: watcher,
            changes,
            path: path.to_path_buf(),
            last_modified: modified(path),
            polling,
        }
    }

    /// On a tick: whether the file changed since the last look (only when polling).
    pub fn poll_changed(&mut self) -> bool {
        if !self.polling {
            return false;
        }
        let now = modified(&self.path);
        let changed = now != self.last_modified;
        self.last_modified = now;
        changed
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
