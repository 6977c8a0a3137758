//! Where a repository's control socket lives: a short path outside the repository (unix socket
//! paths are limited to ~108 bytes), found through the locator file `.duet/socket`.
//!
//! The socket goes under `$XDG_RUNTIME_DIR/duet/` when that folder exists, else under
//! `/tmp/duet-<uid>/`, named by a hash of the state folder, so any repository path works. The
//! folder is private to the user (0700); the server writes the socket's path into the locator
//! when it binds, and clients read it from there (falling back to the computed path).

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The locator file in the state folder (`.duet/`), holding the socket's path.
pub const LOCATOR_FILE: &str = "socket";

/// Longest socket path accepted from `$XDG_RUNTIME_DIR`; beyond it `/tmp` is used. The kernel's
/// limit (`sun_path`) is 108 bytes on Linux, 104 on macOS, including the final NUL.
const MAX_SOCKET_PATH: usize = 100;

/// Where the socket's folder and name come from: the runtime folder (if any) and the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketPlace {
    /// `$XDG_RUNTIME_DIR`, when set.
    pub runtime_dir: Option<PathBuf>,
    pub uid: u32,
}

impl SocketPlace {
    /// This process's place: its `$XDG_RUNTIME_DIR` and uid.
    pub fn of_process() -> Self {
        SocketPlace {
            runtime_dir: std::env::var_os("XDG_RUNTIME_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            uid: nix::unistd::getuid().as_raw(),
        }
    }

    /// The socket path for the state folder `state_dir` (`<repo>/.duet`).
    pub fn socket_path(&self, state_dir: &Path) -> PathBuf {
        let name = format!(
            "{:016x}.sock",
            fnv1a(state_dir.as_os_str().as_encoded_bytes())
        );
        if let Some(runtime) = self.runtime_dir.as_ref().filter(|d| d.is_dir()) {
            let path = runtime.join("duet").join(&name);
            if path.as_os_str().len() <= MAX_SOCKET_PATH {
                return path;
            }
        }
        PathBuf::from(format!("/tmp/duet-{}", self.uid)).join(name)
    }
}

/// The socket path for `state_dir` in this process's place (see [`SocketPlace`]).
pub fn socket_path(state_dir: &Path) -> PathBuf {
    SocketPlace::of_process().socket_path(state_dir)
}

/// The socket a client should connect to: the locator's path when it names one, else the
/// computed [`socket_path`].
pub fn find_socket(state_dir: &Path) -> PathBuf {
    read_locator(state_dir).unwrap_or_else(|| socket_path(state_dir))
}

/// The path the locator in `state_dir` names, if it exists and holds one.
pub fn read_locator(state_dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(state_dir.join(LOCATOR_FILE)).ok()?;
    let path = text.trim_end_matches('\n');
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// Records `socket` in the locator of `state_dir` (written to a temp file, then renamed).
pub fn write_locator(state_dir: &Path, socket: &Path) -> io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let target = state_dir.join(LOCATOR_FILE);
    let tmp = state_dir.join(format!(".{LOCATOR_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, format!("{}\n", socket.display()))?;
    std::fs::rename(&tmp, &target).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Creates `dir` (and its parents) with mode 0700, or makes an existing one 0700; refuses a
/// folder that belongs to another user or is not a folder.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(err) => {
            return Err(io::Error::new(
                err.kind(),
                format!(
                    "failed to create the socket folder {}: {err}",
                    dir.display()
                ),
            ));
        }
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("the socket folder {} is not a folder", dir.display()),
        ));
    }
    let uid = nix::unistd::getuid().as_raw();
    if meta.uid() != uid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the socket folder {} belongs to uid {}, not to this user (uid {uid})",
                dir.display(),
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Prepares the socket of `state_dir` for a server: its private folder made and the locator
/// written. Returns the path to bind.
pub fn prepare_socket(state_dir: &Path) -> io::Result<PathBuf> {
    let socket = socket_path(state_dir);
    if let Some(dir) = socket.parent() {
        create_private_dir(dir)?;
    }
    write_locator(state_dir, &socket).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!(
                "failed to write the socket locator {}: {err}",
                state_dir.join(LOCATOR_FILE).display()
            ),
        )
    })?;
    Ok(socket)
}

