//! The command line itself: help on every subcommand, completions, usage errors.

mod common;

use common::TestEnvironment;

const SUBCOMMANDS: &[&str] = &["init", "validate", "status", "completions"];

#[test]
fn every_subcommand_has_help() {
    let env = TestEnvironment::default();
    for sub in SUBCOMMANDS {
        let out = env.duet(env.root(), &[sub, "--help"]);
        assert_eq!(out.code, 0, "duet {sub} --help failed: {}", out.stderr);
        assert!(
            out.stdout.contains(&format!("Usage: duet {sub}")),
            "duet {sub} --help: {}",
            out.stdout
        );
    }
    let out = env.duet(env.root(), &["--help"]);
    for sub in SUBCOMMANDS {
        assert!(
            out.stdout.contains(sub),
            "top-level help does not list {sub}"
        );
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    let env = TestEnvironment::default();
    for (shell, marker) in [
        ("bash", "_duet()"),
        ("zsh", "#compdef duet"),
        ("fish", "complete -c duet"),
        ("elvish", "duet"),
        ("powershell", "duet"),
    ] {
        let out = env.duet(env.root(), &["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(
            out.stdout.contains(marker),
            "{shell} completions lack {marker}"
        );
        assert!(
            out.stdout.contains("validate"),
            "{shell} completions lack subcommands"
        );
    }
}

#[test]
fn usage_errors_exit_2_with_clap_message() {
    let env = TestEnvironment::default();
    let out = env.duet(env.root(), &["frobnicate"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unrecognized subcommand 'frobnicate'"),
        "{}",
        out.stderr
    );
    let out = env.duet(env.root(), &["completions", "tcsh"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("invalid value 'tcsh'"),
        "{}",
        out.stderr
    );
}
