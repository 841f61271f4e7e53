//! A small Kafka wire client for the admin CLI: one connection per broker over tokio TCP,
//! ApiVersions negotiation, and errors that name the broker, the API and the Kafka error code.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, MetadataRequest, MetadataResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::ResponseError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response frame the CLI accepts (a bogus size prefix must not allocate more).
pub const RESPONSE_FRAME_BYTES_MAX: usize = 256 * 1024 * 1024;
/// How long one connect or one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a request that hit a stale leader is retried after refreshing Metadata.
pub const LEADER_RETRIES_MAX: usize = 60;

/// Everything that can go wrong talking to a cluster.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("broker {broker}: cannot connect: {reason}")]
    Connect { broker: String, reason: String },
    #[error("broker {broker}: {api}: {reason}")]
    Protocol {
        broker: String,
        api: String,
        reason: String,
    },
    #[error("broker {broker}: {api} {what}: {} (Kafka error code {code}){}", error_name(*.code), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        broker: String,
        api: String,
        what: String,
        code: i16,
        message: Option<String>,
    },
    #[error("{0}")]
    Usage(String),
}

impl AdminError {
    /// The Kafka error code, if the broker answered with one.
    pub fn kafka_code(&self) -> Option<i16> {
        match self {
            AdminError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Kafka's name for an error code, as in the protocol guide (`NOT_LEADER_OR_FOLLOWER`).
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(ResponseError::Unknown(c)) => format!("UNKNOWN_ERROR_CODE_{c}"),
        Some(e) => {
            let camel = format!("{e:?}");
            let mut out = String::with_capacity(camel.len() + 8);
            for (i, ch) in camel.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(ch.to_ascii_uppercase());
            }
            out
        }
    }
}

/// Kafka error codes the CLI branches on.
pub mod codes {
    pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    pub const LEADER_NOT_AVAILABLE: i16 = 5;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const FENCED_LEADER_EPOCH: i16 = 74;
    pub const NOT_CONTROLLER: i16 = 41;
    pub const REQUEST_TIMED_OUT: i16 = 7;
}

/// Whether `code` means "ask again after refreshing Metadata" (a moved leader, or an error
/// Kafka marks retriable such as NOT_ENOUGH_REPLICAS while followers join the ISR).
pub fn is_stale_leader(code: i16) -> bool {
    ResponseError::try_from_code(code).is_some_and(|e| e.is_retriable())
        || matches!(
            code,
            codes::NOT_LEADER_OR_FOLLOWER
                | codes::LEADER_NOT_AVAILABLE
                | codes::FENCED_LEADER_EPOCH
                | codes::UNKNOWN_TOPIC_OR_PARTITION
                | codes::NOT_CONTROLLER
                | codes::REQUEST_TIMED_OUT
        )
}

/// Turns a non-zero error code into an [`AdminError::Kafka`].
pub fn check(
    broker: &str,
    api: ApiKey,
    what: impl Into<String>,
    code: i16,
    message: Option<&StrBytes>,
) -> Result<(), AdminError> {
    if code == 0 {
        return Ok(());
    }
    Err(AdminError::Kafka {
        broker: broker.to_string(),
        api: format!("{api:?}"),
        what: what.into(),
        code,
        message: message.map(|m| m.to_string()),
    })
}

/// One TCP connection to one broker, with the API versions it advertised.
pub struct Connection {
    pub addr: String,
    stream: TcpStream,
    correlation_id: i32,
    versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects and asks ApiVersions (v3, falling back to v0 as Kafka clients do).
    pub async fn connect(addr: &str) -> Result<Connection, AdminError> {
        let stream = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| AdminError::Connect {
                broker: addr.to_string(),
                reason: format!("timed out after {} s", REQUEST_TIMEOUT.as_secs()),
            })?
            .map_err(|e| AdminError::Connect {
                broker: addr.to_string(),
                reason: e.to_string(),
            })?;
        let _ = stream.set_nodelay(true);
        let mut conn = Connection {
            addr: addr.to_string(),
            stream,
            correlation_id: 0,
            versions: HashMap::new(),
        };
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("riffle-admin"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut resp = conn.send_version(req, 3).await?;
        if resp.error_code == codes::UNSUPPORTED_VERSION {
            resp = conn.send_version(ApiVersionsRequest::default(), 0).await?;
        }
        check(addr, ApiKey::ApiVersions, "", resp.error_code, None)?;
        for k in resp.api_keys {
            conn.versions
                .insert(k.api_key, (k.min_version, k.max_version));
        }
        Ok(conn)
    }

