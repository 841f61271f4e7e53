//! Prometheus metrics: the process-wide recorder, per-request counters and latency, per-topic
//! traffic, and gauges read from broker state at scrape time, served at `/metrics` with a
//! `/health` endpoint on the `metrics.listeners` HTTP listeners.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use metrics::{counter, gauge, histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use parking_lot::Mutex;
use riffle_protocol::request::DecodedRequest;

use crate::state::Broker;

/// Latency buckets of the request histogram, in seconds (0.5 ms .. 10 s).
const LATENCY_BUCKETS_SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// A labelled gauge not set for this long (its topic, partition or group is gone) is dropped;
/// every scrape sets the live ones first.
const GAUGE_IDLE: Duration = Duration::from_secs(60);
/// Byte offset of `recordsCount` in a v2 record batch header.
const BATCH_RECORDS_COUNT_AT: usize = 57;
/// Bytes of `baseOffset` + `batchLength`, which `batchLength` does not count.
const BATCH_LENGTH_PREFIX_BYTES: usize = 12;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder for this process (once; later calls return the same
/// handle). Returns `None` if another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    if let Some(h) = HANDLE.get() {
        return Some(h.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS_SECONDS)
        .ok()?
        .idle_timeout(metrics_util::MetricKindMask::GAUGE, Some(GAUGE_IDLE))
        .build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        return HANDLE.get().cloned();
    }
    describe();
    let _ = HANDLE.set(handle.clone());
    Some(HANDLE.get().cloned().unwrap_or(handle))
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("riffle_broker_up", "1 while the broker process serves.");
    describe_gauge!(
        "riffle_build_info",
        "Always 1; the labels carry the riffle version and node id."
    );
    describe_counter!(
        "riffle_requests_total",
        "Kafka requests answered, by API and the response's first non-zero error code."
    );
    describe_histogram!(
        "riffle_request_duration_seconds",
        Unit::Seconds,
        "Time from a decoded request to its response being ready, by API."
    );
    describe_counter!(
        "riffle_topic_bytes_in_total",
        Unit::Bytes,
        "Record-batch bytes appended by Produce, by topic."
    );
    describe_counter!(
        "riffle_topic_records_in_total",
        "Records appended by Produce, by topic."
    );
    describe_counter!(
        "riffle_topic_bytes_out_total",
        Unit::Bytes,
        "Record-batch bytes returned by Fetch, by topic."
    );
    describe_counter!(
        "riffle_topic_records_out_total",
        "Records returned by Fetch, by topic."
    );
    describe_gauge!(
        "riffle_connections",
        "Open Kafka client connections on this node."
    );
    describe_counter!(
        "riffle_connections_accepted_total",
        "Kafka client connections accepted since start."
    );
    describe_gauge!("riffle_topics", "Topics known to this node.");
    describe_gauge!(
        "riffle_partitions",
        "Partition replicas hosted on this node."
    );
    describe_gauge!("riffle_partition_leaders", "Partitions this node leads.");
    describe_gauge!(
        "riffle_under_replicated_partitions",
        "Partitions led by this node whose in-sync replicas are fewer than their replicas."
    );
    describe_gauge!(
        "riffle_offline_partitions",
        "Partitions hosted on this node that have no known leader."
    );
    describe_gauge!(
        "riffle_log_size_bytes",
        Unit::Bytes,
        "Bytes of a partition's log on disk."
    );
    describe_gauge!("riffle_log_segments", "Segments of a partition's log.");
    describe_gauge!(
        "riffle_log_start_offset",
        "First offset still in a partition's log."
    );
    describe_gauge!(
        "riffle_log_end_offset",
        "Offset after the last record appended to a partition's log."
    );
    describe_gauge!(
        "riffle_partition_high_watermark",
        "A partition's high watermark (last committed offset + 1)."
    );
    describe_gauge!(
        "riffle_log_dir_free_bytes",
        Unit::Bytes,
        "Bytes available to the broker on the file system of a log dir."
    );
    describe_gauge!(
        "riffle_consumer_group_lag",
        "Records between a group's committed offset and the partition's high watermark."
    );
    describe_gauge!(
        "riffle_consumer_group_committed_offset",
        "A group's committed offset of a partition."
    );
    describe_gauge!(
        "riffle_consumer_group_state",
        "1 for the group's current state (label `state`), for groups this node coordinates."
    );
    describe_gauge!("riffle_consumer_groups", "Groups this node coordinates.");
    describe_gauge!(
        "riffle_raft_term",
        "Current Raft term of a partition's group."
    );
    describe_gauge!(
        "riffle_raft_apply_lag_entries",
        "Raft entries in a partition's log not yet applied (last log index - last applied)."
    );
    describe_gauge!(
        "riffle_raft_commit_lag_records",
        "Records appended to a partition's log above its high watermark (not yet committed)."
    );
    describe_counter!(
        "riffle_raft_elections_total",
        "Raft term increases seen on this node's partition groups (each is an election)."
    );
}

