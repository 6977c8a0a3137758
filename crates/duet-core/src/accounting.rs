//! Token accounting, pure: token counts and their sums, prices (USD per million tokens, by
//! model), budgets for a task or the run with their 80 % warning and 100 % pause, and reading
//! a usage-limit or rate-limit answer's reset time. No IO, no clock: `now` is passed in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Tokens one agent (or a task, or the run) used. `input` excludes cached input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    /// Input tokens not read from the prompt cache.
    pub input: u64,
    /// Output tokens (reasoning included).
    pub output: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write: u64,
}

impl TokenCounts {
    /// All four counts together.
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }

    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &TokenCounts) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
    }

    /// The part of `self` that `earlier` did not have yet (counts only grow; a smaller count,
    /// e.g. a record that started over, counts whole).
    pub fn since(&self, earlier: &TokenCounts) -> TokenCounts {
        let part = |now: u64, then: u64| if now >= then { now - then } else { now };
        TokenCounts {
            input: part(self.input, earlier.input),
            output: part(self.output, earlier.output),
            cache_read: part(self.cache_read, earlier.cache_read),
            cache_write: part(self.cache_write, earlier.cache_write),
        }
    }
}

/// Token counts by model name, as the CLIs' records report them.
pub type UsageByModel = BTreeMap<String, TokenCounts>;

/// What a model costs, in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Uncached input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Input read from the cache.
    pub cache_read: f64,
    /// Input written to the cache.
    pub cache_write: f64,
}

impl ModelPrice {
    /// The cost of `counts` at this price, in USD.
    pub fn cost(&self, counts: &TokenCounts) -> f64 {
        (counts.input as f64 * self.input
            + counts.output as f64 * self.output
            + counts.cache_read as f64 * self.cache_read
            + counts.cache_write as f64 * self.cache_write)
            / 1_000_000.0
    }
}

/// The price table: model name prefixes to prices. The longest matching prefix wins, so
/// `claude-opus` covers `claude-opus-4-1-20250805`; `default` (if present) prices the rest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pricing {
    /// Prefix to price.
    pub models: BTreeMap<String, ModelPrice>,
}

/// A cost, with the models no price was found for (their tokens cost nothing in `usd`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Cost {
    /// USD.
    pub usd: f64,
    /// Models without a price.
    pub unpriced: Vec<String>,
}

impl Pricing {
    /// The price of `model`: the longest prefix, else `default`.
    pub fn price_of(&self, model: &str) -> Option<&ModelPrice> {
        self.models
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, price)| price)
            .or_else(|| self.models.get("default"))
    }

    /// The cost of usage by model.
    pub fn cost(&self, usage: &UsageByModel) -> Cost {
        let mut cost = Cost::default();
        for (model, counts) in usage {
            match self.price_of(model) {
                Some(price) => cost.usd += price.cost(counts),
                None if counts.total() > 0 => cost.unpriced.push(model.clone()),
                None => {}
            }
        }
        cost
    }
}

/// Sums usage by model into one count.
pub fn total_counts(usage: &UsageByModel) -> TokenCounts {
    let mut total = TokenCounts::default();
    for counts in usage.values() {
        total.add(counts);
    }
    total
}

/// One task's tokens from its agents' records: the latest counts of each (role, record), as
/// every count event carries a whole record's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskTokens {
    records: BTreeMap<(String, String), UsageByModel>,
}

impl TaskTokens {
    /// A record's counts, replacing what the same record said before.
    pub fn record(&mut self, role: &str, record: &str, usage: UsageByModel) {
        self.records
            .insert((role.to_owned(), record.to_owned()), usage);
    }

    /// Usage by model of one role (`worker`, `reviewer`), or of all with `None`.
    pub fn usage(&self, role: Option<&str>) -> UsageByModel {
        let mut out = UsageByModel::new();
        for ((r, _), usage) in &self.records {
            if role.is_some_and(|want| want != r) {
                continue;
            }
            for (model, counts) in usage {
                out.entry(model.clone()).or_default().add(counts);
            }
        }
        out
    }

    /// What the task spent, priced by `pricing`.
    pub fn spend(&self, pricing: &Pricing) -> (Spend, Cost) {
        let usage = self.usage(None);
        let cost = pricing.cost(&usage);
        let spend = Spend {
            tokens: total_counts(&usage).total(),
            usd: cost.usd,
        };
        (spend, cost)
    }
}

/// A budget: a number of tokens (all four kinds together) or an amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    /// Tokens.
    Tokens(u64),
    /// USD.
    Usd(f64),
}

