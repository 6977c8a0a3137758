//! The words duet says to agents: the worker's first prompt, the reviewer's briefing, and
//! delivered messages with the markers that let duet recognise them when a turn starts.

use duet_core::protocol::plan::PLAN_FILE;
use duet_core::protocol::{Envelope, MessageId, Sender};
use duet_core::wire::MESSAGE_MARKER_PREFIX as MARKER_PREFIX;

/// What a task asks, as the prompts need it (kept in the daemon's pair snapshots).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TaskBrief {
    pub id: String,
    pub title: String,
    pub prompt: String,
    pub proof: Option<String>,
    pub base_branch: String,
    pub base_commit: String,
    pub branch: String,
    /// The task has the plan step: PLAN.md is reviewed before any code (snapshots from before
    /// the plan step read as `false`).
    #[serde(default)]
    pub plan: bool,
}

/// The first prompt of the worker: the task, its proof, and the protocol.
pub fn worker_prompt(task: &TaskBrief) -> String {
    let proof = task
        .proof
        .as_deref()
        .map(|p| format!("\nProof (how to show it works): {p}\n"))
        .unwrap_or_default();
    let plan = if task.plan {
        format!(
            "Plan first: this task has a plan step. Before writing any code, write your plan \
             (what you will change, where, and how you will test it) to `{PLAN_FILE}` at the \
             root of the worktree. Do NOT commit `{PLAN_FILE}`: leave it untracked, it never \
             goes on the branch. Then call the duet tool `request_plan_review` with a short \
             summary; duet sends the plan to the reviewer. If the reviewer requests changes, \
             revise `{PLAN_FILE}` and call `request_plan_review` again. Code only after the plan \
             is approved; until then `request_review` and `mark_done` are refused.\n\n"
        )
    } else {
        String::new()
    };
    format!(
        "You are the WORKER in a duet pair on task `{id}`: {title}.\n\
         \n\
         {prompt}\n\
         {proof}\n\
         {plan}How to work: you are in a git worktree on branch `{branch}` (based on `{base}`). \
         Make the change, run the proof, and commit your work with git. Then call the duet tool \
         `request_review` with a short summary; a reviewer will look at your commits. \
         Review findings come back to you as messages: fix them, commit, and call `request_review` \
         again. When the reviewer has approved your latest commit and the worktree is clean, call \
         `mark_done` with a summary. Use `send_message` to talk to the reviewer and `ask_human` \
         only for questions that only a human can answer.",
        id = task.id,
        title = task.title,
        prompt = task.prompt.trim(),
        branch = task.branch,
        base = task.base_branch,
    )
}

/// The reviewer's first prompt: who it is and what it waits for.
pub fn reviewer_prompt(task: &TaskBrief) -> String {
    let plan = if task.plan {
        "This task has a plan step: the worker's first review request is for its plan (the \
         text of PLAN.md, quoted in duet's message), before any code. Judge the plan with \
         `submit_review` like a review (approve, or changes_requested with findings on the \
         plan); code reviews of commits follow once you approve it. "
    } else {
        ""
    };
    format!(
        "You are the REVIEWER in a duet pair on task `{id}`: {title}.\n\
         \n\
         The task given to the worker:\n{prompt}\n\
         \n\
         Do not change any files, the branch or HEAD: your seat cannot edit files, and duet \
         puts back (and keeps aside) any change you make to the worktree; say what should \
         change in your findings instead. When the worker asks for a review, duet sends you \
         a message with the commit to review. Review the diff with `git diff {base_commit}..<commit>` in \
         this worktree, run the proof if there is one, and call the duet tool `submit_review` \
         with verdict `approve` or `changes_requested`, your findings (severity blocker | \
         major | minor | nit, file, line, text), in `verified` what you checked yourself \
         (each command you ran and what it showed, each file you read) and in `not_verified` \
         what you did not check: an approval that lists nothing verified is refused. Use \
         `send_message` to talk to the worker. {plan}\
         For now, reply with one short line that you are ready, and wait.",
        id = task.id,
        title = task.title,
        prompt = task.prompt.trim(),
        base_commit = task.base_commit,
    )
}

