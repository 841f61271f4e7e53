//! The partition Raft log storage: Kafka offsets from the log prefix, the side file,
//! truncation, purge and crash reconciliation on open.

mod common;

use std::collections::BTreeSet;

use common::{batch, log_config};
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, Vote};
use riffle_replication::log_store::RAFT_ENTRIES_FILE;
use riffle_replication::types::PartitionRaft;
use riffle_replication::{NodeId, PartitionLogStore};
use riffle_storage::PartitionLog;

fn lid(term: u64, index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

fn blank(term: u64, index: u64) -> Entry<PartitionRaft> {
    Entry {
        log_id: lid(term, index),
        payload: EntryPayload::Blank,
    }
}

fn data(term: u64, index: u64, records: i32, fill: u8) -> Entry<PartitionRaft> {
    Entry {
        log_id: lid(term, index),
        payload: EntryPayload::Normal(batch(records, 100, fill)),
    }
}

fn membership(term: u64, index: u64) -> Entry<PartitionRaft> {
    let voters: BTreeSet<NodeId> = [1, 2, 3].into_iter().collect();
    Entry {
        log_id: lid(term, index),
        payload: EntryPayload::Membership(Membership::new(vec![voters], None)),
    }
}

async fn read_all(store: &mut PartitionLogStore) -> Vec<Entry<PartitionRaft>> {
    store.try_get_log_entries(..).await.unwrap()
}

fn payload_kind(e: &Entry<PartitionRaft>) -> &'static str {
    match e.payload {
        EntryPayload::Blank => "blank",
        EntryPayload::Normal(_) => "data",
        EntryPayload::Membership(_) => "membership",
    }
}

fn batch_header(e: &Entry<PartitionRaft>) -> (i64, i64, i32) {
    let EntryPayload::Normal(b) = &e.payload else {
        panic!("not a data entry")
    };
    let v = riffle_protocol::batch::RecordBatchView::parse(b).unwrap();
    (v.base_offset(), v.last_offset(), v.partition_leader_epoch())
}

#[tokio::test]
async fn data_entries_take_kafka_offsets_and_non_data_entries_take_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
    store
        .blocking_append(vec![
            membership(0, 0),
            blank(1, 1),
            data(1, 2, 3, 0xa1),
            blank(2, 3),
            data(2, 4, 2, 0xa2),
            data(2, 5, 1, 0xa3),
        ])
        .await
        .unwrap();
    assert_eq!(store.kafka_offsets_of(2), Some((0, 2)));
    assert_eq!(store.kafka_offsets_of(3), None);
    assert_eq!(store.kafka_offsets_of(4), Some((3, 4)));
    assert_eq!(store.kafka_offsets_of(5), Some((5, 5)));
    assert_eq!(store.kafka_end_after(3), Some(3));
    assert_eq!(store.partition_log().log_end_offset(), 6);

    let entries = read_all(&mut store).await;
    let kinds: Vec<_> = entries.iter().map(payload_kind).collect();
    assert_eq!(
        kinds,
        ["membership", "blank", "data", "blank", "data", "data"]
    );
    let ids: Vec<_> = entries.iter().map(|e| e.log_id).collect();
    assert_eq!(
        ids,
        (0..6)
            .map(|i| lid([0, 1, 1, 2, 2, 2][i], i as u64))
            .collect::<Vec<_>>()
    );
    // The Raft term is the leader epoch written into each batch.
    assert_eq!(batch_header(&entries[2]), (0, 2, 1));
    assert_eq!(batch_header(&entries[4]), (3, 4, 2));
    assert_eq!(batch_header(&entries[5]), (5, 5, 2));
    // A sub-range reads just those entries.
    let some = store.try_get_log_entries(3..5).await.unwrap();
    assert_eq!(
        some.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
        [3, 4]
    );
    assert_eq!(batch_header(&some[1]), (3, 4, 2));
}

#[tokio::test]
async fn reopen_restores_entries_vote_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
        store.save_vote(&Vote::new(3, 2)).await.unwrap();
        store
            .blocking_append(vec![membership(0, 0), blank(1, 1), data(1, 2, 4, 1)])
            .await
            .unwrap();
        store
            .blocking_append(vec![data(1, 3, 2, 2), blank(3, 4)])
            .await
            .unwrap();
    }
    let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
    assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(3, 2)));
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(lid(3, 4)));
    assert_eq!(state.last_purged_log_id, None);
    assert_eq!(store.kafka_offsets_of(3), Some((4, 5)));
    let entries = read_all(&mut store).await;
    assert_eq!(entries.len(), 5);
    assert_eq!(batch_header(&entries[3]), (4, 5, 1));
    // The next data entry continues the Kafka offsets.
    store.blocking_append(vec![data(3, 5, 1, 3)]).await.unwrap();
    assert_eq!(store.kafka_offsets_of(5), Some((6, 6)));
}

#[tokio::test]
async fn truncate_removes_the_conflicting_suffix_and_rewinds_kafka_offsets() {
    // Raft §5.3: a follower deletes a conflicting entry and all that follow it.
    let dir = tempfile::tempdir().unwrap();
    let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
    let mut entries = vec![membership(0, 0), blank(1, 1)];
    for i in 2..40 {
        entries.push(data(1, i, 3, i as u8));
    }
    store.blocking_append(entries).await.unwrap();
    assert!(
        store.partition_log().segment_count() > 1,
        "crosses segment rolls"
    );
    assert_eq!(store.kafka_offsets_of(10), Some((24, 26)));

    store.truncate(lid(1, 10)).await.unwrap();
    assert_eq!(
        store.get_log_state().await.unwrap().last_log_id,
        Some(lid(1, 9))
    );
    assert_eq!(store.partition_log().log_end_offset(), 24);
    store
        .blocking_append(vec![blank(2, 10), data(2, 11, 1, 0xee)])
        .await
        .unwrap();
    assert_eq!(store.kafka_offsets_of(11), Some((24, 24)));
    drop(store);

    // The same after a reopen.
    let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
    let all = read_all(&mut store).await;
    assert_eq!(all.len(), 12);
    assert_eq!(all[11].log_id, lid(2, 11));
    assert_eq!(batch_header(&all[11]), (24, 24, 2));
    assert_eq!(store.partition_log().end_offset_for_epoch(1), Some((1, 24)));
}

