//! Prometheus metrics on a real three-node cluster (`riffle serve` processes on free ports with
//! `metrics.listeners`): the text passes `promtool check metrics`, a lagging group shows its
//! lag, and every metric a deploy/ dashboard queries is one the nodes export. Also checks that
//! deploy/docker-compose.yml, the Prometheus config and the Dockerfile agree with each other.

mod admin_common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use admin_common::{repo_root, run_in, shared_cluster, Listeners, TestCluster};

const LAG_VISIBLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The cluster of this test binary: every node has a metrics listener and no schema registry.
fn cluster() -> &'static TestCluster {
    shared_cluster(
        "metrics",
        Listeners {
            schema_registry: false,
            metrics: true,
        },
    )
}

/// GET over HTTP/1.0; returns the status code and body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics listener");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (status, body.to_string())
}

/// Metric names of the samples in Prometheus text (histograms give `_bucket`, `_sum`, `_count`).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// The value of the first sample line that starts with `prefix`.
fn sample_value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Creates a topic, produces 6 records and lets group `billing` consume 2 of them; returns
/// every node's `/metrics` text once one node reports the group's lag.
fn traffic_and_scrapes() -> &'static Vec<String> {
    static SCRAPES: OnceLock<Vec<String>> = OnceLock::new();
    SCRAPES.get_or_init(|| {
        let c = cluster();
        let toml = c.dir.join("topics.toml");
        std::fs::write(
            &toml,
            "[topics.orders]\npartitions = 1\nreplication_factor = 3\n",
        )
        .expect("write topics.toml");
        let toml = toml.display().to_string();
        let out = run_in(
            c,
            &["topics", "apply", "--bootstrap", &c.bootstrap, &toml],
            None,
        );
        assert_eq!(out.code, 0, "topics apply: {}{}", out.stdout, out.stderr);
        let out = run_in(
            c,
            &["admin", "--bootstrap", &c.bootstrap, "produce", "orders"],
            Some("a\nb\nc\nd\ne\nf\n"),
        );
        assert_eq!(out.code, 0, "produce: {}{}", out.stdout, out.stderr);
        let out = run_in(
            c,
            &[
                "admin",
                "--bootstrap",
                &c.bootstrap,
                "consume",
                "orders",
                "--from-beginning",
                "--max",
                "2",
                "--group",
                "billing",
            ],
            None,
        );
        assert_eq!(out.code, 0, "consume: {}{}", out.stdout, out.stderr);
        let lag_line =
            "riffle_consumer_group_lag{group=\"billing\",topic=\"orders\",partition=\"0\"}";
        let deadline = Instant::now() + LAG_VISIBLE_TIMEOUT;
        loop {
            let scrapes: Vec<String> = c
                .metrics
                .iter()
                .map(|a| {
                    let (status, body) = http_get(a, "/metrics");
                    assert_eq!(status, 200, "GET http://{a}/metrics");
                    body
                })
                .collect();
            if scrapes.iter().any(|s| sample_value(s, lag_line).is_some()) {
                return scrapes;
            }
            assert!(
                Instant::now() < deadline,
                "no node reports {lag_line} after {LAG_VISIBLE_TIMEOUT:?}; node logs in {}",
                c.dir.display()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    })
}

#[test]
fn every_node_metrics_pass_promtool_check_metrics() {
    for (i, text) in traffic_and_scrapes().iter().enumerate() {
        let child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = child.expect(
            "promtool is needed (Debian: apt-get install prometheus) to check the metrics text",
        );
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write to promtool");
        let out = child.wait_with_output().expect("promtool output");
        assert!(
            out.status.success(),
            "promtool check metrics failed for node {}:\n{}{}",
            i + 1,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_lagging_group_shows_its_lag_and_topic_traffic_is_counted() {
    let scrapes = traffic_and_scrapes();
    let lag_line = "riffle_consumer_group_lag{group=\"billing\",topic=\"orders\",partition=\"0\"}";
    let lag = scrapes
        .iter()
        .find_map(|s| sample_value(s, lag_line))
        .expect("a node reports the group's lag");
    assert_eq!(lag, 4.0, "6 records produced, 2 consumed and committed");
    let records_in: f64 = scrapes
        .iter()
        .filter_map(|s| sample_value(s, "riffle_topic_records_in_total{topic=\"orders\"}"))
        .sum();
    assert_eq!(records_in, 6.0);
    let records_out: f64 = scrapes
        .iter()
        .filter_map(|s| sample_value(s, "riffle_topic_records_out_total{topic=\"orders\"}"))
        .sum();
    assert!(records_out >= 2.0, "fetched records counted: {records_out}");
    let leaders: f64 = scrapes
        .iter()
        .filter_map(|s| sample_value(s, "riffle_partition_leaders "))
        .sum();
    assert!(
        leaders >= 1.0,
        "the orders partition has a leader somewhere"
    );
    for s in scrapes {
        assert_eq!(sample_value(s, "riffle_broker_up"), Some(1.0));
        // A partition whose Raft group has not elected yet is offline for that moment.
        assert!(sample_value(s, "riffle_offline_partitions").is_some());
        assert!(s.contains("riffle_raft_term{topic=\"orders\",partition=\"0\"}"));
        assert!(s.contains("riffle_request_duration_seconds_bucket{api=\"Metadata\""));
    }
}

#[test]
fn health_endpoint_answers_ok_on_every_node() {
    for a in &cluster().metrics {
        assert_eq!(http_get(a, "/health"), (200, "ok\n".to_string()));
    }
}

/// Every `riffle_*` name in the PromQL `expr`s and template queries of a dashboard JSON value.
fn dashboard_metric_names(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr" | "query" | "definition", Value::String(q)) => {
                        let names = riffle_names(q);
                        assert!(
                            !names.is_empty(),
                            "dashboard query uses no riffle metric: {q}"
                        );
                        out.extend(names.into_iter().map(|n| (n, q.clone())));
                    }
                    _ => dashboard_metric_names(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| dashboard_metric_names(v, out)),
        _ => {}
    }
}

fn riffle_names(q: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = q;
    while let Some(at) = rest.find("riffle_") {
        let boundary = !matches!(
            rest[..at].chars().last(),
            Some(c) if c.is_ascii_alphanumeric() || c == '_'
        );
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if boundary {
            names.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

#[test]
fn every_metric_a_dashboard_queries_is_exported() {
    let exported: BTreeSet<String> = traffic_and_scrapes()
        .iter()
        .flat_map(|s| sample_names(s))
        .collect();
    let dir = repo_root().join("deploy/grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/grafana/dashboards")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let titles: Vec<String> = files
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(f).expect("read"))
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", f.display()));
            let mut used = Vec::new();
            dashboard_metric_names(&v, &mut used);
            assert!(!used.is_empty(), "{} queries nothing", f.display());
            for (name, q) in used {
                assert!(
                    exported.contains(&name),
                    "{} queries {name} (in `{q}`), which no node exports",
                    f.display()
                );
            }
            v["title"].as_str().expect("a title").to_string()
        })
        .collect();
    assert_eq!(
        titles,
        [
            "Riffle Broker Performance",
            "Riffle Cluster Overview",
            "Riffle Consumer Lag",
            "Riffle Topic Metrics"
        ]
    );
}

fn yaml(path: &str) -> Yaml {
    let text = std::fs::read_to_string(repo_root().join(path)).expect(path);
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(docs.len(), 1, "{path}: one YAML document");
    docs.remove(0)
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_file_runs_three_nodes_scraped_by_prometheus_with_grafana() {
    let compose = yaml("deploy/docker-compose.yml");
    let services = &compose["services"];
    let scrape = yaml("deploy/prometheus/prometheus.yml");
    let targets: Vec<String> = scrape["scrape_configs"][0]["static_configs"]
        .as_vec()
        .expect("static_configs")
        .iter()
        .flat_map(|c| strings(&c["targets"]))
        .collect();
    let mut expected_targets = Vec::new();
    for (id, kafka, metrics) in [(1, 9092, 9644), (2, 9093, 9645), (3, 9094, 9646)] {
        let node = &services[format!("riffle-{id}").as_str()];
        assert!(!node.is_badvalue(), "service riffle-{id}");
        let command = strings(&node["command"]);
        assert_eq!(command.first().map(String::as_str), Some("serve"));
        assert!(command.contains(&format!("node.id={id}")), "{command:?}");
        assert!(
            command.contains(&format!("metrics.listeners=http://0.0.0.0:{metrics}")),
            "{command:?}"
        );
        let ports = strings(&node["ports"]);
        assert!(ports.contains(&format!("{kafka}:{kafka}")), "{ports:?}");
        assert!(ports.contains(&format!("{metrics}:{metrics}")), "{ports:?}");
        // The merge key (<<) is kept as written; the anchor holds the build.
        expected_targets.push(format!("riffle-{id}:{metrics}"));
    }
    assert_eq!(targets, expected_targets);
    assert_eq!(
        compose["x-riffle"]["build"]["dockerfile"].as_str(),
        Some("deploy/Dockerfile")
    );
    assert_eq!(strings(&services["prometheus"]["ports"]), ["9090:9090"]);
    assert_eq!(strings(&services["grafana"]["ports"]), ["3000:3000"]);
    for mount in strings(&services["prometheus"]["volumes"])
        .iter()
        .chain(strings(&services["grafana"]["volumes"]).iter())
        .filter(|m| m.starts_with("./"))
    {
        let local = mount.split(':').next().expect("a source");
        assert!(
            repo_root().join("deploy").join(local).exists(),
            "compose mounts {local}, which deploy/ lacks"
        );
    }
    let datasource = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(
        datasource["datasources"][0]["url"].as_str(),
        Some("http://prometheus:9090")
    );
    let dockerfile =
        std::fs::read_to_string(repo_root().join("deploy/Dockerfile")).expect("Dockerfile");
    assert!(dockerfile.contains("cargo build --release -p riffle-broker"));
    assert!(
        dockerfile.contains("COPY --from=build /src/target/release/riffle /usr/local/bin/riffle")
    );
}
