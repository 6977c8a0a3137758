//! Tests of the pure accounting: sums, prices, budgets and limit reset times.

use super::*;

fn counts(input: u64, output: u64, cache_read: u64, cache_write: u64) -> TokenCounts {
    TokenCounts {
        input,
        output,
        cache_read,
        cache_write,
    }
}

fn price(input: f64, output: f64) -> ModelPrice {
    ModelPrice {
        input,
        output,
        cache_read: input / 10.0,
        cache_write: input * 1.25,
    }
}

#[test]
fn since_counts_only_growth_and_a_restart_whole() {
    let then = counts(100, 10, 1000, 5);
    assert_eq!(counts(150, 10, 1200, 5).since(&then), counts(50, 0, 200, 0));
    // A record that started over (smaller than before) counts whole.
    assert_eq!(counts(20, 12, 1000, 5).since(&then), counts(20, 2, 0, 0));
}

#[test]
fn the_longest_prefix_prices_a_model_and_default_the_rest() {
    let mut pricing = Pricing::default();
    pricing.models.insert("claude".into(), price(3.0, 15.0));
    pricing
        .models
        .insert("claude-opus".into(), price(15.0, 75.0));
    assert_eq!(pricing.price_of("claude-opus-4-1").unwrap().input, 15.0);
    assert_eq!(pricing.price_of("claude-sonnet-4").unwrap().input, 3.0);
    assert!(pricing.price_of("gpt-5").is_none());
    pricing.models.insert("default".into(), price(1.0, 2.0));
    assert_eq!(pricing.price_of("gpt-5").unwrap().output, 2.0);
}

#[test]
fn cost_is_usd_per_million_tokens_and_names_unpriced_models() {
    let mut pricing = Pricing::default();
    pricing.models.insert(
        "m".into(),
        ModelPrice {
            input: 2.0,
            output: 10.0,
            cache_read: 0.5,
            cache_write: 4.0,
        },
    );
    let mut usage = UsageByModel::new();
    usage.insert("m-1".into(), counts(1_000_000, 100_000, 2_000_000, 250_000));
    usage.insert("other".into(), counts(5, 5, 0, 0));
    let cost = pricing.cost(&usage);
    // 2.00 + 1.00 + 1.00 + 1.00
    assert!((cost.usd - 5.0).abs() < 1e-9, "{cost:?}");
    assert_eq!(cost.unpriced, vec!["other".to_owned()]);
    assert_eq!(
        total_counts(&usage),
        counts(1_000_005, 100_005, 2_000_000, 250_000)
    );
}

#[test]
fn budgets_parse_tokens_and_money() {
    assert_eq!(Budget::parse("2000000"), Ok(Budget::Tokens(2_000_000)));
    assert_eq!(Budget::parse("2M tokens"), Ok(Budget::Tokens(2_000_000)));
    assert_eq!(Budget::parse("500k"), Ok(Budget::Tokens(500_000)));
    assert_eq!(Budget::parse("$5"), Ok(Budget::Usd(5.0)));
    assert_eq!(Budget::parse("2.50 USD"), Ok(Budget::Usd(2.5)));
    assert!(Budget::parse("$0").is_err());
    assert!(Budget::parse("lots").is_err());
    assert!(Budget::parse("0").is_err());
}

#[test]
fn a_budget_warns_once_at_80_percent_and_pauses_once_at_100() {
    let budget = Budget::Tokens(1000);
    let mut marks = BudgetMarks::default();
    let spend = |tokens| Spend { tokens, usd: 0.0 };
    assert!(assess_budget(&budget, &spend(799), &mut marks).is_empty());
    assert_eq!(
        assess_budget(&budget, &spend(800), &mut marks),
        vec![BudgetAction::Warn { percent: 80 }]
    );
    assert!(
        assess_budget(&budget, &spend(900), &mut marks).is_empty(),
        "warned once only"
    );
    assert_eq!(
        assess_budget(&budget, &spend(1000), &mut marks),
        vec![BudgetAction::Pause { percent: 100 }]
    );
    assert!(
        assess_budget(&budget, &spend(1100), &mut marks).is_empty(),
        "paused once only"
    );
    waive(&mut marks);
    assert!(marks.waived);
    assert!(
        assess_budget(&budget, &spend(5000), &mut marks).is_empty(),
        "waived after the human resumed"
    );
}

#[test]
fn a_jump_past_100_percent_pauses_without_a_separate_warning() {
    let mut marks = BudgetMarks::default();
    let actions = assess_budget(
        &Budget::Usd(1.0),
        &Spend {
            tokens: 0,
            usd: 1.5,
        },
        &mut marks,
    );
    assert_eq!(actions, vec![BudgetAction::Pause { percent: 150 }]);
    assert!(marks.warned && marks.paused && !marks.waived);
}

#[test]
fn waiving_needs_a_pause_first() {
    let mut marks = BudgetMarks::default();
    waive(&mut marks);
    assert!(!marks.waived);
}

const NOW: u64 = 1_893_456_000; // 2030-01-01T00:00:00Z

