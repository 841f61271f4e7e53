//! `riffle admin` and `riffle topics`: operating any Kafka-compatible cluster over the public
//! Kafka protocol only (no Riffle internals), so the same commands work against Apache Kafka.

pub mod apply;
pub mod client;
pub mod commands;
pub mod groups;
pub mod output;
pub mod records;
pub mod schemas;
pub mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

pub use client::AdminError;
pub use output::Report;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Human-readable tables.
    #[default]
    Table,
    /// One JSON document, for scripts.
    Json,
}

/// Options every admin command takes.
#[derive(Debug, Clone, Args)]
pub struct Connect {
    /// Bootstrap servers, comma-separated (any Kafka-compatible cluster).
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT,...",
        default_value = "127.0.0.1:9092",
        env = "RIFFLE_BOOTSTRAP"
    )]
    pub bootstrap: String,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `riffle admin ...`
#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub connect: Connect,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The admin commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Every broker reachable, a controller known, no under-replicated or offline partitions (exit code 0 = healthy, 1 = not).
    Health,
    /// Cluster id, controller, brokers and their API versions.
    ClusterInfo,
    /// List topics with partition counts and replication factors.
    Topics {
        /// Include internal topics (__consumer_offsets, ...).
        #[arg(long)]
        internal: bool,
    },
    /// Partitions (leader, replicas, ISR, offsets, records; bytes where DescribeLogDirs is served) and configs of one topic.
    Describe { topic: String },
    /// Create a topic.
    CreateTopic {
        topic: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        #[arg(long, default_value_t = -1)]
        replication_factor: i16,
        /// Topic config KEY=VALUE (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// Delete a topic.
    DeleteTopic { topic: String },
    /// Per partition: start and end offsets, records, and the produce rate over --interval-ms.
    Metrics {
        topic: String,
        /// Sample end offsets twice this many milliseconds apart for rates (0: no rates).
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
    },
    /// List consumer groups with state and protocol type.
    Groups,
    /// Per partition committed offset, end offset and lag of a group; total lag.
    ConsumerLag { group: String },
    /// Produce one message (or, with no message, one per stdin line).
    Produce {
        topic: String,
        /// The value; omit to read one message per line from stdin.
        message: Option<String>,
        #[arg(long)]
        key: Option<String>,
        /// A header KEY=VALUE (repeatable).
        #[arg(long = "header", value_name = "KEY=VALUE")]
        headers: Vec<String>,
        /// Partition (default: by key hash like Kafka's partitioner, else partition 0).
        #[arg(long)]
        partition: Option<i32>,
    },
    /// Print records (one per line: partition, offset, key, value).
    Consume {
        topic: String,
        /// Start at the log start (default: the end, or the group's committed offsets).
        #[arg(long)]
        from_beginning: bool,
        /// Stop after this many records.
        #[arg(long)]
        max: Option<u64>,
        /// Read from and commit to this group's offsets (no group membership).
        #[arg(long)]
        group: Option<String>,
        /// Stop after this long without new records (ms).
        #[arg(long, default_value_t = 2000)]
        idle_timeout_ms: u64,
    },
    /// Move a group's committed offsets for a topic (the group must have no members).
    ResetOffset {
        group: String,
        topic: String,
        /// earliest, latest or an offset.
        #[arg(
            required_unless_present = "to_datetime",
            conflicts_with = "to_datetime"
        )]
        to: Option<String>,
        /// The first offset at or after this time (RFC 3339, e.g. 2026-11-26T10:00:00Z, or ms since the epoch).
        #[arg(long)]
        to_datetime: Option<String>,
        /// Only show the plan.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete records before an offset (all partitions, or --partition).
    DeleteRecords {
        topic: String,
        /// Delete records before this offset (`latest`: everything).
        #[arg(long)]
        before: String,
        #[arg(long)]
        partition: Option<i32>,
    },
    /// Set (KEY=VALUE) or remove (KEY=) topic configs.
    AlterConfig {
        topic: String,
        #[arg(value_name = "KEY=VALUE", required = true)]
        configs: Vec<String>,
    },
    /// Raise a topic's partition count.
    CreatePartitions { topic: String, count: i32 },
    /// Write a topic's records to JSON lines (base64 keys/values, headers, timestamps).
    Export {
        topic: String,
        /// Output file (default: stdout).
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
    },
    /// Produce the records of an export file (creating the topic from it if missing).
    Import {
        file: PathBuf,
        /// Target topic (default: the topic named in the file).
        #[arg(long)]
        topic: Option<String>,
    },
    /// Schema registry backup and restore (Confluent REST API over HTTP).
    Schemas {
        /// The registry's URL.
        #[arg(long, default_value = "http://127.0.0.1:8081", env = "RIFFLE_REGISTRY")]
        registry: String,
        #[command(subcommand)]
        command: SchemasCommand,
    },
}

/// `riffle admin schemas ...`
#[derive(Debug, Subcommand)]
pub enum SchemasCommand {
    /// Every version of every subject as JSON lines, ordered by schema id.
    Export {
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
    },
    /// Register each line's schema under its subject, in file order.
    Import {
        file: PathBuf,
        /// Keep ids and versions (puts the registry in IMPORT mode for the import).
        #[arg(long)]
        preserve_ids: bool,
    },
}

/// `riffle topics ...`
#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    pub connect: Connect,
    #[command(subcommand)]
    pub command: TopicsCommand,
}

/// Declarative topic management.
#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Make the cluster's topics match a topics.toml: prints the diff, then creates and alters.
    Apply {
        file: PathBuf,
        /// Also delete topics that are not in the file (never internal ones).
        #[arg(long)]
        prune: bool,
        /// Only print the diff.
        #[arg(long)]
        dry_run: bool,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime, AdminError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AdminError::Usage(format!("cannot start the runtime: {e}")))
}

fn finish(result: Result<Report, AdminError>, format: OutputFormat) -> ExitCode {
    match result {
        Ok(report) => {
            report.print(format);
            if report.healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("riffle admin: {e}");
            ExitCode::from(match e {
                AdminError::Usage(_) => 2,
                _ => 1,
            })
        }
    }
}

/// Runs `riffle admin`; the exit code is 0 on success (and, for `health`, a healthy cluster).
pub fn run_admin(args: AdminArgs) -> ExitCode {
    let format = args.connect.output;
    let result = runtime().and_then(|rt| rt.block_on(commands::run(&args.connect, args.command)));
    finish(result, format)
}

/// Runs `riffle topics`.
pub fn run_topics(args: TopicsArgs) -> ExitCode {
    let format = args.connect.output;
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            match args.command {
                TopicsCommand::Apply {
                    file,
                    prune,
                    dry_run,
                } => apply::run(&args.connect, &file, prune, dry_run).await,
            }
        })
    });
    finish(result, format)
}
