//! The gates' settings: the TDD gate in `[review]` (`tdd`, `test_command`, `test_files`) and the
//! scope guard (`[scope]`: `max_files`, `max_lines`), with their checked reading; the backlog's
//! per-task overrides (`tdd`, `scope`, `proof = { command = ... }`) are read with the same helpers.

use std::num::NonZeroU32;

use toml_edit::TableLike;

use super::reader::Reader;

/// The test files of a task when `review.test_files` is not set (see [`matches_glob`]).
pub const DEFAULT_TEST_FILES: &[&str] = &[
    "tests/**",
    "test/**",
    "**/tests/**",
    "**/*_test.*",
    "**/*_tests.*",
    "**/test_*.py",
    "**/*.test.*",
    "**/*.spec.*",
];

/// The TDD gate's settings (`[review]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TddConfig {
    /// Every task's tests must fail on the base and pass on HEAD (a task may override).
    pub enabled: bool,
    /// What runs the tests; `None`: `ci.command`.
    pub test_command: Option<String>,
    /// Globs (relative to the repository root) naming the test files.
    pub test_files: Vec<String>,
}

impl Default for TddConfig {
    fn default() -> Self {
        TddConfig {
            enabled: false,
            test_command: None,
            test_files: DEFAULT_TEST_FILES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// The scope guard's budget: a branch's diff against its base larger than this is flagged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeConfig {
    /// Files changed; `None`: no limit.
    pub max_files: Option<NonZeroU32>,
    /// Lines added plus lines removed; `None`: no limit.
    pub max_lines: Option<NonZeroU32>,
}

impl ScopeConfig {
    /// `over` with the limits `over` sets replacing these (a task's override).
    pub fn overridden_by(self, over: Option<ScopeConfig>) -> ScopeConfig {
        match over {
            None => self,
            Some(o) => ScopeConfig {
                max_files: o.max_files.or(self.max_files),
                max_lines: o.max_lines.or(self.max_lines),
            },
        }
    }
}

pub(crate) const SCOPE_KEYS: &[&str] = &["max_files", "max_lines"];

/// Reads `tdd`, `test_command` and `test_files` of `[review]` (the keys are checked by the caller).
pub(crate) fn read_review_gates(r: &mut Reader, review: &dyn TableLike, tdd: &mut TddConfig) {
    if let Some(on) = r.bool(review, "tdd", "review.tdd") {
        tdd.enabled = on;
    }
    if let Some(command) = r.non_empty_string(review, "test_command", "review.test_command") {
        tdd.test_command = Some(command.value);
    }
    if let Some(globs) = r.string_array(review, "test_files", "review.test_files") {
        tdd.test_files = globs.into_iter().map(|g| g.value).collect();
    }
}

/// Reads a scope table (`[scope]`, or a task's `scope = { ... }`), checking its keys.
pub(crate) fn read_scope(r: &mut Reader, scope: &dyn TableLike, name: &str) -> ScopeConfig {
    r.check_keys(scope, name, SCOPE_KEYS);
    ScopeConfig {
        max_files: r.positive(scope, "max_files", &format!("{name}.max_files")),
        max_lines: r.positive(scope, "max_lines", &format!("{name}.max_lines")),
    }
}

/// A task's `proof`: prose for the agents, or a command duet runs itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofSpec {
    Text(String),
    Command(String),
}

/// Reads a task's `proof` (a string, or a table with one `command`).
pub(crate) fn read_proof(r: &mut Reader, t: &dyn TableLike) -> Option<ProofSpec> {
    let item = t.get("proof")?;
    if item.as_str().is_some() {
        return r
            .non_empty_string(t, "proof", "proof")
            .map(|p| ProofSpec::Text(p.value));
    }
    let Some(table) = item.as_table_like() else {
        r.error(
            item.span(),
            format!(
                "`proof` must be a string or a table, found {}",
                super::reader::describe(item)
            ),
            "expected text or { command = \"...\" }",
            Some(
                "write `proof = \"how to show it works\"` or `proof = { command = \"make test\" }`"
                    .to_owned(),
            ),
        );
        return None;
    };
    r.check_keys(table, "proof", &["command"]);
    if !table.contains_key("command") {
        r.error(
            item.span(),
            "`proof` table has no `command`",
            "missing command",
            Some("write `proof = { command = \"make test\" }`".to_owned()),
        );
        return None;
    }
    r.non_empty_string(table, "command", "proof.command")
        .map(|c| ProofSpec::Command(c.value))
}

/// Reads a task's `scope = { ... }` override; `None` when absent (or not a table: reported).
pub(crate) fn read_task_scope(r: &mut Reader, t: &dyn TableLike) -> Option<ScopeConfig> {
    let table = r.table(t, "scope", "scope")?;
    Some(read_scope(r, table, "scope"))
}

/// Whether `path` (relative, `/`-separated) matches `glob`: `**` is any number of path
/// components, `*` any run of characters within one, `?` one character.
pub fn matches_glob(glob: &str, path: &str) -> bool {
    let pattern: Vec<&str> = glob.split('/').filter(|s| !s.is_empty()).collect();
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match_parts(&pattern, &parts)
}

fn match_parts(pattern: &[&str], parts: &[&str]) -> bool {
    match pattern.split_first() {
        None => parts.is_empty(),
        Some((&"**", rest)) => (0..=parts.len()).any(|skip| match_parts(rest, &parts[skip..])),
        Some((first, rest)) => parts.split_first().is_some_and(|(part, tail)| {
            match_component(first.as_bytes(), part.as_bytes()) && match_parts(rest, tail)
        }),
    }
}

fn match_component(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|skip| match_component(rest, &s[skip..])),
        Some((b'?', rest)) => !s.is_empty() && match_component(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && match_component(rest, &s[1..]),
    }
}

