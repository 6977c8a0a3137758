//! `agents.NAME.transport`: tmux by default, `"app-server"` for a codex profile, refused (with
//! its place) for a claude profile or an unknown value.

use duet_core::config::{AgentTransport, Config};

#[test]
fn transport_defaults_to_tmux_and_codex_may_run_on_its_app_server() {
    let c = Config::from_toml_str("", "duet.toml").unwrap();
    assert_eq!(c.agents["codex"].transport, AgentTransport::Tmux);
    assert_eq!(c.agents["claude"].transport, AgentTransport::Tmux);
    let c =
        Config::from_toml_str("[agents.codex]\ntransport = \"app-server\"\n", "duet.toml").unwrap();
    assert_eq!(c.agents["codex"].transport, AgentTransport::AppServer);
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
