//! Config file syntaxes: Java `.properties` (Kafka's `server.properties`) and TOML, both read
//! into flat `(key, value, line)` entries.

/// One setting read from a file; `line` is 1-based where the syntax keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub key: String,
    pub value: String,
    pub line: Option<usize>,
}

/// A syntax error: 1-based line (if known) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: Option<usize>,
    pub message: String,
}

/// Parse text in `java.util.Properties.load` syntax.
///
/// `#` and `!` start comment lines; keys end at the first unescaped `=`, `:` or whitespace;
/// a line ending in an odd number of backslashes continues on the next line (whose leading
/// whitespace is dropped); `\t \n \r \f \uXXXX` and `\<any>` escapes are decoded. Unlike
/// Java, values are also trimmed at the end, as Kafka trims every value it parses.
/// A key given twice keeps its last value, as in Java.
pub fn parse_properties(text: &str) -> Result<Vec<FileEntry>, SyntaxError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut entries = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start_line = i + 1;
        let first = strip_cr(lines[i]).trim_start_matches(is_props_space);
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // Join continuation lines into one logical line.
        let mut logical = String::new();
        let mut current = first;
        loop {
            if ends_with_odd_backslashes(current) {
                logical.push_str(&current[..current.len() - 1]);
                match lines.get(i) {
                    Some(next) => {
                        current = strip_cr(next).trim_start_matches(is_props_space);
                        i += 1;
                    }
                    None => break,
                }
            } else {
                logical.push_str(current);
                break;
            }
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|message| SyntaxError {
            line: Some(start_line),
            message,
        })?;
        let value = unescape(value).map_err(|message| SyntaxError {
            line: Some(start_line),
            message,
        })?;
        entries.push(FileEntry {
            key,
            value: value.trim_end_matches(is_props_space).to_string(),
            line: Some(start_line),
        });
    }
    Ok(entries)
}

fn strip_cr(line: &str) -> &str {
    line.strip_suffix('\r').unwrap_or(line)
}

fn is_props_space(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
}

/// Split a logical line into raw (still escaped) key and value.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut key_end = line.len();
    let mut escaped = false;
    for (idx, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' => escaped = true,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => {
                key_end = idx;
                break;
            }
            _ => {}
        }
    }
    let key = &line[..key_end];
    let mut rest = line[key_end..].trim_start_matches(is_props_space);
    if let Some(r) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')) {
        rest = r.trim_start_matches(is_props_space);
    }
    (key, rest)
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = Some(&hex)
                    .filter(|h| h.len() == 4 && h.chars().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("malformed \\uxxxx escape `\\u{hex}`"))?;
                out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// Parse TOML and flatten nested tables with `.`: `[log] dirs = "x"` and `"log.dirs" = "x"`
/// both give `log.dirs`. Strings, integers, floats and booleans are taken as text; arrays of
/// those become comma-separated lists. Dates and arrays of tables are errors, and so is one
/// flattened key written twice.
pub fn parse_toml(text: &str) -> Result<Vec<FileEntry>, SyntaxError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| SyntaxError {
        line: e.span().map(|span| line_of(text, span.start)),
        message: e.message().to_string(),
    })?;
    let mut out = Vec::new();
    flatten("", &table, &mut out)?;
    let mut seen = std::collections::BTreeSet::new();
    for entry in &out {
        if !seen.insert(entry.key.as_str()) {
            return Err(SyntaxError {
                line: None,
                message: format!("key `{}` is set twice", entry.key),
            });
        }
    }
    Ok(out)
}

fn line_of(text: &str, byte: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(byte)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<FileEntry>) -> Result<(), SyntaxError> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out)?,
            toml::Value::Array(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    parts.push(scalar(&key, item)?);
                }
                out.push(FileEntry {
                    key,
                    value: parts.join(","),
                    line: None,
                });
            }
            other => {
                let value = scalar(&key, other)?;
                out.push(FileEntry {
                    key,
                    value,
                    line: None,
                });
            }
        }
    }
    Ok(())
}