#[test]
fn claude_epoch_form_gives_its_reset_time() {
    assert_eq!(
        limit_reset("Claude AI usage limit reached|1893459600", NOW),
        Some(NOW + 3600)
    );
    assert_eq!(
        limit_reset("Claude AI usage limit reached|1893459600000", NOW),
        Some(NOW + 3600)
    );
}

#[test]
fn relative_forms_count_from_now() {
    let codex = "You've hit your usage limit. Upgrade to Pro or try again in 2 hours 5 minutes.";
    assert_eq!(limit_reset(codex, NOW), Some(NOW + 2 * 3600 + 300));
    assert_eq!(
        limit_reset("rate limit: try again in 90s", NOW),
        Some(NOW + 90)
    );
    assert_eq!(
        limit_reset("429 Too Many Requests; retry-after: 120", NOW),
        Some(NOW + 120)
    );
}

#[test]
fn clock_and_rfc3339_forms_give_the_next_such_time() {
    assert_eq!(
        limit_reset("You've hit your limit · resets 3pm (UTC)", NOW),
        Some(NOW + 15 * 3600)
    );
    assert_eq!(
        limit_reset("5-hour limit reached, resets at 1:30am", NOW),
        Some(NOW + 5400)
    );
    assert_eq!(
        limit_reset("usage limit reached; resets at 2030-01-02T00:00:00Z.", NOW),
        Some(NOW + 86_400)
    );
    // A time already past today is tomorrow's.
    assert_eq!(
        limit_reset("usage limit reached, resets 00:00", NOW + 60),
        Some(NOW + 86_400)
    );
}

#[test]
fn codex_usage_limit_clock_time_is_read_with_its_full_stop_and_to_the_minute() {
    // What codex 0.171.0 records for `usage_limit_reached` (its clock time in its own zone).
    let codex = "You\u{2019}ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/settings/usage to purchase more credits or try again at 4:29 PM.";
    let at_429 = NOW + 16 * 3600 + 29 * 60;
    assert_eq!(limit_reset(codex, NOW), Some(at_429));
    // The reset was 4:29:41, rounded down to the minute: within that minute it is its end, not
    // tomorrow's 4:29 PM.
    assert_eq!(limit_reset(codex, at_429 + 20), Some(at_429 + 60));
    assert_eq!(limit_reset(codex, at_429 + 60), Some(at_429 + 86_400));
}

#[test]
fn the_park_ends_at_the_recorded_reset_else_the_texts_else_the_default() {
    let text = "API Error: Request rejected (429) · This request would exceed your account's rate limit. Please try again later.";
    assert_eq!(park_until(Some(NOW + 20), text, NOW), NOW + 20);
    assert_eq!(
        park_until(Some(NOW - 5), text, NOW),
        NOW + DEFAULT_PARK_SECS,
        "a recorded reset already past: the limit held beyond it"
    );
    assert_eq!(park_until(None, text, NOW), NOW + DEFAULT_PARK_SECS);
    assert_eq!(
        park_until(None, "rate limit: try again in 90s", NOW),
        NOW + 90
    );
}

#[test]
fn a_limit_without_a_readable_time_parks_for_the_default_and_other_text_is_no_limit() {
    assert_eq!(
        limit_reset("API Error: 429 usage limit reached", NOW),
        Some(NOW + DEFAULT_PARK_SECS)
    );
    assert_eq!(
        limit_reset("limit reached, resets 3pm (Europe/Berlin)", NOW),
        Some(NOW + DEFAULT_PARK_SECS)
    );
    assert_eq!(
        limit_reset("Claude AI usage limit reached|1000", NOW),
        Some(NOW + DEFAULT_PARK_SECS),
        "a past time"
    );
    assert_eq!(
        limit_reset("API Error: 500 internal server error", NOW),
        None
    );
    assert_eq!(limit_reset("the tests passed", NOW), None);
}

#[test]
fn task_tokens_keep_the_latest_count_of_each_record_and_sum_the_records() {
    let mut pricing = Pricing::default();
    pricing.models.insert(
        "m".into(),
        ModelPrice {
            input: 1.0,
            output: 1.0,
            cache_read: 1.0,
            cache_write: 1.0,
        },
    );
    let usage = |n| UsageByModel::from([("m".to_owned(), counts(n, 0, 0, 0))]);
    let mut task = TaskTokens::default();
    task.record("worker", "a.jsonl", usage(100));
    task.record("worker", "a.jsonl", usage(250)); // the same transcript, read again later
    task.record("worker", "b.jsonl", usage(50)); // a new session after a restart
    task.record("reviewer", "r.jsonl", usage(1_000_000));
    assert_eq!(total_counts(&task.usage(Some("worker"))).input, 300);
    assert_eq!(total_counts(&task.usage(None)).input, 1_000_300);
    let (spend, cost) = task.spend(&pricing);
    assert_eq!(spend.tokens, 1_000_300);
    assert!((cost.usd - 1.0003).abs() < 1e-9);
}
