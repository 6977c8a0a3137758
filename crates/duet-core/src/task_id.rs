//! Task ids and the rules that keep them safe as a git branch component and a folder name.

use std::fmt;

/// Longest accepted id, in characters.
pub const MAX_TASK_ID_LEN: usize = 64;

/// Names that are special to git or to Windows file systems (compared case-insensitively,
/// the Windows device names also with any extension, as Windows treats `nul.txt` like `nul`).
const GIT_RESERVED: &[&str] = &["HEAD", "FETCH_HEAD", "ORIG_HEAD", "MERGE_HEAD", "@"];
const WINDOWS_DEVICES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A validated task id: non-empty, at most 64 ASCII letters, digits, `-`, `_` and `.`, and none
/// of the shapes git or common file systems reject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(String);

/// Why a string is not a valid task id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid task id `{}`: {kind}", printable(id))]
pub struct TaskIdError {
    pub id: String,
    pub kind: TaskIdErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskIdErrorKind {
    #[error("it is empty")]
    Empty,
    #[error("it is {0} characters long, the limit is {MAX_TASK_ID_LEN}")]
    TooLong(usize),
    #[error("it contains a control character")]
    ControlCharacter,
    #[error("it contains whitespace")]
    Whitespace,
    #[error("it contains `{0}`")]
    Forbidden(&'static str),
    #[error("it contains `{0}`, only ASCII letters, digits, `-`, `_` and `.` are allowed")]
    NotAllowed(char),
    #[error("it starts with `{0}`")]
    BadStart(char),
    #[error("it ends with `{0}`")]
    BadEnd(&'static str),
    #[error("`{0}` is a reserved name")]
    Reserved(String),
}

/// `s` with control characters escaped, safe to print in a message.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl TaskId {
    pub fn parse(id: &str) -> Result<TaskId, TaskIdError> {
        check(id)
            .map(|()| TaskId(id.to_owned()))
            .map_err(|kind| TaskIdError {
                id: id.to_owned(),
                kind,
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks one path component (of a task id or a branch prefix) against the rules.
pub fn check_component(component: &str) -> Result<(), TaskIdErrorKind> {
    check(component)
}

fn check(id: &str) -> Result<(), TaskIdErrorKind> {
    use TaskIdErrorKind as K;
    if id.is_empty() {
        return Err(K::Empty);
    }
    let len = id.chars().count();
    if len > MAX_TASK_ID_LEN {
        return Err(K::TooLong(len));
    }
    if id.chars().any(char::is_control) {
        return Err(K::ControlCharacter);
    }
    if id.chars().any(char::is_whitespace) {
        return Err(K::Whitespace);
    }
    let upper = id.to_ascii_uppercase();
    if id == "." || id == ".." || GIT_RESERVED.contains(&upper.as_str()) {
        return Err(K::Reserved(id.to_owned()));
    }
    let stem = upper.split('.').next().unwrap_or("");
    if WINDOWS_DEVICES.contains(&stem) {
        return Err(K::Reserved(id.to_owned()));
    }
    // Reasons git gives, checked before the general allow-list so the message says why.
    for forbidden in ["..", "@{", "/", "\\", "~", "^", ":", "?", "*", "[", "]"] {
        if id.contains(forbidden) {
            return Err(K::Forbidden(forbidden));
        }
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(K::NotAllowed(c));
    }
    if let Some(c @ ('-' | '.')) = id.chars().next() {
        return Err(K::BadStart(c));
    }
    if id.ends_with(".lock") {
        return Err(K::BadEnd(".lock"));
    }
    if id.ends_with('.') {
        return Err(K::BadEnd("."));
    }
    Ok(())
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TaskId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for TaskId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for TaskId {
    type Err = TaskIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskId::parse(s)
    }
}

impl TryFrom<String> for TaskId {
    type Error = TaskIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TaskId::parse(&s)
    }
}

impl serde::Serialize for TaskId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TaskId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        TaskId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(id: &str) -> String {
        TaskId::parse(id).unwrap_err().to_string()
    }

    #[test]
    fn accepts_ordinary_ids() {
        for id in [
            "fix-login",
            "a",
            "task_2",
            "v1.2",
            "A.b-c_d",
            &"x".repeat(64),
        ] {
            assert_eq!(TaskId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn rejects_each_unsafe_shape_with_its_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "invalid task id ``: it is empty"),
            ("a..b", "invalid task id `a..b`: it contains `..`"),
            ("a/b", "invalid task id `a/b`: it contains `/`"),
            ("a\\b", "invalid task id `a\\b`: it contains `\\`"),
            ("a b", "invalid task id `a b`: it contains whitespace"),
            ("-a", "invalid task id `-a`: it starts with `-`"),
            (".a", "invalid task id `.a`: it starts with `.`"),
            ("a.", "invalid task id `a.`: it ends with `.`"),
            ("a.lock", "invalid task id `a.lock`: it ends with `.lock`"),
            (
                "a\u{7}b",
                "invalid task id `a\\u{7}b`: it contains a control character",
            ),
            ("a~1", "invalid task id `a~1`: it contains `~`"),
            ("a^", "invalid task id `a^`: it contains `^`"),
            ("a:b", "invalid task id `a:b`: it contains `:`"),
            ("a?", "invalid task id `a?`: it contains `?`"),
            ("a*", "invalid task id `a*`: it contains `*`"),
            ("a[b", "invalid task id `a[b`: it contains `[`"),
            ("a@{b", "invalid task id `a@{b`: it contains `@{`"),
            (
                "é",
                "invalid task id `é`: it contains `é`, only ASCII letters, digits, `-`, `_` and `.` are allowed",
            ),
            (
                "a#b",
                "invalid task id `a#b`: it contains `#`, only ASCII letters, digits, `-`, `_` and `.` are allowed",
            ),
            ("HEAD", "invalid task id `HEAD`: `HEAD` is a reserved name"),
            ("head", "invalid task id `head`: `head` is a reserved name"),
            ("@", "invalid task id `@`: `@` is a reserved name"),
            (".", "invalid task id `.`: `.` is a reserved name"),
            ("..", "invalid task id `..`: `..` is a reserved name"),
            ("CON", "invalid task id `CON`: `CON` is a reserved name"),
            ("nul", "invalid task id `nul`: `nul` is a reserved name"),
            (
                "com1.txt",
                "invalid task id `com1.txt`: `com1.txt` is a reserved name",
            ),
            ("LPT9", "invalid task id `LPT9`: `LPT9` is a reserved name"),
        ];
        for (id, expected) in cases {
            assert_eq!(&reason(id), expected, "for id {id:?}");
        }
    }

    #[test]
    fn rejects_ids_over_64_characters() {
        let long = "x".repeat(65);
        assert_eq!(
            TaskId::parse(&long).unwrap_err().kind,
            TaskIdErrorKind::TooLong(65)
        );
    }

    #[test]
    fn near_reserved_names_are_fine() {
        for id in ["console", "nul1", "com10", "heads", "lockstep", "a.locked"] {
            assert!(TaskId::parse(id).is_ok(), "{id} should be accepted");
        }
    }

    #[test]
    fn deserializes_only_valid_ids() {
        let ok: TaskId = serde_json::from_str("\"fix-login\"").unwrap();
        assert_eq!(ok.as_str(), "fix-login");
        assert!(serde_json::from_str::<TaskId>("\"a/b\"").is_err());
    }
}
