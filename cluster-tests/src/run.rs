//! One Jepsen run: namespaces, three nodes, the Python workload, the seeded fault schedule, heal, the
//! final read and the checker's verdict. Cleans up namespaces and processes on every exit path.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::checker::{self, Report};
use crate::cluster::{self, Cluster};
use crate::crash::CutReport;
use crate::history::{self, Event};
use crate::net;
use crate::schedule::{self, Family, Fault, Scheduled, Target, Timing, NODES};

/// Set by SIGINT/SIGTERM: the run stops at the next tick and cleans up.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// Installs SIGINT/SIGTERM handlers that set `STOP`.
pub fn install_signal_handlers() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            loop {
                tokio::select! {
                    _ = int.recv() => {},
                    _ = term.recv() => {},
                }
                eprintln!("jepsen: signal received, healing and cleaning up");
                STOP.store(true, Ordering::SeqCst);
            }
        });
    });
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub families: Vec<Family>,
    pub duration_s: f64,
    pub seed: u64,
    pub timing: Timing,
    /// Seconds of producing after the last heal (recovery is measured here).
    pub tail_s: f64,
    pub riffle_bin: PathBuf,
    pub python: PathBuf,
    pub workload: PathBuf,
    pub dir: PathBuf,
    pub unsafe_broker: bool,
    /// `log.durability=pagecache` on every node: acknowledges before fdatasync, which the
    /// lose-unsynced faults must catch.
    pub unsafe_durability: bool,
    pub partitions: i32,
    pub rate: f64,
    /// The producers' `message.timeout.ms` (0 = none).
    pub message_timeout_ms: u64,
}

/// What a run produced.
pub struct RunOutcome {
    pub report: Report,
    pub history: PathBuf,
    pub crashes: Vec<(u8, String)>,
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Prints the schedule as the run will apply it.
pub fn print_schedule(cfg: &RunConfig, sched: &[Scheduled]) {
    let names: Vec<String> = cfg
        .families
        .iter()
        .map(|f| format!("{f:?}").to_lowercase())
        .collect();
    println!(
        "schedule: seed {} faults {} duration {} s, {} faults{}",
        cfg.seed,
        names.join(","),
        cfg.duration_s,
        sched.len(),
        if cfg.unsafe_broker {
            " [UNSAFE BROKER: RIFFLE_TEST_UNSAFE_ACK_BEFORE_COMMIT=1]"
        } else {
            ""
        }
    );
    if cfg.unsafe_durability {
        println!("  [UNSAFE DURABILITY: log.durability=pagecache, acks before fdatasync]");
    }
    for s in sched {
        println!(
            "  +{:6.1} s .. +{:6.1} s  {:<20} {}",
            s.start_s,
            s.end_s,
            s.fault.name(),
            s.fault
        );
    }
}

/// Everything that must be undone however the run ends.
struct Guard {
    cluster: Option<Cluster>,
    workload: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut w) = self.workload.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        if let Some(mut c) = self.cluster.take() {
            c.kill_all();
        }
        net::teardown(&NODES);
    }
}

struct FaultLog {
    file: std::fs::File,
}

impl FaultLog {
    fn record(&mut self, phase: &str, name: &str, detail: &str) -> anyhow::Result<()> {
        let e = Event::Fault {
            phase: phase.into(),
            name: name.into(),
            detail: detail.into(),
            t: now_s(),
        };
        writeln!(self.file, "{}", serde_json::to_string(&e)?)?;
        Ok(())
    }
}