    /// The version to use for `key`: `preferred`, lowered to what the broker advertises, but
    /// never below `lowest` (the oldest version this client encodes correctly).
    pub fn version(&self, key: ApiKey, lowest: i16, preferred: i16) -> Result<i16, AdminError> {
        let (min, max) =
            self.versions
                .get(&(key as i16))
                .copied()
                .ok_or_else(|| AdminError::Protocol {
                    broker: self.addr.clone(),
                    api: format!("{key:?}"),
                    reason: "the broker does not support this API".to_string(),
                })?;
        let v = preferred.min(max);
        if v < lowest || v < min {
            return Err(AdminError::Protocol {
                broker: self.addr.clone(),
                api: format!("{key:?}"),
                reason: format!(
                    "the broker supports versions {min}..={max}; this client needs {lowest}..={preferred}"
                ),
            });
        }
        Ok(v)
    }

    /// The advertised version range per API key.
    pub fn versions(&self) -> &HashMap<i16, (i16, i16)> {
        &self.versions
    }

    /// Sends `req` at the negotiated version (between `lowest` and `preferred`).
    pub async fn send<R: Request>(
        &mut self,
        req: R,
        lowest: i16,
        preferred: i16,
    ) -> Result<R::Response, AdminError> {
        let key = api_key_of::<R>();
        let version = self.version(key, lowest, preferred)?;
        self.send_version(req, version).await
    }

    /// Sends `req` (see [`Connection::send`]) and turns the first non-zero error code among
    /// the `(code, message)` pairs `errors` picks from the response (one per topic or
    /// resource) into an [`AdminError::Kafka`] about `what` (`"for topic t"`).
    pub async fn send_checked<R: Request>(
        &mut self,
        req: R,
        lowest: i16,
        preferred: i16,
        what: &str,
        errors: impl Fn(&R::Response) -> Vec<(i16, Option<&StrBytes>)>,
    ) -> Result<R::Response, AdminError> {
        let resp = self.send(req, lowest, preferred).await?;
        for (code, message) in errors(&resp) {
            check(&self.addr, api_key_of::<R>(), what, code, message)?;
        }
        Ok(resp)
    }

    /// Sends `req` at exactly `version` and decodes the response.
    pub async fn send_version<R: Request>(
        &mut self,
        req: R,
        version: i16,
    ) -> Result<R::Response, AdminError> {
        let key = api_key_of::<R>();
        let proto = |reason: String| AdminError::Protocol {
            broker: self.addr.clone(),
            api: format!("{key:?}"),
            reason,
        };
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("riffle-admin")));
        let mut out = BytesMut::with_capacity(256);
        out.put_i32(0);
        header
            .encode(&mut out, R::header_version(version))
            .map_err(|e| proto(format!("encoding the request header: {e:#}")))?;
        req.encode(&mut out, version)
            .map_err(|e| proto(format!("encoding v{version}: {e:#}")))?;
        let size = i32::try_from(out.len() - 4).map_err(|_| proto("request too large".into()))?;
        out[..4].copy_from_slice(&size.to_be_bytes());
        let io = async {
            self.stream.write_all(&out).await?;
            let size = self.stream.read_i32().await?;
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            if size > RESPONSE_FRAME_BYTES_MAX {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("response frame of {size} bytes is over the limit"),
                ));
            }
            let mut buf = vec![0u8; size];
            self.stream.read_exact(&mut buf).await?;
            Ok(buf)
        };
        let frame = tokio::time::timeout(REQUEST_TIMEOUT, io)
            .await
            .map_err(|_| proto(format!("no response after {} s", REQUEST_TIMEOUT.as_secs())))?
            .map_err(|e| proto(e.to_string()))?;
        let mut buf = Bytes::from(frame);
        let header_version = if key == ApiKey::ApiVersions {
            0
        } else {
            <R::Response as HeaderVersion>::header_version(version)
        };
        let resp_header = ResponseHeader::decode(&mut buf, header_version)
            .map_err(|e| proto(format!("decoding the response header: {e:#}")))?;
        if resp_header.correlation_id != self.correlation_id {
            return Err(proto(format!(
                "response correlation id {} for request {}",
                resp_header.correlation_id, self.correlation_id
            )));
        }
        let body = R::Response::decode(&mut buf, version)
            .map_err(|e| proto(format!("decoding the v{version} response: {e:#}")))?;
        if buf.has_remaining() && key != ApiKey::ApiVersions {
            return Err(proto(format!(
                "{} trailing bytes after the response",
                buf.remaining()
            )));
        }
        Ok(body)
    }
}