impl Budget {
    /// Reads `2000000` (tokens), `"2M tokens"`, `"500k tokens"`, `"$5"`, `"5 USD"`, `"2.50 usd"`.
    pub fn parse(text: &str) -> Result<Budget, String> {
        let t = text.trim().to_ascii_lowercase();
        let money = t
            .strip_prefix('$')
            .map(str::trim)
            .or_else(|| t.strip_suffix("usd").map(str::trim));
        if let Some(amount) = money {
            return match amount.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => Ok(Budget::Usd(v)),
                _ => Err(format!("`{text}` is not a positive amount of USD")),
            };
        }
        let number = t.strip_suffix("tokens").unwrap_or(&t).trim();
        let (digits, scale) = match number.as_bytes().last() {
            Some(b'k') => (&number[..number.len() - 1], 1_000.0),
            Some(b'm') => (&number[..number.len() - 1], 1_000_000.0),
            _ => (number, 1.0),
        };
        match digits.trim().replace('_', "").parse::<f64>() {
            Ok(v) if v.is_finite() && v * scale >= 1.0 => Ok(Budget::Tokens((v * scale) as u64)),
            _ => Err(format!(
                "`{text}` is neither a number of tokens (\"2M tokens\") nor money (\"$5\")"
            )),
        }
    }

    /// How much of this budget `spend` used, as a fraction (1.0 = all of it).
    pub fn used(&self, spend: &Spend) -> f64 {
        match *self {
            Budget::Tokens(limit) => spend.tokens as f64 / limit as f64,
            Budget::Usd(limit) => spend.usd / limit,
        }
    }

    /// `2000000 tokens` / `$5.00`.
    pub fn describe(&self) -> String {
        match self {
            Budget::Tokens(n) => format!("{n} tokens"),
            Budget::Usd(v) => format!("${v:.2}"),
        }
    }
}

/// What a task or the run has spent so far.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Spend {
    /// Tokens, all kinds together.
    pub tokens: u64,
    /// USD (models without a price count nothing).
    pub usd: f64,
}

/// The fraction of a budget at which the human is told.
pub const WARN_AT: f64 = 0.8;

/// What was already done about one budget (stored with the task / the run so a restart does
/// not warn twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BudgetMarks {
    /// The 80 % note went out.
    pub warned: bool,
    /// The 100 % pause happened.
    pub paused: bool,
    /// The human resumed after the pause: the budget no longer pauses (it still shows).
    pub waived: bool,
}

/// What to do about a budget after new spend.
#[derive(Debug, Clone, PartialEq)]
pub enum BudgetAction {
    /// Tell the human (note + notify): `percent` of the budget is used.
    Warn {
        /// Whole percent used.
        percent: u32,
    },
    /// Pause the pair; it needs the human.
    Pause {
        /// Whole percent used.
        percent: u32,
    },
}

/// Decides what `spend` against `budget` calls for, given what was done already, and marks
/// it done. At most one warning and one pause per budget; none after the human waived it.
pub fn assess_budget(budget: &Budget, spend: &Spend, marks: &mut BudgetMarks) -> Vec<BudgetAction> {
    let used = budget.used(spend);
    let percent = (used * 100.0).floor().min(u32::MAX as f64) as u32;
    let mut actions = Vec::new();
    if marks.waived {
        return actions;
    }
    if used >= 1.0 && !marks.paused {
        marks.paused = true;
        marks.warned = true;
        actions.push(BudgetAction::Pause { percent });
    } else if used >= WARN_AT && !marks.warned {
        marks.warned = true;
        actions.push(BudgetAction::Warn { percent });
    }
    actions
}

/// Marks a paused budget waived: the human resumed the pair.
pub fn waive(marks: &mut BudgetMarks) {
    if marks.paused {
        marks.waived = true;
    }
}

/// How long to park when a limit answer names no reset time.
pub const DEFAULT_PARK_SECS: u64 = 15 * 60;

/// Reads a usage-limit or rate-limit answer and returns when it resets (unix seconds), or
/// `None` if `text` is no such answer. A limit answer without a readable time parks for
/// [`DEFAULT_PARK_SECS`]. Forms read: claude's `Claude AI usage limit reached|<unix secs>`,
/// `resets 3pm (UTC)` / `resets at 15:30`, an RFC 3339 time after `resets`/`reset at`/
/// `try again at`, codex's `try again in 2 hours 5 minutes`, and `retry-after: N`.
pub fn limit_reset(text: &str, now: u64) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let is_limit = [
        "usage limit",
        "rate limit",
        "rate_limit",
        "hit your limit",
        "limit reached",
        "429",
        "too many requests",
        "retry-after",
    ]
    .iter()
    .any(|k| lower.contains(k));
    if !is_limit {
        return None;
    }
    let at = epoch_after_bar(&lower)
        .or_else(|| relative(&lower).map(|secs| now + secs))
        .or_else(|| rfc3339_after(&lower))
        .or_else(|| clock_time(&lower, now));
    Some(at.filter(|t| *t > now).unwrap_or(now + DEFAULT_PARK_SECS))
}

