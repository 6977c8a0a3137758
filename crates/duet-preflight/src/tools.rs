//! tmux and git checks: tmux is there and recent enough; git can commit in the repository (an
//! identity it can use); the base branch exists and has a commit.

use std::path::Path;

use crate::agent::{VERSION_TIMEOUT, exit_text, resolve_program, run_bounded};
use crate::{Check, Env};

/// The oldest tmux duet works with (pane titles, `-L` servers, formats it reads).
pub const MIN_TMUX: (u32, u32) = (3, 0);

const TMUX_INSTALL: &str =
    "install it with your package manager (`apt-get install tmux`, `brew install tmux`)";

/// tmux is on PATH and at least [`MIN_TMUX`].
pub fn check_tmux(env: &Env) -> Check {
    let Some(tmux) = resolve_program("tmux", env.get("PATH"), Path::new("/")) else {
        return Check::error("tmux", format!("tmux not found on PATH: {TMUX_INSTALL}"));
    };
    let answer = match run_bounded(&tmux, &["-V"], env, Path::new("/"), VERSION_TIMEOUT) {
        Ok(Some(answer)) if answer.status.success() => answer,
        Ok(Some(answer)) => {
            return Check::error(
                "tmux",
                format!(
                    "`{} -V` failed ({}): reinstall tmux: {TMUX_INSTALL}",
                    tmux.display(),
                    exit_text(answer.status)
                ),
            );
        }
        Ok(None) | Err(_) => {
            return Check::error(
                "tmux",
                format!(
                    "`{} -V` did not answer: reinstall tmux: {TMUX_INSTALL}",
                    tmux.display()
                ),
            );
        }
    };
    let text = answer.stdout.trim();
    let (min_major, min_minor) = MIN_TMUX;
    match tmux_version(text) {
        Some(version) if version >= MIN_TMUX => {
            Check::ok("tmux", format!("{text} ({})", tmux.display()))
        }
        Some(_) => Check::error(
            "tmux",
            format!(
                "{text} is too old: duet needs tmux {min_major}.{min_minor} or newer; upgrade it with your package manager"
            ),
        ),
        None => Check::warning(
            "tmux",
            format!(
                "cannot read tmux's version from {text:?}: duet needs tmux {min_major}.{min_minor} or newer"
            ),
        ),
    }
}

/// `tmux 3.3a`, `tmux next-3.4`, `tmux 3.4` → (major, minor).
fn tmux_version(text: &str) -> Option<(u32, u32)> {
    let word = text.split_whitespace().nth(1)?;
    let word = word.strip_prefix("next-").unwrap_or(word);
    let (major, rest) = word.split_once('.')?;
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// git is on PATH and knows who commits in `repo` (user.name / user.email, or GIT_AUTHOR_* /
/// GIT_COMMITTER_* in the environment): the agents commit with it.
pub fn check_git_identity(repo: &Path, env: &Env) -> Check {
    let Some(git) = resolve_program("git", env.get("PATH"), repo) else {
        return Check::error(
            "git",
            "git not found on PATH: install it with your package manager (`apt-get install git`, `brew install git`)",
        );
    };
    for var in ["GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"] {
        match run_bounded(&git, &["var", var], env, repo, VERSION_TIMEOUT) {
            Ok(Some(answer)) if answer.status.success() => {}
            _ => {
                return Check::error(
                    "git",
                    format!(
                        "git cannot commit in {}: user.name / user.email are not set: set them with `git config --global user.name \"Your Name\"` and `git config --global user.email you@example.com`",
                        repo.display()
                    ),
                );
            }
        }
    }
    Check::ok("git", format!("git can commit in {}", repo.display()))
}

/// Branch `base` exists in `repo` and has a commit.
pub fn check_base_branch(repo: &Path, base: &str, env: &Env) -> Check {
    let name = format!("base branch {base}");
    let Some(git) = resolve_program("git", env.get("PATH"), repo) else {
        return Check::error(
            name,
            "git not found on PATH: install it with your package manager",
        );
    };
    let run = |args: &[&str]| {
        run_bounded(&git, args, env, repo, VERSION_TIMEOUT)
            .ok()
            .flatten()
            .filter(|a| a.status.success())
            .map(|a| a.stdout.trim().to_string())
    };
    let reference = format!("refs/heads/{base}");
    if let Some(commit) = run(&[
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("{reference}^{{commit}}"),
    ]) {
        let short: String = commit.chars().take(12).collect();
        return Check::ok(name, format!("{base} is at {short}"));
    }
    let unborn = run(&["symbolic-ref", "--quiet", "HEAD"]).is_some_and(|head| head == reference);
    if unborn {
        Check::error(
            name,
            format!(
                "base branch `{base}` has no commit yet: make a first commit (e.g. `git commit --allow-empty -m init`)"
            ),
        )
    } else {
        Check::error(
            name,
            format!(
                "base branch `{base}` does not exist in {}: create it (`git branch {base}`), or set `base_branch` in duet.toml (or `base` in the task)",
                repo.display()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmux_versions_are_read_with_their_suffixes() {
        assert_eq!(tmux_version("tmux 3.3a"), Some((3, 3)));
        assert_eq!(tmux_version("tmux next-3.4"), Some((3, 4)));
        assert_eq!(tmux_version("tmux 2.9"), Some((2, 9)));
        assert_eq!(tmux_version("tmux master"), None);
    }
}
