//! The handoff report's edges: its inputs gathered from the store and git, and the file
//! `.duet/reports/<task>.md` written whole (temp file + rename) when a task finishes (the
//! [`Reporter`] watches the status feed's changes and writes off the loop).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use duet_core::backlog::{Backlog, Task};
use duet_core::config::Config;
use duet_core::lifecycle::StateKind;
use duet_proto::status::StatusChange;
use duet_store::{EventFilter, Store, StoreError};

use crate::report::{BranchCommit, FileChange, HandoffReport, ReportInput, build, render_markdown};

/// Where finished tasks' reports are kept, relative to the repository root.
pub const REPORTS_RELATIVE_DIR: &str = ".duet/reports";

/// How far back on the base a landed task's commits are looked for.
const LANDED_SEARCH_LIMIT: usize = 500;

/// The report of `task` as the store and git know it now.
pub fn gather(
    repo_root: &Path,
    store: &Store,
    config: &Config,
    task: &Task,
) -> Result<HandoffReport, StoreError> {
    let events = store.events(&EventFilter::all().task(task.id.as_str()))?;
    let branch = config.task_branch(&task.id);
    let base = task.base_branch(config).to_owned();
    let files = branch_changes(repo_root, &base, &branch)
        .or_else(|| landed_changes(repo_root, &base, task.id.as_str()));
    let commits = branch_commits(repo_root, &base, &branch);
    let input = ReportInput {
        task: task.id.as_str(),
        title: &task.title,
        branch: &branch,
        base: &base,
        files,
        commits,
        pricing: &config.pricing,
    };
    let mut report = build(input, &events);
    // The proof gate's output, from its log (its end: a proof's verdict is at the bottom).
    for run in &mut report.ci_runs {
        if run.check == duet_core::protocol::gates::PROOF_CHECK
            && let Some(path) = &run.log_path
            && let Ok(bytes) = std::fs::read(path)
        {
            let text = String::from_utf8_lossy(&bytes);
            let mut start = text.len().saturating_sub(PROOF_OUTPUT_BYTES);
            while !text.is_char_boundary(start) {
                start += 1;
            }
            run.output = Some(text[start..].to_owned());
        }
    }
    Ok(report)
}

/// Whether a task in `state` has finished, and so has a report (done, ready, merged, failed,
/// cancelled); a task still in the works has none yet.
pub fn has_report(state: StateKind) -> bool {
    matches!(
        state,
        StateKind::Done
            | StateKind::Ready
            | StateKind::Merged
            | StateKind::Failed
            | StateKind::Cancelled
    )
}

/// Why a task has no report to show (the dashboard's and the socket's words).
pub fn no_report_yet(task: &str, state: Option<StateKind>) -> String {
    match state {
        Some(state) => format!(
            "task `{task}` has no report yet: it is {state}; its report is built when it \
             finishes (done, ready, merged, failed or cancelled)"
        ),
        None => format!("task `{task}` has no report yet: it has not run"),
    }
}

/// The report of a finished `task` as Markdown (what `duet report` prints), or
/// [`no_report_yet`]'s words when it has not finished.
pub fn finished_markdown(
    repo_root: &Path,
    store: &Store,
    config: &Config,
    task: &Task,
) -> Result<Result<String, String>, StoreError> {
    let state = store.task(task.id.as_str())?.map(|row| row.state);
    if !state.is_some_and(has_report) {
        return Ok(Err(no_report_yet(task.id.as_str(), state)));
    }
    gather(repo_root, store, config, task).map(|report| Ok(render_markdown(&report)))
}

/// At most this much of a proof's output goes into the report.
const PROOF_OUTPUT_BYTES: usize = 4000;

/// The report's path for `task`.
pub fn report_path(repo_root: &Path, task: &str) -> PathBuf {
    repo_root
        .join(REPORTS_RELATIVE_DIR)
        .join(format!("{task}.md"))
}

/// Writes the task's report (Markdown) whole: a reader never sees half a file.
pub fn write(repo_root: &Path, report: &HandoffReport) -> std::io::Result<PathBuf> {
    let path = report_path(repo_root, &report.task);
    let dir = path.parent().expect("reports have a folder");
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(".{}.md.{}", report.task, std::process::id()));
    std::fs::write(&temp, render_markdown(report))?;
    std::fs::rename(&temp, &path)?;
    Ok(path)
}

