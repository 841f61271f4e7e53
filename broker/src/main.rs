//! The `riffle` binary: `riffle serve` runs a broker.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use riffle_broker::server;
use riffle_broker::state::Broker;
use riffle_config::{parse_override, BrokerConfig};

/// How often logs are synced in the background with `log.durability=pagecache`.
const PAGE_CACHE_FLUSH_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Parser)]
#[command(name = "riffle", version, about = "A Kafka-protocol-compatible broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker (like kafka-server-start.sh).
    Serve(ServeArgs),
    /// Run a three-node cluster on this machine (Kafka on 127.0.0.1:9092, :9093, :9094).
    Dev(DevArgs),
    /// Operate any Kafka-compatible cluster over the Kafka protocol: health, topics, groups, backup.
    Admin(riffle_broker::admin::AdminArgs),
    /// Declarative topics: `riffle topics apply topics.toml`.
    Topics(riffle_broker::admin::TopicsArgs),
}

#[derive(clap::Args)]
struct DevArgs {
    /// Where the nodes keep their data (`<dir>/node-1` ...) and logs (`<dir>/node-1.log` ...).
    #[arg(long, value_name = "DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Set a Kafka property on every node, e.g. `--override num.partitions=6`.
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

/// `riffle dev`'s ports: Kafka, node-to-node (CONTROLLER), schema registry, metrics, per node.
const DEV_NODES: [(i32, u16, u16, u16, u16); 3] = [
    (1, 9092, 19092, 8081, 9644),
    (2, 9093, 19093, 8082, 9645),
    (3, 9094, 19094, 8083, 9646),
];

#[derive(clap::Args)]
struct ServeArgs {
    /// A Kafka `server.properties` or a `riffle.toml`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The config file may also be given positionally, as kafka-server-start.sh takes it.
    #[arg(value_name = "FILE", conflicts_with = "config")]
    config_positional: Option<PathBuf>,
    /// Set a Kafka property, e.g. `--override listeners=PLAINTEXT://127.0.0.1:19092`.
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RIFFLE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=off")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Dev(args) => dev(args),
        Command::Admin(args) => riffle_broker::admin::run_admin(args),
        Command::Topics(args) => riffle_broker::admin::run_topics(args),
    }
}

/// `riffle dev`: three `riffle serve` child processes forming one cluster; stops them all on
/// Ctrl-C or SIGTERM (and exits if one of them dies).
fn dev(args: DevArgs) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("riffle dev: cannot find the riffle binary: {e}");
            return ExitCode::FAILURE;
        }
    };
    let voters = DEV_NODES
        .iter()
        .map(|(id, _, raft, _, _)| format!("{id}@127.0.0.1:{raft}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut children = Vec::new();
    for (id, kafka, raft, registry, metrics) in DEV_NODES {
        let dir = args.data_dir.join(format!("node-{id}"));
        let log_path = args.data_dir.join(format!("node-{id}.log"));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("riffle dev: cannot create {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        let log = match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
        {
            Ok(f) => f,
            Err(e) => {
                eprintln!("riffle dev: cannot open {}: {e}", log_path.display());
                return ExitCode::FAILURE;
            }
        };
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("serve");
        let mut props = vec![
            format!("node.id={id}"),
            format!("listeners=PLAINTEXT://127.0.0.1:{kafka},CONTROLLER://127.0.0.1:{raft}"),
            format!("controller.quorum.voters={voters}"),
            format!("log.dirs={}", dir.display()),
            "default.replication.factor=3".to_string(),
            "min.insync.replicas=2".to_string(),
            "offsets.topic.replication.factor=3".to_string(),
            format!("schema.registry.listeners=http://127.0.0.1:{registry}"),
            format!("metrics.listeners=http://127.0.0.1:{metrics}"),
        ];
        props.extend(args.overrides.iter().cloned());
        for p in props {
            cmd.arg("--override").arg(p);
        }
        cmd.stdout(std::process::Stdio::null()).stderr(log);
        match cmd.spawn() {
            Ok(child) => children.push((id, child)),
            Err(e) => {
                eprintln!("riffle dev: cannot start node {id}: {e}");
                stop_children(&mut children);
                return ExitCode::FAILURE;
            }
        }
        println!(
            "node {id}: kafka 127.0.0.1:{kafka}, schema registry http://127.0.0.1:{registry}, metrics http://127.0.0.1:{metrics}/metrics, data {}, log {}",
            dir.display(),
            log_path.display()
        );
    }
    let bootstrap = DEV_NODES
        .iter()
        .map(|(_, k, _, _, _)| format!("127.0.0.1:{k}"))
        .collect::<Vec<_>>()
        .join(",");
    println!("bootstrap.servers={bootstrap}");
    println!("Ctrl-C stops all nodes.");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("riffle dev: cannot start the runtime: {e}");
            stop_children(&mut children);
            return ExitCode::FAILURE;
        }
    };
    // A node that dies is reported and left down (kill one to watch a failover); the others
    // keep serving until Ctrl-C or SIGTERM.
    runtime.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut reported = std::collections::HashSet::new();
        loop {
            tokio::select! {
                _ = shutdown_signal() => return,
                _ = tick.tick() => {
                    for (id, c) in children.iter_mut() {
                        if let Ok(Some(status)) = c.try_wait() {
                            if reported.insert(*id) {
                                eprintln!("riffle dev: node {id} exited ({status}); the others keep running");
                            }
                        }
                    }
                    if reported.len() == children.len() {
                        return;
                    }
                }
            }
        }
    });
    stop_children(&mut children);
    ExitCode::SUCCESS
}

