//! Sample-driven tests of `duet validate`: every file under tests/config/invalid/ must render
//! exactly its `.expected` file (message, file:line:col, excerpt, caret, hint); every valid
//! sample and every file in config/ must pass without a single diagnostic.
//!
//! To regenerate the expected files after an intended change: `UPDATE_EXPECTED=1 cargo test`.

use std::path::{Path, PathBuf};

use duet_core::validate::{KnownBranches, Report, validate_files};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The repository the samples are checked against.
fn repo() -> KnownBranches {
    KnownBranches::new(["main", "develop"])
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("failed to read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The plain rendering with paths shown relative to the workspace root.
fn render(report: &Report, root: &Path) -> String {
    let prefix = format!("{}/", root.display());
    report.render_plain().replace(&prefix, "")
}

#[test]
fn every_invalid_sample_renders_exactly_its_expected_output() {
    let root = workspace_root();
    let dir = root.join("tests/config/invalid");
    let update = std::env::var_os("UPDATE_EXPECTED").is_some();
    let mut mismatches = Vec::new();
    for file in toml_files(&dir) {
        let report = validate_files(std::slice::from_ref(&file), &repo());
        let actual = render(&report, &root);
        assert!(
            !report.diagnostics.is_empty(),
            "{} is an invalid sample but produced no diagnostics",
            file.display()
        );
        assert_eq!(report.exit_code(), if report.has_errors() { 2 } else { 0 });
        let expected_path = file.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "missing {}; run with UPDATE_EXPECTED=1 to create it. Actual output:\n{actual}",
                expected_path.display()
            )
        });
        if actual != expected {
            mismatches.push(format!(
                "=== {} ===\n--- expected\n{expected}\n--- actual\n{actual}",
                file.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Each validation the issue asks for has its own sample, so none can silently disappear.
#[test]
fn every_required_case_has_a_sample() {
    let dir = workspace_root().join("tests/config/invalid");
    let names: Vec<String> = toml_files(&dir)
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for case in [
        "config_syntax_error",
        "config_unknown_key",
        "config_wrong_type",
        "config_zero_and_negative",
        "config_bad_duration",
        "config_unknown_profile",
        "config_same_profile",
        "config_base_branch_missing",
        "config_unknown_merge_mode",
        "config_ci_invalid",
        "backlog_syntax_error",
        "backlog_unknown_key",
        "backlog_wrong_type",
        "backlog_missing_id",
        "backlog_missing_prompt",
        "backlog_both_prompts",
        "backlog_prompt_file_missing",
        "backlog_duplicate_id",
        "backlog_unsafe_ids",
        "backlog_unknown_dependency",
        "backlog_cycle",
        "backlog_unknown_profile",
        "backlog_same_profile",
        "backlog_zero_and_negative",
        "backlog_base_branch_missing",
        "backlog_invalid_utf8",
        "config_invalid_utf8",
    ] {
        assert!(names.iter().any(|n| n == case), "no sample for {case}");
    }
}

fn assert_clean(files: &[PathBuf]) {
    let root = workspace_root();
    for file in files {
        let report = validate_files(std::slice::from_ref(file), &repo());
        assert!(
            report.diagnostics.is_empty(),
            "{} should be valid:\n{}",
            file.display(),
            render(&report, &root)
        );
        assert_eq!(report.exit_code(), 0);
    }
}

#[test]
fn valid_samples_pass() {
    let files = toml_files(&workspace_root().join("tests/config/valid"));
    assert!(files.len() >= 2);
    assert_clean(&files);
}

#[test]
fn shipped_config_and_examples_pass() {
    let root = workspace_root();
    let mut files = toml_files(&root.join("config"));
    files.extend(toml_files(&root.join("config/examples")));
    assert!(
        files.len() >= 4,
        "expected config/ and config/examples/ files"
    );
    assert_clean(&files);
}

#[test]
fn all_files_at_once_collects_problems_from_each() {
    let root = workspace_root();
    let dir = root.join("tests/config/invalid");
    let files = vec![
        dir.join("config_unknown_key.toml"),
        dir.join("backlog_cycle.toml"),
    ];
    let report = validate_files(&files, &repo());
    let short = report
        .render_short()
        .replace(&format!("{}/", root.display()), "");
    assert_eq!(
        short,
        "tests/config/invalid/config_unknown_key.toml:2:1: error: unknown key `max_paralel`\n\
         tests/config/invalid/config_unknown_key.toml:5:1: error: unknown key `idel` in [stall]\n\
         tests/config/invalid/config_unknown_key.toml:8:1: error: unknown key `comand` in [agents.claude]\n\
         tests/config/invalid/config_unknown_key.toml:10:2: error: unknown key `reveiw`\n\
         tests/config/invalid/backlog_cycle.toml:14:15: error: dependency cycle: a -> b -> c -> a\n\
         tests/config/invalid/backlog_cycle.toml:19:15: error: dependency cycle: self -> self\n\
         6 errors in 2 files\n"
    );
    assert_eq!(report.exit_code(), 2);
    let json = report.to_json();
    assert_eq!(json["errors"], 6);
    assert_eq!(json["diagnostics"][0]["line"], 2);
    assert_eq!(json["diagnostics"][0]["column"], 1);
    assert_eq!(
        json["diagnostics"][0]["hint"],
        "did you mean `max_parallel`?"
    );
}

#[test]
fn unreadable_file_is_an_error_not_a_crash() {
    let report = validate_files(&[PathBuf::from("/nonexistent/duet.toml")], &repo());
    assert_eq!(
        report.render_short(),
        "/nonexistent/duet.toml: error: failed to read /nonexistent/duet.toml: No such file or directory (os error 2)\n\
         1 error in 1 file\n"
    );
}
