//! Typed results of config and backlog parsing, and how `validate_files` picks the config a
//! backlog is checked against (given, neighbouring duet.toml, or the built-in defaults).

use std::path::{Path, PathBuf};

use duet_core::backlog::{Backlog, EXAMPLE_BACKLOG_TOML, Prompt};
use duet_core::config::{AgentKind, Config, DEFAULT_CONFIG_TOML, MergeStrategy};
use duet_core::validate::{KnownBranches, NoRepo, validate_files};

fn valid_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/config/valid")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Paths in rendered output, relative to `dir`.
fn short(report: &duet_core::validate::Report, dir: &Path) -> String {
    report
        .render_short()
        .replace(&format!("{}/", dir.display()), "")
}

#[test]
fn valid_sample_parses_into_the_expected_typed_values() {
    let dir = valid_dir();
    let config_src = std::fs::read_to_string(dir.join("duet.toml")).unwrap();
    let config = Config::from_toml_str(&config_src, dir.join("duet.toml")).unwrap();
    assert_eq!(config.base_branch, "develop");
    assert_eq!(config.max_parallel.get(), 4);
    assert_eq!(config.roles.worker, "codex");
    assert_eq!(config.roles.reviewer, "claude-strict");
    assert_eq!(config.agents["claude-strict"].kind, AgentKind::Claude);
    assert_eq!(config.agents["claude-strict"].command, "claude");
    assert_eq!(config.agents["claude"].env["IS_SANDBOX"], "1");
    assert_eq!(config.agents["codex"].model.as_deref(), Some("gpt-5-codex"));
    assert_eq!(config.ci.timeout.as_secs(), 90 * 60);
    assert_eq!(config.ci.max_parallel.get(), 2);
    assert_eq!(config.merge.strategy, MergeStrategy::Squash);
    assert!(!config.merge.auto);
    assert_eq!(
        config.notify.command.as_deref(),
        Some("notify-send duet \"$DUET_MESSAGE\"")
    );

    let src = std::fs::read_to_string(dir.join("backlog.toml")).unwrap();
    let backlog = Backlog::from_toml_str(&src, dir.join("backlog.toml"), &config, &dir).unwrap();
    let ids: Vec<&str> = backlog.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["schema", "api.v2", "UI_2"]);

    let schema = backlog.get("schema").unwrap();
    assert_eq!(schema.title, "Database schema");
    assert_eq!(schema.prompt, Prompt::File(dir.join("prompts/feature.md")));
    assert_eq!(schema.priority, 10);
    assert_eq!(schema.labels, ["db"]);
    assert_eq!(schema.worker_profile(&config), "codex");
    assert_eq!(schema.reviewer_profile(&config), "claude-strict");
    assert_eq!(schema.base_branch(&config), "develop");
    assert_eq!(schema.max_rounds(&config).get(), 3);

    let api = backlog.get("api.v2").unwrap();
    assert_eq!(api.title, "api.v2", "title defaults to the id");
    assert_eq!(api.depends_on.as_slice(), std::slice::from_ref(&schema.id));
    assert_eq!(api.base_branch(&config), "main");
    assert_eq!(api.worker_profile(&config), "claude");
    assert_eq!(api.max_rounds(&config).get(), 8);

    let ui = backlog.get("UI_2").unwrap();
    assert_eq!(ui.prompt, Prompt::Inline("Multi-line prompt.\n".to_owned()));
    assert_eq!(ui.priority, -1);
    assert_eq!(config.task_branch(&ui.id), "agents/duet/UI_2");
}

#[test]
fn embedded_defaults_and_example_backlog_are_valid() {
    let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "duet.toml").unwrap();
    assert_eq!(config, Config::default());
    let backlog = Backlog::from_toml_str(
        EXAMPLE_BACKLOG_TOML,
        "backlog.toml",
        &config,
        Path::new("."),
    )
    .unwrap();
    assert_eq!(backlog.tasks.len(), 1);
    assert_eq!(backlog.tasks[0].id.as_str(), "add-greeting");
}

