//! duet.toml's `[pricing]` (USD per million tokens, by model name prefix) and `[budget]`
//! (`task` / `run`: tokens or money), read with the same checks as the rest of the file.

use toml_edit::{Item, TableLike};

use super::reader::{Reader, describe};
use crate::accounting::{Budget, ModelPrice, Pricing};

/// `[budget]`: spending limits; none by default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BudgetConfig {
    /// Per task (both agents of its pair together, over all its sessions).
    pub task: Option<Budget>,
    /// For the whole run (every task of one `duet run`).
    pub run: Option<Budget>,
}

pub(crate) const BUDGET_KEYS: &[&str] = &["task", "run"];
const PRICE_KEYS: &[&str] = &["input", "output", "cache_read", "cache_write"];

/// Reads `[budget]` and `[pricing]` of `top` into `budget` / `pricing`.
pub(crate) fn read_cost(
    r: &mut Reader,
    top: &dyn TableLike,
    budget: &mut BudgetConfig,
    pricing: &mut Pricing,
) {
    if let Some(table) = r.table(top, "budget", "budget") {
        r.check_keys(table, "budget", BUDGET_KEYS);
        if let Some(b) = read_budget(r, table, "task") {
            budget.task = Some(b);
        }
        if let Some(b) = read_budget(r, table, "run") {
            budget.run = Some(b);
        }
    }
    let Some(table) = r.table(top, "pricing", "pricing") else {
        return;
    };
    for (model, item) in table.iter() {
        let name = format!("pricing.\"{model}\"");
        let Some(entry) = item.as_table_like() else {
            r.error(
                item.span(),
                format!("`{name}` must be a table, found {}", describe(item)),
                "expected a table",
                Some(format!(
                    "write `\"{model}\" = {{ input = 3.0, output = 15.0 }}` (USD per million tokens)"
                )),
            );
            continue;
        };
        r.check_keys(entry, &name, PRICE_KEYS);
        let input = read_price(r, entry, "input", &name);
        let output = read_price(r, entry, "output", &name);
        let (Some(input), Some(output)) = (input, output) else {
            if !entry.contains_key("input") || !entry.contains_key("output") {
                r.error(
                    item.span(),
                    format!("`{name}` needs both `input` and `output`"),
                    "incomplete price",
                    None,
                );
            }
            continue;
        };
        let cache_read = read_price(r, entry, "cache_read", &name).unwrap_or(input / 10.0);
        let cache_write = read_price(r, entry, "cache_write", &name).unwrap_or(input * 1.25);
        pricing.models.insert(
            model.to_owned(),
            ModelPrice {
                input,
                output,
                cache_read,
                cache_write,
            },
        );
    }
}

fn read_budget(r: &mut Reader, table: &dyn TableLike, key: &str) -> Option<Budget> {
    let item = table.get(key)?;
    let name = format!("budget.{key}");
    let parsed = match item {
        Item::Value(v) if v.as_integer().is_some() => {
            let n = v.as_integer().unwrap_or(0);
            if n > 0 {
                Ok(Budget::Tokens(n as u64))
            } else {
                Err(format!("`{name}` must be greater than zero, found {n}"))
            }
        }
        Item::Value(v) if v.as_str().is_some() => {
            Budget::parse(v.as_str().unwrap_or("")).map_err(|why| format!("`{name}`: {why}"))
        }
        other => Err(format!(
            "`{name}` must be a number of tokens or a string such as \"$5\", found {}",
            describe(other)
        )),
    };
    match parsed {
        Ok(b) => Some(b),
        Err(message) => {
            r.error(
                item.span(),
                message,
                "not a budget",
                Some("write a number of tokens (2000000, \"2M tokens\") or money (\"$5\", \"5 USD\")".into()),
            );
            None
        }
    }
}

fn read_price(r: &mut Reader, table: &dyn TableLike, key: &str, section: &str) -> Option<f64> {
    let item = table.get(key)?;
    let value = item
        .as_float()
        .or_else(|| item.as_integer().map(|i| i as f64));
    match value {
        Some(v) if v.is_finite() && v >= 0.0 => Some(v),
        _ => {
            r.error(
                item.span(),
                format!(
                    "`{section}.{key}` must be a price in USD per million tokens (a number of at least 0), found {}",
                    describe(item)
                ),
                "expected a non-negative number",
                None,
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::accounting::Budget;
    use crate::config::Config;

    #[test]
    fn defaults_price_current_models_and_set_no_budget() {
        let c = Config::default();
        assert_eq!(c.budget.task, None);
        assert_eq!(c.budget.run, None);
        let sonnet = c.pricing.price_of("claude-sonnet-4-5-20250929").unwrap();
        assert_eq!((sonnet.input, sonnet.output), (3.0, 15.0));
        let opus41 = c.pricing.price_of("claude-opus-4-1-20250805").unwrap();
        assert_eq!(opus41.output, 75.0);
        let opus = c.pricing.price_of("claude-opus-4-5-20251101").unwrap();
        assert_eq!(opus.output, 25.0);
        assert_eq!(c.pricing.price_of("gpt-5-codex").unwrap().input, 1.25);
        assert_eq!(c.pricing.price_of("gpt-5-mini").unwrap().input, 0.25);
    }

    #[test]
    fn a_user_file_sets_budgets_and_adds_prices() {
        let src = "[budget]\ntask = \"$5\"\nrun = 3000000\n[pricing]\n\"my-model\" = { input = 2, output = 8.5 }\n";
        let c = Config::from_toml_str(src, "duet.toml").unwrap();
        assert_eq!(c.budget.task, Some(Budget::Usd(5.0)));
        assert_eq!(c.budget.run, Some(Budget::Tokens(3_000_000)));
        let p = c.pricing.price_of("my-model-1").unwrap();
        assert_eq!(
            (p.input, p.output, p.cache_read, p.cache_write),
            (2.0, 8.5, 0.2, 2.5)
        );
        assert!(
            c.pricing.price_of("claude-sonnet-4").is_some(),
            "defaults kept"
        );
    }

    #[test]
    fn bad_budgets_and_prices_are_reported_with_their_place() {
        let src = "[budget]\ntask = \"lots\"\nrun = 0\nweek = 1\n[pricing]\nm = { input = -1, output = 2, cahce_read = 1 }\nn = { input = 1 }\n";
        let lines = Config::from_toml_str(src, "duet.toml")
            .unwrap_err()
            .render_short();
        assert_eq!(
            lines,
            "duet.toml:2:8: error: `budget.task`: `lots` is neither a number of tokens (\"2M tokens\") nor money (\"$5\")\n\
             duet.toml:3:7: error: `budget.run` must be greater than zero, found 0\n\
             duet.toml:4:1: error: unknown key `week` in [budget]\n\
             duet.toml:6:15: error: `pricing.\"m\".input` must be a price in USD per million tokens (a number of at least 0), found an integer (-1)\n\
             duet.toml:6:31: error: unknown key `cahce_read` in [pricing.\"m\"]\n\
             duet.toml:7:5: error: `pricing.\"n\"` needs both `input` and `output`\n"
        );
    }
}
