//! The "loss of un-fsynced writes" disk model: which bytes of a node's data dir were made durable
//! (a baseline taken at each start plus the node's sync journal) and the cut that throws the rest
//! away after a SIGKILL, as a power cut would.
//!
//! The node writes the journal itself (`riffle_storage::sync_journal`, enabled by
//! `RIFFLE_TEST_SYNC_JOURNAL`): one line `<inode> <length-bytes> <birth-ns>` per successful
//! data-file sync, the length taken before the sync. Files are named by (inode, birth time), so
//! renames keep their record and a reused inode is a different file.
//!
//! Model: what is on disk when a node starts is durable (the baseline). After a crash every
//! regular file is cut to the length of its last sync since that start, else to its baseline
//! length; a file created since the start and never synced is cut to 0 bytes. Directory entries
//! are kept (we model lost data, not lost creates, renames or unlinks), bytes are only removed
//! from the end (a file modified in place below its synced length, like an mmap'd index, is not
//! rolled back), and a file shorter than its synced length is left alone.

use std::collections::HashMap;
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

/// A file's identity across renames: inode and birth time in ns (0 where the file system has
/// none), as the broker's sync journal writes it.
pub type FileId = (u64, u128);

fn file_id(meta: &std::fs::Metadata) -> FileId {
    riffle_storage::sync_journal::file_identity(meta)
}

/// Synced length of every file known to be durable at a node's start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    pub lengths: HashMap<FileId, u64>,
}

/// Every regular file under `dir` (recursively), with its metadata.
fn regular_files(dir: &Path) -> io::Result<Vec<(PathBuf, std::fs::Metadata)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = match std::fs::symlink_metadata(entry.path()) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                out.push((entry.path(), meta));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Takes the baseline of `data_dir` (every file counts as synced at its current length) and
/// empties the journal at `journal`: called before each (re)start of the node.
pub fn take_baseline(data_dir: &Path, journal: &Path) -> io::Result<Baseline> {
    let lengths = regular_files(data_dir)?
        .into_iter()
        .map(|(_, m)| (file_id(&m), m.len()))
        .collect();
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(journal)?;
    Ok(Baseline { lengths })
}

/// The last synced length of each file named in a journal's text (later lines win: a file
/// truncated and synced shorter is recorded shorter). Malformed lines are skipped; the count
/// of them is returned too (a torn last line can only come from a killed writer).
pub fn parse_journal(text: &str) -> (HashMap<FileId, u64>, usize) {
    let mut out = HashMap::new();
    let mut bad = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let parsed = match f.as_slice() {
            [ino, len, birth] => ino
                .parse::<u64>()
                .ok()
                .zip(len.parse::<u64>().ok())
                .zip(birth.parse::<u128>().ok()),
            _ => None,
        };
        match parsed {
            Some(((ino, len), birth)) => {
                out.insert((ino, birth), len);
            }
            None => bad += 1,
        }
    }
    (out, bad)
}

/// One file the cut shortened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutFile {
    pub path: PathBuf,
    pub from_bytes: u64,
    pub to_bytes: u64,
    /// True when the file was created since the start and never synced.
    pub never_synced: bool,
}

/// What a cut threw away on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CutReport {
    pub files: Vec<CutFile>,
    /// Files examined.
    pub examined: usize,
    /// Journal lines that did not parse.
    pub bad_journal_lines: usize,
}

impl CutReport {
    pub fn bytes_cut(&self) -> u64 {
        self.files.iter().map(|f| f.from_bytes - f.to_bytes).sum()
    }

    /// Of `bytes_cut`, what came off `.index`/`.timeindex` files: mostly their preallocated,
    /// never-written (sparse) space, not data.
    pub fn index_bytes_cut(&self) -> u64 {
        self.files
            .iter()
            .filter(|f| {
                f.path
                    .extension()
                    .is_some_and(|e| e == "index" || e == "timeindex")
            })
            .map(|f| f.from_bytes - f.to_bytes)
            .sum()
    }
}

impl fmt::Display for CutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let never = self.files.iter().filter(|c| c.never_synced).count();
        write!(
            f,
            "cut {} files, {} bytes ({} of them from indexes, mostly preallocated space; \
             {} files never synced; {} examined)",
            self.files.len(),
            self.bytes_cut(),
            self.index_bytes_cut(),
            never,
            self.examined
        )?;
        if self.bad_journal_lines > 0 {
            write!(f, " [{} bad journal lines]", self.bad_journal_lines)?;
        }
        Ok(())
    }
}

