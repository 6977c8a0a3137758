//! Versions: reading one from a program's `--version` output, and the agent CLI versions this
//! build of duet is tested with (one table).

use std::fmt;

use duet_core::config::AgentKind;
use serde::Serialize;

/// A `major.minor.patch` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Version(pub u32, pub u32, pub u32);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Version {
    /// The first `N.N.N` in `text` (`2.1.197 (Claude Code)`, `codex-cli 0.169.0`).
    pub fn find_in(text: &str) -> Option<Version> {
        text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .find_map(|word| {
                let mut parts = word.split('.').map(|p| p.parse::<u32>().ok());
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(Some(a)), Some(Some(b)), Some(Some(c))) => Some(Version(a, b, c)),
                    _ => None,
                }
            })
    }
}

/// The versions of one agent CLI this duet is tested with, and where to get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TestedRange {
    pub kind: AgentKind,
    pub min: Version,
    pub max: Version,
    /// The npm package that installs it.
    pub package: &'static str,
}

impl TestedRange {
    pub fn contains(&self, version: Version) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

impl fmt::Display for TestedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} to {}", self.kind.as_str(), self.min, self.max)
    }
}

/// The agent CLI versions this build is tested with (the end-to-end tests pin `min`).
pub const TESTED: [TestedRange; 2] = [
    TestedRange {
        kind: AgentKind::Claude,
        min: Version(2, 1, 197),
        max: Version(2, 1, 332),
        package: "@anthropic-ai/claude-code",
    },
    TestedRange {
        kind: AgentKind::Codex,
        min: Version(0, 169, 0),
        max: Version(0, 171, 0),
        package: "@openai/codex",
    },
];

/// The tested range of `kind`.
pub fn tested_range(kind: AgentKind) -> &'static TestedRange {
    TESTED
        .iter()
        .find(|r| r.kind == kind)
        .expect("every agent kind has a tested range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_what_the_clis_print() {
        assert_eq!(
            Version::find_in("2.1.197 (Claude Code)"),
            Some(Version(2, 1, 197))
        );
        assert_eq!(
            Version::find_in("codex-cli 0.169.0\n"),
            Some(Version(0, 169, 0))
        );
        assert_eq!(Version::find_in("tmux 3.3a"), None);
        assert_eq!(Version::find_in("nothing here"), None);
    }

    #[test]
    fn the_tested_ranges_include_both_ends() {
        let claude = tested_range(AgentKind::Claude);
        assert!(claude.contains(Version(2, 1, 197)));
        assert!(claude.contains(Version(2, 1, 332)));
        assert!(!claude.contains(Version(2, 1, 196)));
        assert!(!claude.contains(Version(2, 2, 0)));
        assert_eq!(
            tested_range(AgentKind::Codex).to_string(),
            "codex 0.169.0 to 0.171.0"
        );
    }
}