fn api_key_of<R: Request>() -> ApiKey {
    ApiKey::try_from(R::KEY).unwrap_or(ApiKey::ApiVersions)
}

/// A partition as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
    pub error_code: i16,
}

/// A topic as Metadata describes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopicInfo {
    pub name: String,
    pub internal: bool,
    pub error_code: i16,
    pub partitions: Vec<PartitionInfo>,
}

/// The cluster as one Metadata response describes it.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    /// node id -> host:port
    pub brokers: BTreeMap<i32, String>,
    pub topics: BTreeMap<String, TopicInfo>,
}

impl ClusterView {
    fn from_response(resp: MetadataResponse) -> ClusterView {
        let brokers = resp
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
            .collect();
        let topics = resp
            .topics
            .into_iter()
            .filter_map(|t| {
                let name = t.name?.0.to_string();
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition_index,
                        leader: p.leader_id.0,
                        replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                        isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                        offline: p.offline_replicas.iter().map(|b| b.0).collect(),
                        error_code: p.error_code,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Some((
                    name.clone(),
                    TopicInfo {
                        name,
                        internal: t.is_internal,
                        error_code: t.error_code,
                        partitions,
                    },
                ))
            })
            .collect();
        ClusterView {
            cluster_id: resp.cluster_id.map(|c| c.to_string()),
            controller_id: resp.controller_id.0,
            brokers,
            topics,
        }
    }

    /// The topic, or UNKNOWN_TOPIC_OR_PARTITION naming the broker that answered.
    pub fn topic(&self, name: &str, broker: &str) -> Result<&TopicInfo, AdminError> {
        match self.topics.get(name) {
            Some(t) if t.error_code == 0 => Ok(t),
            Some(t) => Err(AdminError::Kafka {
                broker: broker.to_string(),
                api: "Metadata".into(),
                what: format!("for topic {name}"),
                code: t.error_code,
                message: None,
            }),
            None => Err(AdminError::Kafka {
                broker: broker.to_string(),
                api: "Metadata".into(),
                what: format!("for topic {name}"),
                code: codes::UNKNOWN_TOPIC_OR_PARTITION,
                message: None,
            }),
        }
    }
}

/// A cluster reached through its bootstrap servers: connections per node id and the latest
/// Metadata.
pub struct Cluster {
    pub bootstrap: Vec<String>,
    /// The bootstrap connection (the first server that answered).
    pub any: Connection,
    nodes: HashMap<i32, Connection>,
    pub view: ClusterView,
}

