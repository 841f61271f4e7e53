//! Apache Kafka's `__consumer_offsets` record formats: the offset-commit and group-metadata
//! keys and values (version-prefixed, non-flexible, big-endian, as Kafka's
//! `OffsetCommitKey`/`OffsetCommitValue`/`GroupMetadataKey`/`GroupMetadataValue` schemas),
//! the record batches that carry them, and the group → partition mapping.
//!
//! Written: offset-commit key v1 with value v3 (v1 when the commit carried an explicit
//! expiry), group-metadata key v2 with value v3, null values as tombstones. Read: keys v0–v2
//! and values v0–v3; keys of the new consumer-group protocol (v3 and up) are skipped.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};

use super::offsets::CommittedOffset;
use super::store::{GroupMetadata, GroupRecord, MemberMetadata};

/// The internal topic that holds group state.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Key version of an offset commit (v0 has the same layout).
pub const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Key version of group metadata.
pub const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// Offset-commit value version Riffle writes without an explicit expiry.
pub const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// Offset-commit value version with `expireTimestamp` (OffsetCommit v2–v4 retention time).
pub const OFFSET_COMMIT_VALUE_VERSION_EXPIRING: i16 = 1;
/// Group-metadata value version Riffle writes (the newest non-flexible one, as Kafka).
pub const GROUP_METADATA_VALUE_VERSION: i16 = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record truncated: {0}")]
    Truncated(&'static str),
    #[error("{0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    #[error("negative length {len} for {field}")]
    NegativeLength { field: &'static str, len: i32 },
    #[error("null {0} where Kafka's schema does not allow one")]
    UnexpectedNull(&'static str),
    #[error("unsupported {kind} version {version}")]
    UnsupportedVersion { kind: &'static str, version: i16 },
    #[error("{field} is {len} bytes, longer than a Kafka string ({max})")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("record batch: {0}")]
    Batch(String),
}

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping.
pub fn java_string_hashcode(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)))
}

/// Kafka's `Utils.abs`: the absolute value, with `i32::MIN` mapped to 0.
pub fn kafka_abs(n: i32) -> i32 {
    if n == i32::MIN {
        0
    } else {
        n.abs()
    }
}

/// The `__consumer_offsets` partition of a group:
/// `Utils.abs(groupId.hashCode()) % partitionCount`, as Kafka's `partitionFor`.
pub fn partition_for(group_id: &str, partition_count: i32) -> i32 {
    kafka_abs(java_string_hashcode(group_id)) % partition_count.max(1)
}

// ----- writing ---------------------------------------------------------------------------

fn put_string(buf: &mut BytesMut, field: &'static str, s: &str) -> Result<(), RecordError> {
    let len = i16::try_from(s.len()).map_err(|_| RecordError::TooLong {
        field,
        len: s.len(),
        max: i16::MAX as usize,
    })?;
    buf.put_i16(len);
    buf.put_slice(s.as_bytes());
    Ok(())
}

fn put_nullable_string(
    buf: &mut BytesMut,
    field: &'static str,
    s: Option<&str>,
) -> Result<(), RecordError> {
    match s {
        Some(s) => put_string(buf, field, s),
        None => {
            buf.put_i16(-1);
            Ok(())
        }
    }
}

fn put_bytes(buf: &mut BytesMut, field: &'static str, b: &[u8]) -> Result<(), RecordError> {
    let len = i32::try_from(b.len()).map_err(|_| RecordError::TooLong {
        field,
        len: b.len(),
        max: i32::MAX as usize,
    })?;
    buf.put_i32(len);
    buf.put_slice(b);
    Ok(())
}

/// OffsetCommitKey v1: group, topic, partition.
pub fn offset_commit_key(
    group_id: &str,
    topic: &str,
    partition: i32,
) -> Result<Bytes, RecordError> {
    let mut buf = BytesMut::with_capacity(2 + 2 + group_id.len() + 2 + topic.len() + 4);
    buf.put_i16(OFFSET_COMMIT_KEY_VERSION);
    put_string(&mut buf, "group", group_id)?;
    put_string(&mut buf, "topic", topic)?;
    buf.put_i32(partition);
    Ok(buf.freeze())
}

