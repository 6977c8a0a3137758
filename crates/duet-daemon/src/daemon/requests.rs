//! Requests on the control socket: agents' requests routed to their pair by token (each read
//! of the worktree's git facts off the loop, in arrival order per pair), and the human's.

use duet_proto::{ErrorKind, Request, RequestBody, Response, ResponseBody};
use duet_store::Event;

use super::{Daemon, now, usage};
use crate::DaemonError;
use crate::DaemonProgress;
use crate::engine_core::{self, EngineAction, EngineInput, HumanAsk};
use crate::report_io::finished_markdown;
use crate::status::{StatusInputs, snapshot_now, with_merge_queue};
use duet_core::protocol::{Role, ToolCall};
use duet_pair::git_facts::{read_git_facts_of, read_plan};
use duet_pair::socket::Incoming;
use duet_pair::{ConnId, GitFacts};

/// A worktree's git facts read off the loop for an agent's request; for a review request of a
/// task with a scope budget, the diff at the HEAD read (so the request carries its size); for a
/// plan review request, PLAN.md.
#[derive(Debug)]
pub(crate) struct GitRead {
    pub facts: Option<GitFacts>,
    pub diff: Option<super::gates::Measured>,
    /// PLAN.md's text, read with them for a `request_plan_review`.
    pub plan: Option<String>,
}

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    pub(super) fn on_incoming(&mut self, incoming: Incoming) -> Result<(), DaemonError> {
        let Incoming {
            conn,
            request,
            reply,
        } = incoming;
        self.pending.insert(conn, reply);
        duet_proto::hop_log::mark("engine.request", hop_key(&request));
        if request.body.is_agent_request() {
            let task = request
                .token
                .as_deref()
                .and_then(|t| self.tokens.get(t))
                .cloned();
            let Some(task) = task.filter(|t| self.pairs.contains_key(t)) else {
                tracing::warn!(
                    "refused an agent request with an unknown token: {}",
                    request_summary(&request.body)
                );
                self.respond(
                    conn,
                    Response::error(ErrorKind::Unauthorized, "unknown or missing agent token"),
                );
                return Ok(());
            };
            if let RequestBody::ProcessExited { code, signal } = &request.body
                && self.restart_agent(
                    &task,
                    request.token.as_deref().unwrap_or_default(),
                    *code,
                    *signal,
                )?
            {
                self.respond(conn, Response::ok(ResponseBody::Ack));
                return Ok(());
            }
            // The request needs the worktree's HEAD and cleanliness: read off the loop (a git
            // status of a large worktree must not hold up every other pair), in arrival order.
            self.git_queue
                .entry(task.clone())
                .or_default()
                .1
                .push_back((conn, request));
            self.read_git_next(&task);
            return Ok(());
        }
        self.human_request(conn, request)
    }

    /// Starts a git read for the first queued request of `task`, unless one is running.
    fn read_git_next(&mut self, task: &str) {
        // A plan task's read also says whether HEAD puts PLAN.md on the branch.
        let Some((worktree, plan_base)) = self.pairs.get(task).map(|slot| {
            let base = &slot.controller.state.base_commit;
            (slot.worktree.clone(), slot.brief.plan.then(|| base.clone()))
        }) else {
            return;
        };
        let Some((reading, queue)) = self.git_queue.get_mut(task) else {
            return;
        };
        if *reading || queue.is_empty() {
            return;
        }
        *reading = true;
        let front = queue.front().map(|(_, request)| &request.body);
        let review = front.is_some_and(|body| {
            matches!(
                body,
                RequestBody::ToolCall {
                    call: ToolCall::RequestReview { .. }
                }
            )
        });
        let wants_plan = front.is_some_and(is_plan_request);
        let scope = review.then(|| self.scope_measure(task)).flatten();
        let tx = self.git_tx.clone();
        let task = task.to_string();
        tokio::task::spawn_blocking(move || {
            let facts = read_git_facts_of(&worktree, plan_base.as_deref());
            let plan = wants_plan.then(|| read_plan(&worktree));
            let diff = match (&facts, scope) {
                (Some(facts), Some(scope)) => scope.measure(&task, &facts.head),
                _ => None,
            };
            let _ = tx.send((task, GitRead { facts, diff, plan }));
        });
    }

    /// A git read is back: the request it was for goes to the pair's controller.
    pub(super) fn on_git_read(&mut self, task: &str, read: GitRead) -> Result<(), DaemonError> {
        let GitRead {
            facts: git,
            diff,
            plan,
        } = read;
        if let Some(measured) = diff {
            // Before the review request: it carries the size measured at its commit.
            self.on_scope_measured(measured)?;
        }
        let Some((reading, queue)) = self.git_queue.get_mut(task) else {
            return Ok(());
        };
        *reading = false;
        let Some((conn, mut request)) = queue.pop_front() else {
            return Ok(());
        };
        // The plan under review is PLAN.md as it is now, not anything the agent sends.
        if let (
            Some(text),
            RequestBody::ToolCall {
                call: ToolCall::RequestPlanReview { plan, .. },
            },
        ) = (plan, &mut request.body)
        {
            *plan = text;
        }
        let Some(slot) = self.pairs.get_mut(task) else {
            self.git_queue.remove(task);
            self.respond(
                conn,
                Response::error(ErrorKind::WrongState, format!("task `{task}` has ended")),
            );
            return Ok(());
        };
        match &request.call_id {
            Some(id) => tracing::debug!(
                "task {task}: agent request {} (call {id})",
                request_summary(&request.body)
            ),
            None => tracing::debug!(
                "task {task}: agent request {}",
                request_summary(&request.body)
            ),
        }
        let role = request
            .token
            .as_deref()
            .and_then(|t| slot.controller.seats.iter().find(|s| s.token == t))
            .map(|s| s.role);
        duet_pair::failpoint!("request-read");
        let hop = duet_proto::hop_log::hop_log_path().map(|_| hop_key(&request));
        if let Some(hop) = &hop {
            duet_proto::hop_log::mark("engine.git_read", hop);
        }
        let is_hook = matches!(request.body, RequestBody::Hook { .. });
        let record = role.and_then(|role| {
            let setup = &slot.agents[usize::from(role == Role::Reviewer)];
            let codex_home = duet_agents::adapter::codex_home(&setup.profile);
            usage::record_of(task, role, setup.profile.kind, codex_home, &request.body)
        });
        // A reviewer's verdict or turn end: is the worktree still the commit under review?
        let guard = duet_pair::reviewer_guard::check_for(
            &slot.controller,
            &request,
            &slot.worktree,
            &slot.brief.branch,
        );
        let before = role.map(|r| slot.controller.state.mailbox.target(r));
        let actions = slot
            .controller
            .on_request(conn, request, git.as_ref(), now());
        duet_pair::failpoint!("decision-made");
        if let Some(hop) = &hop {
            duet_proto::hop_log::mark("engine.decided", hop);
        }
        if let (true, Some(role), Some(before)) = (is_hook, role, before) {
            let after = slot.controller.state.mailbox.target(role);
            slot.hook_moved(role, before, after);
        }
        if guard.is_some() {
            // What the worker is handed now waits for the check (see `WorkerHold`).
            slot.worker_hold.check_started();
        }
        self.apply(task, actions)?;
        self.count_tokens(record);
        self.guard_reviewer(guard);
        self.read_git_next(task);
        Ok(())
    }

    fn human_request(&mut self, conn: ConnId, request: Request) -> Result<(), DaemonError> {
        let task = match &request.body {
            RequestBody::Status { task } => {
                if let Some(task) = task
                    && self.backlog.get(task).is_none()
                {
                    self.respond(conn, unknown_task(task));
                    return Ok(());
                }
                let inputs = StatusInputs {
                    backlog: &self.backlog,
                    config: &self.setup.config,
                    repo_root: &self.setup.repo_root,
                    live: true,
                    dependency_rule: self.dependency_rule(),
                };
                let mut status = snapshot_now(inputs, &self.store, &self.pairs, task.as_deref());
                if let Some(merge) = &self.merge {
                    with_merge_queue(&mut status.tasks, &merge.rows());
                }
                self.respond(conn, Response::ok(ResponseBody::Status { status }));
                return Ok(());
            }
            RequestBody::Merge { task } => {
                if let Some(task) = task
                    && self.backlog.get(task).is_none()
                {
                    self.respond(conn, unknown_task(task));
                    return Ok(());
                }
                let response = match self.merge_requested(task.clone())? {
                    None => Response::ok(ResponseBody::Ack),
                    Some(why) => {
                        let what = task.as_deref().map_or_else(
                            || "cannot merge".to_owned(),
                            |task| format!("cannot merge task `{task}`"),
                        );
                        Response::error(ErrorKind::WrongState, format!("{what}: {why}"))
                    }
                };
                self.respond(conn, response);
                return Ok(());
            }
            // Subscriptions are served by the socket from the status feed; one that reaches
            // the loop came from elsewhere.
            RequestBody::Subscribe { .. } => {
                self.respond(
                    conn,
                    Response::error(ErrorKind::Unsupported, "subscribe is served by the socket"),
                );
                return Ok(());
            }
            RequestBody::Report { task } => {
                self.serve_report(conn, task);
                return Ok(());
            }
            RequestBody::Stop { stop_agents } => {
                self.stop = Some(*stop_agents);
                self.respond(conn, Response::ok(ResponseBody::Ack));
                return Ok(());
            }
            RequestBody::Say { task, .. }
            | RequestBody::Answer { task, .. }
            | RequestBody::Pause { task }
            | RequestBody::Resume { task }
            | RequestBody::Cancel { task } => task.clone(),
            _ => unreachable!("agent requests are routed by token"),
        };
        if matches!(
            request.body,
            RequestBody::Resume { .. } | RequestBody::Answer { .. }
        ) && self.usage.human_resumed(&task)
        {
            self.save_usage()?;
        }
        if let RequestBody::Answer { text, .. } = &request.body
            && self.answer_approval(&task, conn, text)
        {
            return Ok(());
        }
        if let Some(slot) = self.pairs.get_mut(&task) {
            // The human's requests change nothing that git decides: no read.
            let actions = slot.controller.on_request(conn, request, None, now());
            return self.apply(&task, actions);
        }
        if self.backlog.get(&task).is_none() || self.stored_state(&task).is_none() {
            self.respond(conn, unknown_task(&task));
            return Ok(());
        }
        // A task without a running pair: only its place in the queue can change, as the
        // engine's core decides.
        let ask = match &request.body {
            RequestBody::Say { .. } => HumanAsk::Say,
            RequestBody::Answer { .. } => HumanAsk::Answer,
            RequestBody::Pause { .. } => HumanAsk::Pause,
            RequestBody::Resume { .. } => HumanAsk::Resume,
            _ => HumanAsk::Cancel,
        };
        let mut state = self.engine_state();
        let actions = engine_core::handle(&mut state, EngineInput::HumanAsked { task, ask });
        for action in actions {
            match self.carry_out_one(action)? {
                None => {}
                Some(EngineAction::Withdraw { task }) => self.withdraw(&task)?,
                Some(EngineAction::Ack) => self.respond(conn, Response::ok(ResponseBody::Ack)),
                Some(EngineAction::Refuse(message)) => {
                    self.respond(conn, Response::error(ErrorKind::WrongState, message));
                }
                Some(other) => tracing::warn!("a human request's action left undone: {other:?}"),
            }
        }
        Ok(())
    }
}

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// Answers a report request off the loop: building a report reads the store's events and
    /// runs git, which must not hold up every pair; the answer goes out from there.
    fn serve_report(&mut self, conn: ConnId, task: &str) {
        let Some(task) = self.backlog.get(task).cloned() else {
            self.respond(conn, unknown_task(task));
            return;
        };
        let Some(reply) = self.pending.remove(&conn) else {
            return;
        };
        let root = self.setup.repo_root.clone();
        let config = self.setup.config.clone();
        tokio::task::spawn_blocking(move || {
            let db = root.join(duet_store::STATE_DB_RELATIVE_PATH);
            let built = duet_store::Store::open_read_only(db)
                .and_then(|store| finished_markdown(&root, &store, &config, &task));
            let id = task.id.to_string();
            let response = match built {
                Ok(Ok(markdown)) => Response::ok(ResponseBody::Report { task: id, markdown }),
                Ok(Err(why)) => Response::error(ErrorKind::WrongState, why),
                Err(err) => Response::error(
                    ErrorKind::Internal,
                    format!("failed to build the report of task `{id}`: {err}"),
                ),
            };
            // A client gone before the answer needs none.
            let _ = reply.send(response);
        });
    }
}