/// Cuts every regular file under `data_dir` to its last synced length (journal, else baseline;
/// 0 if neither knows it). The node must not be running.
pub fn cut_unsynced(data_dir: &Path, baseline: &Baseline, journal: &Path) -> io::Result<CutReport> {
    let text = match std::fs::read_to_string(journal) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let (synced, bad_journal_lines) = parse_journal(&text);
    let mut report = CutReport {
        bad_journal_lines,
        ..CutReport::default()
    };
    for (path, meta) in regular_files(data_dir)? {
        report.examined += 1;
        let id = file_id(&meta);
        let known = synced.get(&id).or_else(|| baseline.lengths.get(&id));
        let keep = known.copied().unwrap_or(0);
        if meta.len() > keep {
            OpenOptions::new().write(true).open(&path)?.set_len(keep)?;
            report.files.push(CutFile {
                path,
                from_bytes: meta.len(),
                to_bytes: keep,
                never_synced: known.is_none(),
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;

    fn journal_line(path: &Path, len: u64) -> String {
        let (ino, birth) = file_id(&std::fs::metadata(path).expect("metadata"));
        format!("{ino} {len} {birth}\n")
    }

    #[test]
    fn cut_truncates_to_synced_length_zeroes_unsynced_files_and_keeps_baseline_files() {
        let tmp = std::env::temp_dir().join(format!("rj-crash-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let data = tmp.join("node-1");
        let part = data.join("jepsen-0");
        std::fs::create_dir_all(&part).expect("mkdir");
        let journal = tmp.join("node-1.syncjournal");
        std::fs::write(&journal, "stale line from an earlier start\n").expect("journal");

        // On disk at start: counts as durable, even though nobody synced it.
        let old = part.join("00000000000000000000.log");
        std::fs::write(&old, [1u8; 300]).expect("old");
        let baseline = take_baseline(&data, &journal).expect("baseline");
        assert_eq!(std::fs::read_to_string(&journal).expect("read"), "");

        // Synced at 100 bytes, then 60 more written; renamed after the sync.
        let tmp_name = part.join("leader-epoch-checkpoint.tmp");
        let mut synced = File::create(&tmp_name).expect("create");
        synced.write_all(&[2u8; 100]).expect("write");
        let line = journal_line(&tmp_name, 100);
        synced.write_all(&[3u8; 60]).expect("write");
        let renamed = part.join("leader-epoch-checkpoint");
        std::fs::rename(&tmp_name, &renamed).expect("rename");
        // Created since the start, never synced.
        let fresh = part.join("00000000000000000042.log");
        std::fs::write(&fresh, [4u8; 77]).expect("fresh");
        let fresh_index = part.join("00000000000000000042.index");
        std::fs::write(&fresh_index, [0u8; 8]).expect("fresh index");
        // The baseline file grew after the start without a sync.
        OpenOptions::new()
            .append(true)
            .open(&old)
            .and_then(|mut f| f.write_all(&[5u8; 20]))
            .expect("append");
        OpenOptions::new()
            .append(true)
            .open(&journal)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .expect("journal line");

        let report = cut_unsynced(&data, &baseline, &journal).expect("cut");
        assert_eq!(std::fs::metadata(&renamed).expect("m").len(), 100);
        assert_eq!(std::fs::metadata(&fresh).expect("m").len(), 0);
        assert_eq!(std::fs::metadata(&fresh_index).expect("m").len(), 0);
        assert_eq!(std::fs::metadata(&old).expect("m").len(), 300);
        assert_eq!(std::fs::read(&old).expect("read"), vec![1u8; 300]);
        assert_eq!(report.files.len(), 4, "{report:?}");
        assert_eq!(report.bytes_cut(), 60 + 77 + 8 + 20);
        assert_eq!(report.index_bytes_cut(), 8);
        assert_eq!(report.examined, 4);
        assert_eq!(report.files.iter().filter(|f| f.never_synced).count(), 2);
        assert_eq!(
            report.to_string(),
            "cut 4 files, 165 bytes (8 of them from indexes, mostly preallocated space; \
             2 files never synced; 4 examined)"
        );

        // A second cut finds nothing more to throw away.
        let again = cut_unsynced(&data, &baseline, &journal).expect("cut again");
        assert!(again.files.is_empty(), "{again:?}");
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn later_journal_lines_win_and_torn_lines_are_counted() {
        let (m, bad) = parse_journal("5 100 9\n5 40 9\n6 7 0\n12 3");
        assert_eq!(m.get(&(5, 9)), Some(&40));
        assert_eq!(m.get(&(6, 0)), Some(&7));
        assert_eq!(m.len(), 2);
        assert_eq!(bad, 1);
    }
}
