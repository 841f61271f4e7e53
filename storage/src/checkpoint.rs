//! Small durable checkpoint files (`log-start-offset`, `recovery-point`,
//! `leader-epoch-checkpoint`): Kafka's text layout, replaced atomically (write `.tmp`,
//! `fdatasync`, rename, `fsync` the directory).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::{Result, StorageError};

/// Log start offset: raised by DeleteRecords and retention.
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";
/// Recovery point: every segment with a base offset below it is complete and synced.
pub const RECOVERY_POINT_FILE: &str = "recovery-point";
/// Leader epoch cache: `epoch start_offset` lines.
pub const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";
/// Cleaner checkpoint: `first_dirty_offset min_delete_horizon_ms` (one entry; -1 = no
/// tombstone waiting for its delete horizon).
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// Suffix of a checkpoint being written; stray ones are removed on open.
pub const TMP_SUFFIX: &str = ".tmp";
/// Format version written on the first line of every checkpoint file.
const CHECKPOINT_VERSION: u32 = 0;

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `fsync` a directory so that creates, renames and unlinks in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| io_err(dir, e))?;
    d.sync_all().map_err(|e| io_err(dir, e))
}

/// Writes `entries` (each a line of space-separated integers) as
/// `version\ncount\nentry\n...`, atomically and durably.
pub(crate) fn write(dir: &Path, name: &str, entries: &[Vec<i64>]) -> Result<()> {
    let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", entries.len());
    for entry in entries {
        let line: Vec<String> = entry.iter().map(|v| v.to_string()).collect();
        text.push_str(&line.join(" "));
        text.push('\n');
    }
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| io_err(&tmp, e))?;
        f.write_all(text.as_bytes()).map_err(|e| io_err(&tmp, e))?;
        crate::sync_journal::sync_data(&f).map_err(|e| io_err(&tmp, e))?;
    }
    fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
    sync_dir(dir)
}

/// Reads a checkpoint written by [`write`]: `Ok(None)` if absent, `Err(Corrupt)` if malformed.
/// Every entry must have exactly `width` integers.
pub(crate) fn read(dir: &Path, name: &str, width: usize) -> Result<Option<Vec<Vec<i64>>>> {
    let path = dir.join(name);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path, e)),
    };
    let corrupt = |reason: String| StorageError::Corrupt {
        path: path.clone(),
        reason,
    };
    let text = String::from_utf8(text).map_err(|_| corrupt("not UTF-8".into()))?;
    let mut lines = text.lines();
    let version: u32 = parse(lines.next()).ok_or_else(|| corrupt("bad version line".into()))?;
    if version != CHECKPOINT_VERSION {
        return Err(corrupt(format!("unknown version {version}")));
    }
    let count: usize = parse(lines.next()).ok_or_else(|| corrupt("bad count line".into()))?;
    let mut entries = Vec::with_capacity(count.min(1024));
    for i in 0..count {
        let line = lines
            .next()
            .ok_or_else(|| corrupt(format!("missing entry {i}")))?;
        let entry: Option<Vec<i64>> = line.split(' ').map(|w| w.parse().ok()).collect();
        match entry {
            Some(e) if e.len() == width => entries.push(e),
            _ => return Err(corrupt(format!("bad entry {i}: {line:?}"))),
        }
    }
    if lines.any(|l| !l.is_empty()) {
        return Err(corrupt("trailing data".into()));
    }
    Ok(Some(entries))
}

fn parse<T: std::str::FromStr>(line: Option<&str>) -> Option<T> {
    line?.trim().parse().ok()
}

/// Reads a single-value checkpoint.
pub(crate) fn read_single(dir: &Path, name: &str) -> Result<Option<i64>> {
    match read(dir, name, 1)? {
        None => Ok(None),
        Some(entries) if entries.len() == 1 => Ok(Some(entries[0][0])),
        Some(_) => Err(StorageError::Corrupt {
            path: dir.join(name),
            reason: "expected exactly one entry".into(),
        }),
    }
}

pub(crate) fn write_single(dir: &Path, name: &str, value: i64) -> Result<()> {
    write(dir, name, &[vec![value]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "x", &[vec![1, 2], vec![3, -4]]).unwrap();
        assert_eq!(
            read(dir.path(), "x", 2).unwrap(),
            Some(vec![vec![1, 2], vec![3, -4]])
        );
        assert!(read(dir.path(), "x", 1).is_err());
        assert_eq!(read(dir.path(), "missing", 1).unwrap(), None);
        fs::write(dir.path().join("y"), b"0\n2\n1 2\n").unwrap();
        assert!(read(dir.path(), "y", 2).is_err());
        fs::write(dir.path().join("z"), [0xff, 0xfe]).unwrap();
        assert!(read(dir.path(), "z", 1).is_err());
    }
}