/// OffsetCommitValue v3 (offset, leader epoch, metadata, commit timestamp), or v1 (offset,
/// metadata, commit timestamp, expire timestamp) when the commit has an explicit expiry.
pub fn offset_commit_value(o: &CommittedOffset) -> Result<Bytes, RecordError> {
    let metadata = o.metadata.as_deref().unwrap_or("");
    let mut buf = BytesMut::with_capacity(2 + 8 + 4 + 2 + metadata.len() + 8 + 8);
    match o.expire_timestamp_ms {
        Some(expire) => {
            buf.put_i16(OFFSET_COMMIT_VALUE_VERSION_EXPIRING);
            buf.put_i64(o.offset);
            put_string(&mut buf, "metadata", metadata)?;
            buf.put_i64(o.commit_timestamp_ms);
            buf.put_i64(expire);
        }
        None => {
            buf.put_i16(OFFSET_COMMIT_VALUE_VERSION);
            buf.put_i64(o.offset);
            buf.put_i32(o.leader_epoch);
            put_string(&mut buf, "metadata", metadata)?;
            buf.put_i64(o.commit_timestamp_ms);
        }
    }
    Ok(buf.freeze())
}

/// GroupMetadataKey v2: group.
pub fn group_metadata_key(group_id: &str) -> Result<Bytes, RecordError> {
    let mut buf = BytesMut::with_capacity(4 + group_id.len());
    buf.put_i16(GROUP_METADATA_KEY_VERSION);
    put_string(&mut buf, "group", group_id)?;
    Ok(buf.freeze())
}

/// GroupMetadataValue v3.
pub fn group_metadata_value(m: &GroupMetadata) -> Result<Bytes, RecordError> {
    let mut buf = BytesMut::with_capacity(128);
    buf.put_i16(GROUP_METADATA_VALUE_VERSION);
    put_string(
        &mut buf,
        "protocolType",
        m.protocol_type.as_deref().unwrap_or(""),
    )?;
    buf.put_i32(m.generation_id);
    put_nullable_string(&mut buf, "protocol", m.protocol_name.as_deref())?;
    put_nullable_string(&mut buf, "leader", m.leader_id.as_deref())?;
    buf.put_i64(m.current_state_timestamp_ms);
    let count = i32::try_from(m.members.len()).map_err(|_| RecordError::TooLong {
        field: "members",
        len: m.members.len(),
        max: i32::MAX as usize,
    })?;
    buf.put_i32(count);
    for member in &m.members {
        put_string(&mut buf, "memberId", &member.member_id)?;
        put_nullable_string(
            &mut buf,
            "groupInstanceId",
            member.group_instance_id.as_deref(),
        )?;
        put_string(&mut buf, "clientId", &member.client_id)?;
        put_string(&mut buf, "clientHost", &member.client_host)?;
        buf.put_i32(member.rebalance_timeout_ms);
        buf.put_i32(member.session_timeout_ms);
        put_bytes(&mut buf, "subscription", &member.subscription)?;
        put_bytes(&mut buf, "assignment", &member.assignment)?;
    }
    Ok(buf.freeze())
}

/// The key and value (None: tombstone) of one record.
pub fn encode_record(r: &GroupRecord) -> Result<(Bytes, Option<Bytes>), RecordError> {
    Ok(match r {
        GroupRecord::OffsetCommit {
            group_id,
            topic,
            partition,
            offset,
        } => (
            offset_commit_key(group_id, topic, *partition)?,
            Some(offset_commit_value(offset)?),
        ),
        GroupRecord::OffsetTombstone {
            group_id,
            topic,
            partition,
        } => (offset_commit_key(group_id, topic, *partition)?, None),
        GroupRecord::GroupMetadata { group_id, metadata } => (
            group_metadata_key(group_id)?,
            Some(group_metadata_value(metadata)?),
        ),
        GroupRecord::GroupTombstone { group_id } => (group_metadata_key(group_id)?, None),
    })
}

