//! `riffle admin schemas export|import`: a schema registry's subjects and versions to and from
//! JSON lines over the Confluent REST API (plain HTTP/1.1, so it works with any
//! Confluent-compatible registry).

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::client::{AdminError, REQUEST_TIMEOUT};
use super::output::Report;

/// The largest registry response read (a schema registry answer, not a data stream).
pub const REGISTRY_RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Percent-encodes a path segment (everything but RFC 3986 unreserved characters).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One HTTP/1.1 request to the registry at `base` (`http://host:port`); returns the status
/// and the JSON body (`Null` when empty).
pub async fn http(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), AdminError> {
    let err = |reason: String| AdminError::Protocol {
        broker: base.to_string(),
        api: format!("registry {method} {path}"),
        reason,
    };
    let host = base
        .strip_prefix("http://")
        .ok_or_else(|| {
            AdminError::Usage(format!(
                "--registry {base}: only http:// URLs are supported"
            ))
        })?
        .trim_end_matches('/');
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/vnd.schemaregistry.v1+json, application/json\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    let io = async {
        let mut stream = TcpStream::connect(host).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut buf = Vec::new();
        (&mut stream)
            .take(REGISTRY_RESPONSE_BYTES_MAX as u64 + 1)
            .read_to_end(&mut buf)
            .await?;
        Ok::<_, std::io::Error>(buf)
    };
    let raw = tokio::time::timeout(REQUEST_TIMEOUT, io)
        .await
        .map_err(|_| err("timed out".into()))?
        .map_err(|e| err(e.to_string()))?;
    if raw.len() > REGISTRY_RESPONSE_BYTES_MAX {
        return Err(err("response too large".into()));
    }
    let (status, body) = parse_response(&raw).map_err(err)?;
    let value = if body.iter().all(|b| b.is_ascii_whitespace()) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| err(format!("HTTP {status}: body is not JSON: {e}")))?
    };
    if !(200..300).contains(&status) {
        return Err(err(format!(
            "HTTP {status}: {}",
            value
                .get("message")
                .and_then(Value::as_str)
                .map(|m| format!(
                    "{m} (error code {})",
                    value.get("error_code").cloned().unwrap_or(Value::Null)
                ))
                .unwrap_or_else(|| value.to_string())
        )));
    }
    Ok((status, value))
}

/// Splits an HTTP/1.1 response into status and body (de-chunked).
pub fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[split + 4..];
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok((status, out));
        }
        if rest.len() < size {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
}

/// Writes every version of every subject, one JSON object per line, ordered by schema id (so
/// referenced schemas come before the schemas that reference them).
pub async fn export(registry: &str, file: Option<&Path>) -> Result<Report, AdminError> {
    let (_, subjects) = http(registry, "GET", "/subjects", None).await?;
    let subjects: Vec<String> = serde_json::from_value(subjects)
        .map_err(|e| AdminError::Usage(format!("registry {registry}: /subjects: {e}")))?;
    let mut all = Vec::new();
    for s in &subjects {
        let seg = encode_segment(s);
        let (_, versions) =
            http(registry, "GET", &format!("/subjects/{seg}/versions"), None).await?;
        let versions: Vec<i64> = serde_json::from_value(versions)
            .map_err(|e| AdminError::Usage(format!("registry {registry}: versions of {s}: {e}")))?;
        for v in versions {
            let (_, body) = http(
                registry,
                "GET",
                &format!("/subjects/{seg}/versions/{v}"),
                None,
            )
            .await?;
            all.push(body);
        }
    }
    all.sort_by_key(|v| {
        (
            v["id"].as_i64().unwrap_or(0),
            v["subject"].as_str().unwrap_or("").to_string(),
            v["version"].as_i64().unwrap_or(0),
        )
    });
    let mut text = String::new();
    for v in &all {
        text.push_str(&v.to_string());
        text.push('\n');
    }
    match file {
        Some(f) => std::fs::write(f, &text)
            .map_err(|e| AdminError::Usage(format!("writing {}: {e}", f.display())))?,
        None => {
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(|e| AdminError::Usage(format!("writing stdout: {e}")))?;
            return Ok(Report {
                text: String::new(),
                json: Value::Null,
                healthy: true,
            });
        }
    }
    Ok(Report::new(
        format!(
            "Exported {} schema version(s) of {} subject(s).",
            all.len(),
            subjects.len()
        ),
        json!({"versions": all.len(), "subjects": subjects.len()}),
    ))
}

/// Registers every line's schema under its subject, in file order. With `preserve_ids` the
/// registry is put in IMPORT mode (forced) for the import, so ids and versions are kept, and
/// back to READWRITE afterwards.
pub async fn import(registry: &str, file: &Path, preserve_ids: bool) -> Result<Report, AdminError> {
    let f = std::fs::File::open(file)
        .map_err(|e| AdminError::Usage(format!("opening {}: {e}", file.display())))?;
    let mut lines = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line =
            line.map_err(|e| AdminError::Usage(format!("reading {}: {e}", file.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| {
            AdminError::Usage(format!("{} line {}: not JSON: {e}", file.display(), n + 1))
        })?;
        if v["subject"].as_str().is_none() || v["schema"].as_str().is_none() {
            return Err(AdminError::Usage(format!(
                "{} line {}: needs \"subject\" and \"schema\"",
                file.display(),
                n + 1
            )));
        }
        lines.push(v);
    }
    if preserve_ids {
        http(
            registry,
            "PUT",
            "/mode?force=true",
            Some(&json!({"mode": "IMPORT"})),
        )
        .await?;
    }
    let result = async {
        for v in &lines {
            let subject = v["subject"].as_str().unwrap_or_default();
            let mut body = json!({"schema": v["schema"]});
            for k in ["schemaType", "references", "metadata", "ruleSet"] {
                if let Some(x) = v.get(k) {
                    body[k] = x.clone();
                }
            }
            if preserve_ids {
                body["id"] = v["id"].clone();
                body["version"] = v["version"].clone();
            }
            http(
                registry,
                "POST",
                &format!("/subjects/{}/versions", encode_segment(subject)),
                Some(&body),
            )
            .await?;
        }
        Ok::<_, AdminError>(())
    }
    .await;
    if preserve_ids {
        http(
            registry,
            "PUT",
            "/mode",
            Some(&json!({"mode": "READWRITE"})),
        )
        .await?;
    }
    result?;
    Ok(Report::new(
        format!(
            "Imported {} schema version(s){}.",
            lines.len(),
            if preserve_ids {
                " with their ids and versions"
            } else {
                ""
            }
        ),
        json!({"versions": lines.len(), "preserved_ids": preserve_ids}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_and_plain_responses_parse() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n[1,2]";
        assert_eq!(parse_response(plain).unwrap(), (200, b"[1,2]".to_vec()));
        let chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).unwrap(),
            (404, b"{\"a\":1}".to_vec())
        );
        assert!(parse_response(b"garbage").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }

    #[test]
    fn subject_names_are_percent_encoded_in_paths() {
        assert_eq!(encode_segment("orders-value"), "orders-value");
        assert_eq!(encode_segment(":.ctx:a/b c"), "%3A.ctx%3Aa%2Fb%20c");
    }
}
