//! `duet doctor`'s host checks beyond preflight: the inotify watch limit, the control socket's
//! path, free disk space under `.duet/`, whether each agent CLI looks logged in (seen without
//! the network: an API key in the environment, the CLI's credentials file), the tested versions.

use std::path::{Path, PathBuf};

use duet_core::config::{AgentKind, AgentProfile};

use crate::version::TESTED;
use crate::{Check, Env};

/// Below this many inotify watches, duet's file watching may run out.
pub const MIN_INOTIFY_WATCHES: u64 = 65_536;

/// `max_user_watches` as read from `file` (`/proc/sys/fs/inotify/max_user_watches` on Linux).
pub fn check_inotify(file: &Path) -> Check {
    let name = "inotify";
    let Ok(text) = std::fs::read_to_string(file) else {
        return Check::ok(
            name,
            format!("no {} here: no inotify limit to check", file.display()),
        );
    };
    match text.trim().parse::<u64>() {
        Ok(n) if n >= MIN_INOTIFY_WATCHES => Check::ok(name, format!("max_user_watches is {n}")),
        Ok(n) => Check::warning(
            name,
            format!(
                "max_user_watches is {n}, below {MIN_INOTIFY_WATCHES}: raise it with `sudo sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.conf to keep it)"
            ),
        ),
        Err(_) => Check::warning(
            name,
            format!(
                "cannot read a number from {}: {:?}",
                file.display(),
                text.trim()
            ),
        ),
    }
}

/// The socket clients of this repository connect to (`state_dir` is `.duet/`): its path must
/// fit a unix socket address, and its folder must be private.
pub fn check_socket(state_dir: &Path) -> Check {
    use std::os::unix::fs::MetadataExt;
    let name = "socket";
    let socket = duet_proto::find_socket(state_dir);
    let len = socket.as_os_str().len();
    // sun_path holds 108 bytes on Linux (104 on macOS), the final NUL included.
    if len > 103 {
        return Check::error(
            name,
            format!(
                "the control socket {} is {len} bytes, too long for a unix socket: remove {} (it names an old place) and start duet again",
                socket.display(),
                state_dir
                    .join(duet_proto::socket_path::LOCATOR_FILE)
                    .display()
            ),
        );
    }
    if let Some(dir) = socket.parent()
        && let Ok(meta) = std::fs::metadata(dir)
        && meta.mode() & 0o077 != 0
    {
        return Check::warning(
            name,
            format!(
                "the socket folder {} is mode {:o}, not private: `chmod 700 {}`",
                dir.display(),
                meta.mode() & 0o777,
                dir.display()
            ),
        );
    }
    let running = std::os::unix::net::UnixStream::connect(&socket).is_ok();
    Check::ok(
        name,
        format!(
            "{} ({len} bytes; {})",
            socket.display(),
            if running {
                "a duet is listening"
            } else {
                "no duet running"
            }
        ),
    )
}

/// Below this, a warning; below a tenth of it, an error.
pub const MIN_FREE_BYTES: u64 = 1 << 30;

/// Free space on the file system of `dir` (`.duet/`, or the repository when it is not made yet).
pub fn check_disk(dir: &Path) -> Check {
    let name = "disk";
    let stat = match nix::sys::statvfs::statvfs(dir) {
        Ok(stat) => stat,
        Err(err) => {
            return Check::warning(
                name,
                format!("cannot read free space of {}: {err}", dir.display()),
            );
        }
    };
    // The field types differ between platforms (u64 on Linux, u32 on some BSDs).
    #[allow(clippy::useless_conversion)]
    let free = u64::from(stat.blocks_available()) * u64::from(stat.fragment_size());
    check_free(dir, free)
}

/// The verdict for `free` bytes under `dir` (split out for tests).
pub fn check_free(dir: &Path, free: u64) -> Check {
    let text = format!("{} free under {}", human_bytes(free), dir.display());
    if free < MIN_FREE_BYTES / 10 {
        Check::error(
            "disk",
            format!("only {text}: free some space (worktrees and agent logs need it)"),
        )
    } else if free < MIN_FREE_BYTES {
        Check::warning(
            "disk",
            format!("only {text}: free some space (worktrees and agent logs need it)"),
        )
    } else {
        Check::ok("disk", text)
    }
}

fn human_bytes(bytes: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.0} MiB", b / MIB)
    }
}

/// Whether profile `name` looks logged in, seen without the network: an API key in its
/// environment, or the CLI's own credentials file. Never shows a secret.
pub fn check_login(name: &str, profile: &AgentProfile, env: &Env) -> Check {
    let check = format!("login {name}");
    let env = env.with(&profile.env);
    let (key, files, fix) = match profile.kind {
        AgentKind::Claude => {
            let dir = env
                .get("CLAUDE_CONFIG_DIR")
                .map(PathBuf::from)
                .or_else(|| env.home().map(|h| h.join(".claude")));
            let mut files: Vec<(PathBuf, Option<&str>)> = Vec::new();
            if let Some(dir) = dir {
                files.push((dir.join(".credentials.json"), None));
            }
            if let Some(home) = env.home() {
                files.push((home.join(".claude.json"), Some("oauthAccount")));
            }
            (
                "ANTHROPIC_API_KEY",
                files,
                format!(
                    "run `{}` and log in, or set ANTHROPIC_API_KEY",
                    profile.command
                ),
            )
        }
        AgentKind::Codex => {
            let dir = env
                .get("CODEX_HOME")
                .map(PathBuf::from)
                .or_else(|| env.home().map(|h| h.join(".codex")));
            (
                "OPENAI_API_KEY",
                dir.map(|d| vec![(d.join("auth.json"), None)])
                    .unwrap_or_default(),
                format!("run `{} login`, or set OPENAI_API_KEY", profile.command),
            )
        }
    };
    if env.get(key).is_some() {
        return Check::ok(check, format!("{key} is set"));
    }
    for (file, needle) in &files {
        let found = match needle {
            None => file.is_file(),
            Some(needle) => std::fs::read_to_string(file).is_ok_and(|t| t.contains(needle)),
        };
        if found {
            return Check::ok(check, format!("credentials in {}", file.display()));
        }
    }
    Check::warning(
        check,
        format!(
            "{} does not look logged in (no {key}, no credentials file): {fix}",
            profile.kind.as_str()
        ),
    )
}

/// The agent CLI versions this duet build is tested with.
pub fn tested_versions() -> Check {
    let ranges: Vec<String> = TESTED.iter().map(ToString::to_string).collect();
    Check::ok("tested versions", ranges.join(", "))
}
