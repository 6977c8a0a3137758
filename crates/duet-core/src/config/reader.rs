//! Schema-checked reading of a span-preserving TOML tree: typed getters that record a
//! diagnostic (with span and hint) for every unknown key, wrong type or bad value, and go on.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml_edit::{Item, TableLike, Value};

use crate::diagnostic::{Diagnostic, SourceFile, did_you_mean};

/// A value together with where it was written, so later checks can point at it.
#[derive(Debug, Clone)]
pub(crate) struct At<T> {
    pub value: T,
    pub span: Option<Range<usize>>,
}

/// Reads one file; collects every problem instead of stopping at the first.
#[derive(Debug)]
pub(crate) struct Reader {
    pub file: Arc<SourceFile>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses `file` into a span-keeping document, or records the syntax error.
pub(crate) fn parse_document(
    file: &Arc<SourceFile>,
) -> Result<toml_edit::Document<String>, Diagnostic> {
    toml_edit::Document::parse(file.text().to_owned()).map_err(|err| {
        let message = err.message().trim_end();
        let span = err.span();
        let key = span.clone().and_then(|s| file.text().get(s)).map(str::trim);
        match key {
            // toml_edit does not name the key; the span does.
            Some(key) if message == "duplicate key" && !key.is_empty() => {
                Diagnostic::error(format!("duplicate key `{key}`"))
                    .at(file, span)
                    .with_label("set again here")
                    .with_hint("a key may appear only once in a table; remove one of them")
            }
            _ => Diagnostic::error(format!("TOML syntax error: {message}"))
                .at(file, span)
                .with_label("here")
                .with_hint("see https://toml.io for the TOML syntax"),
        }
    })
}

impl Reader {
    pub fn new(file: &Arc<SourceFile>) -> Self {
        Reader {
            file: Arc::clone(file),
            diagnostics: Vec::new(),
        }
    }

    /// The problems in source order (problems about the whole file first).
    pub fn into_sorted(self) -> Vec<Diagnostic> {
        let mut diagnostics = self.diagnostics;
        diagnostics.sort_by_key(|d| d.span.as_ref().map(|s| s.start));
        diagnostics
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    pub fn error(
        &mut self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        label: impl Into<String>,
        hint: Option<String>,
    ) {
        let mut d = Diagnostic::error(message)
            .at(&self.file, span)
            .with_label(label);
        d.hint = hint;
        self.diagnostics.push(d);
    }

    /// Reports every key of `table` that is not in `allowed`. `section` names the table in
    /// messages (`""` for the top level).
    pub fn check_keys(&mut self, table: &dyn TableLike, section: &str, allowed: &[&str]) {
        for (key, _) in table.iter() {
            if allowed.contains(&key) {
                continue;
            }
            let span = table.key(key).and_then(|k| k.span());
            let place = if section.is_empty() {
                String::new()
            } else {
                format!(" in [{section}]")
            };
            let hint = match did_you_mean(key, allowed.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("expected one of: {}", allowed.join(", ")),
            };
            self.error(
                span,
                format!("unknown key `{key}`{place}"),
                "unknown key",
                Some(hint),
            );
        }
    }

    fn wrong_type(&mut self, name: &str, item: &Item, expected: &str) {
        self.error(
            item.span(),
            format!("`{name}` must be {expected}, found {}", describe(item)),
            format!("expected {expected}"),
            None,
        );
    }

    /// Returns the sub-table `key`, reporting it if it is not a table.
    pub fn table<'a>(
        &mut self,
        table: &'a dyn TableLike,
        key: &str,
        name: &str,
    ) -> Option<&'a dyn TableLike> {
        let item = table.get(key)?;
        match item.as_table_like() {
            Some(t) => Some(t),
            None => {
                self.wrong_type(name, item, "a table");
                None
            }
        }
    }

    pub fn string(&mut self, table: &dyn TableLike, key: &str, name: &str) -> Option<At<String>> {
        let item = table.get(key)?;
        match item.as_str() {
            Some(s) => Some(At {
                value: s.to_owned(),
                span: item.span(),
            }),
            None => {
                self.wrong_type(name, item, "a string");
                None
            }
        }
    }

    /// A string that must not be empty or only whitespace.
    pub fn non_empty_string(
        &mut self,
        table: &dyn TableLike,
        key: &str,
        name: &str,
    ) -> Option<At<String>> {
        let s = self.string(table, key, name)?;
        if s.value.trim().is_empty() {
            self.error(
                s.span,
                format!("`{name}` must not be empty"),
                "empty string",
                None,
            );
            return None;
        }
        Some(s)
    }

