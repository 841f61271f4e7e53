//! The three `riffle serve` processes of a Jepsen run, one per network namespace, started from config
//! files the harness writes; kill -9, SIGSTOP/SIGCONT, restart on the same data dir, and the
//! disk crash of the lose-unsynced faults (each start takes a baseline and empties the node's
//! sync journal; see `crash`).

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::crash::{self, Baseline, CutReport};
use crate::net;
use crate::schedule::NODES;

pub const KAFKA_PORT: u16 = 9092;
pub const CONTROLLER_PORT: u16 = 19092;

/// One node: its config file, log file and (while running) process.
pub struct Node {
    pub id: u8,
    pub config: PathBuf,
    pub log: PathBuf,
    /// The node's `log.dirs`.
    pub data: PathBuf,
    /// `RIFFLE_TEST_SYNC_JOURNAL` of the node: one line per data-file sync.
    pub journal: PathBuf,
    /// What was on disk at the node's last start (counts as durable).
    pub baseline: Baseline,
    pub child: Option<Child>,
    pub paused: bool,
    pub starts: u32,
}

/// The three nodes.
pub struct Cluster {
    pub nodes: Vec<Node>,
    riffle_bin: PathBuf,
    unsafe_broker: bool,
    /// Unexpected exits seen: (node, status).
    pub crashes: Vec<(u8, String)>,
}

/// The config file of node `n` under `dir`; `pagecache` sets `log.durability=pagecache`
/// (acknowledge before fdatasync: the setting the lose-unsynced faults must catch).
pub fn node_config(n: u8, data_dir: &Path, pagecache: bool) -> String {
    let voters: Vec<String> = NODES
        .iter()
        .map(|m| format!("{m}@{}:{CONTROLLER_PORT}", net::addr(*m)))
        .collect();
    format!(
        "# Written by `cluster-tests jepsen` for node {n}.\n\
         node.id={n}\n\
         listeners=PLAINTEXT://{a}:{KAFKA_PORT},CONTROLLER://{a}:{CONTROLLER_PORT}\n\
         controller.quorum.voters={voters}\n\
         log.dirs={dir}\n\
         default.replication.factor=3\n\
         min.insync.replicas=2\n\
         offsets.topic.replication.factor=3\n\
         offsets.topic.num.partitions=1\n\
         auto.create.topics.enable=false\n\
         schema.registry.listeners=\n\
         {durability}",
        a = net::addr(n),
        voters = voters.join(","),
        dir = data_dir.display(),
        durability = if pagecache {
            "log.durability=pagecache\n"
        } else {
            ""
        },
    )
}

/// `host:port,...` of every node's PLAINTEXT listener.
pub fn bootstrap() -> String {
    NODES
        .iter()
        .map(|n| format!("{}:{KAFKA_PORT}", net::addr(*n)))
        .collect::<Vec<_>>()
        .join(",")
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).output();
}

impl Cluster {
    /// Writes the config files under `dir` (data in `dir/node-N`, logs in `dir/node-N.log`,
    /// sync journals in `dir/node-N.syncjournal`).
    pub fn new(
        dir: &Path,
        riffle_bin: &Path,
        unsafe_broker: bool,
        pagecache: bool,
    ) -> anyhow::Result<Cluster> {
        let mut nodes = Vec::new();
        for n in NODES {
            let data = dir.join(format!("node-{n}"));
            std::fs::create_dir_all(&data)?;
            let config = dir.join(format!("node-{n}.properties"));
            std::fs::write(&config, node_config(n, &data, pagecache))?;
            nodes.push(Node {
                id: n,
                config,
                log: dir.join(format!("node-{n}.log")),
                data,
                journal: dir.join(format!("node-{n}.syncjournal")),
                baseline: Baseline::default(),
                child: None,
                paused: false,
                starts: 0,
            });
        }
        Ok(Cluster {
            nodes,
            riffle_bin: riffle_bin.to_path_buf(),
            unsafe_broker,
            crashes: Vec::new(),
        })
    }

    fn node_mut(&mut self, n: u8) -> &mut Node {
        let idx = self.nodes.iter().position(|x| x.id == n).unwrap_or(0);
        &mut self.nodes[idx]
    }

