//! What a CI log says: the failing tests (from a JUnit XML report, else recognised in cargo test,
//! nextest, pytest and jest output) and a bounded excerpt around the first error.

use std::sync::LazyLock;

use regex::Regex;

/// An excerpt holds at most this many lines...
pub const EXCERPT_MAX_LINES: usize = 40;
/// ...and at most this many bytes.
pub const EXCERPT_MAX_BYTES: usize = 4096;
/// Lines of context shown before the first error.
const CONTEXT_BEFORE: usize = 5;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid built-in pattern")
}

static ANSI: LazyLock<Regex> = LazyLock::new(|| re(r"\x1b\[[0-9;?]*[ -/]*[@-~]"));
static CARGO: LazyLock<Regex> = LazyLock::new(|| re(r"^test (\S+) \.\.\. FAILED\s*$"));
static NEXTEST: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^\s*(?:FAIL|SIGSEGV|SIGABRT|SIGKILL|TIMEOUT|LEAK-FAIL)\s+\[[^\]]*\]\s+(?:\(\s*\d+/\d+\)\s+)?(\S+)\s+(\S+)\s*$",
    )
});
static PYTEST_SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:FAILED|ERROR) (\S+::\S+?)(?: - .*)?\s*$"));
static PYTEST_VERBOSE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(\S+::\S+) (?:FAILED|ERROR)(?:\s.*)?$"));
static JEST: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*● (.+ › .+?)\s*$"));
static FIRST_ERROR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(^error(\[|:)|\berror:|panicked at|\.\.\. FAILED|^\s*FAIL\b|^FAILED |^E\s{2,}|Traceback \(most recent call last\)|^\s*● |AssertionError|not found)",
    )
});

/// The log with terminal colour codes removed (tools colour their output even into files).
pub fn strip_ansi(text: &str) -> String {
    ANSI.replace_all(text, "").into_owned()
}

/// Failing tests recognised in the output of cargo test, nextest, pytest or jest, in order,
/// each once.
pub fn failing_tests_from_output(log: &str) -> Vec<String> {
    let log = strip_ansi(log);
    let mut found: Vec<String> = Vec::new();
    let mut push = |name: &str| {
        if !found.iter().any(|f| f == name) {
            found.push(name.to_owned());
        }
    };
    for line in log.lines() {
        if let Some(c) = CARGO.captures(line) {
            push(&c[1]);
        } else if let Some(c) = NEXTEST.captures(line) {
            push(&c[2]);
        } else if let Some(c) = PYTEST_SUMMARY.captures(line) {
            push(&c[1]);
        } else if let Some(c) = PYTEST_VERBOSE.captures(line) {
            push(&c[1]);
        } else if let Some(c) = JEST.captures(line) {
            push(&c[1]);
        }
    }
    found
}

/// Failing tests of a JUnit XML report (`<testcase>` with `<failure>` or `<error>`), named
/// `classname::name` (or `name` alone when there is no class). Err: why it is not JUnit XML.
pub fn junit_failing_tests(xml: &str) -> Result<JunitSummary, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    if !matches!(root.tag_name().name(), "testsuites" | "testsuite") {
        return Err(format!(
            "the root element is <{}>, expected <testsuites> or <testsuite>",
            root.tag_name().name()
        ));
    }
    let mut summary = JunitSummary {
        name: root.attribute("name").map(str::to_owned),
        tests: 0,
        failing: Vec::new(),
    };
    for case in root.descendants().filter(|n| n.has_tag_name("testcase")) {
        summary.tests += 1;
        let failed = case
            .children()
            .any(|c| c.has_tag_name("failure") || c.has_tag_name("error"));
        if failed {
            let name = case.attribute("name").unwrap_or("(unnamed)");
            let full = match case.attribute("classname").filter(|c| !c.is_empty()) {
                Some(class) => format!("{class}::{name}"),
                None => name.to_owned(),
            };
            if !summary.failing.contains(&full) {
                summary.failing.push(full);
            }
        }
    }
    Ok(summary)
}

/// What a JUnit report says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JunitSummary {
    /// The `name` attribute of the root element.
    pub name: Option<String>,
    pub tests: usize,
    pub failing: Vec<String>,
}

/// A bounded excerpt of `log` around its first error: a few lines before it, then up to
/// [`EXCERPT_MAX_LINES`] lines and [`EXCERPT_MAX_BYTES`] bytes; the log's tail when no line
/// looks like an error.
pub fn excerpt(log: &str) -> String {
    excerpt_bounded(log, EXCERPT_MAX_LINES, EXCERPT_MAX_BYTES)
}