#[tokio::test]
async fn purge_keeps_later_entries_and_their_offsets_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
        let mut entries = vec![membership(0, 0), blank(1, 1)];
        for i in 2..10 {
            entries.push(data(1, i, 2, i as u8));
        }
        store.blocking_append(entries).await.unwrap();
        store.purge(lid(1, 5)).await.unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(lid(1, 5)));
        assert_eq!(state.last_log_id, Some(lid(1, 9)));
        let left = read_all(&mut store).await;
        assert_eq!(left.first().map(|e| e.log_id.index), Some(6));
    }
    let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(lid(1, 5)));
    assert_eq!(state.last_log_id, Some(lid(1, 9)));
    assert_eq!(store.kafka_offsets_of(6), Some((8, 9)));
    store
        .blocking_append(vec![data(1, 10, 1, 0)])
        .await
        .unwrap();
    assert_eq!(store.kafka_offsets_of(10), Some((16, 16)));
    // Purging everything keeps the Kafka anchor for the next entry.
    store.purge(lid(1, 10)).await.unwrap();
    drop(store);
    let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
    assert!(read_all(&mut store).await.is_empty());
    store
        .blocking_append(vec![data(2, 11, 1, 0)])
        .await
        .unwrap();
    assert_eq!(store.kafka_offsets_of(11), Some((17, 17)));
}

#[tokio::test]
async fn open_cuts_batches_that_have_no_raft_entry() {
    // A crash after the batches reached the partition log but before their side-file records.
    let dir = tempfile::tempdir().unwrap();
    let cut_at;
    {
        let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
        store
            .blocking_append(vec![membership(0, 0), blank(1, 1), data(1, 2, 3, 1)])
            .await
            .unwrap();
        cut_at = std::fs::metadata(dir.path().join(RAFT_ENTRIES_FILE))
            .unwrap()
            .len();
        store
            .blocking_append(vec![data(1, 3, 3, 2), data(1, 4, 3, 3)])
            .await
            .unwrap();
    }
    // Lose the last two records, and tear the first of them half-way.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join(RAFT_ENTRIES_FILE))
        .unwrap();
    f.set_len(cut_at + 20).unwrap();
    drop(f);
    let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
    assert_eq!(
        store.get_log_state().await.unwrap().last_log_id,
        Some(lid(1, 2))
    );
    assert_eq!(store.partition_log().log_end_offset(), 3);
    assert_eq!(read_all(&mut store).await.len(), 3);
    assert_eq!(
        std::fs::metadata(dir.path().join(RAFT_ENTRIES_FILE))
            .unwrap()
            .len(),
        cut_at
    );
}

#[tokio::test]
async fn open_drops_raft_entries_whose_batch_was_lost() {
    // A crash after the side-file records were synced but before the batches were.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
        store
            .blocking_append(vec![
                membership(0, 0),
                blank(1, 1),
                data(1, 2, 3, 1),
                data(1, 3, 3, 2),
                blank(2, 4),
                data(2, 5, 1, 3),
            ])
            .await
            .unwrap();
    }
    {
        let log = PartitionLog::open(dir.path(), log_config()).unwrap();
        log.truncate_to(3).unwrap();
    }
    let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
    assert_eq!(
        store.get_log_state().await.unwrap().last_log_id,
        Some(lid(1, 2))
    );
    assert_eq!(store.partition_log().log_end_offset(), 3);
    store.blocking_append(vec![data(3, 3, 1, 9)]).await.unwrap();
    assert_eq!(store.kafka_offsets_of(3), Some((3, 3)));
}

#[test]
fn open_refuses_a_log_with_data_but_no_raft_entry_file() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = PartitionLog::open(dir.path(), log_config()).unwrap();
        let mut b = batch(1, 10, 0);
        log.append(&mut b, 0, 0).unwrap();
        log.flush_all().unwrap();
    }
    assert!(PartitionLogStore::open(dir.path(), log_config()).is_err());
    assert_eq!(
        PartitionLog::open(dir.path(), log_config())
            .unwrap()
            .log_end_offset(),
        1,
        "the single-node log is left alone"
    );
}

#[tokio::test]
async fn appending_with_a_hole_or_a_non_batch_payload_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PartitionLogStore::open(dir.path(), log_config()).unwrap();
    store.blocking_append(vec![blank(1, 0)]).await.unwrap();
    assert!(store.blocking_append(vec![blank(1, 2)]).await.is_err());
    let junk = Entry {
        log_id: lid(1, 1),
        payload: EntryPayload::Normal(vec![1, 2, 3]),
    };
    assert!(store.blocking_append(vec![junk]).await.is_err());
    let mut two = batch(1, 10, 0);
    two.extend(batch(1, 10, 1));
    let two = Entry {
        log_id: lid(1, 1),
        payload: EntryPayload::Normal(two),
    };
    assert!(store.blocking_append(vec![two]).await.is_err());
    assert_eq!(store.partition_log().log_end_offset(), 0);
}
