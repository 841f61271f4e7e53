//! Value kinds of settings: parsing text into typed values and checking Kafka's "Valid Values".

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// What a setting's value is, as Kafka's DescribeConfigs reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

/// One named listener, written `NAME://host:port` (`PLAINTEXT://127.0.0.1:9092`).
///
/// An empty host (`PLAINTEXT://:9092`) means every interface and is stored as `0.0.0.0`.
/// Port 0 asks the OS for a free port; the broker must then advertise the bound port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Listener {
    /// Upper case, as Kafka normalises listener names.
    pub name: String,
    /// Without brackets for IPv6 (`::1`).
    pub host: String,
    pub port: u16,
}

impl Listener {
    /// `host:port`, IPv6 hosts in brackets: ready for `TcpListener::bind`.
    pub fn addr(&self) -> String {
        host_port(&self.host, self.port)
    }

    /// Whether the host is a wildcard address that clients cannot connect to.
    pub fn is_wildcard(&self) -> bool {
        matches!(self.host.as_str(), "" | "0.0.0.0" | "::" | "[::]")
    }
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.name, self.addr())
    }
}

pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// How a setting's text is checked and read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Bool,
    /// Any integer type; `ty` is what DescribeConfigs reports (Int, Short, Long).
    Integer {
        min: i64,
        max: i64,
        ty: ConfigType,
    },
    Double {
        min: f64,
        max: f64,
    },
    /// One of these words, case-insensitive; stored as written here.
    OneOf(&'static [&'static str]),
    CleanupPolicy,
    /// `NAME://host:port,...`
    Listeners,
    /// `id@host:port,...`
    Voters,
    /// `http://host:port,...` (may be empty)
    HttpUrls,
    /// A non-empty comma-separated list of paths.
    Paths,
    /// Any comma-separated list.
    List,
    /// Any text.
    Text,
    /// Only `false` (a Kafka feature Riffle does not have may be turned off, never on).
    FalseOnly(&'static str),
}

pub(crate) const INT: ConfigType = ConfigType::Int;
pub(crate) const SHORT: ConfigType = ConfigType::Short;
pub(crate) const LONG: ConfigType = ConfigType::Long;

/// An `Int` between `min` and `i32::MAX`.
pub(crate) const fn int_at_least(min: i64) -> Kind {
    Kind::Integer {
        min,
        max: i32::MAX as i64,
        ty: INT,
    }
}

/// A `Long` between `min` and `i64::MAX`.
pub(crate) const fn long_at_least(min: i64) -> Kind {
    Kind::Integer {
        min,
        max: i64::MAX,
        ty: LONG,
    }
}

/// A `Short` between `min` and `i16::MAX`.
pub(crate) const fn short_at_least(min: i64) -> Kind {
    Kind::Integer {
        min,
        max: i16::MAX as i64,
        ty: SHORT,
    }
}

impl Kind {
    pub(crate) fn config_type(&self) -> ConfigType {
        match self {
            Kind::Bool | Kind::FalseOnly(_) => ConfigType::Boolean,
            Kind::Integer { ty, .. } => *ty,
            Kind::Double { .. } => ConfigType::Double,
            Kind::OneOf(_) | Kind::Text => ConfigType::String,
            Kind::CleanupPolicy
            | Kind::Listeners
            | Kind::Voters
            | Kind::HttpUrls
            | Kind::Paths
            | Kind::List => ConfigType::List,
        }
    }

    /// What the setting accepts, for error messages.
    pub(crate) fn expected(&self) -> String {
        match self {
            Kind::Bool => "true or false".to_string(),
            Kind::Integer { min, max, ty } => {
                let top = match ty {
                    ConfigType::Short => i16::MAX as i64,
                    ConfigType::Int => i32::MAX as i64,
                    _ => i64::MAX,
                };
                if *max == top {
                    format!("an integer >= {min}")
                } else {
                    format!("an integer in [{min}, {max}]")
                }
            }
            Kind::Double { min, max } => format!("a number in [{min}, {max}]"),
            Kind::OneOf(words) => format!("one of {}", words.join(", ")),
            Kind::CleanupPolicy => "`delete`, `compact` or `compact,delete`".to_string(),
            Kind::Listeners => {
                "a comma-separated list of NAME://host:port with distinct PLAINTEXT-capable \
                 names and port in [0, 65535]"
                    .to_string()
            }
            Kind::Voters => {
                "a comma-separated list of id@host:port with distinct ids >= 0 and port in \
                 [1, 65535]"
                    .to_string()
            }
            Kind::HttpUrls => {
                "a comma-separated list of http://host:port with port in [0, 65535]".to_string()
            }
            Kind::Paths => "a non-empty comma-separated list of directories".to_string(),
            Kind::List => "a comma-separated list".to_string(),
            Kind::Text => "text".to_string(),
            Kind::FalseOnly(why) => format!("false ({why})"),
        }
    }