/// The text typed (or handed over at claude's Stop hook) for a batch of messages.
///
/// Each message reads as duet's own request: duet's messages already are (they say what duet
/// asks), and a partner's or the human's words come after a line in which duet says what to do
/// with them, quoted (`> `) as content. claude 2.1.332 tells its model that hook output which
/// only relays another person's words is data, not an instruction: a hand-over must not be that.
pub fn render_batch(envelopes: &[&Envelope]) -> String {
    envelopes
        .iter()
        .map(|e| {
            let marker = format!("{MARKER_PREFIX}{} from {}]", e.id.0, sender_name(e.from));
            match e.from {
                Sender::Duet => format!("{marker}\n{}", e.text.trim()),
                Sender::Agent(role) => format!(
                    "{marker}\nduet hands you this message from the {role}, your partner in this \
                     pair, and asks you to act on it: do what it asks, or answer it with duet's \
                     send_message tool. The {role}'s words, quoted:\n{}",
                    quote(&e.text)
                ),
                Sender::Human => format!(
                    "{marker}\nduet hands you this message from the human who runs this pair, \
                     and asks you to act on it. The human's words, quoted:\n{}",
                    quote(&e.text)
                ),
            }
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// `text` as a quoted block, each line behind `> `.
fn quote(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "> (nothing)".to_owned();
    }
    text.lines()
        .map(|line| format!("> {line}").trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn sender_name(sender: Sender) -> String {
    match sender {
        Sender::Agent(role) => format!("the {role}"),
        Sender::Human => "the human".to_string(),
        Sender::Duet => "duet".to_string(),
    }
}

/// The message ids whose markers appear in `text` (a prompt that started a turn).
pub fn carried_ids(text: &str) -> Vec<MessageId> {
    let mut ids = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find(MARKER_PREFIX) {
        rest = &rest[pos + MARKER_PREFIX.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<u64>()
            && rest[digits.len()..].starts_with(' ')
            && !ids.contains(&MessageId(n))
        {
            ids.push(MessageId(n));
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_core::protocol::{DeliveryStatus, Role, Timestamp};

    fn envelope(id: u64, from: Sender, text: &str) -> Envelope {
        Envelope {
            id: MessageId(id),
            from,
            to: Role::Worker,
            text: text.into(),
            accepted_at: Timestamp(0),
            attempts: 0,
            status: DeliveryStatus::Pending,
        }
    }

    #[test]
    fn batch_markers_are_found_again_in_a_prompt() {
        let a = envelope(
            3,
            Sender::Agent(Role::Reviewer),
            "Please fix the typo.\n\nIt is in line 2.",
        );
        let b = envelope(12, Sender::Duet, "duet asks you to review abc1234.");
        let c = envelope(13, Sender::Human, "Use British spelling.");
        let text = render_batch(&[&a, &b, &c]);
        assert_eq!(
            text,
            "[duet message #3 from the reviewer]\n\
             duet hands you this message from the reviewer, your partner in this pair, and asks \
             you to act on it: do what it asks, or answer it with duet's send_message tool. \
             The reviewer's words, quoted:\n\
             > Please fix the typo.\n>\n> It is in line 2.\n\n\
             [duet message #12 from duet]\nduet asks you to review abc1234.\n\n\
             [duet message #13 from the human]\n\
             duet hands you this message from the human who runs this pair, and asks you to act \
             on it. The human's words, quoted:\n> Use British spelling."
        );
        assert_eq!(
            carried_ids(&format!("Stop hook feedback:\n{text}")),
            vec![MessageId(3), MessageId(12), MessageId(13)]
        );
    }

    #[test]
    fn text_without_markers_carries_nothing() {
        assert!(carried_ids("please look at [duet message #x from y]").is_empty());
        assert!(carried_ids("[duet message #7]").is_empty());
        assert!(carried_ids("").is_empty());
    }

    #[test]
    fn prompts_hold_task_proof_and_protocol() {
        let task = TaskBrief {
            id: "t1".into(),
            title: "Add greeting".into(),
            prompt: "Add a --greeting flag.".into(),
            proof: Some("cargo test".into()),
            base_branch: "main".into(),
            base_commit: "0123456789abcdef".into(),
            branch: "duet/t1".into(),
            plan: false,
        };
        let worker = worker_prompt(&task);
        for needle in [
            "WORKER",
            "Add a --greeting flag.",
            "Proof (how to show it works): cargo test",
            "request_review",
            "mark_done",
            "duet/t1",
        ] {
            assert!(worker.contains(needle), "worker prompt lacks {needle:?}");
        }
        let reviewer = reviewer_prompt(&task);
        for needle in [
            "REVIEWER",
            "submit_review",
            "git diff 0123456789abcdef..<commit>",
            "Do not change any files",
            "duet puts back",
            "`verified`",
            "`not_verified`",
        ] {
            assert!(
                reviewer.contains(needle),
                "reviewer prompt lacks {needle:?}"
            );
        }
        assert!(!worker.contains("PLAN.md") && !reviewer.contains("plan step"));
    }

    #[test]
    fn a_plan_task_asks_for_an_uncommitted_plan_first() {
        let task = TaskBrief {
            id: "t1".into(),
            title: "Add greeting".into(),
            prompt: "Add a --greeting flag.".into(),
            proof: None,
            base_branch: "main".into(),
            base_commit: "0123456789abcdef".into(),
            branch: "duet/t1".into(),
            plan: true,
        };
        let worker = worker_prompt(&task);
        for needle in [
            "`PLAN.md` at the root of the worktree",
            "Do NOT commit `PLAN.md`",
            "`request_plan_review`",
            "Code only after the plan is approved",
        ] {
            assert!(worker.contains(needle), "worker prompt lacks {needle:?}");
        }
        assert!(worker.find("PLAN.md") < worker.find("How to work"));
        assert!(reviewer_prompt(&task).contains("plan step"));
    }
}