    /// Starts node `n` if it is not running.
    pub fn launch(&mut self, n: u8) -> anyhow::Result<()> {
        let bin = self.riffle_bin.clone();
        let unsafe_broker = self.unsafe_broker;
        let node = self.node_mut(n);
        if node.child.is_some() {
            return Ok(());
        }
        node.starts += 1;
        // Whatever is on disk now is, in the model, durable; the journal starts afresh.
        node.baseline = crash::take_baseline(&node.data, &node.journal)
            .with_context(|| format!("baseline of node {n}'s data dir"))?;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        use std::io::Write;
        writeln!(log, "\n===== node {n} start #{} =====", node.starts)?;
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &net::netns(n),
            "setpriv",
            "--pdeathsig",
            "KILL",
            "--",
        ])
        .arg(&bin)
        .arg("serve")
        .arg(&node.config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .env("RUST_BACKTRACE", "1")
        .env("RIFFLE_TEST_SYNC_JOURNAL", &node.journal);
        if unsafe_broker {
            cmd.env("RIFFLE_TEST_UNSAFE_ACK_BEFORE_COMMIT", "1");
        } else {
            cmd.env_remove("RIFFLE_TEST_UNSAFE_ACK_BEFORE_COMMIT");
        }
        node.child = Some(
            cmd.spawn()
                .with_context(|| format!("starting node {n} ({})", bin.display()))?,
        );
        node.paused = false;
        Ok(())
    }

    pub fn launch_all(&mut self) -> anyhow::Result<()> {
        for n in NODES {
            self.launch(n)?;
        }
        Ok(())
    }

    /// Waits until every node accepts TCP connections on its Kafka port.
    pub fn wait_listening(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for n in NODES {
            let addr: SocketAddr = format!("{}:{KAFKA_PORT}", net::addr(n)).parse()?;
            loop {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok() {
                    break;
                }
                self.reap();
                if self.node_mut(n).child.is_none() {
                    anyhow::bail!(
                        "node {n} exited before listening; see {}",
                        self.node_mut(n).log.display()
                    );
                }
                if Instant::now() > deadline {
                    anyhow::bail!("node {n} not listening on {addr} after {timeout:?}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// SIGKILL node `n` (paused or not) and reap it.
    pub fn kill(&mut self, n: u8) {
        let node = self.node_mut(n);
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
    }

    /// Crashes node `n`'s disk: SIGKILL (if running), then every file is cut to what the node
    /// synced since its last start (see `crash::cut_unsynced`). The cut files are listed in
    /// `node-N.log`. It restarts at the next heal.
    pub fn crash_disk(&mut self, n: u8) -> anyhow::Result<CutReport> {
        self.kill(n);
        let node = self.node_mut(n);
        let report = crash::cut_unsynced(&node.data, &node.baseline, &node.journal)
            .with_context(|| format!("cutting node {n}'s unsynced data"))?;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        use std::io::Write;
        writeln!(
            log,
            "\n===== node {n}: lose un-fsynced writes: {report} ====="
        )?;
        for f in &report.files {
            let rel = f.path.strip_prefix(&node.data).unwrap_or(&f.path);
            writeln!(
                log,
                "  {}: {} -> {} bytes{}",
                rel.display(),
                f.from_bytes,
                f.to_bytes,
                if f.never_synced {
                    " (never synced)"
                } else {
                    ""
                }
            )?;
        }
        Ok(report)
    }

    pub fn pause(&mut self, n: u8) {
        let node = self.node_mut(n);
        if let Some(child) = &node.child {
            signal(child.id(), "-STOP");
            node.paused = true;
        }
    }

    pub fn resume(&mut self, n: u8) {
        let node = self.node_mut(n);
        if let Some(child) = &node.child {
            signal(child.id(), "-CONT");
        }
        node.paused = false;
    }

    /// Notices nodes that exited on their own; records them as crashes.
    pub fn reap(&mut self) {
        for node in &mut self.nodes {
            if let Some(child) = &mut node.child {
                if let Ok(Some(status)) = child.try_wait() {
                    self.crashes.push((node.id, status.to_string()));
                    node.child = None;
                }
            }
        }
    }

    /// Resumes paused nodes and starts stopped ones.
    pub fn heal_processes(&mut self) -> anyhow::Result<()> {
        self.reap();
        for n in NODES {
            if self.node_mut(n).paused {
                self.resume(n);
            }
        }
        self.launch_all()
    }

    pub fn running(&self) -> Vec<u8> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some() && !n.paused)
            .map(|n| n.id)
            .collect()
    }

    /// Kills every node (used at the end and on failure).
    pub fn kill_all(&mut self) {
        for n in NODES {
            if self.node_mut(n).paused {
                self.resume(n);
            }
            self.kill(n);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}
