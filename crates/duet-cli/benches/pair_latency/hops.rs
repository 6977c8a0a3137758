//! Where a message's time goes: the hop log (`duet_proto::hop_log`) of a bench run read back per
//! message, from the sender's model request to the receiver's, hop by hop.

use std::collections::HashMap;

use duet_proto::hop_log::Mark;

/// One message's way: the times (unix µs) it passed each hop, as far as the log shows them.
#[derive(Debug, Default, Clone)]
pub struct Way {
    /// The sender's model request answered with the `send_message` call.
    pub model_sent: u64,
    pub mcp_call: Option<u64>,
    pub engine_request: Option<u64>,
    pub git_read: Option<u64>,
    pub decided: Option<u64>,
    pub committed: Option<u64>,
    /// Given to the receiver's actor (an idle receiver) ...
    pub deliver: Option<u64>,
    pub actor_take: Option<u64>,
    pub actor_typed: Option<u64>,
    /// ... or handed over in the answer to claude's Stop hook (mid-turn).
    pub handed_at_hook: Option<u64>,
    /// The receiver's model request carrying it.
    pub model_got: u64,
    /// The sender's hooks that ran between its model's answer and its MCP call (claude's
    /// PreToolUse): each one's start and end.
    pub sender_hooks: Vec<(u64, u64)>,
    /// Hooks that ran between duet's hand-over and the receiver's model request (claude's
    /// UserPromptSubmit when it receives; the hop log does not say whose).
    pub receiver_hooks: Vec<(u64, u64)>,
}

/// The hop log's facts indexed by message key (`greet#3`): the call that sent it (by call
/// id) and what happened to it.
pub struct HopIndex {
    marks: Vec<Mark>,
    /// Message key → the call id whose decision accepted it.
    accepted_by: HashMap<String, String>,
}

impl HopIndex {
    pub fn new(marks: Vec<Mark>) -> Self {
        let mut accepted_by = HashMap::new();
        // The engine's loop is one thread: the messages accepted after a decision are its.
        let mut last_call: HashMap<u32, String> = HashMap::new();
        for mark in &marks {
            match mark.hop.as_str() {
                "engine.decided" => {
                    if let Some(call) = mark.detail.strip_prefix("call ") {
                        last_call.insert(mark.pid, call.to_owned());
                    } else {
                        last_call.remove(&mark.pid);
                    }
                }
                "engine.accepted" => {
                    if let Some(call) = last_call.get(&mark.pid) {
                        accepted_by.insert(mark.detail.clone(), call.clone());
                    }
                }
                _ => {}
            }
        }
        HopIndex { marks, accepted_by }
    }

    fn first(&self, hop: &str, wanted: impl Fn(&Mark) -> bool) -> Option<&Mark> {
        self.marks.iter().find(|m| m.hop == hop && wanted(m))
    }

    /// The way of message `key` (`greet#3`, number `id`), sent by the model request at
    /// `model_sent` and received by the one at `model_got`.
    pub fn way(&self, key: &str, id: u64, model_sent: u64, model_got: u64) -> Way {
        let mut way = Way {
            model_sent,
            model_got,
            ..Way::default()
        };
        let number = format!("#{id}");
        let carries = |detail: &str| {
            detail
                .split([' ', ','])
                .any(|part| part.trim_end_matches(',') == number)
        };
        let after = |t: u64| move |m: &Mark| m.unix_us >= t;
        if let Some(call) = self.accepted_by.get(key) {
            let of_call = |m: &Mark| m.detail.ends_with(call.as_str());
            way.mcp_call = self.first("mcp.call", of_call).map(|m| m.unix_us);
            let engine = |hop: &str| {
                self.first(hop, |m| m.detail == format!("call {call}"))
                    .map(|m| m.unix_us)
            };
            way.engine_request = engine("engine.request");
            way.git_read = engine("engine.git_read");
            way.decided = engine("engine.decided");
        }
        way.committed = self
            .first("engine.accepted", |m| m.detail == key)
            .map(|m| m.unix_us);
        let from = way.committed.unwrap_or(model_sent);
        way.deliver = self
            .first("engine.deliver", |m| after(from)(m) && carries(&m.detail))
            .map(|m| m.unix_us);
        way.actor_take = self
            .first("actor.take", |m| after(from)(m) && carries(&m.detail))
            .map(|m| m.unix_us);
        way.actor_typed = self
            .first("actor.typed", |m| after(from)(m) && carries(&m.detail))
            .map(|m| m.unix_us);
        way.handed_at_hook = self
            .first("engine.handed", |m| {
                m.detail
                    .starts_with(&format!("message {key} handed over (StopHook"))
            })
            .map(|m| m.unix_us);
        way.sender_hooks = self.hooks_between(model_sent, way.mcp_call.unwrap_or(model_got));
        if let Some(handed) = way.actor_typed.or(way.handed_at_hook) {
            way.receiver_hooks = self.hooks_between(handed, model_got);
        }
        way
    }

