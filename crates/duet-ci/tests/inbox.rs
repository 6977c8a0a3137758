//! The CI inbox on a real folder: JSON and JUnit results parsed, bad files moved aside with a
//! clear reason (never a crash), consumed only when asked.

use duet_ci::inbox::{consume, inbox_dir, parse_json, scan};
use duet_core::protocol::ci::CiStatus;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn json_and_junit_results_are_read_and_consumed_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = inbox_dir(dir.path(), "t1");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(
        inbox.join("jenkins-42.json"),
        format!(r#"{{"sha":"{SHA}","check":"jenkins","status":"fail","summary":"2 failed","failing_tests":["a::b"],"url":"https://ci.example.invalid/42"}}"#),
    )
    .unwrap();
    std::fs::write(
        inbox.join(format!("{SHA}.xml")),
        r#"<testsuites name="nightly"><testcase name="ok"/></testsuites>"#,
    )
    .unwrap();
    std::fs::write(inbox.join(".half-written.json"), "{").unwrap();
    std::fs::write(inbox.join("x.json.tmp"), "{").unwrap();
    let found = scan(&inbox).unwrap();
    assert!(found.rejected.is_empty(), "{:?}", found.rejected);
    assert_eq!(found.results.len(), 2);
    let junit = &found.results[0].result;
    assert_eq!(
        (junit.check.as_str(), &junit.status),
        ("nightly", &CiStatus::Passed)
    );
    let json = &found.results[1].result;
    assert_eq!(json.check, "jenkins");
    assert_eq!(json.status, CiStatus::Failed { exit_code: None });
    assert_eq!(json.failing_tests, vec!["a::b"]);
    assert_eq!(json.url.as_deref(), Some("https://ci.example.invalid/42"));
    // Not consumed yet: a crash before storing reads them again.
    assert_eq!(scan(&inbox).unwrap().results.len(), 2);
    for file in &found.results {
        consume(file).unwrap();
    }
    assert!(scan(&inbox).unwrap().results.is_empty());
    assert!(inbox.join("done/jenkins-42.json").exists());
}

#[test]
fn bad_files_are_moved_aside_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = inbox_dir(dir.path(), "t1");
    std::fs::create_dir_all(&inbox).unwrap();
    let cases = [
        (
            "typo.json",
            format!("{{\n  \"sha\": \"{SHA}\",\n  \"check\": \"x\",\n  \"stauts\": \"pass\"\n}}"),
            "typo.json:4:10: unknown field `stauts`, expected one of `sha`, `check`, `status`, `summary`, `failing_tests`, `url`",
        ),
        (
            "short.json",
            r#"{"sha":"abc1234","check":"x","status":"pass"}"#.to_owned(),
            "short.json: `sha` must be a full commit id (40 lowercase hex digits), found `abc1234`",
        ),
        (
            "status.json",
            format!(r#"{{"sha":"{SHA}","check":"x","status":"green"}}"#),
            "status.json:1:78: unknown variant `green`, expected `pass` or `fail`",
        ),
        (
            "nosha.xml",
            "<testsuites/>".to_owned(),
            "nosha.xml: a JUnit file must be named `<full commit id>.xml`, found `nosha.xml`",
        ),
        (
            &format!("{SHA}.xml"),
            "<html></html>".to_owned(),
            &format!(
                "{SHA}.xml: not a JUnit XML report: the root element is <html>, expected <testsuites> or <testsuite>"
            ),
        ),
        (
            "notes.txt",
            "hi".to_owned(),
            "notes.txt: not a result file: expected `*.json` or `<sha>.xml`",
        ),
        (
            "binary.json",
            String::from_utf8_lossy(&[0xff, 0xfe]).into_owned(),
            "binary.json:1:1: expected value",
        ),
    ];
    for (name, content, expected) in &cases {
        std::fs::write(inbox.join(name), content).unwrap();
        let found = scan(&inbox).unwrap();
        assert!(found.results.is_empty(), "{name}");
        assert_eq!(found.rejected.len(), 1, "{name}");
        assert_eq!(found.rejected[0].error.to_string(), *expected, "{name}");
        assert!(!inbox.join(name).exists(), "{name} left in the inbox");
        let reason =
            std::fs::read_to_string(inbox.join("rejected").join(format!("{name}.error"))).unwrap();
        assert_eq!(reason.trim_end(), *expected);
    }
}

#[test]
fn parse_json_needs_the_required_fields() {
    let e = parse_json(r#"{"check":"x","status":"pass"}"#, "f.json").unwrap_err();
    assert_eq!(e.to_string(), "f.json:1:29: missing field `sha`");
    let e = parse_json(
        &format!(r#"{{"sha":"{SHA}","check":" ","status":"pass"}}"#),
        "f.json",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "f.json: `check` must be a name of 1 to 100 characters on one line"
    );
}
