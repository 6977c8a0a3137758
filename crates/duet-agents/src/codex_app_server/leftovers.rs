//! What a codex seat on its app-server leaves in its folder beside the engine's socket
//! (`<hash>.codex/`: the socket link, the thread file, the app-server's log and process group):
//! removed when the seat ends, and swept at engine start for seats whose app-server is gone.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::signal::killpg;
use nix::unistd::Pid;

use crate::adapter::codex_remote::AppServerPaths;

/// The file naming the app-server's process group (beside its socket; see `duet codex-seat`).
pub fn group_file(socket: &Path) -> PathBuf {
    socket.with_extension("pgid")
}

/// Removes the seat's files, and its folder when no other seat's files are left in it.
pub fn remove_seat_files(paths: &AppServerPaths) {
    for file in [
        paths.socket.clone(),
        paths.thread_file.clone(),
        paths.thread_file.with_extension("thread.tmp"),
        paths.log.clone(),
        group_file(&paths.socket),
    ] {
        let _ = std::fs::remove_file(file);
    }
    if let Some(folder) = paths.socket.parent() {
        // Not empty (another seat of this engine): it stays, which is what is wanted.
        let _ = std::fs::remove_dir(folder);
    }
}

/// The seats in the app-server folder of the engine at `engine_socket` whose app-server is
/// gone (its socket does not answer and its process group is dead): their files are removed,
/// and the folder if that empties it. Returns how many seats were swept.
pub fn sweep_left_seats(engine_socket: &Path) -> usize {
    let folder = engine_socket.with_extension("codex");
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return 0;
    };
    let mut stems: Vec<String> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            Some(name.split('.').next()?.to_owned())
        })
        .collect();
    stems.sort();
    stems.dedup();
    let mut swept = 0;
    for stem in stems {
        let paths = AppServerPaths {
            socket: folder.join(format!("{stem}.sock")),
            thread_file: folder.join(format!("{stem}.thread")),
            log: folder.join(format!("{stem}.log")),
        };
        if !seat_alive(&paths.socket) {
            remove_seat_files(&paths);
            swept += 1;
        }
    }
    let _ = std::fs::remove_dir(&folder);
    swept
}

/// Whether a seat's app-server still runs: its socket answers, or its process group lives.
fn seat_alive(socket: &Path) -> bool {
    if UnixStream::connect(socket).is_ok() {
        return true;
    }
    std::fs::read_to_string(group_file(socket))
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok())
        .filter(|pgid| *pgid > 1)
        .is_some_and(|pgid| killpg(Pid::from_raw(pgid), None).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::codex_remote::app_server_paths;
    use duet_core::protocol::Role;
    use std::os::unix::net::UnixListener;

    fn touch_seat(paths: &AppServerPaths) {
        std::fs::create_dir_all(paths.socket.parent().unwrap()).unwrap();
        for file in [&paths.thread_file, &paths.log] {
            std::fs::write(file, "x").unwrap();
        }
    }

    #[test]
    fn a_seat_that_ends_leaves_nothing_and_the_last_one_takes_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let engine = dir.path().join("0123456789abcdef.sock");
        let worker = app_server_paths(&engine, "t", Role::Worker);
        let reviewer = app_server_paths(&engine, "t", Role::Reviewer);
        touch_seat(&worker);
        touch_seat(&reviewer);
        std::fs::write(group_file(&worker.socket), "12345").unwrap();
        remove_seat_files(&worker);
        let folder = worker.socket.parent().unwrap();
        let left: Vec<_> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "only the reviewer's files: {left:?}");
        remove_seat_files(&reviewer);
        assert!(!folder.exists(), "the folder is gone with the last seat");
    }

    #[test]
    fn the_sweep_removes_dead_seats_and_keeps_one_whose_app_server_answers() {
        let dir = tempfile::tempdir().unwrap();
        let engine = dir.path().join("0123456789abcdef.sock");
        let dead = app_server_paths(&engine, "gone", Role::Worker);
        let live = app_server_paths(&engine, "running", Role::Reviewer);
        touch_seat(&dead);
        touch_seat(&live);
        // A dead seat's process group (no such group: pids are below 2^22).
        std::fs::write(group_file(&dead.socket), "999999999").unwrap();
        let _listening = UnixListener::bind(&live.socket).unwrap();
        assert_eq!(sweep_left_seats(&engine), 1);
        assert!(!dead.thread_file.exists() && !dead.log.exists());
        assert!(!group_file(&dead.socket).exists());
        assert!(live.thread_file.exists() && live.socket.exists());
        drop(_listening);
        std::fs::remove_file(&live.socket).unwrap();
        assert_eq!(sweep_left_seats(&engine), 1);
        assert!(!live.socket.parent().unwrap().exists());
        assert_eq!(sweep_left_seats(&engine), 0, "nothing left to sweep");
    }
}
