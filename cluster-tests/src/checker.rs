//! The Jepsen history checker: safety anomalies (lost, duplicated, inconsistent, unsent, reordered
//! writes; consumer polls that go backwards or skip) and availability figures of one history.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::history::Event;

/// A safety anomaly class. Each one alone makes a run UNSAFE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnomalyKind {
    /// An acknowledged value is missing from the final read (its offset is below the high watermark).
    LostWrite,
    /// One value at two offsets.
    Duplicate,
    /// Two values at one offset.
    InconsistentOffset,
    /// A value read that no producer ever sent.
    UnsentRead,
    /// A consumer's offsets in a partition went backwards (or repeated).
    NonMonotonicPoll,
    /// A consumer's offsets in a partition jumped over records the final read has.
    SkippedPoll,
    /// One producer's acknowledged writes to a partition are out of its send order.
    ProducerOrder,
    /// A write begun after another was acknowledged got a lower offset (same partition).
    RealtimeOrder,
    /// An acknowledged offset at or above the final high watermark (the log was cut below an ack).
    AckAboveHighWatermark,
    /// The broker told a consumer that a position it had reached by reading is out of range or
    /// truncated (librdkafka `_AUTO_OFFSET_RESET` with `auto.offset.reset=error`). Positions come only
    /// from records already read (committed) and replicated logs are never cut below them, so the
    /// broker denied data it has: with `earliest`/`latest` a consumer would silently re-read or skip.
    ConsumerOffsetReset,
    /// The final read is missing for some partition: nothing can be proven.
    FinalReadMissing,
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            AnomalyKind::LostWrite => "lost-write",
            AnomalyKind::Duplicate => "duplicate",
            AnomalyKind::InconsistentOffset => "inconsistent-offset",
            AnomalyKind::UnsentRead => "unsent-read",
            AnomalyKind::NonMonotonicPoll => "non-monotonic-poll",
            AnomalyKind::SkippedPoll => "skipped-poll",
            AnomalyKind::ProducerOrder => "producer-order",
            AnomalyKind::RealtimeOrder => "realtime-order",
            AnomalyKind::AckAboveHighWatermark => "ack-above-high-watermark",
            AnomalyKind::ConsumerOffsetReset => "consumer-offset-reset",
            AnomalyKind::FinalReadMissing => "final-read-missing",
        };
        f.write_str(s)
    }
}

/// One anomaly with a sentence that names the values and offsets involved.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub detail: String,
}

/// Availability and latency of the producers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Availability {
    pub invoked: usize,
    pub ok: usize,
    pub info: usize,
    pub fail: usize,
    /// ok / (ok + info), NaN when nothing completed.
    pub ok_fraction: f64,
    pub during_faults_ok: usize,
    pub during_faults_info: usize,
    pub ok_fraction_during_faults: f64,
    /// Longest time without any acknowledgement while producing, seconds, and when it began
    /// (seconds after `ready`).
    pub longest_outage_s: f64,
    pub longest_outage_at_s: f64,
    /// Per heal: (heal time after `ready`, fault name, seconds until the first acknowledgement of a
    /// write sent after the heal; None if there was none).
    pub recoveries: Vec<(f64, String, Option<f64>)>,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    pub polls: usize,
    pub messages_polled: usize,
    pub consumer_errors: usize,
    /// Acknowledgements without an offset (success without a valid offset: a protocol bug, not a loss).
    pub ok_without_offset: usize,
    /// Fatal producer errors (each re-created its producer).
    pub producer_fatal_errors: Vec<String>,
    pub final_records: usize,
}

/// Everything the checker found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub anomalies: Vec<Anomaly>,
    pub availability: Availability,
}

/// SAFE: no anomaly; UNSAFE: a safety anomaly; INCOMPLETE: the final read is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Safe,
    Unsafe,
    Incomplete,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Safe => "SAFE",
            Verdict::Unsafe => "UNSAFE",
            Verdict::Incomplete => "INCOMPLETE",
        })
    }
}