fn scalar(key: &str, v: &toml::Value) -> Result<String, SyntaxError> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => {
            Err(SyntaxError {
                line: None,
                message: format!(
                    "`{key}`: expected a string, number, boolean or an array of those"
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_properties(text)
            .expect("parses")
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn properties_skip_hash_and_bang_comments_and_blank_lines() {
        let text = "# comment\n! also comment\n\n   \n  # indented comment\na=1\n";
        assert_eq!(pairs(text), vec![p("a", "1")]);
    }

    #[test]
    fn properties_accept_equals_colon_and_whitespace_separators() {
        let text = "a=1\nb:2\nc 3\nd   =   4\ne\t:\t5\nf = x=y\ng\n";
        assert_eq!(
            pairs(text),
            vec![
                p("a", "1"),
                p("b", "2"),
                p("c", "3"),
                p("d", "4"),
                p("e", "5"),
                p("f", "x=y"),
                p("g", "")
            ]
        );
    }

    #[test]
    fn properties_trim_leading_and_trailing_whitespace_and_crlf() {
        let text = "   log.dirs = /a,/b   \r\nnum.partitions=3\r\n";
        assert_eq!(
            pairs(text),
            vec![p("log.dirs", "/a,/b"), p("num.partitions", "3")]
        );
    }

    #[test]
    fn properties_join_continuation_lines_dropping_leading_whitespace() {
        let text = "listeners=PLAINTEXT://:9092,\\\n    INTERNAL://:9093\nnext=1\n";
        assert_eq!(
            pairs(text),
            vec![
                p("listeners", "PLAINTEXT://:9092,INTERNAL://:9093"),
                p("next", "1")
            ]
        );
    }

    #[test]
    fn properties_even_backslashes_do_not_continue() {
        let text = "a=x\\\\\nb=2\n";
        assert_eq!(pairs(text), vec![p("a", "x\\"), p("b", "2")]);
    }

    #[test]
    fn properties_continuation_at_end_of_file_is_kept() {
        assert_eq!(pairs("a=1\\"), vec![p("a", "1")]);
    }

    #[test]
    fn properties_comment_marker_inside_value_is_data() {
        assert_eq!(pairs("a=x#y\n"), vec![p("a", "x#y")]);
    }

    #[test]
    fn properties_decode_escapes_in_keys_and_values() {
        let text = "my\\=key=v\\u0041\\tz\nsp\\ ace=1\n";
        assert_eq!(pairs(text), vec![p("my=key", "vA\tz"), p("sp ace", "1")]);
    }

    #[test]
    fn properties_report_line_of_malformed_unicode_escape() {
        let err = parse_properties("a=1\nb=\\u12\n").expect_err("bad escape");
        assert_eq!(err.line, Some(2));
        assert!(
            parse_properties("a=\\u+123\n").is_err(),
            "sign is not a hex digit"
        );
    }

    #[test]
    fn properties_line_numbers_point_at_logical_line_start() {
        let entries = parse_properties("# c\na=1\\\n 2\nb=3\n").expect("parses");
        assert_eq!(entries[0].line, Some(2));
        assert_eq!(entries[1].line, Some(4));
    }

    #[test]
    fn toml_flattens_nested_tables_and_quoted_dotted_keys() {
        let text = r#"
"node.id" = 2
num.partitions = 3
[log]
dirs = ["/a", "/b"]
cleaner.min.cleanable.ratio = 0.25
[auto.create.topics]
enable = true
"#;
        let mut got: Vec<(String, String)> = parse_toml(text)
            .expect("parses")
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                p("auto.create.topics.enable", "true"),
                p("log.cleaner.min.cleanable.ratio", "0.25"),
                p("log.dirs", "/a,/b"),
                p("node.id", "2"),
                p("num.partitions", "3"),
            ]
        );
    }

    #[test]
    fn toml_rejects_same_flattened_key_twice() {
        let err = parse_toml("\"log.dirs\" = \"/a\"\n[log]\ndirs = \"/b\"\n").expect_err("dup");
        assert!(err.message.contains("log.dirs"), "{}", err.message);
    }

    #[test]
    fn toml_syntax_error_reports_line() {
        let err = parse_toml("a = 1\nb = = 2\n").expect_err("bad toml");
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn toml_rejects_datetimes() {
        assert!(parse_toml("a = 1979-05-27\n").is_err());
    }
}