    /// Check `value` and return it in the form it is stored and described in
    /// (trimmed; booleans and enum words in canonical case).
    pub(crate) fn normalize(&self, key: &str, value: &str) -> Result<String, ConfigError> {
        let v = value.trim();
        let bad = || ConfigError::invalid(key, value, self.expected());
        match self {
            Kind::Bool => parse_bool(v).map(|b| b.to_string()).ok_or_else(bad),
            Kind::FalseOnly(_) => match parse_bool(v) {
                Some(false) => Ok("false".to_string()),
                _ => Err(bad()),
            },
            Kind::Integer { .. } => self.integer(key, v).map(|i| i.to_string()),
            Kind::Double { .. } => self.double(key, v).map(|_| v.to_string()),
            Kind::OneOf(words) => words
                .iter()
                .find(|w| w.eq_ignore_ascii_case(v))
                .map(|w| w.to_string())
                .ok_or_else(bad),
            Kind::CleanupPolicy => parse_cleanup_policy(v)
                .map(|p| p.as_str().to_string())
                .ok_or_else(bad),
            Kind::Listeners => parse_listeners(key, v).map(|l| {
                l.iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            Kind::Voters => parse_voters(key, v).map(|voters| {
                voters
                    .iter()
                    .map(|(id, host, port)| format!("{id}@{}", host_port(host, *port)))
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            Kind::HttpUrls => parse_http_urls(key, v).map(|u| u.join(",")),
            Kind::Paths => {
                let paths = split_list(v);
                if paths.is_empty() {
                    Err(bad())
                } else {
                    Ok(paths.join(","))
                }
            }
            Kind::List => Ok(split_list(v).join(",")),
            Kind::Text => Ok(v.to_string()),
        }
    }

    /// Read an integer within this kind's range.
    pub(crate) fn integer(&self, key: &str, value: &str) -> Result<i64, ConfigError> {
        let v = value.trim();
        match self {
            Kind::Integer { min, max, .. } => match v.parse::<i64>() {
                Ok(i) if i >= *min && i <= *max => Ok(i),
                _ => Err(ConfigError::invalid(key, value, self.expected())),
            },
            _ => Err(ConfigError::invalid(key, value, self.expected())),
        }
    }

    /// Read a finite number within this kind's range.
    pub(crate) fn double(&self, key: &str, value: &str) -> Result<f64, ConfigError> {
        let v = value.trim();
        match self {
            Kind::Double { min, max } => match v.parse::<f64>() {
                Ok(d) if d.is_finite() && d >= *min && d <= *max => Ok(d),
                _ => Err(ConfigError::invalid(key, value, self.expected())),
            },
            _ => Err(ConfigError::invalid(key, value, self.expected())),
        }
    }

    pub(crate) fn boolean(&self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let parsed = parse_bool(value.trim());
        match (self, parsed) {
            (Kind::Bool, Some(b)) | (Kind::FalseOnly(_), Some(b @ false)) => Ok(b),
            _ => Err(ConfigError::invalid(key, value, self.expected())),
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Kafka's list syntax: comma-separated, items trimmed, empty items dropped.
pub(crate) fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether records are deleted by age/size, compacted by key, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CleanupPolicy {
    Delete,
    Compact,
    CompactDelete,
}

impl CleanupPolicy {
    pub fn as_str(&self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }

    /// Whether segments are removed by `retention.ms` / `retention.bytes`.
    pub fn deletes(&self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }

    /// Whether the log is compacted by key.
    pub fn compacts(&self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }
}

pub(crate) fn parse_cleanup_policy(v: &str) -> Option<CleanupPolicy> {
    let mut delete = false;
    let mut compact = false;
    for item in split_list(v) {
        if item.eq_ignore_ascii_case("delete") {
            delete = true;
        } else if item.eq_ignore_ascii_case("compact") {
            compact = true;
        } else {
            return None;
        }
    }
    match (compact, delete) {
        (true, true) => Some(CleanupPolicy::CompactDelete),
        (true, false) => Some(CleanupPolicy::Compact),
        (false, true) => Some(CleanupPolicy::Delete),
        (false, false) => None,
    }
}

/// Split `host:port` or `[v6]:port`; the port may be 0 only if `port_min` is 0.
fn parse_host_port(s: &str, port_min: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        (host, port)
    } else {
        s.rsplit_once(':')?
    };
    if host.contains(|c: char| c.is_whitespace() || c == '/' || c == '@')
        || (host.contains(':') && !s.starts_with('['))
    {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    if port < port_min {
        return None;
    }
    Some((host.to_string(), port))
}

/// Listener names Riffle cannot serve: it speaks plaintext only.
const SECURE_LISTENER_NAMES: &[&str] = &["SSL", "SASL_SSL", "SASL_PLAINTEXT"];

pub(crate) fn parse_listeners(key: &str, v: &str) -> Result<Vec<Listener>, ConfigError> {
    let mut out: Vec<Listener> = Vec::new();
    let expected = Kind::Listeners.expected();
    for item in split_list(v) {
        let bad = |why: &str| ConfigError::invalid(key, &item, format!("{expected} ({why})"));
        let (name, rest) = item
            .split_once("://")
            .ok_or_else(|| bad("missing NAME://"))?;
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad("bad listener name"));
        }
        if SECURE_LISTENER_NAMES.contains(&name.as_str()) {
            return Err(bad("Riffle has no TLS or SASL"));
        }
        let (host, port) = parse_host_port(rest.trim(), 0).ok_or_else(|| bad("bad host:port"))?;
        if out.iter().any(|l| l.name == name) {
            return Err(bad("listener names must be distinct"));
        }
        let host = if host.is_empty() {
            "0.0.0.0".to_string()
        } else {
            host
        };
        out.push(Listener { name, host, port });
    }
    Ok(out)
}

/// One `controller.quorum.voters` entry: node id, host, port.
pub type Voter = (i32, String, u16);

pub(crate) fn parse_voters(key: &str, v: &str) -> Result<Vec<Voter>, ConfigError> {
    let mut out: Vec<Voter> = Vec::new();
    for item in split_list(v) {
        let bad = || ConfigError::invalid(key, &item, Kind::Voters.expected());
        let (id, addr) = item.split_once('@').ok_or_else(bad)?;
        let id: i32 = id.trim().parse().map_err(|_| bad())?;
        let (host, port) = parse_host_port(addr.trim(), 1).ok_or_else(bad)?;
        if id < 0 || host.is_empty() || out.iter().any(|(other, _, _)| *other == id) {
            return Err(bad());
        }
        out.push((id, host, port));
    }
    Ok(out)
}

pub(crate) fn parse_http_urls(key: &str, v: &str) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for item in split_list(v) {
        let bad = || ConfigError::invalid(key, &item, Kind::HttpUrls.expected());
        let rest = item.strip_prefix("http://").ok_or_else(bad)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = parse_host_port(rest, 0).ok_or_else(bad)?;
        let host = if host.is_empty() {
            "0.0.0.0".to_string()
        } else {
            host
        };
        out.push(format!("http://{}", host_port(&host, port)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_parse_names_hosts_ipv6_and_empty_host() {
        let l = parse_listeners(
            "listeners",
            "plaintext://127.0.0.1:9092, INTERNAL://:9093,EXT://[::1]:0",
        )
        .expect("valid listeners");
        assert_eq!(
            l,
            vec![
                Listener {
                    name: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9092
                },
                Listener {
                    name: "INTERNAL".into(),
                    host: "0.0.0.0".into(),
                    port: 9093
                },
                Listener {
                    name: "EXT".into(),
                    host: "::1".into(),
                    port: 0
                },
            ]
        );
        assert_eq!(l[2].addr(), "[::1]:0");
        assert_eq!(l[0].to_string(), "PLAINTEXT://127.0.0.1:9092");
    }

    #[test]
    fn listeners_reject_bad_port_missing_scheme_duplicates_and_tls() {
        for bad in [
            "PLAINTEXT://h:65536",
            "PLAINTEXT://h:-1",
            "h:9092",
            "PLAINTEXT://h",
            "A://h:1,A://h:2",
            "SSL://h:9093",
            "PLAINTEXT://::1:9092",
        ] {
            let err = parse_listeners("listeners", bad).expect_err(bad);
            assert_eq!(err.key(), Some("listeners"), "{bad}");
        }
    }

    #[test]
    fn voters_parse_and_reject_duplicate_ids() {
        let v = parse_voters("controller.quorum.voters", "1@a:9093,2@[::1]:9094").expect("valid");
        assert_eq!(
            v,
            vec![(1, "a".to_string(), 9093), (2, "::1".to_string(), 9094)]
        );
        assert!(parse_voters("controller.quorum.voters", "1@a:1,1@b:2").is_err());
        assert!(parse_voters("controller.quorum.voters", "x@a:1").is_err());
        assert!(parse_voters("controller.quorum.voters", "1@a:0").is_err());
    }

    #[test]
    fn cleanup_policy_accepts_either_order_and_rejects_others() {
        assert_eq!(
            parse_cleanup_policy("delete,compact"),
            Some(CleanupPolicy::CompactDelete)
        );
        assert_eq!(
            parse_cleanup_policy(" compact , delete "),
            Some(CleanupPolicy::CompactDelete)
        );
        assert_eq!(
            parse_cleanup_policy("compact"),
            Some(CleanupPolicy::Compact)
        );
        assert_eq!(parse_cleanup_policy(""), None);
        assert_eq!(parse_cleanup_policy("delete,forever"), None);
    }

    #[test]
    fn integer_range_message_names_bound() {
        let err = long_at_least(-1)
            .integer("retention.ms", "-2")
            .expect_err("below range");
        assert_eq!(
            err.to_string(),
            "invalid value `-2` for `retention.ms`: expected an integer >= -1"
        );
        let err = short_at_least(1)
            .integer("offsets.topic.replication.factor", "40000")
            .expect_err("above i16");
        assert!(
            err.to_string().contains("expected an integer >= 1"),
            "{err}"
        );
    }
}