/// One uncompressed v2 record batch (no producer id) holding `records` in order, with
/// timestamps `now_ms`; the log assigns its base offset and leader epoch.
pub fn encode_batch(records: &[GroupRecord], now_ms: i64) -> Result<BytesMut, RecordError> {
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let (key, value) = encode_record(r)?;
        out.push(Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch only while offset - sequence is
            // constant; the batch's base sequence stays NO_SEQUENCE (-1).
            sequence: NO_SEQUENCE.wrapping_add(i as i32),
            timestamp: now_ms,
            key: Some(key),
            value,
            headers: Default::default(),
        });
    }
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &out,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| RecordError::Batch(e.to_string()))?;
    Ok(buf)
}

// ----- reading ---------------------------------------------------------------------------

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RecordError> {
        if self.buf.len() < n {
            return Err(RecordError::Truncated(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, RecordError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, RecordError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, RecordError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, RecordError> {
        let len = self.i16(what)?;
        if len < 0 {
            return Ok(None);
        }
        let b = self.take(len as usize, what)?;
        std::str::from_utf8(b)
            .map(|s| Some(s.to_string()))
            .map_err(|_| RecordError::InvalidUtf8(what))
    }

    fn string(&mut self, what: &'static str) -> Result<String, RecordError> {
        self.nullable_string(what)?
            .ok_or(RecordError::UnexpectedNull(what))
    }

    fn bytes(&mut self, what: &'static str) -> Result<Bytes, RecordError> {
        let len = self.i32(what)?;
        if len < 0 {
            return Err(RecordError::UnexpectedNull(what));
        }
        Ok(Bytes::copy_from_slice(self.take(len as usize, what)?))
    }
}

/// Decodes one `__consumer_offsets` record. `Ok(None)` for record types Riffle does not use
/// (the new consumer-group protocol's keys, v3 and up).
pub fn decode_record(key: &[u8], value: Option<&[u8]>) -> Result<Option<GroupRecord>, RecordError> {
    let mut k = Reader { buf: key };
    let key_version = k.i16("key version")?;
    match key_version {
        0 | 1 => {
            let group_id = k.string("group")?;
            let topic = k.string("topic")?;
            let partition = k.i32("partition")?;
            Ok(Some(match value {
                None => GroupRecord::OffsetTombstone {
                    group_id,
                    topic,
                    partition,
                },
                Some(v) => GroupRecord::OffsetCommit {
                    group_id,
                    topic,
                    partition,
                    offset: decode_offset_commit_value(v)?,
                },
            }))
        }
        2 => {
            let group_id = k.string("group")?;
            Ok(Some(match value {
                None => GroupRecord::GroupTombstone { group_id },
                Some(v) => GroupRecord::GroupMetadata {
                    group_id,
                    metadata: decode_group_metadata_value(v)?,
                },
            }))
        }
        v if v > 2 => Ok(None),
        v => Err(RecordError::UnsupportedVersion {
            kind: "key",
            version: v,
        }),
    }
}

/// OffsetCommitValue v0–v3.
pub fn decode_offset_commit_value(value: &[u8]) -> Result<CommittedOffset, RecordError> {
    let mut r = Reader { buf: value };
    let version = r.i16("value version")?;
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnsupportedVersion {
            kind: "offset commit value",
            version,
        });
    }
    let offset = r.i64("offset")?;
    let leader_epoch = if version >= 3 {
        r.i32("leaderEpoch")?
    } else {
        -1
    };
    let metadata = r.string("metadata")?;
    let commit_timestamp_ms = r.i64("commitTimestamp")?;
    let expire_timestamp_ms = if version == 1 {
        Some(r.i64("expireTimestamp")?).filter(|t| *t >= 0)
    } else {
        None
    };
    Ok(CommittedOffset {
        offset,
        leader_epoch,
        metadata: Some(metadata),
        commit_timestamp_ms,
        expire_timestamp_ms,
    })
}

/// GroupMetadataValue v0–v3.
pub fn decode_group_metadata_value(value: &[u8]) -> Result<GroupMetadata, RecordError> {
    let mut r = Reader { buf: value };
    let version = r.i16("value version")?;
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnsupportedVersion {
            kind: "group metadata value",
            version,
        });
    }
    let protocol_type = Some(r.string("protocolType")?).filter(|t| !t.is_empty());
    let generation_id = r.i32("generation")?;
    let protocol_name = r.nullable_string("protocol")?;
    let leader_id = r.nullable_string("leader")?;
    let current_state_timestamp_ms = if version >= 2 {
        r.i64("currentStateTimestamp")?
    } else {
        -1
    };
    let count = r.i32("members")?;
    if count < 0 {
        return Err(RecordError::NegativeLength {
            field: "members",
            len: count,
        });
    }
    // Each member takes at least 16 bytes: never trust the count for the allocation.
    let mut members = Vec::with_capacity((count as usize).min(r.buf.len() / 16));
    for _ in 0..count {
        let member_id = r.string("memberId")?;
        let group_instance_id = if version >= 3 {
            r.nullable_string("groupInstanceId")?
        } else {
            None
        };
        let client_id = r.string("clientId")?;
        let client_host = r.string("clientHost")?;
        let session_timeout_first = version < 1;
        let (rebalance_timeout_ms, session_timeout_ms) = if session_timeout_first {
            let s = r.i32("sessionTimeout")?;
            (s, s)
        } else {
            let rb = r.i32("rebalanceTimeout")?;
            (rb, r.i32("sessionTimeout")?)
        };
        let subscription = r.bytes("subscription")?;
        let assignment = r.bytes("assignment")?;
        members.push(MemberMetadata {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    Ok(GroupMetadata {
        protocol_type,
        generation_id,
        protocol_name,
        leader_id,
        current_state_timestamp_ms,
        members,
    })
}

/// The group records of the stored batches in `bytes` (whole v2 batches as the log returns
/// them), in order; control batches are skipped. Returns the records, the offset after the
/// last batch, and the records that could not be decoded (skipped, with their error).
pub fn decode_batches(bytes: &Bytes) -> (Vec<GroupRecord>, Option<i64>, Vec<RecordError>) {
    let (raw, next, batch_errors) = crate::internal_topic::decode_keyed_batches(bytes);
    let mut errors: Vec<RecordError> = batch_errors.into_iter().map(RecordError::Batch).collect();
    let mut records = vec![];
    for (key, value) in raw {
        let Some(key) = key else {
            errors.push(RecordError::UnexpectedNull("record key"));
            continue;
        };
        match decode_record(&key, value.as_deref()) {
            Ok(Some(r)) => records.push(r),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    (records, next, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(expire: Option<i64>) -> CommittedOffset {
        CommittedOffset {
            offset: 42,
            leader_epoch: 5,
            metadata: Some("md".into()),
            commit_timestamp_ms: 1000,
            expire_timestamp_ms: expire,
        }
    }

    #[test]
    fn java_hashcode_matches_known_java_values() {
        assert_eq!(java_string_hashcode(""), 0);
        assert_eq!(java_string_hashcode("a"), 97);
        // 'a' * 31 + 'b'
        assert_eq!(java_string_hashcode("ab"), 3105);
        assert_eq!(java_string_hashcode("hello"), 99_162_322);
        assert_eq!(java_string_hashcode("my-group"), -1_906_497_762);
        // The classic string whose hashCode is Integer.MIN_VALUE.
        assert_eq!(java_string_hashcode("polygenelubricants"), i32::MIN);
        // Outside the BMP: a surrogate pair, 0xD83D * 31 + 0xDE00.
        assert_eq!(java_string_hashcode("😀"), 0xD83D * 31 + 0xDE00);
        assert_eq!(java_string_hashcode("é"), 233);
    }

    #[test]
    fn group_partition_is_kafka_abs_of_hashcode_mod_count() {
        assert_eq!(partition_for("", 50), 0);
        assert_eq!(partition_for("a", 50), 47);
        assert_eq!(partition_for("hello", 50), 22);
        // Negative hash: Utils.abs gives 1906497762 % 50 = 12 (masking the sign bit would give 36).
        assert_eq!(partition_for("my-group", 50), 12);
        // Utils.abs(Integer.MIN_VALUE) is 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("my-group", 1), 0);
        assert_eq!(kafka_abs(i32::MIN), 0);
        assert_eq!(kafka_abs(-7), 7);
    }

    #[test]
    fn offset_commit_key_v1_golden_bytes() {
        let key = offset_commit_key("g1", "t", 3).unwrap();
        assert_eq!(
            &key[..],
            &[0, 1, 0, 2, b'g', b'1', 0, 1, b't', 0, 0, 0, 3][..]
        );
    }

    #[test]
    fn offset_commit_value_v3_golden_bytes() {
        let v = offset_commit_value(&offset(None)).unwrap();
        let mut want = vec![0, 3];
        want.extend_from_slice(&42i64.to_be_bytes());
        want.extend_from_slice(&5i32.to_be_bytes());
        want.extend_from_slice(&[0, 2, b'm', b'd']);
        want.extend_from_slice(&1000i64.to_be_bytes());
        assert_eq!(&v[..], &want[..]);
        assert_eq!(v.len(), 2 + 8 + 4 + 4 + 8);
    }

    #[test]
    fn offset_commit_value_with_expiry_is_v1_golden_bytes() {
        let v = offset_commit_value(&offset(Some(5000))).unwrap();
        let mut want = vec![0, 1];
        want.extend_from_slice(&42i64.to_be_bytes());
        want.extend_from_slice(&[0, 2, b'm', b'd']);
        want.extend_from_slice(&1000i64.to_be_bytes());
        want.extend_from_slice(&5000i64.to_be_bytes());
        assert_eq!(&v[..], &want[..]);
    }

    #[test]
    fn offset_commit_value_without_metadata_writes_empty_string() {
        let mut o = offset(None);
        o.metadata = None;
        let v = offset_commit_value(&o).unwrap();
        assert_eq!(&v[14..16], &[0, 0]);
        assert_eq!(
            decode_offset_commit_value(&v).unwrap().metadata.as_deref(),
            Some("")
        );
    }

    #[test]
    fn group_metadata_key_v2_golden_bytes() {
        let key = group_metadata_key("grp").unwrap();
        assert_eq!(&key[..], &[0, 2, 0, 3, b'g', b'r', b'p'][..]);
    }

    fn metadata_with_member() -> GroupMetadata {
        GroupMetadata {
            protocol_type: Some("consumer".into()),
            generation_id: 7,
            protocol_name: Some("range".into()),
            leader_id: Some("m1".into()),
            current_state_timestamp_ms: 99,
            members: vec![MemberMetadata {
                member_id: "m1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/h".into(),
                rebalance_timeout_ms: 300,
                session_timeout_ms: 45,
                subscription: Bytes::from_static(&[1, 2]),
                assignment: Bytes::from_static(&[3]),
            }],
        }
    }

    #[test]
    fn group_metadata_value_v3_golden_bytes() {
        let v = group_metadata_value(&metadata_with_member()).unwrap();
        let mut want: Vec<u8> = vec![0, 3];
        want.extend_from_slice(&[0, 8]);
        want.extend_from_slice(b"consumer");
        want.extend_from_slice(&7i32.to_be_bytes());
        want.extend_from_slice(&[0, 5]);
        want.extend_from_slice(b"range");
        want.extend_from_slice(&[0, 2, b'm', b'1']);
        want.extend_from_slice(&99i64.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        // member: memberId, groupInstanceId (null), clientId, clientHost, rebalance, session
        want.extend_from_slice(&[0, 2, b'm', b'1']);
        want.extend_from_slice(&[0xff, 0xff]);
        want.extend_from_slice(&[0, 1, b'c']);
        want.extend_from_slice(&[0, 2, b'/', b'h']);
        want.extend_from_slice(&300i32.to_be_bytes());
        want.extend_from_slice(&45i32.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 2, 1, 2]);
        want.extend_from_slice(&[0, 0, 0, 1, 3]);
        assert_eq!(&v[..], &want[..]);
    }

    #[test]
    fn empty_group_metadata_value_has_null_protocol_and_leader() {
        let m = GroupMetadata {
            protocol_type: Some("consumer".into()),
            generation_id: 2,
            protocol_name: None,
            leader_id: None,
            current_state_timestamp_ms: 5,
            members: vec![],
        };
        let v = group_metadata_value(&m).unwrap();
        let mut want: Vec<u8> = vec![0, 3, 0, 8];
        want.extend_from_slice(b"consumer");
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        want.extend_from_slice(&5i64.to_be_bytes());
        want.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(&v[..], &want[..]);
        assert_eq!(decode_group_metadata_value(&v).unwrap(), m);
    }

    #[test]
    fn records_round_trip_through_key_and_value() {
        let records = [
            GroupRecord::OffsetCommit {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 1,
                offset: offset(None),
            },
            GroupRecord::OffsetCommit {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 2,
                offset: CommittedOffset {
                    leader_epoch: -1,
                    ..offset(Some(77))
                },
            },
            GroupRecord::OffsetTombstone {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 1,
            },
            GroupRecord::GroupMetadata {
                group_id: "g".into(),
                metadata: metadata_with_member(),
            },
            GroupRecord::GroupTombstone {
                group_id: "g".into(),
            },
        ];
        for r in &records {
            let (k, v) = encode_record(r).unwrap();
            assert_eq!(decode_record(&k, v.as_deref()).unwrap().as_ref(), Some(r));
        }
    }

    #[test]
    fn older_value_versions_decode() {
        // OffsetCommitValue v0 and v2: offset, metadata, commit timestamp.
        for version in [0i16, 2] {
            let mut v = version.to_be_bytes().to_vec();
            v.extend_from_slice(&9i64.to_be_bytes());
            v.extend_from_slice(&[0, 0]);
            v.extend_from_slice(&3i64.to_be_bytes());
            let o = decode_offset_commit_value(&v).unwrap();
            assert_eq!(
                (o.offset, o.leader_epoch, o.commit_timestamp_ms),
                (9, -1, 3)
            );
            assert_eq!(o.expire_timestamp_ms, None);
        }
        // GroupMetadataValue v0: no rebalance timeout, no state timestamp, no instance id.
        let mut v: Vec<u8> = vec![0, 0, 0, 0];
        v.extend_from_slice(&4i32.to_be_bytes());
        v.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        v.extend_from_slice(&1i32.to_be_bytes());
        v.extend_from_slice(&[0, 1, b'm', 0, 1, b'c', 0, 1, b'h']);
        v.extend_from_slice(&10i32.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        let m = decode_group_metadata_value(&v).unwrap();
        assert_eq!((m.protocol_type, m.generation_id), (None, 4));
        assert_eq!(m.members[0].session_timeout_ms, 10);
        assert_eq!(m.members[0].member_id, "m");
    }

    #[test]
    fn malformed_records_are_errors_not_panics() {
        assert!(decode_record(&[], None).is_err());
        assert!(decode_record(&[0, 1, 0, 9, b'g'], None).is_err());
        assert!(decode_record(&[0, 2, 0xff, 0xff], None).is_err());
        assert!(decode_offset_commit_value(&[0, 9]).is_err());
        assert!(decode_offset_commit_value(&[0, 3, 1]).is_err());
        let mut v: Vec<u8> = vec![0, 3, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
        v.extend_from_slice(&0i64.to_be_bytes());
        v.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_group_metadata_value(&v).is_err());
        // New consumer-group protocol keys are skipped.
        assert_eq!(decode_record(&[0, 3, 0, 1, b'g'], Some(&[0, 0])), Ok(None));
    }

    #[test]
    fn batch_round_trips_and_keeps_tombstones() {
        let records = vec![
            GroupRecord::OffsetCommit {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 0,
                offset: offset(None),
            },
            GroupRecord::GroupTombstone {
                group_id: "g".into(),
            },
        ];
        let batch = encode_batch(&records, 1234).unwrap().freeze();
        let view = riffle_protocol::batch::RecordBatchView::parse_verified(&batch).unwrap();
        assert_eq!(view.size_bytes(), batch.len(), "exactly one batch");
        assert_eq!(view.record_count(), 2);
        assert_eq!(view.producer_id(), -1);
        assert_eq!(view.base_sequence(), -1);
        let (decoded, next, errors) = decode_batches(&batch);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(decoded, records);
        assert_eq!(next, Some(2));
    }
}