/// One request being measured: created before dispatch, finished when the response is ready.
pub struct RequestObservation {
    api: &'static str,
    start: Instant,
    /// Produce: per (topic, partition) the batch bytes and records sent.
    produced: Vec<(String, i32, u64, u64)>,
}

/// Starts measuring a request; counts nothing until [`RequestObservation::finish`].
pub fn observe_request(broker: &Broker, req: &DecodedRequest) -> RequestObservation {
    let mut produced = Vec::new();
    if let RequestKind::Produce(r) = &req.body {
        for t in &r.topic_data {
            let name = topic_name(broker, t.name.0.as_str(), t.topic_id);
            for p in &t.partition_data {
                if let Some(records) = &p.records {
                    produced.push((
                        name.clone(),
                        p.index,
                        records.len() as u64,
                        batch_record_count(records),
                    ));
                }
            }
        }
    }
    RequestObservation {
        api: api_name(req.api_key),
        start: Instant::now(),
        produced,
    }
}

impl RequestObservation {
    /// Counts the request with its response's error code (0 for no response) and latency,
    /// and the topic traffic of a successful Produce or Fetch.
    pub fn finish(self, broker: &Broker, body: Option<&ResponseKind>) {
        let code = body.map_or(0, error_code);
        counter!("riffle_requests_total", "api" => self.api, "error_code" => code.to_string())
            .increment(1);
        histogram!("riffle_request_duration_seconds", "api" => self.api)
            .record(self.start.elapsed().as_secs_f64());
        match body {
            Some(ResponseKind::Produce(resp)) => {
                let ok: Vec<(String, i32)> = resp
                    .responses
                    .iter()
                    .flat_map(|t| {
                        let name = topic_name(broker, t.name.0.as_str(), t.topic_id);
                        t.partition_responses
                            .iter()
                            .filter(|p| p.error_code == 0)
                            .map(move |p| (name.clone(), p.index))
                    })
                    .collect();
                for (topic, partition, bytes, records) in self.produced {
                    if ok.iter().any(|(t, p)| *t == topic && *p == partition) {
                        count_in(&topic, bytes, records);
                    }
                }
            }
            None => {
                // acks=0: no response; the batches were accepted.
                for (topic, _, bytes, records) in self.produced {
                    count_in(&topic, bytes, records);
                }
            }
            Some(ResponseKind::Fetch(resp)) => {
                for t in &resp.responses {
                    let name = topic_name(broker, t.topic.0.as_str(), t.topic_id);
                    let (mut bytes, mut records) = (0u64, 0u64);
                    for p in &t.partitions {
                        if let Some(r) = &p.records {
                            bytes += r.len() as u64;
                            records += batch_record_count(r);
                        }
                    }
                    if bytes > 0 {
                        counter!("riffle_topic_bytes_out_total", "topic" => name.clone())
                            .increment(bytes);
                        counter!("riffle_topic_records_out_total", "topic" => name)
                            .increment(records);
                    }
                }
            }
            Some(_) => {}
        }
    }
}

fn count_in(topic: &str, bytes: u64, records: u64) {
    counter!("riffle_topic_bytes_in_total", "topic" => topic.to_string()).increment(bytes);
    counter!("riffle_topic_records_in_total", "topic" => topic.to_string()).increment(records);
}

fn topic_name(broker: &Broker, name: &str, id: uuid::Uuid) -> String {
    if !name.is_empty() || id.is_nil() {
        return name.to_string();
    }
    broker
        .topic_by_id(id)
        .map_or_else(|| id.to_string(), |t| t.name.clone())
}

/// The API's name as a label (`Produce`, `Fetch`, ...).
fn api_name(key: ApiKey) -> &'static str {
    static NAMES: OnceLock<HashMap<ApiKey, &'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        (0..=i16::from(u8::MAX))
            .filter_map(|k| ApiKey::try_from(k).ok())
            .map(|k| (k, &*Box::leak(format!("{k:?}").into_boxed_str())))
            .collect()
    });
    names.get(&key).copied().unwrap_or("Unknown")
}