/// SIGTERM every child, then wait for it (SIGKILL after 10 s).
fn stop_children(children: &mut [(i32, std::process::Child)]) {
    for (_, c) in children.iter() {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for (id, c) in children.iter_mut() {
        loop {
            match c.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if std::time::Instant::now() >= deadline => {
                    eprintln!("riffle dev: node {id} did not stop in 10 s; killing it");
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let mut overrides = Vec::with_capacity(args.overrides.len());
    for o in &args.overrides {
        match parse_override(o) {
            Ok(kv) => overrides.push(kv),
            Err(e) => {
                eprintln!("riffle: --override {o}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let file = args.config.or(args.config_positional);
    let (config, warnings) = match BrokerConfig::load(file.as_deref(), &overrides, std::env::vars())
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("riffle: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    for w in warnings {
        tracing::warn!("{}", w.0);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("riffle: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("riffle: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: BrokerConfig) -> anyhow::Result<()> {
    let listeners: Vec<_> = config
        .listeners
        .iter()
        .filter(|l| l.name != "CONTROLLER")
        .cloned()
        .collect();
    anyhow::ensure!(!listeners.is_empty(), "`listeners` has no client listener");
    let retention_check =
        Duration::from_millis(config.log_retention_check_interval_ms.max(100) as u64);
    let cleaner_backoff = Duration::from_millis(config.log_cleaner_backoff_ms.max(100) as u64);
    let cluster_mode = !config.controller_quorum_voters.is_empty();
    let broker = tokio::task::spawn_blocking(move || Broker::open(config)).await??;
    if cluster_mode {
        if riffle_broker::state::unsafe_ack_before_commit() {
            tracing::error!("RIFFLE_TEST_UNSAFE_ACK_BEFORE_COMMIT=1: produce is acknowledged before replication (test-only broken build)");
        }
        broker.start_cluster().await?;
    }
    // The schema registry (schema.registry.listeners); its failures never stop the broker.
    let b = broker.clone();
    tokio::spawn(async move {
        if let Err(e) = riffle_broker::registry::serve(b).await {
            tracing::error!("schema registry failed: {e:#}");
        }
    });
    // Prometheus /metrics and /health (metrics.listeners); their failure never stops the broker.
    let b = broker.clone();
    tokio::spawn(async move {
        if let Err(e) = riffle_broker::metrics::serve(b).await {
            tracing::error!("metrics failed: {e:#}");
        }
    });
    let mut tasks = tokio::task::JoinSet::new();
    for l in listeners {
        let addr = l.addr();
        let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {addr} (listeners={}://{addr}): {e}",
                l.name
            )
        })?;
        tracing::info!(listener = %l.name, %addr, cluster_id = %broker.cluster_id, node_id = broker.node_id, "riffle is serving");
        tasks.spawn(server::serve(broker.clone(), listener));
    }
    let b = broker.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(retention_check);
        loop {
            tick.tick().await;
            let b = b.clone();
            let _ = tokio::task::spawn_blocking(move || b.apply_retention()).await;
        }
    });
    // The log cleaner (compaction), like Kafka's with `log.cleaner.backoff.ms`.
    let b = broker.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(cleaner_backoff);
        loop {
            tick.tick().await;
            if b.config.read().log_cleaner_enable {
                let b = b.clone();
                let _ = tokio::task::spawn_blocking(move || b.compact_logs()).await;
            }
        }
    });
    // With page-cache durability nothing syncs on the produce path; sync in the background
    // like Kafka's log flusher so a restart has little to verify.
    let b = broker.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PAGE_CACHE_FLUSH_INTERVAL);
        loop {
            tick.tick().await;
            if b.config.read().durability == riffle_config::Durability::PageCache {
                flush_all(&b).await;
            }
        }
    });
    tokio::select! {
        r = tasks.join_next() => {
            if let Some(Ok(Err(e))) = r {
                return Err(anyhow::anyhow!("listener failed: {e}"));
            }
        }
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
        }
    }
    shutdown(&broker).await;
    Ok(())
}

/// Makes everything appended durable before exit (matters with `log.durability=pagecache`;
/// with fsync it also advances each log's recovery point so the next start checks less).
async fn shutdown(broker: &Arc<Broker>) {
    flush_all(broker).await;
}

async fn flush_all(broker: &Arc<Broker>) {
    for t in broker.topics() {
        let parts = t.partitions.read().clone();
        for p in parts {
            let log = p.log.clone();
            match tokio::task::spawn_blocking(move || log.flush_all()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(topic = %t.name, partition = p.index, "flush failed: {e}")
                }
                Err(e) => {
                    tracing::error!(topic = %t.name, partition = p.index, "flush task failed: {e}")
                }
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
