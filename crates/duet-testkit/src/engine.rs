//! The script cursor: which scope a request belongs to, and which step (if any) answers it.

use std::collections::HashMap;

use crate::request_view::RequestView;
use crate::script::{DEFAULT_SCOPE, Reply, Script};

/// What the script says about one request.
#[derive(Debug, Clone)]
pub enum Decision {
    /// The scope's next step matched and is now used up.
    Step {
        /// Position in `Script::steps` (0-based).
        index: usize,
        /// The step's name.
        name: Option<String>,
        /// The scope.
        scope: String,
        /// What to answer.
        reply: Reply,
    },
    /// The scope's next step did not match (or none is left) but a fallback did.
    Fallback {
        /// Position in `Script::fallback` (0-based).
        index: usize,
        /// The fallback's name.
        name: Option<String>,
        /// The scope.
        scope: String,
        /// What to answer.
        reply: Reply,
    },
    /// Nothing matched.
    Unmatched {
        /// The scope.
        scope: String,
        /// Why the scope's next step did not match.
        reason: String,
    },
}

/// A script with one cursor per scope.
#[derive(Debug)]
pub struct Engine {
    script: Script,
    /// For each scope, the indexes of its steps in script order.
    scope_steps: HashMap<String, Vec<usize>>,
    /// For each scope, how many of its steps are used up.
    cursors: HashMap<String, usize>,
    consumed: usize,
}

impl Engine {
    /// Starts every cursor at the scope's first step.
    pub fn new(script: Script) -> Self {
        let mut scope_steps: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, step) in script.steps.iter().enumerate() {
            scope_steps
                .entry(step.scope().to_owned())
                .or_default()
                .push(index);
        }
        Engine {
            script,
            scope_steps,
            cursors: HashMap::new(),
            consumed: 0,
        }
    }

    /// The script being played.
    pub fn script(&self) -> &Script {
        &self.script
    }

    /// The scope owning `request`: the first `[[agent]]` whose selector matches, else
    /// [`DEFAULT_SCOPE`].
    pub fn scope_for(&self, request: &RequestView) -> String {
        self.script
            .agents
            .iter()
            .find(|a| a.selects(request))
            .map(|a| a.name.clone())
            .unwrap_or_else(|| DEFAULT_SCOPE.to_owned())
    }

    /// Matches `request` against its scope's next step, then the fallbacks; advances the
    /// scope's cursor on a step match.
    pub fn decide(&mut self, request: &RequestView) -> Decision {
        let scope = self.scope_for(request);
        let position = self.cursors.get(&scope).copied().unwrap_or(0);
        let next = self
            .scope_steps
            .get(&scope)
            .and_then(|steps| steps.get(position))
            .copied();
        let reason = match next {
            Some(index) => {
                let step = &self.script.steps[index];
                match step.matcher.mismatch(request) {
                    None => {
                        self.cursors.insert(scope.clone(), position + 1);
                        self.consumed += 1;
                        return Decision::Step {
                            index,
                            name: step.name.clone(),
                            scope,
                            reply: step.reply.clone(),
                        };
                    }
                    Some(why) => format!(
                        "scope {scope:?} is at steps[{index}]{}, which {why}",
                        step.name
                            .as_deref()
                            .map(|n| format!(" ({n})"))
                            .unwrap_or_default()
                    ),
                }
            }
            None => format!("scope {scope:?} has no steps left ({position} used)"),
        };
        for (index, fallback) in self.script.fallback.iter().enumerate() {
            if fallback.agent.as_deref().is_none_or(|a| a == scope)
                && fallback.matcher.mismatch(request).is_none()
            {
                return Decision::Fallback {
                    index,
                    name: fallback.name.clone(),
                    scope,
                    reply: fallback.reply.clone(),
                };
            }
        }
        Decision::Unmatched { scope, reason }
    }

    /// How many steps have been used up, over all scopes.
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// Indexes (in `Script::steps`) of the steps not used up yet.
    pub fn unconsumed(&self) -> Vec<usize> {
        let mut left: Vec<usize> = self
            .scope_steps
            .iter()
            .flat_map(|(scope, steps)| {
                let used = self.cursors.get(scope).copied().unwrap_or(0);
                steps[used.min(steps.len())..].iter().copied()
            })
            .collect();
        left.sort_unstable();
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::Api;

    fn request(api: Api, system: &str, user: &str) -> RequestView {
        RequestView {
            api,
            model: "m".into(),
            stream: true,
            system: system.into(),
            last_user_text: user.into(),
            all_user_text: vec![user.into()],
            tool_results: vec![],
            tools: vec![],
            is_title_request: false,
        }
    }

    #[test]
    fn each_scope_keeps_its_own_cursor() {
        let script = Script::from_toml_str(
            r#"
            [[agent]]
            name = "reviewer"
            system_contains = "REVIEWER"

            [[step]]
            match.user_contains = "one"
            reply.text = "w1"

            [[step]]
            agent = "reviewer"
            reply.text = "r1"

            [[step]]
            match.user_contains = "two"
            reply.text = "w2"
            "#,
        )
        .unwrap();
        let mut engine = Engine::new(script);
        let reviewer = request(Api::Openai, "you are REVIEWER", "anything");
        let Decision::Step { index, .. } = engine.decide(&reviewer) else {
            panic!("reviewer step should match")
        };
        assert_eq!(index, 1);
        assert!(matches!(
            engine.decide(&request(Api::Anthropic, "", "two")),
            Decision::Unmatched { .. }
        ));
        assert!(matches!(
            engine.decide(&request(Api::Anthropic, "", "one")),
            Decision::Step { index: 0, .. }
        ));
        assert!(matches!(
            engine.decide(&request(Api::Anthropic, "", "two")),
            Decision::Step { index: 2, .. }
        ));
        let Decision::Unmatched { reason, .. } = engine.decide(&reviewer) else {
            panic!("reviewer has no steps left")
        };
        assert!(reason.contains("no steps left"), "{reason}");
        assert_eq!(engine.consumed(), 3);
        assert!(engine.unconsumed().is_empty());
    }

    #[test]
    fn fallback_answers_without_advancing() {
        let script = Script::from_toml_str(
            r#"
            [[step]]
            match.user_contains = "go"
            reply.text = "went"

            [[fallback]]
            match.user_contains = "ping"
            reply.text = "pong"
            "#,
        )
        .unwrap();
        let mut engine = Engine::new(script);
        assert!(matches!(
            engine.decide(&request(Api::Anthropic, "", "ping")),
            Decision::Fallback { index: 0, .. }
        ));
        assert_eq!(engine.unconsumed(), [0]);
        assert!(matches!(
            engine.decide(&request(Api::Anthropic, "", "go")),
            Decision::Step { index: 0, .. }
        ));
    }
}