pub fn excerpt_bounded(log: &str, max_lines: usize, max_bytes: usize) -> String {
    let log = strip_ansi(log);
    let lines: Vec<&str> = log.lines().collect();
    let start = match lines.iter().position(|l| FIRST_ERROR.is_match(l)) {
        Some(i) => i.saturating_sub(CONTEXT_BEFORE),
        None => lines.len().saturating_sub(max_lines),
    };
    let mut out = String::new();
    for line in lines.iter().skip(start).take(max_lines) {
        if out.len() + line.len() + 1 > max_bytes {
            let room = max_bytes.saturating_sub(out.len() + 1);
            let mut cut = room.min(line.len());
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push_str(&line[..cut]);
            out.push('\n');
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_test_output() {
        let log = "running 3 tests\ntest tests::adds ... ok\ntest tests::subs ... FAILED\ntest b::c ... FAILED\n\nfailures:\n\n---- tests::subs stdout ----\nthread 'tests::subs' panicked at src/lib.rs:9:5:\nassertion failed\n\nfailures:\n    tests::subs\n    b::c\n\ntest result: FAILED. 1 passed; 2 failed\n";
        assert_eq!(failing_tests_from_output(log), vec!["tests::subs", "b::c"]);
        let ex = excerpt(log);
        assert!(
            ex.starts_with("running 3 tests\ntest tests::adds ... ok\ntest tests::subs ... FAILED"),
            "{ex}"
        );
    }

    #[test]
    fn nextest_output_with_colours_and_retries() {
        let log = "\x1b[32m        PASS\x1b[0m [   0.004s] (1/3) mycrate::it works\n        TRY 1 FAIL [   0.01s] (2/3) mycrate::it flaky\n        FAIL [   0.003s] (3/3) mycrate tests::it_fails\n     Summary [   0.02s] 3 tests run: 1 passed, 1 failed\n        FAIL [   0.003s] (3/3) mycrate tests::it_fails\n     SIGSEGV [   0.1s] (4/4) other::bin crash::now\n";
        assert_eq!(
            failing_tests_from_output(log),
            vec!["tests::it_fails", "crash::now"]
        );
    }

    #[test]
    fn pytest_output() {
        let log = "tests/test_x.py::test_ok PASSED\ntests/test_x.py::test_add FAILED                [ 50%]\n=== short test summary info ===\nFAILED tests/test_x.py::test_add - assert 1 == 2\nERROR tests/test_y.py::test_db - ConnectionError\n";
        assert_eq!(
            failing_tests_from_output(log),
            vec!["tests/test_x.py::test_add", "tests/test_y.py::test_db"]
        );
    }

    #[test]
    fn jest_output() {
        let log = " FAIL  src/sum.test.js\n  ● sum › adds 1 + 2 to equal 3\n\n    expect(received).toBe(expected)\n\n  ● Test suite failed to run\n";
        assert_eq!(
            failing_tests_from_output(log),
            vec!["sum › adds 1 + 2 to equal 3"]
        );
    }

    #[test]
    fn junit_report() {
        let xml = r#"<?xml version="1.0"?><testsuites name="nextest-run"><testsuite name="a"><testcase classname="mycrate" name="ok"/><testcase classname="mycrate" name="bad"><failure message="x"/></testcase><testcase name="err"><error/></testcase></testsuite></testsuites>"#;
        let s = junit_failing_tests(xml).unwrap();
        assert_eq!(s.failing, vec!["mycrate::bad", "err"]);
        assert_eq!(s.tests, 3);
        assert_eq!(s.name.as_deref(), Some("nextest-run"));
        assert!(
            junit_failing_tests("<html/>")
                .unwrap_err()
                .contains("<html>")
        );
        assert!(junit_failing_tests("<testsuites>").is_err());
    }

    #[test]
    fn excerpt_is_bounded_and_starts_near_the_first_error() {
        let mut log = String::new();
        for i in 0..1000 {
            log.push_str(&format!("compiling part {i}\n"));
        }
        log.push_str("error[E0308]: mismatched types\n");
        for i in 0..1000 {
            log.push_str(&format!("  detail {i} {}\n", "x".repeat(200)));
        }
        let ex = excerpt(&log);
        assert!(ex.lines().count() <= EXCERPT_MAX_LINES);
        assert!(ex.len() <= EXCERPT_MAX_BYTES, "{}", ex.len());
        assert!(ex.starts_with("compiling part 995\n"), "{ex}");
        assert!(ex.contains("error[E0308]"));
        // No error line: the tail.
        let tail = excerpt("a\nb\nc\n");
        assert_eq!(tail, "a\nb\nc\n");
        // Multi-byte text is cut on a character boundary.
        let wide = format!("error: {}\n", "é".repeat(5000));
        assert!(excerpt(&wide).len() <= EXCERPT_MAX_BYTES);
    }
}