fn leader_of(cfg: &RunConfig, cluster: &Cluster, partition: i32) -> Option<u8> {
    let running = cluster.running();
    if running.is_empty() {
        return None;
    }
    let bootstrap: Vec<String> = running
        .iter()
        .map(|n| format!("{}:{}", net::addr(*n), cluster::KAFKA_PORT))
        .collect();
    let out = Command::new(&cfg.python)
        .arg(&cfg.workload)
        .args([
            "leader",
            "--bootstrap",
            &bootstrap.join(","),
            "--partition",
            &partition.to_string(),
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let id: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    NODES.iter().copied().find(|n| i64::from(*n) == id)
}

fn resolve(cfg: &RunConfig, cluster: &Cluster, t: Target) -> (u8, String) {
    match t {
        Target::Node(n) => (n, format!("node {n}")),
        Target::LeaderOf(p) => match leader_of(cfg, cluster, p) {
            Some(n) => (n, format!("node {n} (leader of partition {p})")),
            None => {
                let n = NODES[(p as usize) % NODES.len()];
                (
                    n,
                    format!("node {n} (leader of partition {p} unknown, fell back)"),
                )
            }
        },
    }
}

fn others(n: u8) -> Vec<u8> {
    NODES.iter().copied().filter(|m| *m != n).collect()
}

/// Starts a fault; returns a sentence of what was done.
fn start_fault(cfg: &RunConfig, cluster: &mut Cluster, fault: Fault) -> anyhow::Result<String> {
    Ok(match fault {
        Fault::Kill(t) => {
            let (n, who) = resolve(cfg, cluster, t);
            cluster.kill(n);
            format!("SIGKILL {who}")
        }
        Fault::KillAll => {
            for n in NODES {
                cluster.kill(n);
            }
            "SIGKILL nodes 1, 2, 3".into()
        }
        Fault::Pause(t) => {
            let (n, who) = resolve(cfg, cluster, t);
            cluster.pause(n);
            format!("SIGSTOP {who}")
        }
        Fault::Isolate(t) => {
            let (n, who) = resolve(cfg, cluster, t);
            let o = others(n);
            // Input rules only, on both sides: packets vanish silently (an output drop would fail
            // the sender's syscall at once, which is kinder than a real partition).
            net::drop_traffic(n, &o, &[])?;
            for m in &o {
                net::drop_traffic(*m, &[n], &[])?;
            }
            format!("isolate {who} from nodes {o:?}")
        }
        Fault::Bridge { bridge } => {
            let o = others(bridge);
            net::drop_traffic(o[0], &[o[1]], &[])?;
            net::drop_traffic(o[1], &[o[0]], &[])?;
            format!("cut nodes {} and {}, node {bridge} bridges", o[0], o[1])
        }
        Fault::OneWay { from, to } => {
            net::drop_traffic(to, &[from], &[])?;
            format!("node {to} drops packets from node {from}")
        }
        Fault::Loss { percent } => {
            for n in NODES {
                net::packet_loss(n, percent)?;
            }
            format!("{percent}% random loss on every node's input")
        }
        Fault::LoseUnsynced(t) => {
            let (n, who) = resolve(cfg, cluster, t);
            let report = cluster.crash_disk(n)?;
            format!(
                "SIGKILL {who}, lose its un-fsynced writes: {}",
                cut_summary(&[(n, report)])
            )
        }
        Fault::LoseUnsyncedAll => {
            // Kill all before cutting any: no node may sync after another's disk is cut.
            for n in NODES {
                cluster.kill(n);
            }
            let mut reports = Vec::new();
            for n in NODES {
                reports.push((n, cluster.crash_disk(n)?));
            }
            format!(
                "SIGKILL nodes 1, 2, 3, lose their un-fsynced writes: {}",
                cut_summary(&reports)
            )
        }
    })
}

/// `node 2: cut 3 files, 18432 bytes (...); node 3: ...`
fn cut_summary(reports: &[(u8, CutReport)]) -> String {
    reports
        .iter()
        .map(|(n, r)| format!("node {n}: {r}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Heals everything: network rules, paused and killed nodes.
fn heal_all(cluster: &mut Cluster) -> anyhow::Result<()> {
    for n in NODES {
        net::heal(n)?;
    }
    cluster.heal_processes()
}

/// Sleeps until `deadline`, in short ticks that watch for Ctrl-C and crashed nodes.
fn sleep_until(deadline: Instant, cluster: &mut Cluster) -> anyhow::Result<()> {
    while Instant::now() < deadline {
        if STOP.load(Ordering::SeqCst) {
            anyhow::bail!("interrupted");
        }
        let before = cluster.crashes.len();
        cluster.reap();
        for (n, status) in &cluster.crashes[before..] {
            println!("!! node {n} exited on its own ({status}); it restarts at the next heal");
        }
        std::thread::sleep(
            Duration::from_millis(100).min(deadline.saturating_duration_since(Instant::now())),
        );
    }
    Ok(())
}

/// Runs one Jepsen run and checks its history.
pub fn run(cfg: &RunConfig) -> anyhow::Result<RunOutcome> {
    net::preflight()?;
    anyhow::ensure!(
        cfg.riffle_bin.exists(),
        "riffle binary {} not found (cargo build --release --bin riffle)",
        cfg.riffle_bin.display()
    );
    anyhow::ensure!(
        cfg.python.exists(),
        "python {} not found (the venv with confluent-kafka)",
        cfg.python.display()
    );
    let sched = schedule::schedule(
        cfg.seed,
        &cfg.families,
        cfg.duration_s,
        cfg.timing,
        cfg.partitions,
    );
    print_schedule(cfg, &sched);
    let _ = std::fs::remove_dir_all(&cfg.dir);
    std::fs::create_dir_all(&cfg.dir)?;
    let ops_path = cfg.dir.join("ops.jsonl");
    let faults_path = cfg.dir.join("faults.jsonl");
    let mut faults = FaultLog {
        file: std::fs::File::create(&faults_path)?,
    };

    let mut guard = Guard {
        cluster: None,
        workload: None,
    };
    net::setup(&NODES)?;
    guard.cluster = Some(Cluster::new(
        &cfg.dir,
        &cfg.riffle_bin,
        cfg.unsafe_broker,
        cfg.unsafe_durability,
    )?);
    let setup_started = Instant::now();
    {
        let c = guard.cluster.as_mut().context("cluster")?;
        c.launch_all()?;
        c.wait_listening(Duration::from_secs(60))?;
    }
    let workload_s = cfg.duration_s + cfg.tail_s;
    let mut child = Command::new("setpriv")
        .args(["--pdeathsig", "KILL", "--"])
        .arg(&cfg.python)
        .arg(&cfg.workload)
        .args(["run", "--bootstrap", &cluster::bootstrap(), "--history"])
        .arg(&ops_path)
        .args([
            "--duration",
            &format!("{workload_s}"),
            "--seed",
            &cfg.seed.to_string(),
        ])
        .args([
            "--partitions",
            &cfg.partitions.to_string(),
            "--rate",
            &cfg.rate.to_string(),
            "--message-timeout-ms",
            &cfg.message_timeout_ms.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the workload")?;
    let stdout = child.stdout.take().context("workload stdout")?;
    guard.workload = Some(child);
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.trim() == "READY" {
                let _ = ready_tx.send(());
            }
            println!("workload: {line}");
        }
    });
    loop {
        if ready_rx.recv_timeout(Duration::from_millis(200)).is_ok() {
            break;
        }
        if STOP.load(Ordering::SeqCst) {
            anyhow::bail!("interrupted");
        }
        if let Some(w) = guard.workload.as_mut() {
            if let Ok(Some(status)) = w.try_wait() {
                anyhow::bail!(
                    "workload exited before READY ({status}); node logs in {}",
                    cfg.dir.display()
                );
            }
        }
        anyhow::ensure!(
            setup_started.elapsed() < Duration::from_secs(120),
            "cluster not ready after 120 s"
        );
    }
    let t0 = Instant::now();
    println!(
        "cluster ready after {:.1} s; faults begin",
        setup_started.elapsed().as_secs_f64()
    );

    let cluster = guard.cluster.as_mut().context("cluster")?;
    let mut result = Ok(());
    for s in &sched {
        result = (|| -> anyhow::Result<()> {
            sleep_until(t0 + Duration::from_secs_f64(s.start_s), cluster)?;
            let detail = start_fault(cfg, cluster, s.fault)?;
            faults.record("start", s.fault.name(), &detail)?;
            println!(
                "[+{:6.1} s] {}: {detail}",
                t0.elapsed().as_secs_f64(),
                s.fault.name()
            );
            sleep_until(t0 + Duration::from_secs_f64(s.end_s), cluster)?;
            heal_all(cluster)?;
            faults.record("end", s.fault.name(), "healed")?;
            println!(
                "[+{:6.1} s] heal {}",
                t0.elapsed().as_secs_f64(),
                s.fault.name()
            );
            Ok(())
        })();
        if result.is_err() {
            break;
        }
    }
    // Whatever happened, heal before the final read.
    let healed = heal_all(cluster);
    result?;
    healed?;
    let workload_budget = Duration::from_secs_f64(workload_s + 30.0 + 200.0);
    let status = loop {
        if let Some(w) = guard.workload.as_mut() {
            if let Some(status) = w.try_wait()? {
                break status;
            }
        }
        sleep_until(
            Instant::now() + Duration::from_millis(200),
            guard.cluster.as_mut().context("cluster")?,
        )?;
        anyhow::ensure!(
            t0.elapsed() < workload_budget,
            "workload did not finish within {workload_budget:?}"
        );
    };
    guard.workload = None;
    let crashes = guard
        .cluster
        .as_ref()
        .map(|c| c.crashes.clone())
        .unwrap_or_default();
    drop(guard);
    if !status.success() {
        println!("workload exited with {status}");
    }
    drop(faults);

    let history_path = cfg.dir.join("history.jsonl");
    let mut text = std::fs::read_to_string(&ops_path)
        .with_context(|| format!("reading {}", ops_path.display()))?;
    text.push_str(&std::fs::read_to_string(&faults_path)?);
    std::fs::write(&history_path, &text)?;
    let events = history::parse_history(&text)?;
    let report = checker::check(&events);
    Ok(RunOutcome {
        report,
        history: history_path,
        crashes,
    })
}

/// The repository root (this crate's parent directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