    /// Each hook run (start, answered) wholly between `from` and `until`.
    fn hooks_between(&self, from: u64, until: u64) -> Vec<(u64, u64)> {
        let mut starts: HashMap<u32, u64> = HashMap::new();
        let mut runs = Vec::new();
        for mark in self
            .marks
            .iter()
            .filter(|m| m.unix_us >= from && m.unix_us <= until)
        {
            match mark.hop.as_str() {
                "hook.start" => {
                    starts.insert(mark.pid, mark.unix_us);
                }
                "hook.answered" => {
                    if let Some(start) = starts.remove(&mark.pid) {
                        runs.push((start, mark.unix_us));
                    }
                }
                _ => {}
            }
        }
        runs
    }
}

/// The hops printed, each as (name, from, to) over a [`Way`].
type Hop = (
    &'static str,
    fn(&Way) -> Option<u64>,
    fn(&Way) -> Option<u64>,
);

const HOPS: &[Hop] = &[
    (
        "sender CLI: model answer -> MCP call",
        |w| Some(w.model_sent),
        |w| w.mcp_call,
    ),
    (
        "  of which hooks ran (claude's PreToolUse)",
        |_| Some(0),
        |w| Some(w.sender_hooks.iter().map(|(s, e)| e - s).sum()),
    ),
    (
        "duet mcp -> engine request",
        |w| w.mcp_call,
        |w| w.engine_request,
    ),
    (
        "engine: git read (off the loop)",
        |w| w.engine_request,
        |w| w.git_read,
    ),
    ("engine: decision", |w| w.git_read, |w| w.decided),
    ("engine: store commit", |w| w.decided, |w| w.committed),
    (
        "engine -> actor (idle receiver)",
        |w| w.committed,
        |w| w.deliver,
    ),
    ("actor queue", |w| w.deliver, |w| w.actor_take),
    (
        "actor send (tmux / turn/start|steer)",
        |w| w.actor_take,
        |w| w.actor_typed,
    ),
    (
        "receiver CLI: sent -> model request",
        |w| w.actor_typed,
        |w| Some(w.model_got),
    ),
    (
        "  of which hooks ran (either side's)",
        |w| w.actor_typed.map(|_| 0),
        |w| Some(w.receiver_hooks.iter().map(|(s, e)| e - s).sum()),
    ),
    (
        "wait for claude's Stop hook (mid-turn)",
        |w| w.committed,
        |w| w.handed_at_hook,
    ),
    (
        "receiver CLI: Stop-hook answer -> model request",
        |w| w.handed_at_hook,
        |w| Some(w.model_got),
    ),
];

/// Prints each hop's median and p90 (ms) over `ways`, and one median message's timeline.
pub fn report(what: &str, ways: &[Way]) {
    println!("    {what}, hop by hop (median / p90 ms, n):");
    for (name, from, to) in HOPS {
        let mut ms: Vec<f64> = ways
            .iter()
            .filter_map(|w| Some((to(w)?.checked_sub(from(w)?)?) as f64 / 1000.0))
            .collect();
        if ms.is_empty() {
            continue;
        }
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
        println!(
            "      {name:<48} {:>7.1} / {:>7.1}  ({})",
            at(0.5),
            at(0.9),
            ms.len()
        );
    }
}