/// When a parked seat is told to go on (unix seconds): the reset time the CLI recorded as a time
/// of its own (`recorded`) if it is still ahead, else the one [`limit_reset`] reads in the
/// error's text, else [`DEFAULT_PARK_SECS`] from `now`.
pub fn park_until(recorded: Option<u64>, text: &str, now: u64) -> u64 {
    recorded
        .filter(|at| *at > now)
        .or_else(|| limit_reset(text, now))
        .unwrap_or(now + DEFAULT_PARK_SECS)
}

fn epoch_after_bar(text: &str) -> Option<u64> {
    let (_, rest) = text.split_once("limit reached|")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().ok()?;
    // Milliseconds if it is far too large for seconds.
    Some(if n > 100_000_000_000 { n / 1000 } else { n })
}

fn relative(text: &str) -> Option<u64> {
    if let Some((_, rest)) = text.split_once("retry-after:") {
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        return digits.parse().ok();
    }
    let (_, rest) = text
        .split_once("try again in ")
        .or_else(|| text.split_once("resets in "))?;
    let mut secs = 0u64;
    let mut found = false;
    let words: Vec<&str> = rest
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut i = 0;
    while i < words.len() {
        let (num, unit) = split_number(words[i]);
        let Some(num) = num else { break };
        let unit = if unit.is_empty() {
            i += 1;
            words.get(i).copied().unwrap_or("")
        } else {
            unit
        };
        let unit = unit.trim_end_matches(['.', ';']);
        let scale = match unit {
            u if u.starts_with('d') => 86_400,
            u if u.starts_with('h') => 3_600,
            u if u.starts_with("mi") || u == "m" => 60,
            u if u.starts_with('s') => 1,
            _ => break,
        };
        secs += (num * scale as f64) as u64;
        found = true;
        i += 1;
        if words.get(i) == Some(&"and") {
            i += 1;
        }
    }
    found.then_some(secs)
}

fn split_number(word: &str) -> (Option<f64>, &str) {
    let end = word
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(word.len());
    (word[..end].parse().ok(), &word[end..])
}

fn rfc3339_after(text: &str) -> Option<u64> {
    for key in ["resets at ", "reset at ", "resets ", "try again at "] {
        if let Some((_, rest)) = text.split_once(key) {
            let word = rest
                .split_whitespace()
                .next()?
                .trim_end_matches(['.', ',', ')']);
            if let Ok(t) = humantime::parse_rfc3339_weak(&word.to_ascii_uppercase()) {
                return t
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs());
            }
        }
    }
    None
}

/// `resets 3pm`, `resets 3:30pm (utc)`, `try again at 15:05`: the next such time after `now`,
/// in UTC. A named zone other than UTC is not read (None: the default park applies).
fn clock_time(text: &str, now: u64) -> Option<u64> {
    let (_, rest) = ["resets at ", "resets ", "try again at "]
        .iter()
        .find_map(|k| text.split_once(k))?;
    let mut words = rest.split_whitespace();
    let mut word = words.next()?.to_owned();
    let next = words.next().unwrap_or("");
    // codex: `try again at 4:29 PM.`
    let next_word = next.trim_end_matches(['.', ',', ';']);
    if next_word == "am" || next_word == "pm" {
        word.push_str(next_word);
    } else if next == "am" || next == "pm" {
        word.push_str(next);
    } else if next.starts_with('(') && !next.starts_with("(utc") && !next.starts_with("(gmt") {
        return None;
    }
    let word = word.trim_end_matches(['.', ',']);
    let (clock, pm) = if let Some(c) = word.strip_suffix("pm") {
        (c, Some(true))
    } else if let Some(c) = word.strip_suffix("am") {
        (c, Some(false))
    } else {
        (word, None)
    };
    let (h, m) = match clock.split_once(':') {
        Some((h, m)) => (h.parse::<u64>().ok()?, m.parse::<u64>().ok()?),
        None if pm.is_some() => (clock.parse::<u64>().ok()?, 0),
        None => return None,
    };
    let h = match pm {
        Some(true) if h < 12 => h + 12,
        Some(false) if h == 12 => 0,
        _ => h,
    };
    if h > 23 || m > 59 {
        return None;
    }
    let day = now - now % 86_400;
    let at = day + h * 3600 + m * 60;
    // A time to the minute that is the current minute (codex rounds `4:29:41` down to `4:29`)
    // means the end of it, not the same time tomorrow.
    Some(if at > now {
        at
    } else if now < at + 60 {
        at + 60
    } else {
        at + 86_400
    })
}

#[cfg(test)]
#[path = "accounting/tests.rs"]
mod tests;
