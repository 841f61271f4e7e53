//! Forwarding a registry write to the node that leads `_schemas`: where that node's registry
//! listens, and a minimal HTTP/1.1 client to send it the request.
//!
//! Registry listeners are not in the cluster metadata, so a node derives the leader's from
//! its own first `schema.registry.listeners` address and the leader's Kafka host (from the
//! controller's broker list):
//! - leader on the same host as this node (Kafka hosts equal): this node's registry host and
//!   port + (leader id − own id). `riffle dev` (node 1..3 on 8081..8083) follows this rule.
//! - leader on another host: the leader's Kafka host and this node's registry port (every
//!   host serves the registry on the same port).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::state::Broker;

/// Marks a request forwarded by another node (it is never forwarded again).
pub const FORWARDED_HEADER: &str = "x-riffle-forwarded";
/// On the leader's answer to a forwarded write: the `_schemas` offset its state reflects, so
/// that the forwarding node answers only once its own replica has folded that far (a client
/// that writes and then reads on one node sees its write).
pub const FOLDED_HEADER: &str = "x-riffle-schemas-folded";
/// How long one forwarded request may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response accepted from a peer.
const RESPONSE_BYTES_MAX: usize = 64 << 20;

/// `host:port` of an `http://host:port` listener address.
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.trim().strip_prefix("http://")?.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':')?;
    Some((host.to_string(), port.parse().ok()?))
}

/// The registry address (`host:port`) of node `leader`, by the rule in the module docs;
/// `None` when this node has no registry listener or the leader is not a known broker.
pub fn peer_addr(broker: &Broker, own_listener: &str, leader: i32) -> Option<String> {
    let brokers = broker.brokers();
    let kafka_host = |id: i32| {
        brokers
            .iter()
            .find(|(b, _, _)| *b == id)
            .map(|(_, h, _)| h.clone())
    };
    rule(
        own_listener,
        broker.node_id,
        kafka_host(broker.node_id).as_deref(),
        leader,
        &kafka_host(leader)?,
    )
}

/// The rule itself: from this node's registry listener, id and Kafka host, and the leader's
/// id and Kafka host.
fn rule(
    own_listener: &str,
    own_id: i32,
    own_kafka_host: Option<&str>,
    leader: i32,
    leader_kafka_host: &str,
) -> Option<String> {
    let (own_host, own_port) = host_port(own_listener)?;
    if own_kafka_host.is_none_or(|h| h == leader_kafka_host) {
        let port = i64::from(own_port) + i64::from(leader) - i64::from(own_id);
        let port = u16::try_from(port).ok().filter(|p| *p > 0)?;
        let host = match own_host.as_str() {
            "" | "0.0.0.0" => "127.0.0.1".to_string(),
            "[::]" => "[::1]".to_string(),
            h => h.to_string(),
        };
        Some(format!("{host}:{port}"))
    } else {
        Some(format!("{leader_kafka_host}:{own_port}"))
    }
}

/// A peer's answer.
#[derive(Debug)]
pub struct PeerResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// [`FOLDED_HEADER`], when the peer sent it.
    pub folded: Option<i64>,
}

/// Sends one request to `addr` and reads the whole answer (`Connection: close`).
pub async fn send(
    addr: &str,
    method: &str,
    path_and_query: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<PeerResponse, String> {
    tokio::time::timeout(FORWARD_TIMEOUT, async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut head = format!(
            "{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Accept: application/vnd.schemaregistry.v1+json\r\n{FORWARDED_HEADER}: 1\r\n\
             Content-Length: {}\r\n",
            body.len()
        );
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("writing to {addr}: {e}"))?;
        stream
            .write_all(body)
            .await
            .map_err(|e| format!("writing to {addr}: {e}"))?;
        let mut raw = Vec::new();
        stream
            .take(RESPONSE_BYTES_MAX as u64)
            .read_to_end(&mut raw)
            .await
            .map_err(|e| format!("reading from {addr}: {e}"))?;
        parse_response(&raw)
    })
    .await
    .map_err(|_| format!("{addr} did not answer within {FORWARD_TIMEOUT:?}"))?
}

/// Parses an HTTP/1.1 response with a `Content-Length` body, a chunked body or a body
/// that runs to the end of the stream.
pub fn parse_response(raw: &[u8]) -> Result<PeerResponse, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("incomplete HTTP response head")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "HTTP head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad HTTP status line '{status_line}'"))?;
    let mut content_type = None;
    let mut length = None;
    let mut chunked = false;
    let mut folded = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.to_string()),
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            FOLDED_HEADER => folded = value.parse::<i64>().ok(),
            _ => {}
        }
    }
    let rest = &raw[split + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or("HTTP body shorter than Content-Length")?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(PeerResponse {
        status,
        content_type,
        body,
        folded,
    })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk size line")?;
        let size_text = std::str::from_utf8(&rest[..eol]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size '{size_text}'"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(rest.get(..size).ok_or("chunk shorter than its size")?);
        rest = rest.get(size + 2..).ok_or("chunk without its CRLF")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_with_content_length_is_parsed() {
        let raw = b"HTTP/1.1 409 Conflict\r\ncontent-type: application/vnd.schemaregistry.v1+json\r\ncontent-length: 5\r\nX-Riffle-Schemas-Folded: 17\r\n\r\nhello";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 409);
        assert_eq!(r.folded, Some(17));
        assert_eq!(r.body, b"hello");
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/vnd.schemaregistry.v1+json")
        );
    }

    #[test]
    fn chunked_response_is_reassembled() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap().body, b"{\"a\":1}");
    }

    #[test]
    fn truncated_or_garbage_responses_are_errors_not_panics() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nab").is_err());
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }

    #[test]
    fn leader_registry_is_offset_by_node_id_on_one_host_and_same_port_across_hosts() {
        // riffle dev: node 1..3 on 8081..8083, all on 127.0.0.1.
        let dev = |own: i32, leader: i32| {
            rule(
                &format!("http://127.0.0.1:{}", 8080 + own),
                own,
                Some("127.0.0.1"),
                leader,
                "127.0.0.1",
            )
        };
        assert_eq!(dev(2, 1).as_deref(), Some("127.0.0.1:8081"));
        assert_eq!(dev(1, 3).as_deref(), Some("127.0.0.1:8083"));
        assert_eq!(dev(3, 3).as_deref(), Some("127.0.0.1:8083"));
        // A wildcard listener is reached on loopback.
        assert_eq!(
            rule("http://0.0.0.0:8081", 1, Some("h1"), 2, "h1").as_deref(),
            Some("127.0.0.1:8082")
        );
        // One node per host: the leader's host, this node's port.
        assert_eq!(
            rule("http://10.0.0.1:8081", 1, Some("10.0.0.1"), 2, "10.0.0.2").as_deref(),
            Some("10.0.0.2:8081")
        );
        // A port the rule would push out of range.
        assert_eq!(rule("http://127.0.0.1:1", 5, Some("h"), 1, "h"), None);
    }

    #[test]
    fn listener_address_is_split_into_host_and_port() {
        assert_eq!(
            host_port("http://127.0.0.1:8081/"),
            Some(("127.0.0.1".into(), 8081))
        );
        assert_eq!(host_port("https://x:1"), None);
        assert_eq!(host_port("http://x"), None);
    }
}