/// Whether `path` is a test file under `globs`.
pub fn is_test_file(globs: &[String], path: &str) -> bool {
    globs.iter().any(|g| matches_glob(g, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_components_and_any_depth() {
        let defaults: Vec<String> = DEFAULT_TEST_FILES.iter().map(|s| (*s).to_owned()).collect();
        for yes in [
            "tests/words.rs",
            "tests/deep/a.txt",
            "crates/x/tests/it.rs",
            "pkg/words_test.go",
            "words_test.py",
            "src/test_words.py",
            "web/a.test.ts",
        ] {
            assert!(is_test_file(&defaults, yes), "{yes}");
        }
        for no in [
            "src/words.rs",
            "testsuite.rs",
            "src/latest/x.rs",
            "contest.py",
            "README.md",
        ] {
            assert!(!is_test_file(&defaults, no), "{no}");
        }
        assert!(matches_glob("src/*.rs", "src/a.rs"));
        assert!(!matches_glob("src/*.rs", "src/a/b.rs"));
        assert!(matches_glob("a?c", "abc"));
    }

    #[test]
    fn a_task_override_replaces_only_the_limits_it_sets() {
        let n = |v| NonZeroU32::new(v);
        let config = ScopeConfig {
            max_files: n(10),
            max_lines: n(500),
        };
        let task = ScopeConfig {
            max_files: None,
            max_lines: n(50),
        };
        assert_eq!(
            config.overridden_by(Some(task)),
            ScopeConfig {
                max_files: n(10),
                max_lines: n(50)
            }
        );
        assert_eq!(config.overridden_by(None), config);
    }

    #[test]
    fn a_backlog_task_reads_its_proof_command_tdd_and_scope() {
        let config = crate::config::Config::default();
        let src = "[[task]]\nid = \"a\"\nprompt = \"p\"\nproof = { command = \"make proof\" }\ntdd = true\nplan = true\nscope = { max_lines = 7 }\n\n[[task]]\nid = \"b\"\nprompt = \"p\"\nproof = \"prose\"\n";
        let backlog = crate::backlog::Backlog::from_toml_str(
            src,
            "backlog.toml",
            &config,
            std::path::Path::new("."),
        )
        .unwrap();
        let a = backlog.get("a").unwrap();
        assert_eq!(a.proof_command.as_deref(), Some("make proof"));
        assert!(a.proof.as_deref().unwrap().contains("`make proof`"));
        assert!(a.tdd(&config));
        assert!(
            a.plan(&config),
            "the task's plan = true wins over review.plan = false"
        );
        assert_eq!(a.scope(&config).max_lines, NonZeroU32::new(7));
        let b = backlog.get("b").unwrap();
        assert_eq!(
            (b.proof.as_deref(), b.proof_command.as_deref()),
            (Some("prose"), None)
        );
        assert!(!b.tdd(&config), "review.tdd is off by default");
        assert!(!b.plan(&config), "review.plan is off by default");
        assert_eq!(
            config.review.tdd.test_files,
            TddConfig::default().test_files,
            "duet.toml lists the same defaults"
        );
    }
}