/// A hook payload's event name (claude's `hook_event_name`, codex's `type`), or `?`.
fn hook_event(payload: &serde_json::Value) -> &str {
    payload
        .get("hook_event_name")
        .or_else(|| payload.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("?")
}

/// A request in a few words, for the log (payloads can be long).
fn request_summary(body: &RequestBody) -> String {
    match body {
        RequestBody::Hook { source, payload } => {
            format!("hook {source:?} {}", hook_event(payload))
        }
        RequestBody::ToolCall { call } => {
            let text = format!("{call:?}");
            format!("tool call {}", text.chars().take(80).collect::<String>())
        }
        other => format!("{other:?}"),
    }
}

/// The hop log's marks of a commit: the messages it accepted and those it handed over.
pub(super) fn mark_committed(events: &[duet_store::NewEvent]) {
    duet_proto::hop_log::mark("engine.committed", events.len());
    for new in events {
        match &new.event {
            Event::MessageAccepted { id, .. } => duet_proto::hop_log::mark("engine.accepted", id),
            Event::Note { text }
                if text.starts_with("message ") && text.contains(" handed over") =>
            {
                duet_proto::hop_log::mark("engine.handed", text)
            }
            _ => {}
        }
    }
}

/// A request in the hop log: its call id, or its hook's event (no payload, no token).
fn hop_key(request: &Request) -> String {
    match (&request.call_id, &request.body) {
        (Some(id), _) => format!("call {id}"),
        (None, RequestBody::Hook { source, payload }) => {
            format!("hook {source:?} {}", hook_event(payload))
        }
        (None, body) => format!("{:?}", std::mem::discriminant(body)),
    }
}

/// A `request_plan_review`, whose read includes PLAN.md.
fn is_plan_request(body: &RequestBody) -> bool {
    matches!(
        body,
        RequestBody::ToolCall {
            call: ToolCall::RequestPlanReview { .. }
        }
    )
}

fn unknown_task(task: &str) -> Response {
    Response::error(ErrorKind::UnknownTask, format!("unknown task `{task}`"))
}
