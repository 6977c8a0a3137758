//! `[github]` in duet.toml: its defaults (poll every minute with `gh`), overrides, and a bad key
//! or value said with where and why.

use std::time::Duration;

use duet_core::config::Config;

#[test]
fn github_defaults_to_polling_with_gh_every_minute() {
    let c = Config::from_toml_str("", "duet.toml").unwrap();
    assert!(c.github.enabled);
    assert_eq!(c.github.interval, Duration::from_secs(60));
    assert_eq!(c.github.command, "gh");
    let c = Config::from_toml_str(
        "[github]\nenabled = false\ninterval = \"5m\"\ncommand = \"/opt/gh/bin/gh\"\n",
        "duet.toml",
    )
    .unwrap();
    assert!(!c.github.enabled);
    assert_eq!(c.github.interval, Duration::from_secs(300));
    assert_eq!(c.github.command, "/opt/gh/bin/gh");
}

#[test]
fn a_bad_github_key_or_value_is_an_error_with_its_place() {
    let err = Config::from_toml_str("[github]\nintervall = \"5m\"\n", "duet.toml")
        .unwrap_err()
        .render_plain();
    assert!(err.contains("duet.toml:2:"), "{err}");
    assert!(err.contains("intervall"), "{err}");
    let err = Config::from_toml_str("[github]\nenabled = \"yes\"\n", "duet.toml")
        .unwrap_err()
        .render_plain();
    assert!(err.contains("github.enabled"), "{err}");
    let err = Config::from_toml_str("[github]\ncommand = \" \"\n", "duet.toml")
        .unwrap_err()
        .render_plain();
    assert!(err.contains("must not be empty"), "{err}");
}
