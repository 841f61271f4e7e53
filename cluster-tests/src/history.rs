//! The JSON-lines history a Jepsen run records: client operations (from `jepsen/workload.py`) and the
//! harness's fault events, one JSON object per line, told apart by `"type"`.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// One line of a history. Times `t` are Unix seconds (wall clock of the one machine that runs everything).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The workload created the topic; faults start after this.
    Ready { t: f64 },
    /// A producer is about to send `value` to `partition`.
    Invoke {
        process: String,
        partition: i32,
        value: String,
        t: f64,
    },
    /// Delivery report without error: acknowledged at `offset` (None: the client reported no valid
    /// offset).
    Ok {
        process: String,
        partition: i32,
        value: String,
        offset: Option<i64>,
        t: f64,
    },
    /// Delivery report with an error (or none at all): indeterminate, the write may or may not exist.
    Info {
        process: String,
        partition: i32,
        value: String,
        error: String,
        t: f64,
    },
    /// `produce()` refused the value locally: it was never sent.
    Fail {
        process: String,
        partition: i32,
        value: String,
        error: String,
        t: f64,
    },
    /// A producer hit a fatal error (e.g. idempotence sequence desynchronisation) and was re-created.
    ProducerFatal {
        process: String,
        error: String,
        t: f64,
    },
    /// A new consumer assigned itself `(partition, offset)` start positions.
    Assign {
        consumer: String,
        positions: Vec<(i32, i64)>,
        t: f64,
    },
    /// One `consume()` call's messages: `(partition, offset, value)` in the order received.
    Poll {
        consumer: String,
        msgs: Vec<(i32, i64, String)>,
        t: f64,
    },
    /// A consumer saw an error (not end-of-partition).
    ConsumerError {
        consumer: String,
        error: String,
        t: f64,
    },
    /// Producers stopped.
    ProduceEnd { t: f64 },
    /// After healing: all of `partition` from offset 0 to `high_watermark`, as `(offset, value)`.
    Final {
        partition: i32,
        high_watermark: i64,
        msgs: Vec<(i64, String)>,
        t: f64,
    },
    /// The final read never succeeded.
    FinalFailed { error: String, t: f64 },
    /// The harness began (`phase` "start") or healed (`phase` "end") a fault.
    Fault {
        phase: String,
        name: String,
        detail: String,
        t: f64,
    },
}

/// Reads a history file; a malformed line is an error that names its line number.
pub fn read_history(path: &Path) -> anyhow::Result<Vec<Event>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_history(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Parses JSON lines (blank lines skipped).
pub fn parse_history(text: &str) -> anyhow::Result<Vec<Event>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("line {}: {l:.200}", i + 1)))
        .collect()
}