    pub fn bool(&mut self, table: &dyn TableLike, key: &str, name: &str) -> Option<bool> {
        let item = table.get(key)?;
        match item.as_bool() {
            Some(b) => Some(b),
            None => {
                self.wrong_type(name, item, "true or false");
                None
            }
        }
    }

    pub fn integer(&mut self, table: &dyn TableLike, key: &str, name: &str) -> Option<i64> {
        let item = table.get(key)?;
        match item.as_integer() {
            Some(i) => Some(i),
            None => {
                self.wrong_type(name, item, "an integer");
                None
            }
        }
    }

    /// An integer of at least 1 (counts and limits, where 0 would silently disable something).
    pub fn positive(&mut self, table: &dyn TableLike, key: &str, name: &str) -> Option<NonZeroU32> {
        let item = table.get(key)?;
        let Some(i) = item.as_integer() else {
            self.wrong_type(name, item, "a positive integer");
            return None;
        };
        if i < 1 {
            self.error(
                item.span(),
                format!("`{name}` must be greater than zero, found {i}"),
                "must be at least 1",
                None,
            );
            return None;
        }
        match u32::try_from(i).ok().and_then(NonZeroU32::new) {
            Some(n) => Some(n),
            None => {
                self.error(
                    item.span(),
                    format!("`{name}` is too large: {i}"),
                    format!("must be at most {}", u32::MAX),
                    None,
                );
                None
            }
        }
    }

    /// A humantime duration string such as "15m" or "1h 30m"; zero is refused.
    pub fn duration(&mut self, table: &dyn TableLike, key: &str, name: &str) -> Option<Duration> {
        let item = table.get(key)?;
        let hint = Some("write a duration like \"90s\", \"15m\" or \"1h 30m\"".to_owned());
        let Some(text) = item.as_str() else {
            self.error(
                item.span(),
                format!(
                    "`{name}` must be a duration string, found {}",
                    describe(item)
                ),
                "expected a duration string",
                hint,
            );
            return None;
        };
        match humantime::parse_duration(text) {
            Ok(d) if d.is_zero() => {
                self.error(
                    item.span(),
                    format!("`{name}` must be longer than zero"),
                    "zero duration",
                    hint,
                );
                None
            }
            Ok(d) => Some(d),
            Err(err) => {
                self.error(
                    item.span(),
                    format!("`{name}` is not a valid duration: {err}"),
                    "invalid duration",
                    hint,
                );
                None
            }
        }
    }

    /// An array of strings, each with its span.
    pub fn string_array(
        &mut self,
        table: &dyn TableLike,
        key: &str,
        name: &str,
    ) -> Option<Vec<At<String>>> {
        let item = table.get(key)?;
        let Some(array) = item.as_array() else {
            self.wrong_type(name, item, "an array of strings");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for value in array.iter() {
            match value.as_str() {
                Some(s) => out.push(At {
                    value: s.to_owned(),
                    span: value.span(),
                }),
                None => {
                    ok = false;
                    self.error(
                        value.span(),
                        format!(
                            "`{name}` entries must be strings, found {}",
                            describe_value(value)
                        ),
                        "expected a string",
                        None,
                    );
                }
            }
        }
        ok.then_some(out)
    }

    /// A table of string values (environment variables).
    pub fn string_map(
        &mut self,
        table: &dyn TableLike,
        key: &str,
        name: &str,
    ) -> Option<BTreeMap<String, String>> {
        let map = self.table(table, key, name)?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, item) in map.iter() {
            match item.as_str() {
                Some(v) => {
                    out.insert(k.to_owned(), v.to_owned());
                }
                None => {
                    ok = false;
                    self.wrong_type(&format!("{name}.{k}"), item, "a string");
                }
            }
        }
        ok.then_some(out)
    }
}

/// "a string", "an integer (4)", ... for messages about wrong types.
pub(crate) fn describe(item: &Item) -> String {
    match item {
        Item::None => "nothing".to_owned(),
        Item::Value(v) => describe_value(v),
        Item::Table(_) => "a table".to_owned(),
        Item::ArrayOfTables(_) => "an array of tables".to_owned(),
    }
}

fn describe_value(value: &Value) -> String {
    match value {
        Value::String(_) => "a string".to_owned(),
        Value::Integer(i) => format!("an integer ({})", i.value()),
        Value::Float(_) => "a float".to_owned(),
        Value::Boolean(b) => format!("a boolean ({})", b.value()),
        Value::Datetime(_) => "a date-time".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::InlineTable(_) => "an inline table".to_owned(),
    }
}