impl Report {
    /// Anomaly counts per kind.
    pub fn counts(&self) -> BTreeMap<AnomalyKind, usize> {
        let mut out = BTreeMap::new();
        for a in &self.anomalies {
            *out.entry(a.kind).or_insert(0) += 1;
        }
        out
    }

    /// The set of kinds found.
    pub fn kinds(&self) -> BTreeSet<AnomalyKind> {
        self.anomalies.iter().map(|a| a.kind).collect()
    }

    pub fn verdict(&self) -> Verdict {
        let kinds = self.kinds();
        if kinds.iter().any(|k| *k != AnomalyKind::FinalReadMissing) {
            Verdict::Unsafe
        } else if kinds.is_empty() {
            Verdict::Safe
        } else {
            Verdict::Incomplete
        }
    }

    /// A human summary: anomaly counts with up to `examples` examples each, then availability.
    pub fn summary(&self, examples: usize) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let a = &self.availability;
        let _ = writeln!(
            s,
            "writes: {} sent, {} ok, {} info (indeterminate), {} failed locally; ok fraction {:.3}, during faults {:.3} ({} ok / {} info)",
            a.invoked, a.ok, a.info, a.fail, a.ok_fraction, a.ok_fraction_during_faults, a.during_faults_ok, a.during_faults_info
        );
        let _ = writeln!(
            s,
            "latency of ok writes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; longest outage {:.2} s at +{:.1} s",
            a.latency_p50_ms, a.latency_p99_ms, a.latency_max_ms, a.longest_outage_s, a.longest_outage_at_s
        );
        let _ = writeln!(
            s,
            "reads: {} polls, {} messages polled, {} consumer errors; final read {} records",
            a.polls, a.messages_polled, a.consumer_errors, a.final_records
        );
        if a.ok_without_offset > 0 {
            let _ = writeln!(
                s,
                "acknowledgements without an offset: {} (success without a valid offset)",
                a.ok_without_offset
            );
        }
        if !a.producer_fatal_errors.is_empty() {
            let _ = writeln!(
                s,
                "fatal producer errors: {} (producer re-created)",
                a.producer_fatal_errors.len()
            );
            for e in a.producer_fatal_errors.iter().take(examples) {
                let _ = writeln!(s, "  {e:.300}");
            }
        }
        if !a.recoveries.is_empty() {
            let worst = a
                .recoveries
                .iter()
                .filter_map(|r| r.2)
                .fold(0.0_f64, f64::max);
            let never = a.recoveries.iter().filter(|r| r.2.is_none()).count();
            let _ = writeln!(
                s,
                "recovery after heal (first ack of a write sent after it): worst {worst:.2} s over {} heals{}",
                a.recoveries.len(),
                if never > 0 { format!(", {never} without any later ack") } else { String::new() }
            );
            for (at, name, rec) in &a.recoveries {
                let _ = writeln!(
                    s,
                    "  heal +{at:.1} s {name}: {}",
                    rec.map_or("no ack after it".to_string(), |r| format!("{r:.2} s"))
                );
            }
        }
        let counts = self.counts();
        if counts.is_empty() {
            let _ = writeln!(s, "anomalies: none");
        } else {
            let list: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(s, "anomalies: {}", list.join(", "));
            for kind in counts.keys() {
                for an in self
                    .anomalies
                    .iter()
                    .filter(|x| x.kind == *kind)
                    .take(examples)
                {
                    let _ = writeln!(s, "  {kind}: {}", an.detail);
                }
            }
        }
        s
    }
}

