//! One daemon per repository: an exclusive lock on `.duet/daemon.pid`, holding the owner's pid.
//!
//! The lock is an `flock` on the file, so it goes with the process. A daemon killed while one of
//! its children was between fork and exec leaves that child holding a copy of the descriptor
//! (and so the lock) until its exec closes it: a lock held while the pid in the file is dead is
//! waited for a moment ([`ORPHAN_WAIT`]) before it counts as held.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a lock whose recorded owner is dead is waited for.
pub const ORPHAN_WAIT: Duration = Duration::from_secs(3);

/// Held while the daemon runs; the lock goes with the process, also when it is killed.
#[derive(Debug)]
pub struct DaemonLock {
    _file: File,
    path: PathBuf,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another duet daemon (pid {pid}) is running in this repository")]
    Held { pid: String },
    #[error("failed to lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DaemonLock {
    pub fn acquire(path: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let mut orphan_deadline = None;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let pid = recorded_pid(&mut file);
                    if pid_alive(&pid) {
                        return Err(LockError::Held { pid });
                    }
                    let deadline =
                        *orphan_deadline.get_or_insert_with(|| Instant::now() + ORPHAN_WAIT);
                    if Instant::now() >= deadline {
                        return Err(LockError::Held { pid });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(DaemonLock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The pid written in a lock file whose lock is held by a live daemon, if any (a lock held
/// while the recorded owner is dead is waited for, as in [`DaemonLock::acquire`]).
pub fn running_daemon(path: &Path) -> Option<String> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
    let deadline = Instant::now() + ORPHAN_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return None,
            Err(_) => {
                let pid = recorded_pid(&mut file);
                if pid_alive(&pid) || Instant::now() >= deadline {
                    return Some(pid);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn recorded_pid(file: &mut File) -> String {
    let mut pid = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut pid);
    pid.trim().to_string()
}

/// Whether `pid` names a live process (an unreadable pid counts as alive: the lock is then
/// taken as held at once, as before).
fn pid_alive(pid: &str) -> bool {
    let Ok(pid) = pid.parse::<i32>() else {
        return true;
    };
    if pid <= 0 {
        return true;
    }
    // Signal 0 checks existence; EPERM means it exists under another user.
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".duet/daemon.pid");
        let lock = DaemonLock::acquire(&path).unwrap();
        let pid = std::process::id().to_string();
        assert_eq!(std::fs::read_to_string(lock.path()).unwrap().trim(), pid);
        match DaemonLock::acquire(&path) {
            Err(LockError::Held { pid: held }) => assert_eq!(held, pid),
            other => panic!("expected the lock to be held, got {other:?}"),
        }
        assert_eq!(running_daemon(&path), Some(pid));
        drop(lock);
        assert_eq!(running_daemon(&path), None);
        DaemonLock::acquire(&path).unwrap();
    }

    /// A lock held by a process that is not the recorded (dead) daemon, as a child between fork
    /// and exec holds it, is waited for and then taken.
    #[test]
    fn a_lock_held_while_its_recorded_owner_is_dead_is_taken_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.pid");
        let dead = {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            pid
        };
        std::fs::write(&path, format!("{dead}\n")).unwrap();
        // `flock` holds the lock until its stdin closes, which is when we say so.
        let mut holder = std::process::Command::new("flock")
            .arg(&path)
            .args(["-c", "echo locked; read _"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "locked");
        let stdin = holder.stdin.take().unwrap();
        let release = std::thread::spawn(move || {
            // Released while acquire is already waiting: acquire must not have given up.
            std::thread::sleep(Duration::from_millis(300));
            drop(stdin);
            holder.wait().unwrap();
        });
        let lock = DaemonLock::acquire(&path).unwrap();
        release.join().unwrap();
        assert_eq!(
            std::fs::read_to_string(lock.path()).unwrap().trim(),
            std::process::id().to_string()
        );
    }
}