/// FNV-1a, 64 bits: a hash that stays the same across builds and Rust versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(runtime: Option<&Path>) -> SocketPlace {
        SocketPlace {
            runtime_dir: runtime.map(Path::to_path_buf),
            uid: 1234,
        }
    }

    #[test]
    fn a_long_repository_path_gets_a_short_socket_path() {
        let long = PathBuf::from(format!("/{}/.duet", "d".repeat(300)));
        let path = place(None).socket_path(&long);
        assert!(path.starts_with("/tmp/duet-1234/"), "{}", path.display());
        assert_eq!(path.as_os_str().len(), "/tmp/duet-1234/".len() + 16 + 5);
        assert_eq!(path, place(None).socket_path(&long), "stable");
        assert_ne!(path, place(None).socket_path(Path::new("/other/.duet")));
    }

    #[test]
    fn the_runtime_folder_is_used_when_it_exists() {
        let runtime = tempfile::tempdir().unwrap();
        let path = place(Some(runtime.path())).socket_path(Path::new("/r/.duet"));
        assert_eq!(path.parent().unwrap(), runtime.path().join("duet"));
        let missing = place(Some(Path::new("/nonexistent/run"))).socket_path(Path::new("/r/.duet"));
        assert!(
            missing.starts_with("/tmp/duet-1234/"),
            "{}",
            missing.display()
        );
    }

    #[test]
    fn a_runtime_folder_too_long_for_a_socket_falls_back_to_tmp() {
        let base = tempfile::tempdir().unwrap();
        let deep = base.path().join("r".repeat(120));
        std::fs::create_dir_all(&deep).unwrap();
        let path = place(Some(&deep)).socket_path(Path::new("/r/.duet"));
        assert!(path.starts_with("/tmp/duet-1234/"), "{}", path.display());
    }

    #[test]
    fn the_locator_round_trips_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".duet");
        assert_eq!(read_locator(&state), None);
        write_locator(&state, Path::new("/tmp/duet-1/x.sock")).unwrap();
        assert_eq!(
            read_locator(&state),
            Some(PathBuf::from("/tmp/duet-1/x.sock"))
        );
        let names: Vec<_> = std::fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [LOCATOR_FILE], "no temp file left");
    }

    #[test]
    fn the_socket_folder_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("a/b");
        create_private_dir(&folder).unwrap();
        let mode = std::fs::metadata(&folder).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&folder).unwrap();
        assert_eq!(std::fs::metadata(&folder).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn a_file_in_the_way_of_the_socket_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("duet");
        std::fs::write(&folder, "").unwrap();
        let err = create_private_dir(&folder).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "failed to create the socket folder {}: File exists (os error 17)",
                folder.display()
            )
        );
    }
}

#[cfg(test)]
mod failure_tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn a_locator_that_cannot_be_written_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".duet");
        std::fs::create_dir_all(state.join(LOCATOR_FILE)).unwrap();
        let err = write_locator(&state, Path::new("/tmp/duet-1/x.sock")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory, "{err}");
        let names: Vec<_> = std::fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [LOCATOR_FILE], "the temp file is removed");
    }

    #[test]
    fn a_socket_folder_of_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("theirs");
        std::fs::create_dir(&folder).unwrap();
        if std::os::unix::fs::chown(&folder, Some(65534), Some(65534)).is_err() {
            println!("skipped: cannot give a folder to another user (not root)");
            return;
        }
        let err = create_private_dir(&folder).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the socket folder {} belongs to uid 65534, not to this user (uid {})",
                folder.display(),
                std::fs::metadata(dir.path()).unwrap().uid()
            )
        );
    }

    #[test]
    fn a_symlink_as_socket_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = create_private_dir(&link).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("the socket folder {} is not a folder", link.display())
        );
    }
}
