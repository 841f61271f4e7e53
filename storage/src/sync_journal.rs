//! Test-only record of what each `fdatasync`/`fsync` made durable, for the Jepsen harness's
//! "loss of un-fsynced writes" fault (`cluster-tests`, family `unsynced`).
//!
//! When the environment variable [`ENV_VAR`] names a file at process start, every data-file
//! sync routed through [`sync_data`] or [`sync_all`] appends one line
//! `<inode> <length-bytes> <birth-ns>\n` to it after the sync succeeds: the file's size taken
//! *before* the sync (so it names only bytes the sync covered) and the file's identity
//! (inode, and birth time from statx, 0 where the file system has none, so a reused inode is
//! not mistaken for the old file). Renames keep the inode, so a checkpoint written to `.tmp`,
//! synced and renamed keeps its record. The harness SIGKILLs a node and cuts every file back to
//! its last recorded length, which is what a power cut does to data the node never synced.
//!
//! The journal is opened `O_APPEND`, each line is one `write()`, and it is never synced: the page
//! cache survives SIGKILL, which is all the harness models. A line is written after the sync
//! returns and before the caller learns of it, so nothing acknowledged on the strength of a sync
//! lacks its line. Unset, the cost is one `OnceLock` read per sync.
//!
//! Directory fsyncs are not routed here: the harness models lost data, not lost directory
//! entries.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

/// The environment variable naming the journal file (read once, at the first sync).
pub const ENV_VAR: &str = "RIFFLE_TEST_SYNC_JOURNAL";

/// An open sync journal.
#[derive(Debug)]
pub struct SyncJournal {
    file: File,
}

/// The identity of a file across renames: inode and birth time (ns since the epoch, 0 if the
/// file system does not record one).
pub fn file_identity(meta: &std::fs::Metadata) -> (u64, u128) {
    let birth_ns = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    (meta.ino(), birth_ns)
}

impl SyncJournal {
    /// Opens (creating if needed) the journal at `path` for appending.
    pub fn open(path: &Path) -> io::Result<SyncJournal> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(SyncJournal { file })
    }

    /// `fdatasync` of `file`, then one journal line with the length it had before the sync.
    pub fn sync_data(&self, file: &File) -> io::Result<()> {
        let meta = file.metadata()?;
        file.sync_data()?;
        self.record(&meta);
        Ok(())
    }

    /// `fsync` of `file`, then one journal line with the length it had before the sync.
    pub fn sync_all(&self, file: &File) -> io::Result<()> {
        let meta = file.metadata()?;
        file.sync_all()?;
        self.record(&meta);
        Ok(())
    }

    fn record(&self, meta: &std::fs::Metadata) {
        let (ino, birth_ns) = file_identity(meta);
        let line = format!("{ino} {} {birth_ns}\n", meta.len());
        // One write() on an O_APPEND file: lines from concurrent syncs never interleave.
        match (&self.file).write(line.as_bytes()) {
            Ok(n) if n == line.len() => {}
            // The sync itself succeeded; a missing line only makes the harness cut more than
            // it should, so say so loudly rather than fail the caller's sync.
            Ok(n) => eprintln!("{ENV_VAR}: short write to the sync journal ({n} bytes)"),
            Err(e) => eprintln!("{ENV_VAR}: cannot write the sync journal: {e}"),
        }
    }
}

/// The process-wide journal, if [`ENV_VAR`] was set (opened at the first sync).
fn global() -> Option<&'static SyncJournal> {
    static JOURNAL: OnceLock<Option<SyncJournal>> = OnceLock::new();
    JOURNAL
        .get_or_init(|| {
            let path = std::env::var_os(ENV_VAR).filter(|p| !p.is_empty())?;
            match SyncJournal::open(Path::new(&path)) {
                Ok(j) => Some(j),
                Err(e) => {
                    // A test hook that silently did nothing would make the fault a no-op: stop
                    // the process (the harness reports a node that exits on its own).
                    eprintln!("{ENV_VAR}={}: cannot open: {e}", Path::new(&path).display());
                    std::process::abort()
                }
            }
        })
        .as_ref()
}

/// `file.sync_data()`, journaled when [`ENV_VAR`] is set. Every data-file `fdatasync` in
/// storage, replication and the broker goes through here.
pub fn sync_data(file: &File) -> io::Result<()> {
    match global() {
        Some(j) => j.sync_data(file),
        None => file.sync_data(),
    }
}

/// `file.sync_all()`, journaled when [`ENV_VAR`] is set.
pub fn sync_all(file: &File) -> io::Result<()> {
    match global() {
        Some(j) => j.sync_all(file),
        None => file.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn journal_lines(path: &Path) -> Vec<(u64, u64, u128)> {
        let text = std::fs::read_to_string(path).expect("read journal");
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                assert_eq!(f.len(), 3, "{l:?}");
                (
                    f[0].parse().expect("inode"),
                    f[1].parse().expect("length"),
                    f[2].parse().expect("birth"),
                )
            })
            .collect()
    }

    #[test]
    fn journal_names_the_length_synced_not_bytes_appended_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal_path = dir.path().join("node.syncjournal");
        let journal = SyncJournal::open(&journal_path).expect("open journal");
        let data_path = dir.path().join("00000000000000000000.log");
        let mut data = File::create(&data_path).expect("create");
        data.write_all(&[7u8; 100]).expect("write");
        journal.sync_data(&data).expect("sync");
        data.write_all(&[8u8; 50]).expect("write more");

        let identity = file_identity(&data.metadata().expect("metadata"));
        assert_eq!(
            journal_lines(&journal_path),
            vec![(identity.0, 100, identity.1)]
        );

        // A rename keeps the identity; a second sync (fsync) records the new length.
        let renamed = dir.path().join("renamed.log");
        std::fs::rename(&data_path, &renamed).expect("rename");
        journal.sync_all(&data).expect("sync_all");
        let after = file_identity(&std::fs::metadata(&renamed).expect("metadata"));
        assert_eq!(after, identity);
        assert_eq!(
            journal_lines(&journal_path),
            vec![(identity.0, 100, identity.1), (identity.0, 150, identity.1)]
        );
    }

    #[test]
    fn journal_appends_to_an_existing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal_path = dir.path().join("j");
        std::fs::write(&journal_path, "1 2 3\n").expect("seed journal");
        let journal = SyncJournal::open(&journal_path).expect("open journal");
        let data = File::create(dir.path().join("f")).expect("create");
        journal.sync_data(&data).expect("sync");
        let lines = journal_lines(&journal_path);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], (1, 2, 3));
        assert_eq!(lines[1].1, 0);
    }
}