#[derive(Debug, Clone)]
struct Write {
    process: String,
    partition: i32,
    invoke_t: f64,
    /// Position in its process's send order.
    seq: usize,
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Pending,
    Ok { offset: Option<i64>, t: f64 },
    Info,
    Fail,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Checks a history.
pub fn check(events: &[Event]) -> Report {
    let mut anomalies = Vec::new();
    let mut writes: HashMap<String, Write> = HashMap::new();
    let mut per_process_seq: HashMap<String, usize> = HashMap::new();
    let mut finals: BTreeMap<i32, (i64, Vec<(i64, String)>)> = BTreeMap::new();
    let mut final_failed = None;
    let mut ready_t = None;
    let mut produce_end_t = None;
    let mut faults: Vec<(f64, Option<f64>, String)> = Vec::new();
    let mut avail = Availability::default();

    for e in events {
        match e {
            Event::Ready { t } => ready_t = Some(ready_t.map_or(*t, |r: f64| r.min(*t))),
            Event::Invoke {
                process,
                partition,
                value,
                t,
            } => {
                let seq = per_process_seq.entry(process.clone()).or_insert(0);
                *seq += 1;
                writes.insert(
                    value.clone(),
                    Write {
                        process: process.clone(),
                        partition: *partition,
                        invoke_t: *t,
                        seq: *seq,
                        outcome: Outcome::Pending,
                    },
                );
            }
            Event::Ok {
                value, offset, t, ..
            } => {
                if offset.is_none() {
                    avail.ok_without_offset += 1;
                }
                if let Some(w) = writes.get_mut(value) {
                    w.outcome = Outcome::Ok {
                        offset: *offset,
                        t: *t,
                    };
                }
            }
            Event::Info { value, .. } => {
                if let Some(w) = writes.get_mut(value) {
                    w.outcome = Outcome::Info;
                }
            }
            Event::Fail { value, .. } => {
                if let Some(w) = writes.get_mut(value) {
                    w.outcome = Outcome::Fail;
                }
            }
            Event::Final {
                partition,
                high_watermark,
                msgs,
                ..
            } => {
                finals.insert(*partition, (*high_watermark, msgs.clone()));
            }
            Event::FinalFailed { error, .. } => final_failed = Some(error.clone()),
            Event::ProduceEnd { t } => produce_end_t = Some(*t),
            Event::Fault { phase, name, t, .. } => {
                if phase == "start" {
                    faults.push((*t, None, name.clone()));
                } else if let Some(f) = faults
                    .iter_mut()
                    .rev()
                    .find(|f| f.1.is_none() && f.2 == *name)
                {
                    f.1 = Some(*t);
                }
            }
            Event::Poll { msgs, .. } => {
                avail.polls += 1;
                avail.messages_polled += msgs.len();
            }
            Event::ConsumerError { consumer, error, t } => {
                avail.consumer_errors += 1;
                if error.contains("_AUTO_OFFSET_RESET") {
                    anomalies.push(Anomaly {
                        kind: AnomalyKind::ConsumerOffsetReset,
                        detail: format!("consumer {consumer} at {t:.3}: {error}"),
                    });
                }
            }
            Event::ProducerFatal { error, .. } => avail.producer_fatal_errors.push(error.clone()),
            Event::Assign { .. } => {}
        }
    }

    // Every (partition, offset) -> values seen there, and value -> (partition, offset) places.
    let mut at_offset: BTreeMap<(i32, i64), BTreeSet<&str>> = BTreeMap::new();
    let mut places: BTreeMap<&str, BTreeSet<(i32, i64)>> = BTreeMap::new();
    let mut observations: Vec<(i32, i64, &str, &str)> = Vec::new(); // (partition, offset, value, source)
    for (value, w) in &writes {
        if let Outcome::Ok {
            offset: Some(offset),
            ..
        } = w.outcome
        {
            observations.push((w.partition, offset, value.as_str(), "ack"));
        }
    }
    for e in events {
        if let Event::Poll { msgs, .. } = e {
            for (p, o, v) in msgs {
                observations.push((*p, *o, v.as_str(), "poll"));
            }
        }
    }
    for (p, (_, msgs)) in &finals {
        for (o, v) in msgs {
            observations.push((*p, *o, v.as_str(), "final"));
        }
    }
    let mut unsent_seen = BTreeSet::new();
    for (p, o, v, source) in &observations {
        at_offset.entry((*p, *o)).or_default().insert(v);
        places.entry(v).or_default().insert((*p, *o));
        if *source != "ack" && !writes.contains_key(*v) && unsent_seen.insert(*v) {
            anomalies.push(Anomaly {
                kind: AnomalyKind::UnsentRead,
                detail: format!(
                    "{source} read value {v:?} at partition {p} offset {o}, never sent"
                ),
            });
        }
    }
    for ((p, o), values) in &at_offset {
        if values.len() > 1 {
            anomalies.push(Anomaly {
                kind: AnomalyKind::InconsistentOffset,
                detail: format!("partition {p} offset {o} holds {values:?}"),
            });
        }
    }
    for (v, at) in &places {
        if at.len() > 1 {
            anomalies.push(Anomaly {
                kind: AnomalyKind::Duplicate,
                detail: format!("value {v:?} at {at:?} (partition, offset)"),
            });
        }
    }

    // Lost writes and acks above the final high watermark.
    let final_values: HashMap<i32, BTreeSet<&str>> = finals
        .iter()
        .map(|(p, (_, msgs))| (*p, msgs.iter().map(|(_, v)| v.as_str()).collect()))
        .collect();
    let partitions: BTreeSet<i32> = writes.values().map(|w| w.partition).collect();
    let mut missing_final: BTreeSet<i32> = BTreeSet::new();
    for p in &partitions {
        if !finals.contains_key(p) {
            missing_final.insert(*p);
        }
    }
    if !missing_final.is_empty() || final_failed.is_some() {
        anomalies.push(Anomaly {
            kind: AnomalyKind::FinalReadMissing,
            detail: format!(
                "no final read of partitions {missing_final:?}{}",
                final_failed
                    .as_ref()
                    .map_or(String::new(), |e| format!(" (final read failed: {e})"))
            ),
        });
    }
    let mut sorted_writes: Vec<(&String, &Write)> = writes.iter().collect();
    sorted_writes
        .sort_by(|a, b| (a.1.process.as_str(), a.1.seq).cmp(&(b.1.process.as_str(), b.1.seq)));
    for (value, w) in &sorted_writes {
        let Outcome::Ok { offset, .. } = w.outcome else {
            continue;
        };
        let Some((hw, _)) = finals.get(&w.partition) else {
            continue;
        };
        let in_final = final_values
            .get(&w.partition)
            .is_some_and(|s| s.contains(value.as_str()));
        let Some(offset) = offset else {
            if !in_final {
                anomalies.push(Anomaly {
                    kind: AnomalyKind::LostWrite,
                    detail: format!(
                        "value {value:?} acknowledged (no offset) in partition {} by {}, absent from the final read",
                        w.partition, w.process
                    ),
                });
            }
            continue;
        };
        if offset >= *hw {
            anomalies.push(Anomaly {
                kind: AnomalyKind::AckAboveHighWatermark,
                detail: format!("value {value:?} acknowledged at partition {} offset {offset}, final high watermark {hw}", w.partition),
            });
        } else if !in_final {
            anomalies.push(Anomaly {
                kind: AnomalyKind::LostWrite,
                detail: format!(
                    "value {value:?} acknowledged at partition {} offset {offset} (by {}), absent from the final read",
                    w.partition, w.process
                ),
            });
        }
    }

    // Per-producer order: a process's acknowledged writes to one partition, in send order, have rising offsets.
    let mut last_by_process: HashMap<(&str, i32), (i64, &str)> = HashMap::new();
    for (value, w) in &sorted_writes {
        let Outcome::Ok {
            offset: Some(offset),
            ..
        } = w.outcome
        else {
            continue;
        };
        let key = (w.process.as_str(), w.partition);
        if let Some((prev_offset, prev_value)) = last_by_process.get(&key) {
            if offset <= *prev_offset {
                anomalies.push(Anomaly {
                    kind: AnomalyKind::ProducerOrder,
                    detail: format!(
                        "{} sent {prev_value:?} before {value:?} to partition {}, offsets {prev_offset} then {offset}",
                        w.process, w.partition
                    ),
                });
            }
        }
        last_by_process.insert(key, (offset, value.as_str()));
    }

    // Real-time order per partition: a write invoked after another was acknowledged has a higher offset.
    let mut by_partition: BTreeMap<i32, Vec<(&str, f64, f64, i64)>> = BTreeMap::new(); // value, invoke, ack, offset
    for (value, w) in &writes {
        if let Outcome::Ok {
            offset: Some(offset),
            t,
        } = w.outcome
        {
            by_partition.entry(w.partition).or_default().push((
                value.as_str(),
                w.invoke_t,
                t,
                offset,
            ));
        }
    }
    for (p, ops) in &by_partition {
        let mut by_ack = ops.clone();
        by_ack.sort_by(|a, b| a.2.total_cmp(&b.2));
        let mut by_invoke = ops.clone();
        by_invoke.sort_by(|a, b| a.1.total_cmp(&b.1));
        let mut i = 0;
        let mut max_acked: Option<(i64, &str)> = None;
        for (value, invoke_t, _, offset) in &by_invoke {
            while i < by_ack.len() && by_ack[i].2 < *invoke_t {
                if max_acked.is_none_or(|m| by_ack[i].3 > m.0) {
                    max_acked = Some((by_ack[i].3, by_ack[i].0));
                }
                i += 1;
            }
            if let Some((m, mv)) = max_acked {
                if *offset <= m {
                    anomalies.push(Anomaly {
                        kind: AnomalyKind::RealtimeOrder,
                        detail: format!(
                            "partition {p}: {value:?} sent after {mv:?} was acknowledged at offset {m}, but got offset {offset}"
                        ),
                    });
                }
            }
        }
    }

    // Consumers: offsets per partition rise by one from the assigned position.
    let final_offsets: HashMap<i32, BTreeSet<i64>> = finals
        .iter()
        .map(|(p, (_, msgs))| (*p, msgs.iter().map(|(o, _)| *o).collect()))
        .collect();
    let mut next: HashMap<(&str, i32), i64> = HashMap::new();
    for e in events {
        match e {
            Event::Assign {
                consumer,
                positions,
                ..
            } => {
                for (p, o) in positions {
                    next.insert((consumer.as_str(), *p), *o);
                }
            }
            Event::Poll { consumer, msgs, .. } => {
                for (p, o, _) in msgs {
                    let key = (consumer.as_str(), *p);
                    if let Some(expected) = next.get(&key) {
                        if *o < *expected {
                            anomalies.push(Anomaly {
                                kind: AnomalyKind::NonMonotonicPoll,
                                detail: format!(
                                    "consumer {consumer} partition {p}: offset {o} after {}",
                                    expected - 1
                                ),
                            });
                        } else if *o > *expected {
                            let skipped = final_offsets
                                .get(p)
                                .is_none_or(|s| s.range(*expected..*o).next().is_some());
                            if skipped {
                                anomalies.push(Anomaly {
                                    kind: AnomalyKind::SkippedPoll,
                                    detail: format!(
                                        "consumer {consumer} partition {p}: offset {o} after {}, skipping {}..{}",
                                        expected - 1,
                                        expected,
                                        o - 1
                                    ),
                                });
                            }
                        }
                    }
                    next.insert(key, o + 1);
                }
            }
            _ => {}
        }
    }

    // Availability.
    let start_t = ready_t
        .or_else(|| writes.values().map(|w| w.invoke_t).min_by(f64::total_cmp))
        .unwrap_or(0.0);
    let end_t = produce_end_t
        .or_else(|| writes.values().map(|w| w.invoke_t).max_by(f64::total_cmp))
        .unwrap_or(start_t);
    let in_fault = |t: f64| {
        faults
            .iter()
            .any(|(s, e, _)| t >= *s && t < e.unwrap_or(f64::INFINITY))
    };
    let mut latencies = Vec::new();
    let mut ack_times = Vec::new();
    for w in writes.values() {
        avail.invoked += 1;
        let during = in_fault(w.invoke_t);
        match w.outcome {
            Outcome::Ok { t, .. } => {
                avail.ok += 1;
                avail.during_faults_ok += usize::from(during);
                latencies.push((t - w.invoke_t) * 1000.0);
                ack_times.push(t);
            }
            Outcome::Info | Outcome::Pending => {
                avail.info += 1;
                avail.during_faults_info += usize::from(during);
            }
            Outcome::Fail => avail.fail += 1,
        }
    }
    avail.ok_fraction = avail.ok as f64 / (avail.ok + avail.info) as f64;
    avail.ok_fraction_during_faults =
        avail.during_faults_ok as f64 / (avail.during_faults_ok + avail.during_faults_info) as f64;
    latencies.sort_by(f64::total_cmp);
    avail.latency_p50_ms = percentile(&latencies, 0.5);
    avail.latency_p99_ms = percentile(&latencies, 0.99);
    avail.latency_max_ms = latencies.last().copied().unwrap_or(f64::NAN);
    ack_times.sort_by(f64::total_cmp);
    let mut prev = start_t;
    for t in ack_times
        .iter()
        .copied()
        .filter(|t| *t <= end_t)
        .chain(std::iter::once(end_t))
    {
        if t - prev > avail.longest_outage_s {
            avail.longest_outage_s = t - prev;
            avail.longest_outage_at_s = prev - start_t;
        }
        prev = prev.max(t);
    }
    for (_, heal, name) in &faults {
        let Some(h) = heal else { continue };
        let first = writes
            .values()
            .filter_map(|w| match w.outcome {
                Outcome::Ok { t, .. } if w.invoke_t >= *h => Some(t),
                _ => None,
            })
            .min_by(f64::total_cmp);
        avail
            .recoveries
            .push((h - start_t, name.clone(), first.map(|t| t - h)));
    }
    avail.final_records = finals.values().map(|(_, m)| m.len()).sum();
    Report {
        anomalies,
        availability: avail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoke(process: &str, partition: i32, value: &str, t: f64) -> Event {
        Event::Invoke {
            process: process.into(),
            partition,
            value: value.into(),
            t,
        }
    }
    fn ok(process: &str, partition: i32, value: &str, offset: i64, t: f64) -> Event {
        Event::Ok {
            process: process.into(),
            partition,
            value: value.into(),
            offset: Some(offset),
            t,
        }
    }
    fn info(process: &str, partition: i32, value: &str, t: f64) -> Event {
        Event::Info {
            process: process.into(),
            partition,
            value: value.into(),
            error: "timed out".into(),
            t,
        }
    }
    fn final_read(partition: i32, values: &[&str]) -> Event {
        Event::Final {
            partition,
            high_watermark: values.len() as i64,
            msgs: values
                .iter()
                .enumerate()
                .map(|(i, v)| (i as i64, v.to_string()))
                .collect(),
            t: 100.0,
        }
    }
    fn poll(consumer: &str, msgs: &[(i32, i64, &str)], t: f64) -> Event {
        Event::Poll {
            consumer: consumer.into(),
            msgs: msgs
                .iter()
                .map(|(p, o, v)| (*p, *o, v.to_string()))
                .collect(),
            t,
        }
    }
    fn assign(consumer: &str, positions: &[(i32, i64)], t: f64) -> Event {
        Event::Assign {
            consumer: consumer.into(),
            positions: positions.to_vec(),
            t,
        }
    }

    /// A clean history: p1 writes a,b,c to partition 0 sequentially, a consumer reads them, the final read agrees.
    fn clean() -> Vec<Event> {
        vec![
            Event::Ready { t: 0.0 },
            invoke("p1", 0, "a", 1.0),
            ok("p1", 0, "a", 0, 1.1),
            invoke("p1", 0, "b", 2.0),
            ok("p1", 0, "b", 1, 2.1),
            invoke("p1", 0, "c", 3.0),
            ok("p1", 0, "c", 2, 3.1),
            invoke("p1", 0, "d", 4.0),
            info("p1", 0, "d", 9.0),
            assign("c1", &[(0, 0)], 0.5),
            poll("c1", &[(0, 0, "a"), (0, 1, "b")], 2.5),
            poll("c1", &[(0, 2, "c")], 3.5),
            Event::ProduceEnd { t: 10.0 },
            final_read(0, &["a", "b", "c"]),
        ]
    }

    fn kinds(events: &[Event]) -> Vec<AnomalyKind> {
        check(events).kinds().into_iter().collect()
    }

    #[test]
    fn clean_history_has_no_anomaly_and_is_safe() {
        let report = check(&clean());
        assert_eq!(report.anomalies, vec![]);
        assert_eq!(report.verdict(), Verdict::Safe);
        assert_eq!(report.availability.ok, 3);
        assert_eq!(report.availability.info, 1);
    }

    #[test]
    fn indeterminate_write_present_in_final_read_is_not_an_anomaly() {
        let mut h = clean();
        h.pop();
        h.push(final_read(0, &["a", "b", "c", "d"]));
        assert_eq!(kinds(&h), vec![]);
    }

    #[test]
    fn acknowledged_write_missing_from_final_read_is_lost() {
        // The final read has no record at offset 2, where "c" was acknowledged (a hole, so that the loss
        // is not also an inconsistent offset).
        let mut h = clean();
        h.pop();
        h.push(Event::Final {
            partition: 0,
            high_watermark: 4,
            msgs: vec![(0, "a".into()), (1, "b".into()), (3, "d".into())],
            t: 100.0,
        });
        h.retain(|e| !matches!(e, Event::Poll { msgs, .. } if msgs.iter().any(|m| m.2 == "c")));
        assert_eq!(kinds(&h), vec![AnomalyKind::LostWrite]);
        assert_eq!(check(&h).verdict(), Verdict::Unsafe);
    }

    #[test]
    fn value_at_two_offsets_is_a_duplicate() {
        let mut h = clean();
        h.pop();
        h.push(final_read(0, &["a", "b", "c", "b"]));
        assert_eq!(kinds(&h), vec![AnomalyKind::Duplicate]);
    }

    #[test]
    fn two_values_at_one_offset_are_inconsistent() {
        let mut h = clean();
        // The consumer read the indeterminate "d" at offset 2, where the final read has "c".
        h.insert(12, poll("c2", &[(0, 2, "d")], 3.6));
        assert_eq!(kinds(&h), vec![AnomalyKind::InconsistentOffset]);
    }

    #[test]
    fn value_read_but_never_sent_is_flagged() {
        let mut h = clean();
        h.pop();
        h.push(final_read(0, &["a", "b", "c", "zzz"]));
        assert_eq!(kinds(&h), vec![AnomalyKind::UnsentRead]);
    }

    #[test]
    fn consumer_told_its_position_is_gone_is_an_offset_reset() {
        let mut h = clean();
        h.insert(
            12,
            Event::ConsumerError {
                consumer: "c1".into(),
                error:
                    "KafkaError{code=_AUTO_OFFSET_RESET,val=-140,str=\"Partition log truncation \
                        detected at offset 3 (leader epoch 1): broker end offset is 1\"}"
                        .into(),
                t: 3.6,
            },
        );
        assert_eq!(kinds(&h), vec![AnomalyKind::ConsumerOffsetReset]);
        // Other consumer errors (a transport error, say) are availability, not safety.
        let mut h = clean();
        h.insert(
            12,
            Event::ConsumerError {
                consumer: "c1".into(),
                error: "KafkaError{code=_TRANSPORT,val=-195}".into(),
                t: 3.6,
            },
        );
        assert_eq!(kinds(&h), vec![]);
        assert_eq!(check(&h).availability.consumer_errors, 1);
    }

    #[test]
    fn consumer_offset_going_backwards_is_non_monotonic() {
        let mut h = clean();
        h.insert(12, poll("c1", &[(0, 1, "b")], 3.6));
        assert_eq!(kinds(&h), vec![AnomalyKind::NonMonotonicPoll]);
    }

    #[test]
    fn consumer_jumping_over_records_is_a_skip() {
        let mut h = clean();
        h.retain(|e| !matches!(e, Event::Poll { .. }));
        h.push(poll("c1", &[(0, 0, "a"), (0, 2, "c")], 3.5));
        assert_eq!(kinds(&h), vec![AnomalyKind::SkippedPoll]);
    }

    #[test]
    fn pipelined_writes_of_one_producer_out_of_order_break_producer_order() {
        // p1 sends x then y without waiting; y lands before x. Not a real-time violation (x was not
        // acknowledged when y was sent).
        let h = vec![
            Event::Ready { t: 0.0 },
            invoke("p1", 0, "x", 1.0),
            invoke("p1", 0, "y", 1.1),
            ok("p1", 0, "y", 0, 1.5),
            ok("p1", 0, "x", 1, 1.6),
            Event::ProduceEnd { t: 2.0 },
            final_read(0, &["y", "x"]),
        ];
        assert_eq!(kinds(&h), vec![AnomalyKind::ProducerOrder]);
    }

    #[test]
    fn write_sent_after_an_ack_with_lower_offset_breaks_realtime_order() {
        let h = vec![
            Event::Ready { t: 0.0 },
            invoke("p1", 0, "x", 1.0),
            invoke("p2", 0, "y", 1.05),
            ok("p1", 0, "x", 1, 1.1),
            invoke("p3", 0, "z", 1.2),
            ok("p3", 0, "z", 0, 1.3),
            info("p2", 0, "y", 5.0),
            Event::ProduceEnd { t: 6.0 },
            final_read(0, &["z", "x"]),
        ];
        assert_eq!(kinds(&h), vec![AnomalyKind::RealtimeOrder]);
    }

    #[test]
    fn acknowledged_offset_at_or_above_final_high_watermark_is_flagged_alone() {
        let mut h = clean();
        h.pop();
        h.retain(|e| !matches!(e, Event::Poll { msgs, .. } if msgs.iter().any(|m| m.2 == "c")));
        h.push(final_read(0, &["a", "b"]));
        assert_eq!(kinds(&h), vec![AnomalyKind::AckAboveHighWatermark]);
    }

    #[test]
    fn missing_final_read_makes_the_verdict_incomplete() {
        let mut h = clean();
        h.pop();
        let report = check(&h);
        assert_eq!(
            report.kinds().into_iter().collect::<Vec<_>>(),
            vec![AnomalyKind::FinalReadMissing]
        );
        assert_eq!(report.verdict(), Verdict::Incomplete);
    }

    #[test]
    fn ack_without_offset_is_counted_and_checked_for_loss_only() {
        let ok_no_offset = || Event::Ok {
            process: "p2".into(),
            partition: 0,
            value: "e".into(),
            offset: None,
            t: 5.1,
        };
        let mut h = clean();
        h.push(invoke("p2", 0, "e", 5.0));
        h.push(ok_no_offset());
        assert_eq!(kinds(&h), vec![AnomalyKind::LostWrite]);
        h.retain(|e| !matches!(e, Event::Final { .. }));
        h.push(final_read(0, &["a", "b", "c", "e"]));
        let report = check(&h);
        assert_eq!(report.anomalies, vec![]);
        assert_eq!(report.availability.ok_without_offset, 1);
    }

    #[test]
    fn availability_counts_faults_outage_and_recovery() {
        let mut h = clean();
        h.push(Event::Fault {
            phase: "start".into(),
            name: "kill-one".into(),
            detail: String::new(),
            t: 3.5,
        });
        h.push(Event::Fault {
            phase: "end".into(),
            name: "kill-one".into(),
            detail: String::new(),
            t: 5.0,
        });
        let a = check(&h).availability;
        assert_eq!((a.during_faults_ok, a.during_faults_info), (0, 1));
        // Acks at 1.1, 2.1, 3.1 and producing ends at 10: the longest gap is 3.1 -> 10.
        assert!(
            (a.longest_outage_s - 6.9).abs() < 1e-9,
            "{}",
            a.longest_outage_s
        );
        assert_eq!(a.recoveries.len(), 1);
        assert_eq!(a.recoveries[0].2, None);
        assert!(
            (a.latency_p50_ms - 100.0).abs() < 1e-6,
            "{}",
            a.latency_p50_ms
        );
    }
}
