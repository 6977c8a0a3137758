//! `duet validate [FILES]`: checks config and backlog files and prints every problem at once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use duet_core::validate::{NoRepo, RepoFacts, default_files, validate_files};
use duet_git::Repo;

use crate::cli::ValidateArgs;
use crate::command_error::CommandError;
use crate::workspace::GitRepoFacts;

pub fn run(cwd: &Path, args: &ValidateArgs) -> Result<ExitCode, CommandError> {
    // Validation also works outside a repository: the branch checks are then skipped.
    let repo = Repo::discover(cwd).ok();
    let facts: Box<dyn RepoFacts + '_> = match &repo {
        Some(repo) => Box::new(GitRepoFacts(repo)),
        None => Box::new(NoRepo),
    };
    let files: Vec<PathBuf> = if args.files.is_empty() {
        let root = repo
            .as_ref()
            .map(|r| r.main_workdir().to_path_buf())
            .unwrap_or_else(|| cwd.to_path_buf());
        relative_to(cwd, default_files(&root))
    } else {
        args.files
            .iter()
            .map(|f| {
                if f.is_absolute() {
                    f.clone()
                } else {
                    cwd.join(f)
                }
            })
            .map(|f| strip(cwd, f))
            .collect()
    };

    let report = validate_files(&files, facts.as_ref());
    if args.json {
        let json = serde_json::to_string_pretty(&report.to_json())
            .map_err(|e| CommandError::internal(e.to_string()))?;
        println!("{json}");
    } else if report.has_errors() {
        eprint!("{}", report.render_plain());
    } else {
        print!("{}", report.render_plain());
    }
    if report.has_errors() {
        Ok(ExitCode::from(2))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

/// Shows paths relative to where the user stands, as they typed them.
fn relative_to(cwd: &Path, files: Vec<PathBuf>) -> Vec<PathBuf> {
    files.into_iter().map(|f| strip(cwd, f)).collect()
}

fn strip(cwd: &Path, file: PathBuf) -> PathBuf {
    let canonical_cwd = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
    for base in [cwd, canonical_cwd.as_path()] {
        if let Ok(rel) = file.strip_prefix(base) {
            return rel.to_path_buf();
        }
    }
    file
}