#[test]
fn backlog_errors_come_back_all_together() {
    let src =
        "[[task]]\nid = \"a\"\n\n[[task]]\nid = \"a\"\nprompt = \"x\"\ndepends_on = [\"zz\"]\n";
    let errors = Backlog::from_toml_str(src, "backlog.toml", &Config::default(), Path::new("."))
        .unwrap_err();
    assert_eq!(
        errors.render_short(),
        "backlog.toml:1:1: error: task `a` has no prompt\n\
         backlog.toml:5:6: error: duplicate task id `a`\n\
         backlog.toml:7:15: error: task `a` depends on unknown task `zz`\n"
    );
}

#[test]
fn a_given_config_is_used_for_the_backlogs_given_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "team.toml",
        "[agents.extra]\nkind = \"codex\"\n",
    );
    // Classified as a backlog by its `[[task]]` tables, not by its name.
    let backlog = write(
        dir.path(),
        "work.toml",
        "[[task]]\nid = \"a\"\nprompt = \"x\"\nreviewer = \"extra\"\n",
    );
    let together = validate_files(&[config, backlog.clone()], &NoRepo);
    assert_eq!(short(&together, dir.path()), "2 files valid\n");

    let alone = validate_files(&[backlog], &NoRepo);
    assert_eq!(
        short(&alone, dir.path()),
        "work.toml:4:12: error: unknown agent profile `extra`\n1 error in 1 file\n"
    );
}

#[test]
fn a_backlog_alone_is_checked_against_the_duet_toml_next_to_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "duet.toml",
        "max_parallel = 0\n[agents.mine]\nkind = \"claude\"\n",
    );
    let backlog = write(
        dir.path(),
        "backlog.toml",
        "[[task]]\nid = \"a\"\nprompt = \"x\"\nworker = \"mine\"\n",
    );
    let report = validate_files(&[backlog], &NoRepo);
    assert_eq!(
        short(&report, dir.path()),
        "duet.toml:1:16: error: `max_parallel` must be greater than zero, found 0\n\
         1 error in 2 files\n"
    );
    assert_eq!(report.files.len(), 2);
}

#[test]
fn a_default_base_branch_missing_from_the_repository_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let backlog = write(
        dir.path(),
        "backlog.toml",
        "[[task]]\nid = \"a\"\nprompt = \"x\"\n",
    );
    let report = validate_files(
        std::slice::from_ref(&backlog),
        &KnownBranches::new(["master"]),
    );
    assert_eq!(
        report.render_plain(),
        concat!(
            "error: base branch `main` (the default) does not exist in the repository\n",
            "  = hint: set `base_branch` in duet.toml to an existing branch\n",
            "\n",
            "1 error in 1 file\n",
        )
    );
    let with_main = validate_files(&[backlog], &KnownBranches::new(["main"]));
    assert!(!with_main.has_errors());
}

#[test]
fn a_prompt_file_is_found_relative_to_the_backlog_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("prompts")).unwrap();
    write(dir.path(), "prompts/a.md", "Do a.\n");
    let backlog = write(
        dir.path(),
        "backlog.toml",
        "[[task]]\nid = \"a\"\nprompt_file = \"prompts/a.md\"\n\n\
         [[task]]\nid = \"b\"\nprompt_file = \"prompts\"\n",
    );
    let report = validate_files(&[backlog], &NoRepo);
    assert_eq!(
        short(&report, dir.path()),
        "backlog.toml:7:15: error: prompt file `prompts` is not a file\n1 error in 1 file\n"
    );
}

#[test]
fn miette_renders_the_label_and_hint() {
    let errors = Config::from_toml_str("max_paralel = 4\n", "duet.toml").unwrap_err();
    let diagnostic = errors.iter().next().unwrap();
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, diagnostic)
        .unwrap();
    assert!(out.contains("unknown key `max_paralel`"), "{out}");
    assert!(out.contains("duet.toml:1:1"), "{out}");
    assert!(out.contains("did you mean `max_parallel`?"), "{out}");
    assert!(out.contains("unknown key"), "{out}");
}