/// Sum of `recordsCount` over the v2 record batches in `bytes`; stops at the first batch that
/// is truncated or not v2 (the count is a metric, never an error).
pub fn batch_record_count(bytes: &[u8]) -> u64 {
    let mut total = 0u64;
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + BATCH_RECORDS_COUNT_AT + 4) {
        let len = i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
        let magic = header[16];
        if len <= 0 || magic != 2 {
            break;
        }
        let c = &header[BATCH_RECORDS_COUNT_AT..];
        let count = i32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        total += u64::try_from(count).unwrap_or(0);
        at += BATCH_LENGTH_PREFIX_BYTES + len as usize;
    }
    total
}

/// The response's error code: its top-level code, else the first non-zero per-topic or
/// per-partition code, else 0.
pub fn error_code(body: &ResponseKind) -> i16 {
    fn first(codes: impl IntoIterator<Item = i16>) -> i16 {
        codes.into_iter().find(|c| *c != 0).unwrap_or(0)
    }
    match body {
        ResponseKind::ApiVersions(r) => r.error_code,
        ResponseKind::Produce(r) => first(
            r.responses
                .iter()
                .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code)),
        ),
        ResponseKind::Fetch(r) => first(
            std::iter::once(r.error_code).chain(
                r.responses
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            ),
        ),
        ResponseKind::ListOffsets(r) => first(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::Metadata(r) => first(
            r.topics.iter().map(|t| t.error_code).chain(
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            ),
        ),
        ResponseKind::CreateTopics(r) => first(r.topics.iter().map(|t| t.error_code)),
        ResponseKind::DeleteTopics(r) => first(r.responses.iter().map(|t| t.error_code)),
        ResponseKind::CreatePartitions(r) => first(r.results.iter().map(|t| t.error_code)),
        ResponseKind::FindCoordinator(r) => {
            first(std::iter::once(r.error_code).chain(r.coordinators.iter().map(|c| c.error_code)))
        }
        ResponseKind::JoinGroup(r) => r.error_code,
        ResponseKind::SyncGroup(r) => r.error_code,
        ResponseKind::Heartbeat(r) => r.error_code,
        ResponseKind::LeaveGroup(r) => r.error_code,
        ResponseKind::OffsetCommit(r) => first(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        ),
        ResponseKind::OffsetFetch(r) => {
            first(std::iter::once(r.error_code).chain(r.groups.iter().map(|g| g.error_code)))
        }
        ResponseKind::ListGroups(r) => r.error_code,
        ResponseKind::DescribeCluster(r) => r.error_code,
        ResponseKind::InitProducerId(r) => r.error_code,
        ResponseKind::ConsumerGroupHeartbeat(r) => r.error_code,
        ResponseKind::DescribeGroups(r) => first(r.groups.iter().map(|g| g.error_code)),
        ResponseKind::DeleteGroups(r) => first(r.results.iter().map(|g| g.error_code)),
        ResponseKind::OffsetDelete(r) => r.error_code,
        _ => 0,
    }
}

/// Open-connection gauge guard: +1 now, -1 when dropped.
pub struct ConnectionGuard(());

impl ConnectionGuard {
    pub fn open() -> ConnectionGuard {
        counter!("riffle_connections_accepted_total").increment(1);
        gauge!("riffle_connections").increment(1.0);
        ConnectionGuard(())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        gauge!("riffle_connections").decrement(1.0);
    }
}

/// Per-partition Raft terms seen at the previous refresh, to count elections.
static LAST_TERMS: OnceLock<Mutex<HashMap<(String, i32), u64>>> = OnceLock::new();

