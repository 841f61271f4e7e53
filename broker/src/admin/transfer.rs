//! `export` and `import`: a topic's records to and from JSON lines, for backup and restore.
//!
//! Line 1 is `{"export": {"topic", "partitions", "replication_factor", "configs"}}`; every
//! other line is one record `{"partition", "offset", "timestamp", "timestamp_type", "key",
//! "value", "headers": [{"key", "value"}]}` with key and values in base64 (`null` if absent).

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::client::{AdminError, Cluster};
use super::commands::{create_topic, describe_configs, wait_for_leaders, SOURCE_TOPIC};
use super::output::Report;
use super::records::{
    self, ExportHeader, ExportLine, ExportRecord, OutRecord, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP,
    PRODUCE_BATCH_BYTES_MAX, PRODUCE_BATCH_RECORDS_MAX,
};

fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} records ({per_sec}, {eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

fn io_err(what: &str, e: std::io::Error) -> AdminError {
    AdminError::Usage(format!("{what}: {e}"))
}

/// Writes every record of `topic` (log start to the end offsets when the export starts).
pub async fn export(
    cluster: &mut Cluster,
    topic: &str,
    file: Option<&Path>,
) -> Result<Report, AdminError> {
    cluster.refresh(Some(&[topic.to_string()])).await?;
    let t = cluster.view.topic(topic, &cluster.any.addr)?.clone();
    let parts: Vec<i32> = t.partitions.iter().map(|p| p.partition).collect();
    let configs: BTreeMap<String, String> = describe_configs(cluster, topic)
        .await?
        .into_iter()
        .filter(|c| c.source == SOURCE_TOPIC)
        .filter_map(|c| c.value.map(|v| (c.name, v)))
        .collect();
    let header = ExportHeader {
        topic: topic.to_string(),
        partitions: parts.len() as i32,
        replication_factor: t.partitions.first().map(|p| p.replicas.len()).unwrap_or(1) as i16,
        configs,
    };
    let starts = records::list_offsets(cluster, topic, &parts, EARLIEST_TIMESTAMP).await?;
    let ends = records::list_offsets(cluster, topic, &parts, LATEST_TIMESTAMP).await?;
    let total: i64 = starts.iter().zip(&ends).map(|(s, e)| e.1 - s.1).sum();
    let sink: Box<dyn Write> = match file {
        Some(f) => Box::new(
            std::fs::File::create(f)
                .map_err(|e| io_err(&format!("creating {}", f.display()), e))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut out = BufWriter::new(sink);
    let write_line = |out: &mut BufWriter<Box<dyn Write>>, line: &ExportLine| {
        serde_json::to_writer(&mut *out, line)
            .map_err(|e| AdminError::Usage(format!("writing the export: {e}")))?;
        out.write_all(b"\n")
            .map_err(|e| io_err("writing the export", e))
    };
    write_line(&mut out, &ExportLine::Header { export: header })?;
    let bar = progress(total.max(0) as u64, &format!("export {topic}"));
    let mut written = 0u64;
    for (i, &p) in parts.iter().enumerate() {
        let (start, end) = (starts[i].1, ends[i].1);
        let mut pos = start;
        while pos < end {
            let (recs, next, _) = records::fetch_once(cluster, topic, p, pos, 500).await?;
            for r in recs.iter().filter(|r| r.offset < end) {
                write_line(&mut out, &ExportLine::Record(ExportRecord::from_record(r)))?;
                written += 1;
                bar.inc(1);
            }
            let after = recs.last().map(|r| r.offset + 1).unwrap_or(pos).max(next);
            if after <= pos {
                return Err(AdminError::Usage(format!(
                    "export of {topic}-{p} made no progress at offset {pos} (end {end})"
                )));
            }
            pos = after;
        }
    }
    out.flush().map_err(|e| io_err("writing the export", e))?;
    bar.finish_and_clear();
    let dest = file
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "stdout".into());
    let report = Report::new(
        format!(
            "Exported {written} records of {topic} ({} partitions) to {dest}.",
            parts.len()
        ),
        json!({"topic": topic, "records": written, "partitions": parts.len(), "file": dest}),
    );
    if file.is_none() {
        // The records went to stdout; the summary goes to stderr.
        eprintln!("{}", report.text);
        return Ok(Report {
            text: String::new(),
            json: serde_json::Value::Null,
            healthy: true,
        });
    }
    Ok(report)
}

/// Produces an export file's records to the same partitions, in order, creating the topic from
/// the file's header if it does not exist.
pub async fn import(
    cluster: &mut Cluster,
    file: &Path,
    topic: Option<&str>,
) -> Result<Report, AdminError> {
    let f =
        std::fs::File::open(file).map_err(|e| io_err(&format!("opening {}", file.display()), e))?;
    let mut header = None;
    let mut per_partition: BTreeMap<i32, Vec<OutRecord>> = BTreeMap::new();
    let mut count = 0u64;
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| io_err(&format!("reading {}", file.display()), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: ExportLine = serde_json::from_str(&line).map_err(|e| {
            AdminError::Usage(format!(
                "{} line {}: not an export line: {e}",
                file.display(),
                n + 1
            ))
        })?;
        match parsed {
            ExportLine::Header { export } => header = Some(export),
            ExportLine::Record(r) => {
                let rec = r.to_out_record().map_err(|e| {
                    AdminError::Usage(format!("{} line {}: {e}", file.display(), n + 1))
                })?;
                per_partition.entry(r.partition).or_default().push(rec);
                count += 1;
            }
        }
    }
    let topic = match (topic, &header) {
        (Some(t), _) => t.to_string(),
        (None, Some(h)) => h.topic.clone(),
        (None, None) => {
            return Err(AdminError::Usage(format!(
                "{} has no export header; name the topic with --topic",
                file.display()
            )))
        }
    };
    cluster.refresh(Some(std::slice::from_ref(&topic))).await?;
    let mut created = false;
    let exists = cluster
        .view
        .topics
        .get(&topic)
        .is_some_and(|t| t.error_code == 0);
    if !exists {
        let h = header.as_ref().ok_or_else(|| {
            AdminError::Usage(format!(
                "topic {topic} does not exist and the file has no header to create it from"
            ))
        })?;
        let configs: Vec<(String, Option<String>)> = h
            .configs
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        create_topic(
            cluster,
            &topic,
            h.partitions,
            h.replication_factor,
            &configs,
        )
        .await?;
        created = true;
    }
    let parts = cluster.partitions_of(&topic)?;
    if let Some(max) = per_partition.keys().max() {
        if !parts.contains(max) {
            return Err(AdminError::Usage(format!(
                "the file has records for partition {max} but {topic} has {} partitions",
                parts.len()
            )));
        }
    }
    wait_for_leaders(cluster, &topic, parts.len() as i32).await?;
    let bar = progress(count, &format!("import {topic}"));
    for (p, recs) in &per_partition {
        let mut i = 0;
        while i < recs.len() {
            let mut bytes = 0usize;
            let mut j = i;
            while j < recs.len() && j - i < PRODUCE_BATCH_RECORDS_MAX {
                let r = &recs[j];
                bytes += r.key.as_ref().map_or(0, |k| k.len())
                    + r.value.as_ref().map_or(0, |v| v.len())
                    + 64;
                j += 1;
                if bytes >= PRODUCE_BATCH_BYTES_MAX {
                    break;
                }
            }
            records::produce(cluster, &topic, *p, &recs[i..j]).await?;
            bar.inc((j - i) as u64);
            i = j;
        }
    }
    bar.finish_and_clear();
    Ok(Report::new(
        format!(
            "Imported {count} records into {topic}{}.",
            if created { " (created the topic)" } else { "" }
        ),
        json!({"topic": topic, "records": count, "created_topic": created}),
    ))
}
