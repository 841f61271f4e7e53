//! Confluent Schema Registry's `_schemas` record formats: JSON keys (`SCHEMA`, `CONFIG`,
//! `MODE`, `DELETE_SUBJECT`, `CLEAR_SUBJECT`, `NOOP`) and values, encoding a v2 record batch
//! and decoding the batches read back from the log.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};
use serde::{Deserialize, Serialize};

/// The registry's topic (Confluent's `kafkastore.topic` default).
pub const SCHEMAS_TOPIC: &str = "_schemas";

/// A schema's reference to another subject's version (`import` in protobuf, a named type in
/// Avro).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// The value of a `SCHEMA` record: one version of one subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaValue {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    /// `None` means AVRO (Confluent omits it for Avro).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    pub schema: String,
    #[serde(default)]
    pub references: Vec<Reference>,
    #[serde(default)]
    pub deleted: bool,
    /// Confluent's data-contract `metadata` (stored and returned as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// Confluent's data-contract `ruleSet` (stored and returned as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<serde_json::Value>,
}

impl SchemaValue {
    /// `AVRO`, `PROTOBUF` or `JSON`.
    pub fn schema_type(&self) -> &str {
        self.schema_type.as_deref().unwrap_or("AVRO")
    }
}

/// A `_schemas` record key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Schema {
        subject: String,
        version: i32,
    },
    /// `None`: the global setting.
    Config {
        subject: Option<String>,
    },
    Mode {
        subject: Option<String>,
    },
    DeleteSubject {
        subject: String,
    },
    ClearSubject {
        subject: String,
    },
    Noop,
}

#[derive(Deserialize)]
struct RawKey {
    keytype: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    version: Option<i32>,
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn json_opt(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "null".to_string(), json_str)
}

impl Key {
    /// The key bytes, with Confluent's field order (compaction keys on these bytes).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Key::Schema { subject, version } => format!(
                r#"{{"keytype":"SCHEMA","subject":{},"version":{version},"magic":1}}"#,
                json_str(subject)
            ),
            Key::Config { subject } => format!(
                r#"{{"keytype":"CONFIG","subject":{},"magic":0}}"#,
                json_opt(subject)
            ),
            Key::Mode { subject } => format!(
                r#"{{"keytype":"MODE","subject":{},"magic":0}}"#,
                json_opt(subject)
            ),
            Key::DeleteSubject { subject } => format!(
                r#"{{"keytype":"DELETE_SUBJECT","subject":{},"magic":0}}"#,
                json_str(subject)
            ),
            Key::ClearSubject { subject } => format!(
                r#"{{"keytype":"CLEAR_SUBJECT","subject":{},"magic":0}}"#,
                json_str(subject)
            ),
            Key::Noop => r#"{"keytype":"NOOP","magic":0}"#.to_string(),
        }
        .into_bytes()
    }

    /// Parses a key; `Ok(None)` for key types Riffle does not know.
    pub fn decode(bytes: &[u8]) -> Result<Option<Key>, String> {
        let raw: RawKey =
            serde_json::from_slice(bytes).map_err(|e| format!("bad _schemas key: {e}"))?;
        let need_subject = |s: Option<String>| s.ok_or_else(|| "key has no subject".to_string());
        Ok(Some(match raw.keytype.as_str() {
            "SCHEMA" => Key::Schema {
                subject: need_subject(raw.subject)?,
                version: raw
                    .version
                    .ok_or_else(|| "SCHEMA key has no version".to_string())?,
            },
            "CONFIG" => Key::Config {
                subject: raw.subject,
            },
            "MODE" => Key::Mode {
                subject: raw.subject,
            },
            "DELETE_SUBJECT" => Key::DeleteSubject {
                subject: need_subject(raw.subject)?,
            },
            "CLEAR_SUBJECT" => Key::ClearSubject {
                subject: need_subject(raw.subject)?,
            },
            "NOOP" => Key::Noop,
            _ => return Ok(None),
        }))
    }
}

/// The value of a `CONFIG` record.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub compatibility_level: String,
}

/// The value of a `MODE` record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModeValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub mode: String,
}

/// The value of a `DELETE_SUBJECT` / `CLEAR_SUBJECT` record: versions up to `version`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubjectVersionValue {
    pub subject: String,
    pub version: i32,
}

/// One `_schemas` record as bytes: a key and a value (`None`: a tombstone).
pub type RawRecord = (Vec<u8>, Option<Vec<u8>>);

/// Encodes records as one uncompressed v2 batch (offsets and epoch are set by the log).
pub fn encode_batch(records: &[RawRecord], now_ms: i64) -> Result<BytesMut, String> {
    let out: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: NO_SEQUENCE.wrapping_add(i as i32),
            timestamp: now_ms,
            key: Some(Bytes::from(k.clone())),
            value: v.clone().map(Bytes::from),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &out,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Decodes the whole batches in `bytes`: their keyed records, the offset after the last
/// batch, and a message per problem (a bad batch stops the scan).
pub fn decode_batches(bytes: &Bytes) -> (Vec<RawRecord>, Option<i64>, Vec<String>) {
    let (raw, next, mut errors) = crate::internal_topic::decode_keyed_batches(bytes);
    let mut records = Vec::with_capacity(raw.len());
    for (key, value) in raw {
        match key {
            Some(k) => records.push((k.to_vec(), value.map(|v| v.to_vec()))),
            None => errors.push("record without a key".to_string()),
        }
    }
    (records, next, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_key_uses_confluents_field_order_and_round_trips() {
        let k = Key::Schema {
            subject: "s\"1".into(),
            version: 3,
        };
        let bytes = k.encode();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"keytype":"SCHEMA","subject":"s\"1","version":3,"magic":1}"#
        );
        assert_eq!(Key::decode(&bytes).unwrap(), Some(k));
        let g = Key::Config { subject: None };
        assert_eq!(Key::decode(&g.encode()).unwrap(), Some(g));
        assert_eq!(Key::decode(br#"{"keytype":"OTHER"}"#).unwrap(), None);
        assert!(Key::decode(b"not json").is_err());
    }

    #[test]
    fn batch_encoding_round_trips_records_and_tombstones() {
        let recs = vec![
            (b"k1".to_vec(), Some(b"v1".to_vec())),
            (b"k2".to_vec(), None),
        ];
        let buf = encode_batch(&recs, 1).unwrap().freeze();
        let (back, next, errors) = decode_batches(&buf);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(back, recs);
        assert_eq!(next, Some(2));
    }
}
