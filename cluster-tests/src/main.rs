//! `cluster-tests`: Jepsen-style fault runs against a three-node riffle cluster (`jepsen`) and the
//! history checker (`check`).

mod checker;
mod cluster;
mod crash;
mod history;
mod net;
mod run;
mod schedule;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::checker::Verdict;
use crate::run::RunConfig;
use crate::schedule::{Family, Timing};

#[derive(Parser)]
#[command(about = "Jepsen-style fault tests for riffle")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Three nodes in network namespaces, real clients, seeded faults, then the checker's verdict.
    Jepsen(JepsenArgs),
    /// Checks a saved history (JSON lines) and prints the summary and verdict.
    Check {
        history: PathBuf,
        /// Examples printed per anomaly kind.
        #[arg(long, default_value_t = 5)]
        examples: usize,
    },
}

#[derive(clap::Args)]
struct JepsenArgs {
    /// Fault families: kill, pause, partition, loss, unsynced (comma-separated, or `all`).
    #[arg(long, default_value = "kill,pause,partition")]
    faults: String,
    /// Seconds of faults (the workload produces `--tail` seconds longer).
    #[arg(long, default_value_t = 300.0)]
    duration: f64,
    /// Seed of the fault schedule (the same seed gives the same schedule).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds of producing after the last heal.
    #[arg(long, default_value_t = 15.0)]
    tail: f64,
    /// The riffle binary (default: $RIFFLE_BIN or <repo>/target/release/riffle).
    #[arg(long, env = "RIFFLE_BIN")]
    riffle_bin: Option<PathBuf>,
    /// Python with confluent-kafka (default: <repo>/.venv/bin/python).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Run directory (configs, data, node logs, history.jsonl); default /tmp/riffle-jepsen/<seed>.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Sets RIFFLE_TEST_UNSAFE_ACK_BEFORE_COMMIT=1 on the nodes: a broken build the run must call UNSAFE.
    #[arg(long)]
    unsafe_broker: bool,
    /// Starts the nodes with `log.durability=pagecache` (acknowledge before fdatasync): a
    /// setting the `unsynced` faults must call UNSAFE.
    #[arg(long)]
    unsafe_durability: bool,
    /// Produce rate per producer (3 producers), messages per second.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// The producers' librdkafka `message.timeout.ms` (0: never time a message out locally). With
    /// a finite timeout librdkafka bumps the producer epoch after a timeout and re-sends
    /// possibly persisted messages under new sequence numbers: duplicates no broker can
    /// recognise (librdkafka #4953; cluster-tests/RESULTS.md), which such a run reports.
    #[arg(long, default_value_t = 0)]
    message_timeout_ms: u64,
    /// Half-length faults (one every 5-10 s, lasting 2.5-7.5 s).
    #[arg(long)]
    short_faults: bool,
    /// The bounded CI run: one short run per fault family (about 4 minutes), fails on any anomaly.
    #[arg(long)]
    ci: bool,
}

fn run_config(
    args: &JepsenArgs,
    families: Vec<Family>,
    duration_s: f64,
    dir: PathBuf,
    timing: Timing,
    tail_s: f64,
) -> RunConfig {
    let root = run::repo_root();
    RunConfig {
        families,
        duration_s,
        seed: args.seed,
        timing,
        tail_s,
        riffle_bin: args
            .riffle_bin
            .clone()
            .unwrap_or_else(|| root.join("target/release/riffle")),
        python: args
            .python
            .clone()
            .unwrap_or_else(|| root.join(".venv/bin/python")),
        workload: root.join("cluster-tests/jepsen/workload.py"),
        dir,
        unsafe_broker: args.unsafe_broker,
        unsafe_durability: args.unsafe_durability,
        partitions: 3,
        rate: args.rate,
        message_timeout_ms: args.message_timeout_ms,
    }
}

/// Runs and prints; returns the verdict (an error counts as INCOMPLETE).
fn one_run(cfg: &RunConfig) -> Verdict {
    match run::run(cfg) {
        Ok(outcome) => {
            print!("{}", outcome.report.summary(5));
            for (n, status) in &outcome.crashes {
                println!(
                    "node {n} exited on its own: {status} (see {})",
                    cfg.dir.join(format!("node-{n}.log")).display()
                );
            }
            let verdict = outcome.report.verdict();
            println!("history: {}", outcome.history.display());
            let names: Vec<String> = cfg
                .families
                .iter()
                .map(|f| format!("{f:?}").to_lowercase())
                .collect();
            println!(
                "VERDICT: {verdict} (seed {}, faults {}, {} s{})",
                cfg.seed,
                names.join(","),
                cfg.duration_s,
                match (cfg.unsafe_broker, cfg.unsafe_durability) {
                    (true, true) => ", unsafe broker, unsafe durability",
                    (true, false) => ", unsafe broker",
                    (false, true) => ", unsafe durability (log.durability=pagecache)",
                    (false, false) => "",
                }
            );
            verdict
        }
        Err(e) => {
            println!("run failed: {e:#}");
            println!(
                "VERDICT: INCOMPLETE (seed {}; run dir {})",
                cfg.seed,
                cfg.dir.display()
            );
            Verdict::Incomplete
        }
    }
}

fn jepsen(args: &JepsenArgs) -> anyhow::Result<ExitCode> {
    run::install_signal_handlers();
    let base = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/riffle-jepsen/{}", args.seed)));
    let verdicts: Vec<(String, Verdict)> = if args.ci {
        let plan = [
            (Family::Kill, 30.0),
            (Family::Pause, 30.0),
            (Family::Partition, 35.0),
            (Family::Loss, 25.0),
            (Family::Unsynced, 30.0),
        ];
        let mut out = Vec::new();
        for (family, secs) in plan {
            let name = format!("{family:?}").to_lowercase();
            println!("\n=== jepsen --ci: {name} ({secs} s of faults)");
            let cfg = run_config(args, vec![family], secs, base.join(&name), Timing::CI, 8.0);
            let v = one_run(&cfg);
            out.push((name, v));
            if run::STOP.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
        }
        out
    } else {
        let families = Family::parse_list(&args.faults)?;
        let timing = if args.short_faults {
            Timing::CI
        } else {
            Timing::FULL
        };
        let cfg = run_config(args, families, args.duration, base, timing, args.tail);
        vec![(args.faults.clone(), one_run(&cfg))]
    };
    if verdicts.len() > 1 {
        println!();
        for (name, v) in &verdicts {
            println!("{name}: {v}");
        }
    }
    Ok(if verdicts.iter().all(|(_, v)| *v == Verdict::Safe) {
        ExitCode::SUCCESS
    } else if verdicts.iter().any(|(_, v)| *v == Verdict::Unsafe) {
        ExitCode::from(1)
    } else {
        ExitCode::from(2)
    })
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Jepsen(args) => jepsen(&args),
        Cmd::Check { history, examples } => {
            let events = history::read_history(&history)?;
            let report = checker::check(&events);
            print!("{}", report.summary(examples));
            let verdict = report.verdict();
            println!("VERDICT: {verdict} ({})", history.display());
            Ok(if verdict == Verdict::Safe {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