/// Removes the temp files of reports whose writer was killed before its rename
/// (`.<task>.md.<pid>`). Only the engine writes reports and one engine runs per repository
/// (its lock), so every temp file found when its reporter starts is a dead writer's.
fn sweep_temp_files(repo_root: &Path) {
    let Ok(entries) = std::fs::read_dir(repo_root.join(REPORTS_RELATIVE_DIR)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_temp = name.starts_with('.')
            && name
                .rsplit_once(".md.")
                .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if is_temp {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!("removed {name}, a report a killed engine left half-written")
                }
                Err(err) => tracing::warn!("failed to remove {name}: {err}"),
            }
        }
    }
}

/// Writes a task's report each time it finishes (done, ready, merged, failed, cancelled), in
/// order, on one thread of its own (it ends when the reporter is dropped): git and the store's
/// read must not hold up the loop, and a task's later report must not be overwritten by an
/// earlier one. Dropping it waits for the reports queued so far: an engine that ends (`duet
/// pair` once its task is done) leaves every finished task's report written.
#[derive(Debug)]
pub struct Reporter {
    states: HashMap<String, StateKind>,
    /// The first look only learns the states: a restarted engine does not rewrite every report.
    seeded: bool,
    jobs: Option<std::sync::mpsc::Sender<(Task, Config)>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Reporter {
    pub fn new(repo_root: &Path) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<(Task, Config)>();
        let root = repo_root.to_path_buf();
        let writer = std::thread::spawn(move || {
            sweep_temp_files(&root);
            for (task, config) in queue {
                let id = task.id.to_string();
                let db = root.join(duet_store::STATE_DB_RELATIVE_PATH);
                let written = Store::open_read_only(db)
                    .map_err(|e| e.to_string())
                    .and_then(|store| {
                        gather(&root, &store, &config, &task).map_err(|e| e.to_string())
                    })
                    .and_then(|report| write(&root, &report).map_err(|e| e.to_string()));
                match written {
                    Ok(path) => tracing::info!("task {id}: report written to {}", path.display()),
                    Err(err) => tracing::warn!("task {id}: failed to write its report: {err}"),
                }
            }
        });
        Reporter {
            states: HashMap::new(),
            seeded: false,
            jobs: Some(jobs),
            writer: Some(writer),
        }
    }

    /// The tasks that these (task, new state) changes finished (pure: nothing is written).
    pub fn finished<'a>(
        &mut self,
        changes: impl IntoIterator<Item = (&'a str, StateKind)>,
    ) -> Vec<String> {
        let mut finished = Vec::new();
        for (id, state) in changes {
            let was = self.states.insert(id.to_owned(), state);
            if self.seeded && has_report(state) && was != Some(state) {
                finished.push(id.to_owned());
            }
        }
        self.seeded = true;
        finished
    }

    /// Queues the reports of the tasks these changes finished for the writer thread.
    pub fn on_changes(&mut self, changes: &[StatusChange], backlog: &Backlog, config: &Config) {
        let states = changes
            .iter()
            .filter_map(|c| c.task.as_ref().map(|t| (c.id.as_str(), t.state)));
        for id in self.finished(states) {
            if let (Some(task), Some(jobs)) = (backlog.get(&id), &self.jobs) {
                // The thread only ends with the reporter; a send cannot fail before.
                let _ = jobs.send((task.clone(), config.clone()));
            }
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        // Closing the queue ends the writer once it has written what was queued.
        self.jobs.take();
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::warn!("the report writer panicked");
        }
    }
}

/// What the task branch changes against where it left the base (`base...branch`); `None` when
/// the branch is gone or git cannot say.
fn branch_changes(repo_root: &Path, base: &str, branch: &str) -> Option<Vec<FileChange>> {
    numstat(repo_root, &format!("{base}...refs/heads/{branch}"))
}

/// What the merge queue landed for a task whose branch is gone: from the parent of its oldest
/// landed commit to its newest.
fn landed_changes(repo_root: &Path, base: &str, task: &str) -> Option<Vec<FileChange>> {
    let repo = duet_git::Repo::discover(repo_root).ok()?;
    let landed = duet_git::land::landed_commits(&repo, base, task, LANDED_SEARCH_LIMIT).ok()?;
    let (newest, oldest) = (landed.first()?, landed.last()?);
    numstat(repo_root, &format!("{oldest}^..{newest}"))
}

/// The task branch's commits since the base, oldest first, with the files each changed (empty
/// when the branch is gone or git cannot say).
fn branch_commits(repo_root: &Path, base: &str, branch: &str) -> Vec<BranchCommit> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo_root)
        .args(["log", "--reverse", "--no-renames", "--name-only", "-z"])
        .arg("--format=%x01%H")
        .arg(format!("{base}..refs/heads/{branch}"))
        .arg("--")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match output {
        Ok(output) if output.status.success() => {
            parse_commits(&String::from_utf8_lossy(&output.stdout))
        }
        _ => Vec::new(),
    }
}

