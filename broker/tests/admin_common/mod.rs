//! Shared by the tests that need a real cluster (admin_*, metrics): a three-node cluster of
//! `riffle serve` processes on free ports (RF 3, min.insync.replicas 2, and per node a schema
//! registry or a metrics listener as asked) and running the `riffle` binary.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const RIFFLE: &str = env!("CARGO_BIN_EXE_riffle");
pub const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(120);

pub struct TestCluster {
    pub bootstrap: String,
    pub addrs: Vec<String>,
    /// Schema registry URLs, one per node (empty without `Listeners::schema_registry`).
    pub registries: Vec<String>,
    /// Metrics listener addresses (`host:port`), one per node (empty without
    /// `Listeners::metrics`).
    pub metrics: Vec<String>,
    pub dir: PathBuf,
}

/// The HTTP listeners each node opens besides its Kafka and controller listeners.
#[derive(Clone, Copy, Debug)]
pub struct Listeners {
    /// A schema registry per node, on consecutive ports.
    pub schema_registry: bool,
    /// A Prometheus `/metrics` (and `/health`) listener per node.
    pub metrics: bool,
}

impl Listeners {
    /// What the admin tests use: a schema registry on every node, no metrics listener.
    pub const ADMIN: Listeners = Listeners {
        schema_registry: true,
        metrics: false,
    };
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The cluster of this test binary, started on first use with `start_cluster_with` from a
/// thread that never exits: `setpriv --pdeathsig KILL` fires when the *thread* that started a
/// node exits, so the nodes live exactly as long as this test process (however it ends).
/// Every call in one binary gets the cluster of the first call.
pub fn shared_cluster(tag: &'static str, listeners: Listeners) -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (cluster, _children) = start_cluster_with(tag, listeners);
            tx.send(cluster).expect("test thread waits");
            // Holds the children: they live as long as this test process.
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("cluster started")
    })
}

/// `start_cluster_with(tag, Listeners::ADMIN)`.
pub fn start_cluster(tag: &str) -> (TestCluster, Vec<std::process::Child>) {
    start_cluster_with(tag, Listeners::ADMIN)
}

/// Starts three `riffle serve` nodes under `CARGO_TARGET_TMPDIR/admin-<tag>-<pid>` and waits
/// until each answers `riffle admin health` with three brokers. The caller keeps the children.
pub fn start_cluster_with(
    tag: &str,
    listeners: Listeners,
) -> (TestCluster, Vec<std::process::Child>) {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("admin-{tag}-"))
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = base.join(format!("admin-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("test dir");
    // Ports: Kafka 0..3, controller 3..6, metrics 6..9, schema registry 9..12.
    let mut ports = Vec::new();
    let mut held = Vec::new();
    for _ in 0..9 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        ports.push(l.local_addr().expect("addr").port());
        held.push(l);
    }
    // Registry ports are consecutive: a node finds the `_schemas` leader's registry at its own
    // port + (leader id - own id), as with `riffle dev`'s 8081..8083.
    let registry_base = loop {
        let base = free_port();
        if base < 65000
            && (1..3).all(|d| {
                std::net::TcpListener::bind(("127.0.0.1", base + d))
                    .map(|l| held.push(l))
                    .is_ok()
            })
        {
            break base;
        }
    };
    ports.extend([registry_base, registry_base + 1, registry_base + 2]);
    drop(held);
    let voters = (0..3)
        .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[3 + i]))
        .collect::<Vec<_>>()
        .join(",");
    let setpriv = Command::new("setpriv")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let mut addrs = Vec::new();
    let mut children = Vec::new();
    for i in 0..3 {
        let id = i + 1;
        let props = [
            format!("node.id={id}"),
            format!(
                "listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
                ports[i],
                ports[3 + i]
            ),
            format!("controller.quorum.voters={voters}"),
            format!("log.dirs={}", dir.join(format!("node-{id}")).display()),
            "default.replication.factor=3".into(),
            "min.insync.replicas=2".into(),
            "offsets.topic.replication.factor=3".into(),
            "offsets.topic.num.partitions=3".into(),
            if listeners.schema_registry {
                format!(
                    "schema.registry.listeners=http://127.0.0.1:{}",
                    ports[9 + i]
                )
            } else {
                "schema.registry.listeners=".into()
            },
            if listeners.metrics {
                format!("metrics.listeners=http://127.0.0.1:{}", ports[6 + i])
            } else {
                "metrics.listeners=".into()
            },
            "auto.create.topics.enable=false".into(),
            "num.partitions=1".into(),
            "group.initial.rebalance.delay.ms=0".into(),
        ];
        let mut cmd = if setpriv {
            let mut c = Command::new("setpriv");
            c.args(["--pdeathsig", "KILL", "--", RIFFLE]);
            c
        } else {
            Command::new(RIFFLE)
        };
        cmd.arg("serve");
        for p in props {
            cmd.arg("--override").arg(p);
        }
        let log = std::fs::File::create(dir.join(format!("node-{id}.log"))).expect("log file");
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        children.push(cmd.spawn().expect("start riffle serve"));
        addrs.push(format!("127.0.0.1:{}", ports[i]));
    }
    let c = TestCluster {
        bootstrap: addrs.join(","),
        addrs,
        registries: (0..3)
            .filter(|_| listeners.schema_registry)
            .map(|i| format!("http://127.0.0.1:{}", ports[9 + i]))
            .collect(),
        metrics: (0..3)
            .filter(|_| listeners.metrics)
            .map(|i| format!("127.0.0.1:{}", ports[6 + i]))
            .collect(),
        dir,
    };
    // Ready: every node answers and its Metadata shows three brokers and a controller.
    let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
    loop {
        let ready = c.addrs.iter().all(|a| {
            let out = run_in(
                &c,
                &["admin", "--bootstrap", a, "--output", "json", "health"],
                None,
            );
            out.code == 0
                && serde_json::from_str::<Value>(&out.stdout)
                    .map(|v| v["brokers"] == 3)
                    .unwrap_or(false)
        });
        if ready {
            return (c, children);
        }
        assert!(
            Instant::now() < deadline,
            "cluster not ready after {CLUSTER_READY_TIMEOUT:?}; node logs in {}",
            c.dir.display()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
}

pub fn run_in(c: &TestCluster, args: &[&str], stdin: Option<&str>) -> Out {
    let mut cmd = Command::new(RIFFLE);
    cmd.args(args)
        .current_dir(repo_root())
        .env_remove("RIFFLE_BOOTSTRAP")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run riffle");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    let out = child.wait_with_output().expect("riffle output");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut err = String::from_utf8_lossy(&out.stderr).into_owned();
    for (i, a) in c.addrs.iter().enumerate() {
        text = text.replace(a, &format!("<node{}>", i + 1));
        err = err.replace(a, &format!("<node{}>", i + 1));
    }
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: text,
        stderr: err,
    }
}
