//! The reviewer's seat cannot write, by the agent CLIs' own means: claude's file-editing tools
//! are removed (`--disallowedTools`), codex runs in its read-only sandbox with no approvals
//! (`--sandbox read-only --ask-for-approval never`), and the profile arguments that would lift
//! either are dropped for that seat. What gets past them (claude's Bash) is caught by duet's
//! worktree check after each reviewer turn (`duet_pair::reviewer_guard`).

/// claude's tools that write files, denied to a reviewer. Measured with 2.1.332: a denied tool
/// is not offered to the model, and a call to it anyway is answered with the tool result
/// "No such tool available: Write. Write is disabled for this session, in subagents as well as
/// here." (`MultiEdit` is no tool of 2.1.332: claude warns that a rule naming it matches no
/// known tool, so it is not listed.)
pub const CLAUDE_REVIEWER_DENIED_TOOLS: &[&str] = &["Edit", "Write", "NotebookEdit"];

/// The codex flags duet gives a reviewer: its shell commands and patches run in the read-only
/// sandbox, and what the sandbox refuses goes back to the model as a failure instead of an
/// approval prompt a human (or a bypass flag) could wave through.
pub const CODEX_REVIEWER_FLAGS: &[&str] =
    &["--sandbox", "read-only", "--ask-for-approval", "never"];

/// codex options that lift or replace the sandbox or the approval policy, with whether they
/// take a value (as the next argument unless given as `--flag=value` / `-sVALUE`).
const CODEX_LIFTING_OPTIONS: &[(&str, bool)] = &[
    ("--dangerously-bypass-approvals-and-sandbox", false),
    ("--yolo", false),
    ("--full-auto", false),
    ("--approve-for-me", false),
    ("--sandbox", true),
    ("-s", true),
    ("--ask-for-approval", true),
    ("-a", true),
    ("--add-dir", true),
];

/// `args` of a codex profile without the options that would lift the reviewer's sandbox (see
/// [`CODEX_LIFTING_OPTIONS`]), and the dropped ones (for the log). Everything after `--` is
/// kept as it is (positionals).
pub fn codex_reviewer_args(args: &[String]) -> (Vec<String>, Vec<String>) {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut items = args.iter();
    while let Some(arg) = items.next() {
        if arg == "--" {
            kept.push(arg.clone());
            kept.extend(items.by_ref().cloned());
            break;
        }
        match lifting(arg) {
            Some(Takes::Nothing) => dropped.push(arg.clone()),
            Some(Takes::Next) => {
                dropped.push(arg.clone());
                dropped.extend(items.next().cloned());
            }
            None => kept.push(arg.clone()),
        }
    }
    (kept, dropped)
}

enum Takes {
    /// A flag, or an option with its value attached.
    Nothing,
    /// An option whose value is the next argument.
    Next,
}

fn lifting(arg: &str) -> Option<Takes> {
    for (name, takes_value) in CODEX_LIFTING_OPTIONS {
        if arg == *name {
            return Some(if *takes_value {
                Takes::Next
            } else {
                Takes::Nothing
            });
        }
        if !takes_value {
            continue;
        }
        let attached = if name.starts_with("--") {
            arg.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('='))
        } else {
            // `-sread-only`, `-s=read-only`
            arg.len() > name.len() && arg.starts_with(name)
        };
        if attached {
            return Some(Takes::Nothing);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn every_way_of_lifting_the_sandbox_is_dropped_and_the_rest_kept() {
        let args = strings(&[
            "-c",
            "model_provider=fake",
            "--dangerously-bypass-approvals-and-sandbox",
            "-s",
            "workspace-write",
            "--sandbox=danger-full-access",
            "-sdanger-full-access",
            "-a",
            "on-request",
            "--ask-for-approval=untrusted",
            "--add-dir",
            "/elsewhere",
            "--full-auto",
            "--yolo",
            "--approve-for-me",
            "--search",
            "--",
            "-s",
        ]);
        let (kept, dropped) = codex_reviewer_args(&args);
        assert_eq!(
            kept,
            strings(&["-c", "model_provider=fake", "--search", "--", "-s"])
        );
        assert_eq!(
            dropped,
            strings(&[
                "--dangerously-bypass-approvals-and-sandbox",
                "-s",
                "workspace-write",
                "--sandbox=danger-full-access",
                "-sdanger-full-access",
                "-a",
                "on-request",
                "--ask-for-approval=untrusted",
                "--add-dir",
                "/elsewhere",
                "--full-auto",
                "--yolo",
                "--approve-for-me",
            ])
        );
    }

    #[test]
    fn similar_names_are_not_taken_for_lifting_options() {
        let args = strings(&[
            "--sandboxed-thing",
            "--add-directory",
            "-c",
            "sandbox_mode=x",
        ]);
        let (kept, dropped) = codex_reviewer_args(&args);
        assert_eq!(kept, args);
        assert!(dropped.is_empty());
    }

    #[test]
    fn an_option_at_the_end_without_its_value_is_dropped_alone() {
        let (kept, dropped) = codex_reviewer_args(&strings(&["--search", "-s"]));
        assert_eq!(kept, strings(&["--search"]));
        assert_eq!(dropped, strings(&["-s"]));
    }
}
