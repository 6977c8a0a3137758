//! `agents.NAME.transport`: codex on its app-server by default (`"tmux"` the fallback), claude
//! on tmux; `"app-server"` refused (with its place) for a claude profile, and an unknown value.

use duet_core::config::{AgentTransport, Config};

#[test]
fn codex_defaults_to_its_app_server_claude_to_tmux_and_codex_may_fall_back_to_tmux() {
    let c = Config::from_toml_str("", "duet.toml").unwrap();
    assert_eq!(c.agents["codex"].transport, AgentTransport::AppServer);
    assert_eq!(c.agents["claude"].transport, AgentTransport::Tmux);
    let c = Config::from_toml_str("[agents.codex]\ntransport = \"tmux\"\n", "duet.toml").unwrap();
    assert_eq!(c.agents["codex"].transport, AgentTransport::Tmux);
    // A new profile gets its kind's default; so does one whose kind changes.
    let c = Config::from_toml_str(
        "[agents.cx]\nkind = \"codex\"\n[agents.codex]\nkind = \"claude\"\n",
        "duet.toml",
    )
    .unwrap();
    assert_eq!(c.agents["cx"].transport, AgentTransport::AppServer);
    assert_eq!(c.agents["codex"].transport, AgentTransport::Tmux);
}

#[test]
fn a_claude_app_server_or_an_unknown_transport_is_an_error_with_its_place() {
    let err = Config::from_toml_str("[agents.claude]\ntransport = \"app-server\"\n", "duet.toml")
        .unwrap_err()
        .render_plain();
    assert!(err.contains("duet.toml:2:"), "{err}");
    assert!(err.contains("codex agents only"), "{err}");
    let err = Config::from_toml_str("[agents.codex]\ntransport = \"app-srever\"\n", "duet.toml")
        .unwrap_err()
        .render_plain();
    assert!(err.contains("duet.toml:2:"), "{err}");
    assert!(err.contains("app-server"), "did you mean: {err}");
}