/// `\x01<sha>\n<file>\0<file>\0...` records (`git log --name-only -z --format=%x01%H`).
fn parse_commits(text: &str) -> Vec<BranchCommit> {
    text.split('\x01')
        .filter_map(|record| {
            let (sha, files) = record.split_once('\n').unwrap_or((record, ""));
            let sha = sha.trim_matches('\0').trim();
            (!sha.is_empty()).then(|| BranchCommit {
                sha: sha.to_owned(),
                files: files
                    .split('\0')
                    .map(|f| f.trim_start_matches('\n'))
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        })
        .collect()
}

fn numstat(repo_root: &Path, range: &str) -> Option<Vec<FileChange>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo_root)
        .args(["diff", "--numstat", "-z", "--no-renames", range, "--"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(parse_numstat(&String::from_utf8_lossy(&output.stdout)))
}

/// `added\tremoved\tpath\0` records; `-` counts mean a binary file.
fn parse_numstat(text: &str) -> Vec<FileChange> {
    text.split('\0')
        .filter(|record| !record.is_empty())
        .filter_map(|record| {
            let mut fields = record.splitn(3, '\t');
            let added = fields.next()?.parse().ok();
            let removed = fields.next()?.parse().ok();
            let path = fields.next()?.trim_start_matches('\n').to_owned();
            Some(FileChange {
                path,
                added,
                removed,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_due_once_per_finish_and_not_for_what_the_first_look_finds() {
        let dir = tempfile::tempdir().unwrap();
        let mut reporter = Reporter::new(dir.path());
        // A restarted engine: what is finished already is not written again.
        assert!(
            reporter
                .finished([("a", StateKind::Done), ("b", StateKind::Working)])
                .is_empty()
        );
        assert_eq!(reporter.finished([("b", StateKind::Done)]), ["b"]);
        // The same state again (a status change of another field): not again.
        assert!(reporter.finished([("b", StateKind::Done)]).is_empty());
        assert_eq!(
            reporter.finished([("a", StateKind::Merging), ("b", StateKind::Merged)]),
            ["b"]
        );
        assert_eq!(reporter.finished([("a", StateKind::Merged)]), ["a"]);
        assert!(reporter.finished([("c", StateKind::NeedsHuman)]).is_empty());
    }

    #[test]
    fn a_starting_reporter_removes_temp_files_a_killed_writer_left() {
        let dir = tempfile::tempdir().unwrap();
        let reports = dir.path().join(REPORTS_RELATIVE_DIR);
        std::fs::create_dir_all(&reports).unwrap();
        std::fs::write(reports.join(".t1.md.4242"), "half a rep").unwrap();
        std::fs::write(reports.join("t1.md"), "# t1").unwrap();
        std::fs::write(reports.join(".notes.md.draft"), "the user's").unwrap();
        sweep_temp_files(dir.path());
        let mut left: Vec<_> = std::fs::read_dir(&reports)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [".notes.md.draft", "t1.md"]);
    }

    #[test]
    fn commit_records_with_their_files_and_an_empty_commit() {
        // What `git log --reverse --no-renames --name-only -z --format=%x01%H` prints.
        let commits =
            parse_commits("\u{1}aaa\u{0}\na\u{0}b c\u{0}\u{1}bbb\u{0}\u{1}ccc\u{0}\nd\u{0}");
        let files: Vec<(&str, Vec<&str>)> = commits
            .iter()
            .map(|c| (c.sha.as_str(), c.files.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            files,
            [
                ("aaa", vec!["a", "b c"]),
                ("bbb", vec![]),
                ("ccc", vec!["d"])
            ]
        );
    }

    #[test]
    fn numstat_records_with_binary_files_and_tabs_in_names() {
        let files = parse_numstat("3\t1\tsrc/lib.rs\u{0}-\t-\tlogo.png\u{0}1\t0\ta\tb.txt\u{0}");
        assert_eq!(
            files,
            [
                FileChange {
                    path: "src/lib.rs".into(),
                    added: Some(3),
                    removed: Some(1)
                },
                FileChange {
                    path: "logo.png".into(),
                    added: None,
                    removed: None
                },
                FileChange {
                    path: "a\tb.txt".into(),
                    added: Some(1),
                    removed: Some(0)
                },
            ]
        );
    }
}
