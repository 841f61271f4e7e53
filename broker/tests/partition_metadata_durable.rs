//! Regression (found by the Jepsen-style harness's loss of un-fsynced writes,
//! cluster-tests/RESULTS.md): a partition directory's `partition.metadata` was written without
//! a sync, a crash left it empty, and the next start removed the whole directory (Raft log,
//! vote and data) as "another topic incarnation" — on every replica at once after a
//! whole-cluster power cut. The file must be durable (its bytes covered by a sync the test-only
//! sync journal records) before the replica opens.
//!
//! Its own test binary: the journal is chosen by an environment variable read at the first sync
//! in the process, so nothing else may sync first.

use std::os::unix::fs::MetadataExt;

#[test]
fn partition_metadata_is_synced_before_the_replica_opens() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    std::env::set_var(riffle_storage::sync_journal::ENV_VAR, &journal);
    let partition_dir = dir.path().join("logs").join("t-0");
    std::fs::create_dir_all(partition_dir.parent().unwrap()).unwrap();
    let id = uuid::Uuid::new_v4();
    riffle_broker::cluster::write_partition_metadata(&partition_dir, id).unwrap();

    let file = partition_dir.join("partition.metadata");
    let meta = std::fs::metadata(&file).unwrap();
    assert!(meta.len() > 0);
    let text = std::fs::read_to_string(&journal).unwrap_or_default();
    let synced: Vec<u64> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let ino: u64 = f.next()?.parse().ok()?;
            let len: u64 = f.next()?.parse().ok()?;
            (ino == meta.ino()).then_some(len)
        })
        .collect();
    assert_eq!(
        synced.last().copied(),
        Some(meta.len()),
        "journal {text:?} has no sync of all of partition.metadata (inode {})",
        meta.ino()
    );
    assert_eq!(
        riffle_broker::cluster::read_partition_metadata(&partition_dir),
        Some(id)
    );

    // Written again with the same id: nothing to do, the file is not replaced.
    riffle_broker::cluster::write_partition_metadata(&partition_dir, id).unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().ino(), meta.ino());
}