impl Cluster {
    /// Connects to the first reachable bootstrap server and reads Metadata for all topics.
    pub async fn connect(bootstrap: &str) -> Result<Cluster, AdminError> {
        let servers: Vec<String> = bootstrap
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if servers.is_empty() {
            return Err(AdminError::Usage("--bootstrap is empty".into()));
        }
        let mut last = None;
        for s in &servers {
            match Connection::connect(s).await {
                Ok(any) => {
                    let mut c = Cluster {
                        bootstrap: servers.clone(),
                        any,
                        nodes: HashMap::new(),
                        view: ClusterView::default(),
                    };
                    c.refresh(None).await?;
                    return Ok(c);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| AdminError::Usage("no bootstrap server".into())))
    }

    /// Re-reads Metadata (all topics, or just `topics`) from the bootstrap connection.
    pub async fn refresh(&mut self, topics: Option<&[String]>) -> Result<(), AdminError> {
        let resp = metadata(&mut self.any, topics).await?;
        let fresh = ClusterView::from_response(resp);
        match topics {
            None => self.view = fresh,
            Some(_) => {
                self.view.cluster_id = fresh.cluster_id;
                self.view.controller_id = fresh.controller_id;
                self.view.brokers = fresh.brokers;
                for (k, v) in fresh.topics {
                    self.view.topics.insert(k, v);
                }
            }
        }
        Ok(())
    }

    /// The connection to node `id` (opened on first use).
    pub async fn node(&mut self, id: i32) -> Result<&mut Connection, AdminError> {
        if !self.nodes.contains_key(&id) {
            let addr = self.view.brokers.get(&id).cloned().ok_or_else(|| {
                AdminError::Usage(format!("node {id} is not in the cluster's Metadata"))
            })?;
            let conn = Connection::connect(&addr).await?;
            self.nodes.insert(id, conn);
        }
        self.nodes
            .get_mut(&id)
            .ok_or_else(|| AdminError::Usage(format!("node {id} is not connected")))
    }

    /// Forgets the connection to node `id` (after an I/O error).
    pub fn drop_node(&mut self, id: i32) {
        self.nodes.remove(&id);
    }

    /// The leader of topic-partition per the latest Metadata (refreshing it once if unknown).
    pub async fn leader(&mut self, topic: &str, partition: i32) -> Result<i32, AdminError> {
        for attempt in 0..LEADER_RETRIES_MAX {
            let leader = self
                .view
                .topics
                .get(topic)
                .and_then(|t| t.partitions.iter().find(|p| p.partition == partition))
                .map(|p| p.leader)
                .unwrap_or(-1);
            if leader >= 0 {
                return Ok(leader);
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            self.refresh(Some(&[topic.to_string()])).await?;
        }
        Err(AdminError::Kafka {
            broker: self.any.addr.clone(),
            api: "Metadata".into(),
            what: format!("for {topic}-{partition}"),
            code: codes::LEADER_NOT_AVAILABLE,
            message: None,
        })
    }

    /// Sends `req` (see [`Connection::send`]) to the leader of topic-partition and returns
    /// what `answer` makes of the response (given the leader's address). An unreachable
    /// leader, a failed request or an `answer` error whose Kafka code means a stale leader
    /// ([`is_stale_leader`]) refreshes Metadata and asks again 200 ms later, up to
    /// [`LEADER_RETRIES_MAX`] attempts in all; any other error is returned at once.
    pub async fn send_to_leader<R: Request + Clone, T>(
        &mut self,
        topic: &str,
        partition: i32,
        req: R,
        lowest: i16,
        preferred: i16,
        mut answer: impl FnMut(&str, R::Response) -> Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        let mut last_err = None;
        for attempt in 0..LEADER_RETRIES_MAX {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.refresh(Some(&[topic.to_string()])).await?;
            }
            let leader = self.leader(topic, partition).await?;
            let conn = match self.node(leader).await {
                Ok(c) => c,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let resp = match conn.send(req.clone(), lowest, preferred).await {
                Ok(r) => r,
                Err(e) => {
                    self.drop_node(leader);
                    last_err = Some(e);
                    continue;
                }
            };
            let broker = conn.addr.clone();
            match answer(&broker, resp) {
                Err(e) if e.kafka_code().is_some_and(is_stale_leader) => last_err = Some(e),
                done => return done,
            }
        }
        Err(last_err.unwrap_or_else(|| {
            AdminError::Usage(format!(
                "{:?} to the leader of {topic}-{partition} failed",
                api_key_of::<R>()
            ))
        }))
    }

    /// Partition indexes of `topic` per the latest Metadata.
    pub fn partitions_of(&self, topic: &str) -> Result<Vec<i32>, AdminError> {
        Ok(self
            .view
            .topic(topic, &self.any.addr)?
            .partitions
            .iter()
            .map(|p| p.partition)
            .collect())
    }
}

/// Metadata for all topics (`None`) or the named ones; never creates topics.
pub async fn metadata(
    conn: &mut Connection,
    topics: Option<&[String]>,
) -> Result<MetadataResponse, AdminError> {
    let req = MetadataRequest::default()
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(topic_name(t)))
                })
                .collect()
        }))
        .with_allow_auto_topic_creation(false);
    conn.send(req, 4, 12).await
}

/// A [`TopicName`] from a string.
pub fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// A [`BrokerId`] list as plain ids.
pub fn ids(v: &[BrokerId]) -> Vec<i32> {
    v.iter().map(|b| b.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_name_is_kafkas_upper_snake_case_name() {
        assert_eq!(error_name(6), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(9999), "UNKNOWN_ERROR_CODE_9999");
    }

    #[test]
    fn kafka_error_message_names_broker_api_and_code() {
        let e = AdminError::Kafka {
            broker: "127.0.0.1:9092".into(),
            api: "CreateTopics".into(),
            what: "for topic t".into(),
            code: 36,
            message: Some("Topic 't' already exists.".into()),
        };
        assert_eq!(
            e.to_string(),
            "broker 127.0.0.1:9092: CreateTopics for topic t: TOPIC_ALREADY_EXISTS (Kafka error code 36): Topic 't' already exists."
        );
    }
}
