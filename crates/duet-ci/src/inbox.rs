//! The CI inbox `.duet/ci-inbox/<task>/`: where an outside system drops a result for a commit,
//! as JSON (any `*.json`) or JUnit XML (`<sha>.xml`). Files are parsed and checked; a bad one is
//! moved aside to `rejected/` with the reason next to it, never a crash; a good one is consumed
//! (moved to `done/`) only after the caller has stored its result, so a crash loses nothing.
//!
//! JSON format (every field but `summary`, `failing_tests` and `url` required; no others):
//!
//! ```json
//! { "sha": "<the full 40-hex commit id>", "check": "jenkins", "status": "fail",
//!   "summary": "2 tests failed", "failing_tests": ["tests::adds"], "url": "https://ci/42" }
//! ```
//!
//! `status` is `pass` or `fail`. Writers should write a temporary file (a name starting with `.`
//! or ending in `.tmp`, both ignored) and rename it into the folder.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use duet_core::protocol::ci::{CiResult, CiStatus};
use serde::Deserialize;

use crate::report;

/// The inbox folder of a task.
pub fn inbox_dir(duet_dir: &Path, task: &str) -> PathBuf {
    duet_dir.join("ci-inbox").join(task)
}

/// A well-formed result file, not yet consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxFile {
    pub path: PathBuf,
    pub result: CiResult,
}

/// A file that was moved aside, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Where it is now (`rejected/<name>`).
    pub moved_to: PathBuf,
    pub error: InboxError,
}

/// Why a file is not a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct InboxError {
    /// `file` or `file:line:col`.
    pub file: String,
    pub reason: String,
}

/// What one look at the folder found.
#[derive(Debug, Default)]
pub struct Scan {
    pub results: Vec<InboxFile>,
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonResult {
    sha: String,
    check: String,
    status: JsonStatus,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    failing_tests: Vec<String>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum JsonStatus {
    Pass,
    Fail,
}

fn check_sha(sha: &str) -> Result<(), String> {
    let hex = sha
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    if hex && (sha.len() == 40 || sha.len() == 64) {
        Ok(())
    } else {
        Err(format!(
            "`sha` must be a full commit id (40 lowercase hex digits), found `{sha}`"
        ))
    }
}

/// Parses a JSON result file's text.
pub fn parse_json(text: &str, file: &str) -> Result<CiResult, InboxError> {
    let err = |reason: String| InboxError {
        file: file.to_owned(),
        reason,
    };
    let parsed: JsonResult = serde_json::from_str(text).map_err(|e| InboxError {
        file: format!("{file}:{}:{}", e.line(), e.column()),
        reason: strip_position(&e.to_string()),
    })?;
    check_sha(&parsed.sha).map_err(err)?;
    let check = parsed.check.trim();
    if check.is_empty() || check.len() > 100 || check.contains('\n') {
        return Err(err(
            "`check` must be a name of 1 to 100 characters on one line".into(),
        ));
    }
    let status = match parsed.status {
        JsonStatus::Pass => CiStatus::Passed,
        JsonStatus::Fail => CiStatus::Failed { exit_code: None },
    };
    let mut result = CiResult::new(parsed.sha, check, status);
    result.summary = parsed.summary.map(|s| bounded(&s, 1000));
    result.failing_tests = parsed
        .failing_tests
        .iter()
        .take(1000)
        .map(|t| bounded(t, 500))
        .collect();
    result.url = parsed.url;
    Ok(result)
}

/// Parses a JUnit XML file named `<sha>.xml`; the check is the report's name, else `junit`.
pub fn parse_junit(text: &str, file: &str, sha: &str) -> Result<CiResult, InboxError> {
    let err = |reason: String| InboxError {
        file: file.to_owned(),
        reason,
    };
    check_sha(sha).map_err(|_| {
        err(format!(
            "a JUnit file must be named `<full commit id>.xml`, found `{sha}.xml`"
        ))
    })?;
    let junit = report::junit_failing_tests(text)
        .map_err(|e| err(format!("not a JUnit XML report: {e}")))?;
    let status = if junit.failing.is_empty() {
        CiStatus::Passed
    } else {
        CiStatus::Failed { exit_code: None }
    };
    let check = junit
        .name
        .filter(|n| !n.trim().is_empty())
        .map(|n| bounded(n.trim(), 100))
        .unwrap_or_else(|| "junit".into());
    let mut result = CiResult::new(sha, check, status);
    result.summary = Some(format!(
        "{} of {} tests failed",
        junit.failing.len(),
        junit.tests
    ));
    result.failing_tests = junit.failing;
    Ok(result)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// Reads every result file in `dir` (not the ones already consumed or rejected). Bad files are
/// moved to `dir/rejected/` with a `<name>.error` file saying why.
pub fn scan(dir: &Path) -> io::Result<Scan> {
    let mut scan = Scan::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(scan),
        Err(e) => return Err(e),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with(".tmp") {
            continue;
        }
        let parsed = if name.ends_with(".json") {
            read_text(&path, &name).and_then(|t| parse_json(&t, &name))
        } else if let Some(sha) = name.strip_suffix(".xml") {
            read_text(&path, &name).and_then(|t| parse_junit(&t, &name, sha))
        } else {
            Err(InboxError {
                file: name.clone(),
                reason: "not a result file: expected `*.json` or `<sha>.xml`".into(),
            })
        };
        match parsed {
            Ok(result) => scan.results.push(InboxFile { path, result }),
            Err(error) => {
                tracing::warn!(%error, "rejected a CI inbox file");
                let moved_to = set_aside(dir, &path, &name, &error)?;
                scan.rejected.push(Rejected { moved_to, error });
            }
        }
    }
    Ok(scan)
}

/// At most this much of a result file is read.
const MAX_FILE: u64 = 4 * 1024 * 1024;

fn read_text(path: &Path, name: &str) -> Result<String, InboxError> {
    let err = |reason: String| InboxError {
        file: name.to_owned(),
        reason,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| err(format!("failed to read: {e}")))?
        .len();
    if len > MAX_FILE {
        return Err(err(format!("too large ({len} bytes; at most {MAX_FILE})")));
    }
    let bytes = std::fs::read(path).map_err(|e| err(format!("failed to read: {e}")))?;
    String::from_utf8(bytes).map_err(|_| err("not UTF-8 text".into()))
}

fn set_aside(dir: &Path, path: &Path, name: &str, error: &InboxError) -> io::Result<PathBuf> {
    let rejected = dir.join("rejected");
    std::fs::create_dir_all(&rejected)?;
    let to = rejected.join(name);
    std::fs::rename(path, &to)?;
    let note = rejected.join(format!("{name}.error"));
    let tmp = rejected.join(format!(".{name}.error.tmp"));
    std::fs::write(&tmp, format!("{error}\n"))?;
    std::fs::rename(&tmp, &note)?;
    Ok(to)
}

/// Marks a file as consumed (moved to `done/`, atomically): call after its result is stored.
pub fn consume(file: &InboxFile) -> io::Result<PathBuf> {
    let dir = file
        .path
        .parent()
        .ok_or_else(|| io::Error::other("an inbox file has no folder"))?;
    let done = dir.join("done");
    std::fs::create_dir_all(&done)?;
    let name = file
        .path
        .file_name()
        .ok_or_else(|| io::Error::other("an inbox file has no name"))?;
    let to = done.join(name);
    std::fs::rename(&file.path, &to)?;
    Ok(to)
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (moved to {})", self.error, self.moved_to.display())
    }
}