/// Sets every state gauge from the broker: partitions, leaders, logs, disks, groups, Raft.
pub fn refresh(broker: &Broker) {
    gauge!("riffle_broker_up").set(1.0);
    gauge!("riffle_build_info", "version" => env!("CARGO_PKG_VERSION"), "node_id" => broker.node_id.to_string())
        .set(1.0);
    gauge!("riffle_connections").increment(0.0);
    let topics = broker.topics();
    gauge!("riffle_topics").set(topics.len() as f64);
    let (mut partitions, mut leaders, mut under, mut offline) = (0u64, 0u64, 0u64, 0u64);
    let mut terms = LAST_TERMS.get_or_init(|| Mutex::new(HashMap::new())).lock();
    let mut elections = 0u64;
    for t in &topics {
        let parts = t.partitions.read().clone();
        for p in parts {
            partitions += 1;
            let (leader, _, replicas, isr) = broker.partition_view(t, &p);
            let leading = p.is_leader();
            if leading {
                leaders += 1;
                if isr.len() < replicas.len() {
                    under += 1;
                }
            }
            if leader < 0 {
                offline += 1;
            }
            let labels = [
                ("topic", t.name.clone()),
                ("partition", p.index.to_string()),
            ];
            let end = p.log.log_end_offset();
            let hw = p.high_watermark();
            gauge!("riffle_log_size_bytes", &labels).set(p.log.size_bytes() as f64);
            gauge!("riffle_log_segments", &labels).set(p.log.segment_count() as f64);
            gauge!("riffle_log_start_offset", &labels).set(p.log.log_start_offset() as f64);
            gauge!("riffle_log_end_offset", &labels).set(end as f64);
            gauge!("riffle_partition_high_watermark", &labels).set(hw as f64);
            if let Some(replica) = &p.replica {
                let m = replica.raft().metrics().borrow().clone();
                let last_log = m.last_log_index.unwrap_or(0);
                let applied = m.last_applied.map_or(0, |l| l.index);
                gauge!("riffle_raft_term", &labels).set(m.current_term as f64);
                gauge!("riffle_raft_apply_lag_entries", &labels)
                    .set(last_log.saturating_sub(applied) as f64);
                gauge!("riffle_raft_commit_lag_records", &labels).set((end - hw).max(0) as f64);
                let prev = terms.insert((t.name.clone(), p.index), m.current_term);
                if let Some(prev) = prev {
                    elections += m.current_term.saturating_sub(prev);
                }
            }
        }
    }
    drop(terms);
    counter!("riffle_raft_elections_total").increment(elections);
    gauge!("riffle_partitions").set(partitions as f64);
    gauge!("riffle_partition_leaders").set(leaders as f64);
    gauge!("riffle_under_replicated_partitions").set(under as f64);
    gauge!("riffle_offline_partitions").set(offline as f64);
    for dir in &broker.log_dirs {
        if let Ok(s) = rustix::fs::statvfs(dir) {
            gauge!("riffle_log_dir_free_bytes", "dir" => dir.display().to_string())
                .set(s.f_bavail.saturating_mul(s.f_frsize) as f64);
        }
    }
    let groups = broker.groups.list();
    gauge!("riffle_consumer_groups").set(groups.len() as f64);
    for g in groups {
        gauge!("riffle_consumer_group_state", "group" => g.group_id.clone(), "state" => g.state.name())
            .set(1.0);
        for row in crate::lag::consumer_lag(broker, &g.group_id) {
            let labels = [
                ("group", g.group_id.clone()),
                ("topic", row.topic.clone()),
                ("partition", row.partition.to_string()),
            ];
            gauge!("riffle_consumer_group_committed_offset", &labels)
                .set(row.committed_offset as f64);
            if row.lag >= 0 {
                gauge!("riffle_consumer_group_lag", &labels).set(row.lag as f64);
            }
        }
    }
}

/// Refreshes the gauges and renders Prometheus text.
pub fn render(broker: &Broker, handle: &PrometheusHandle) -> String {
    refresh(broker);
    handle.run_upkeep();
    handle.render()
}

/// The `/metrics` and `/health` routes.
pub fn router(broker: Arc<Broker>, handle: PrometheusHandle) -> axum::Router {
    use axum::http::header;
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let broker = broker.clone();
                let handle = handle.clone();
                async move {
                    let text = tokio::task::spawn_blocking(move || render(&broker, &handle))
                        .await
                        .unwrap_or_default();
                    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
                }
            }),
        )
        .route("/health", get(|| async { "ok\n" }))
}

/// Serves `/metrics` and `/health` on every `metrics.listeners` address (none: returns at
/// once). Fails if an address cannot be bound.
pub async fn serve(broker: Arc<Broker>) -> anyhow::Result<()> {
    let urls: Vec<String> = broker.config.read().metrics_listeners.clone();
    if urls.is_empty() {
        return Ok(());
    }
    let handle = install().ok_or_else(|| anyhow::anyhow!("a metrics recorder is already set"))?;
    let app = router(broker.clone(), handle);
    let mut tasks = tokio::task::JoinSet::new();
    for url in urls {
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (metrics.listeners): {e}"))?;
        tracing::info!(%addr, "metrics are serving at /metrics");
        let app = app.clone();
        tasks.spawn(async move { axum::serve(listener, app).await });
    }
    while let Some(r) = tasks.join_next().await {
        if let Ok(Err(e)) = r {
            return Err(anyhow::anyhow!("metrics listener failed: {e}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_record_count_stops_at_a_truncated_batch() {
        let mut batch = vec![0u8; 61];
        batch[8..12].copy_from_slice(&49i32.to_be_bytes());
        batch[16] = 2;
        batch[57..61].copy_from_slice(&5i32.to_be_bytes());
        let mut two = batch.clone();
        two.extend_from_slice(&batch);
        assert_eq!(batch_record_count(&two), 10);
        two.truncate(80);
        assert_eq!(batch_record_count(&two), 5);
        assert_eq!(batch_record_count(&[1, 2, 3]), 0);
    }
}
