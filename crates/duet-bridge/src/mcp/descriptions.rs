//! What the agents read about duet and each tool: who may call it, when, and what happens next.

/// The server's instructions (shown to the agent with the tool list).
pub const INSTRUCTIONS: &str = "duet pairs you with a partner agent on one task: a worker writes \
the code and commits it on the task branch, a reviewer reviews each commit the worker submits. \
Use these tools to talk to your partner and to duet; your role (worker or reviewer) is in your \
instructions. Every call answers at once with a result or with the reason it was refused: read \
the reason and do what it says.";

pub const SEND_MESSAGE: &str = "Either role. Send a message to your partner in this duet pair \
(worker to reviewer or reviewer to worker), e.g. a question about the task or the code, or an \
answer to theirs. It is delivered when your partner is idle; this call does not wait for a reply \
(the reply arrives later as a message). Do not use it to ask for a review (worker: call \
request_review) or to give a verdict (reviewer: call submit_review).";

pub const REQUEST_REVIEW: &str = "Worker only. Call after you have committed your work (git \
commit; no uncommitted changes left) to ask the reviewer to review your current HEAD commit. \
`summary`: what you changed and why, how you checked it, and what deserves a close look. Then \
stop and wait: the verdict arrives as a message. Refused while a review is already in progress, \
when there is no new commit since the last request, or when the worktree has uncommitted \
changes.";

pub const SUBMIT_REVIEW: &str = "Reviewer only. Call exactly once per review request, after \
reading the diff named in the request, to give your verdict on that commit. `verdict`: \
`approve` if it can be merged as it is (findings may then hold minor remarks but no blocker), \
`changes_requested` if something must change first (at least one finding saying what). Each \
finding: `severity` (blocker, major, minor or nit), optional `file` (relative to the worktree \
root) and `line` (from 1; needs `file`), and `text` (what is wrong and what to do instead). \
`verified`: what you checked yourself, one item each (a command you ran and what it showed, a file \
you read); `not_verified`: what you did not check. An approval with nothing in `verified` is \
refused: verify, then submit again. Do not fix the code yourself. Refused when no review was \
requested.";

pub const MARK_DONE: &str = "Worker only. Call when the task is finished: the reviewer has \
approved your current HEAD commit and there are no uncommitted changes. `summary`: what was done, \
for the human who merges the branch. Refused otherwise; if you committed after the approval, call \
request_review again first.";

pub const ASK_HUMAN: &str = "Either role. Ask the human a question only they can answer: a \
decision, missing access or information, or an ambiguity in the task that blocks you. The task \
waits for the human; the answer arrives as a message. Do not use it for what your partner can \
answer (send_message) or for routine progress reports.";

pub const TASK_STATUS: &str = "Either role. Returns where the task stands (its state, the review \
round, the last review request and verdict). Call it when unsure what to do next, or after a call \
whose outcome is unclear, before repeating that call.";

pub const REQUEST_PLAN_REVIEW: &str = "Worker only, for tasks with a plan step (your brief says \
so). Write your plan to PLAN.md at the worktree root (do not commit it), then call this to ask \
the reviewer to review the plan before you write any code. `summary`: the plan in a few lines; \
duet sends the reviewer PLAN.md's text. Then stop and wait: the verdict arrives as a message. \
request_review and mark_done are refused until the plan is approved.";
