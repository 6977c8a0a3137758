//! `duet validate`: reads the given config and backlog files, classifies each, checks backlogs
//! against their config and the repository, and collects every problem into one report.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backlog::read_backlog;
use crate::config::{CONFIG_FILE_NAME, Config, read_config};
use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile};

/// What validation may ask about the repository. `None` means unknown (no repository, or the
/// question cannot be answered), and the check is skipped.
pub trait RepoFacts {
    fn branch_exists(&self, name: &str) -> Option<bool>;
}

/// No repository: every repository check is skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRepo;

impl RepoFacts for NoRepo {
    fn branch_exists(&self, _name: &str) -> Option<bool> {
        None
    }
}

/// A fixed set of branch names (for tests, or a snapshot taken from git).
#[derive(Debug, Clone, Default)]
pub struct KnownBranches(pub BTreeSet<String>);

impl KnownBranches {
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        KnownBranches(names.into_iter().map(Into::into).collect())
    }
}

impl RepoFacts for KnownBranches {
    fn branch_exists(&self, name: &str) -> Option<bool> {
        Some(self.0.contains(name))
    }
}

/// Result of `validate_files`: the files read and every problem found (configs first, then
/// backlogs; within a file in source order).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub files: Vec<PathBuf>,
    pub diagnostics: Diagnostics,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.has_errors()
    }

    /// The exit status `duet validate` uses: 2 on any error, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.has_errors() { 2 } else { 0 }
    }

    /// Every diagnostic block, then a summary line.
    pub fn render_plain(&self) -> String {
        let mut out = self.diagnostics.render_plain();
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    /// One line per problem, then the summary.
    pub fn render_short(&self) -> String {
        format!("{}{}\n", self.diagnostics.render_short(), self.summary())
    }

    pub fn summary(&self) -> String {
        let files = plural(self.files.len(), "file");
        let (errors, warnings) = (
            self.diagnostics.error_count(),
            self.diagnostics.warning_count(),
        );
        match (errors, warnings) {
            (0, 0) => format!("{files} valid"),
            (0, w) => format!("{files} valid, {}", plural(w, "warning")),
            (e, 0) => format!("{} in {files}", plural(e, "error")),
            (e, w) => format!(
                "{} and {} in {files}",
                plural(e, "error"),
                plural(w, "warning")
            ),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "files": self.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "errors": self.diagnostics.error_count(),
            "warnings": self.diagnostics.warning_count(),
            "diagnostics": self.diagnostics.to_json(),
        })
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The files `duet validate` checks when none are named: duet.toml (if present) and the
/// backlog it names (or backlog.toml), both relative to `root`.
pub fn default_files(root: &Path) -> Vec<PathBuf> {
    let config_path = root.join(CONFIG_FILE_NAME);
    let mut files = Vec::new();
    let mut backlog = PathBuf::from("backlog.toml");
    if config_path.is_file() {
        if let Ok(config) = std::fs::read_to_string(&config_path)
            .map_err(drop)
            .and_then(|src| Config::from_toml_str(&src, &config_path).map_err(drop))
        {
            backlog = config.backlog;
        }
        files.push(config_path);
    }
    files.push(root.join(backlog));
    files
}

#[derive(Debug, PartialEq)]
enum FileKind {
    Config,
    Backlog,
}

struct Loaded {
    path: PathBuf,
    file: Arc<SourceFile>,
    kind: FileKind,
}

/// Reads every file, checks it, and returns all problems across all files. A file with a
/// top-level `task` array, or whose name contains "backlog", is a backlog; any other is a
/// config. Backlogs are checked against the first config given, else the duet.toml next to
/// them, else the built-in defaults.
pub fn validate_files(files: &[PathBuf], repo: &dyn RepoFacts) -> Report {
    let mut report = Report::default();
    let mut diagnostics = Vec::new();
    let mut loaded = Vec::new();
    for path in files {
        report.files.push(path.clone());
        match std::fs::read(path) {
            Ok(bytes) => match SourceFile::from_bytes(path, bytes) {
                Ok(file) => {
                    let kind = classify(path, &file);
                    loaded.push(Loaded {
                        path: path.clone(),
                        file,
                        kind,
                    });
                }
                // Not UTF-8: reported at the first bad byte, and nothing else is read from it.
                Err(d) => diagnostics.push(d),
            },
            Err(err) => diagnostics.push(
                Diagnostic::error(format!("failed to read {}: {err}", path.display()))
                    .in_file(&SourceFile::new(path, "")),
            ),
        }
    }

    let mut given_config: Option<Config> = None;
    for l in loaded.iter().filter(|l| l.kind == FileKind::Config) {
        let (config, found) = read_config(&l.file, Config::default(), repo);
        diagnostics.extend(found);
        given_config.get_or_insert(config);
    }

    let mut default_base_checked = false;
    for l in loaded.iter().filter(|l| l.kind == FileKind::Backlog) {
        let base_dir = l.path.parent().unwrap_or(Path::new("")).to_path_buf();
        let config = match &given_config {
            Some(config) => config.clone(),
            None => {
                let neighbour = base_dir.join(CONFIG_FILE_NAME);
                if neighbour.is_file() && !report.files.contains(&neighbour) {
                    match std::fs::read(&neighbour) {
                        Ok(bytes) => {
                            report.files.push(neighbour.clone());
                            match SourceFile::from_bytes(&neighbour, bytes) {
                                Ok(file) => {
                                    let (config, found) =
                                        read_config(&file, Config::default(), repo);
                                    diagnostics.extend(found);
                                    config
                                }
                                Err(d) => {
                                    diagnostics.push(d);
                                    Config::default()
                                }
                            }
                        }
                        Err(err) => {
                            diagnostics.push(Diagnostic::error(format!(
                                "failed to read {}: {err}",
                                neighbour.display()
                            )));
                            Config::default()
                        }
                    }
                } else {
                    let config = Config::default();
                    if !default_base_checked
                        && repo.branch_exists(&config.base_branch) == Some(false)
                    {
                        default_base_checked = true;
                        diagnostics.push(
                            Diagnostic::error(format!(
                                "base branch `{}` (the default) does not exist in the repository",
                                config.base_branch
                            ))
                            .with_hint("set `base_branch` in duet.toml to an existing branch"),
                        );
                    }
                    config
                }
            }
        };
        let (_, found) = read_backlog(&l.file, &config, &base_dir, repo);
        diagnostics.extend(found);
    }
    report.diagnostics = Diagnostics(diagnostics);
    report
}

fn classify(path: &Path, file: &SourceFile) -> FileKind {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.contains("backlog") {
        return FileKind::Backlog;
    }
    let has_tasks = toml_edit::Document::parse(file.text())
        .map(|doc| doc.as_table().contains_key("task"))
        .unwrap_or(false);
    if has_tasks {
        FileKind::Backlog
    } else {
        FileKind::Config
    }
}
