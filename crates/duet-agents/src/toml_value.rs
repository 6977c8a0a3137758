//! A small TOML value encoder for codex `-c key=value` overrides (strings, arrays, inline tables).

use std::collections::BTreeMap;

/// A TOML value as written on codex's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TomlValue {
    String(String),
    Bool(bool),
    Array(Vec<TomlValue>),
    /// An inline table, keys in sorted order (so the output is stable).
    Table(BTreeMap<String, TomlValue>),
}

impl TomlValue {
    pub fn string(text: impl Into<String>) -> Self {
        TomlValue::String(text.into())
    }

    pub fn strings<I, S>(items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TomlValue::Array(items.into_iter().map(TomlValue::string).collect())
    }

    /// The value in TOML syntax, on one line.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            TomlValue::String(text) => out.push_str(&quote(text)),
            TomlValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            TomlValue::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            TomlValue::Table(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    out.push_str(if i > 0 { ", " } else { " " });
                    out.push_str(&encode_key(key));
                    out.push_str(" = ");
                    value.write(out);
                }
                out.push_str(if entries.is_empty() { "}" } else { " }" });
            }
        }
    }
}

/// A TOML basic string on one line: `"`, `\` and control characters escaped.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key as TOML wants it: bare when it consists of `A-Za-z0-9_-` only, quoted otherwise.
pub fn encode_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { key.to_owned() } else { quote(key) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `key = <encoded>` back with the toml crate: what codex does with `-c`.
    fn round_trip(value: &TomlValue) -> toml::Value {
        let doc: toml::Table = format!("v = {}", value.encode()).parse().unwrap();
        doc["v"].clone()
    }

    #[test]
    fn strings_with_quotes_backslashes_and_newlines_survive() {
        for text in [
            "plain",
            "with \"quotes\"",
            "back\\slash",
            "two\nlines",
            "tab\there",
            "'single'",
            "",
            "ünïcode ✓",
            "bell\u{7}del\u{7f}",
        ] {
            let encoded = TomlValue::string(text).encode();
            assert!(!encoded.contains('\n'), "{encoded}");
            assert_eq!(
                round_trip(&TomlValue::string(text)),
                toml::Value::String(text.into())
            );
        }
    }

    #[test]
    fn arrays_and_inline_tables_encode_on_one_line() {
        let mut env = BTreeMap::new();
        env.insert("DUET_SOCKET".to_owned(), TomlValue::string("/tmp/a b.sock"));
        env.insert("weird.key".to_owned(), TomlValue::string("x"));
        let table = TomlValue::Table(env);
        assert_eq!(
            table.encode(),
            r#"{ DUET_SOCKET = "/tmp/a b.sock", "weird.key" = "x" }"#
        );
        let parsed = round_trip(&table);
        assert_eq!(parsed["weird.key"].as_str(), Some("x"));
        assert_eq!(TomlValue::Table(BTreeMap::new()).encode(), "{}");
        assert_eq!(
            TomlValue::strings(["duet", "hook", "codex"]).encode(),
            r#"["duet", "hook", "codex"]"#
        );
        assert_eq!(TomlValue::Bool(false).encode(), "false");
    }
}
