//! Creating a linked worktree on disk: registration, `.git` file, HEAD and checkout.
//!
//! libgit2's `git_worktree_add` would do all of this, but git2 gives no way to pass it
//! checkout options, and its default checkout looks up `.gitattributes` for every file,
//! resolving the file's folder with `realpath` each time (about 20 failed `readlink` calls per
//! file). On 5,000 files that made it 2.7 times slower than `git worktree add`. So we write the
//! same registration files git writes and run the checkout ourselves, turning the filters off
//! when no attribute source or `core.autocrlf` could make them do anything.
//!
//! libgit2 also re-hashes every object it reads (strict hash verification), which git does not
//! do on checkout; that cost another ~40 ms per 5,000 files (20% of the total), so it is turned
//! off, process-wide, the first time a worktree is created.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;

use git2::build::CheckoutBuilder;
use git2::{Reference, Repository, Tree, TreeWalkMode, TreeWalkResult};

use crate::error::GitError;
use crate::registration::admin_dir;

/// Registers a worktree named `name` at `path` (which must not exist; its parent must) with
/// `branch` checked out. On error the caller removes `path` and the registration folder.
pub(crate) fn add_worktree(
    git: &Repository,
    name: &str,
    path: &Path,
    branch: &Reference<'_>,
) -> Result<(), GitError> {
    let action = || format!("create worktree {}", path.display());
    let refname = branch.name().map_err(|e| GitError::git(action(), e))?;
    let tree = branch
        .peel_to_tree()
        .map_err(|e| GitError::git(action(), e))?;
    add_worktree_with_head(git, name, path, &format!("ref: {refname}\n"), &tree)
}

/// Like [`add_worktree`], with a detached HEAD at `commit` (the merge queue's scratch
/// worktrees: no branch is checked out there, so none is held).
pub(crate) fn add_detached_worktree(
    git: &Repository,
    name: &str,
    path: &Path,
    commit: &git2::Commit<'_>,
) -> Result<(), GitError> {
    let action = || format!("create worktree {}", path.display());
    let tree = commit.tree().map_err(|e| GitError::git(action(), e))?;
    add_worktree_with_head(git, name, path, &format!("{}\n", commit.id()), &tree)
}

fn add_worktree_with_head(
    git: &Repository,
    name: &str,
    path: &Path,
    head: &str,
    tree: &Tree<'_>,
) -> Result<(), GitError> {
    let action = || format!("create worktree {}", path.display());
    let admin = admin_dir(git, name);
    let io = |what: &str, at: &Path, e: std::io::Error| GitError::io(what, at, &e);
    fs::create_dir_all(admin.parent().unwrap_or(&admin)).map_err(|e| io("create", &admin, e))?;
    fs::create_dir(&admin).map_err(|e| io("create worktree registration", &admin, e))?;
    // As git does: the lock keeps a concurrent `git worktree prune` off the half-made worktree.
    let lock = admin.join("locked");
    write_new(&lock, "initializing\n").map_err(|e| io("write", &lock, e))?;
    fs::create_dir(path).map_err(|e| io("create worktree folder", path, e))?;

    let dot_git = path.join(".git");
    write_new(&dot_git, &format!("gitdir: {}\n", admin.display()))
        .map_err(|e| io("write", &dot_git, e))?;
    for (file, text) in [
        ("commondir", "../..\n".to_owned()),
        ("gitdir", format!("{}\n", dot_git.display())),
        ("HEAD", head.to_owned()),
    ] {
        let file = admin.join(file);
        write_new(&file, &text).map_err(|e| io("write", &file, e))?;
    }

    read_objects_like_git();
    let worktree = Repository::open(path).map_err(|e| GitError::git(action(), e))?;
    let mut checkout = CheckoutBuilder::new();
    checkout
        .force()
        .disable_filters(!filters_may_apply(git, tree)?);
    worktree
        .checkout_head(Some(&mut checkout))
        .map_err(|e| GitError::git(action(), e))?;
    fs::remove_file(&lock).map_err(|e| io("remove", &lock, e))
}

/// Turns off libgit2's re-hashing of every object read, once per process. The setting is
/// global in libgit2 (there is no per-repository switch); git itself never re-hashes objects
/// when checking them out, so this trusts the object database exactly as much as git does.
fn read_objects_like_git() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| git2::opts::strict_hash_verification(false));
}

/// Whether checkout filters (line endings, `ident`, filter drivers such as LFS) could change
/// any file of `tree`: only through an attributes file or `core.autocrlf`.
fn filters_may_apply(git: &Repository, tree: &Tree<'_>) -> Result<bool, GitError> {
    let config = git
        .config()
        .map_err(|e| GitError::git("read repository config", e))?;
    let autocrlf = config
        .get_string("core.autocrlf")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !matches!(autocrlf.as_str(), "" | "false" | "no" | "off" | "0") {
        return Ok(true);
    }
    let mut attribute_files: Vec<PathBuf> = vec![git.commondir().join("info").join("attributes")];
    if let Ok(path) = config.get_path("core.attributesfile") {
        attribute_files.push(path);
    }
    attribute_files.extend(global_attributes_file());
    if attribute_files.iter().any(|file| file.exists()) {
        return Ok(true);
    }
    let mut found = false;
    tree.walk(TreeWalkMode::PreOrder, |_, entry| {
        if entry.name_bytes() == b".gitattributes" {
            found = true;
            TreeWalkResult::Abort
        } else {
            TreeWalkResult::Ok
        }
    })
    .or_else(|e| if found { Ok(()) } else { Err(e) })
    .map_err(|e| GitError::git("look for .gitattributes", e))?;
    Ok(found)
}

/// git's default global attributes file, `$XDG_CONFIG_HOME/git/attributes` or
/// `~/.config/git/attributes`.
fn global_attributes_file() -> Option<PathBuf> {
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config_home.join("git").join("attributes"))
}

/// Writes a file that must not exist yet.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?
        .write_all(text.as_bytes())
}
