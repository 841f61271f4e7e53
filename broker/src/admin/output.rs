//! What an admin command prints: the same result as a human table and as JSON.

use comfy_table::{presets, Cell, ContentArrangement, Table};
use serde_json::Value;

use super::OutputFormat;

/// One command's result.
#[derive(Debug, Clone)]
pub struct Report {
    /// What `--output table` prints.
    pub text: String,
    /// What `--output json` prints.
    pub json: Value,
    /// `false` makes the process exit 1 (health).
    pub healthy: bool,
}

impl Report {
    pub fn new(text: String, json: Value) -> Report {
        Report {
            text,
            json,
            healthy: true,
        }
    }

    /// The text or the JSON, ending with a newline; nothing for a command that already wrote
    /// its output (an export to stdout).
    pub fn render(&self, format: OutputFormat) -> String {
        if self.text.is_empty() && self.json.is_null() {
            return String::new();
        }
        match format {
            OutputFormat::Table => {
                let mut s = self.text.clone();
                if !s.ends_with('\n') {
                    s.push('\n');
                }
                s
            }
            OutputFormat::Json => {
                let mut s = serde_json::to_string_pretty(&self.json).unwrap_or_default();
                s.push('\n');
                s
            }
        }
    }

    pub fn print(&self, format: OutputFormat) {
        print!("{}", self.render(format));
    }
}

/// A plain table (no borders, two spaces between columns, no trailing spaces), like Kafka's
/// `kafka-consumer-groups.sh` output.
pub fn table<H: ToString, R: IntoIterator<Item = C>, C: ToString>(
    headers: &[H],
    rows: impl IntoIterator<Item = R>,
) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.iter().map(|h| Cell::new(h.to_string())));
    for r in rows {
        t.add_row(r.into_iter().map(|c| Cell::new(c.to_string())));
    }
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    t.to_string()
        .lines()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `[1, 2, 3]` as `1,2,3`.
pub fn id_list(ids: &[i32]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_with_nothing_to_say_prints_nothing() {
        let r = Report::new(String::new(), Value::Null);
        assert_eq!(r.render(OutputFormat::Table), "");
        assert_eq!(r.render(OutputFormat::Json), "");
        let r = Report::new("x".into(), serde_json::json!({"a": 1}));
        assert_eq!(r.render(OutputFormat::Table), "x\n");
        assert_eq!(r.render(OutputFormat::Json), "{\n  \"a\": 1\n}\n");
    }

    #[test]
    fn table_aligns_columns_without_borders_or_trailing_spaces() {
        let t = table(
            &["TOPIC", "PARTITIONS"],
            vec![vec!["a", "1"], vec!["long.name", "12"]],
        );
        expect_test::expect![[r#"
            TOPIC      PARTITIONS
            a          1
            long.name  12"#]]
        .assert_eq(&t);
    }
}
