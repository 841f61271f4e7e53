//! Zero-copy view of Kafka record-batch v2 headers (magic 2), with CRC32C verification.
//!
//! Layout (big-endian), offsets in bytes from the start of the batch:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0  | 8 | base offset |
//! | 8  | 4 | batch length (bytes after this field) |
//! | 12 | 4 | partition leader epoch |
//! | 16 | 1 | magic (2) |
//! | 17 | 4 | CRC32C of bytes 21..end |
//! | 21 | 2 | attributes |
//! | 23 | 4 | last offset delta |
//! | 27 | 8 | base timestamp |
//! | 35 | 8 | max timestamp |
//! | 43 | 8 | producer id |
//! | 51 | 2 | producer epoch |
//! | 53 | 4 | base sequence |
//! | 57 | 4 | record count |
//! | 61 | .. | records |

/// Size of the fixed record-batch v2 header.
pub const BATCH_HEADER_BYTES: usize = 61;
/// Bytes before and including the batch length field; `batch_length` counts the rest.
pub const BATCH_LENGTH_PREFIX_BYTES: usize = 12;

const OFF_BASE_OFFSET: usize = 0;
const OFF_BATCH_LENGTH: usize = 8;
const OFF_LEADER_EPOCH: usize = 12;
const OFF_MAGIC: usize = 16;
const OFF_CRC: usize = 17;
const OFF_ATTRIBUTES: usize = 21;
const OFF_LAST_OFFSET_DELTA: usize = 23;
const OFF_BASE_TIMESTAMP: usize = 27;
const OFF_MAX_TIMESTAMP: usize = 35;
const OFF_PRODUCER_ID: usize = 43;
const OFF_PRODUCER_EPOCH: usize = 51;
const OFF_BASE_SEQUENCE: usize = 53;
const OFF_RECORD_COUNT: usize = 57;

/// Why a byte range is not a valid record batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("record batch truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("record batch length {0} is invalid")]
    InvalidLength(i32),
    #[error("unsupported record batch magic {0} (only magic 2 is accepted)")]
    UnsupportedMagic(i8),
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("record batch header is inconsistent: {0}")]
    Invalid(&'static str),
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Compression codec from the low three attribute bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// A borrowed view of one record batch (header validated for size; CRC checked on demand).
#[derive(Debug, Clone, Copy)]
pub struct RecordBatchView<'a> {
    bytes: &'a [u8],
}

impl<'a> RecordBatchView<'a> {
    /// Total size in bytes of the batch that starts at `buf[0]`, read from its length field,
    /// or an error if fewer than 12 bytes are present or the length is impossible.
    pub fn peek_size(buf: &[u8]) -> Result<usize, BatchError> {
        if buf.len() < BATCH_LENGTH_PREFIX_BYTES {
            return Err(BatchError::Truncated {
                needed: BATCH_LENGTH_PREFIX_BYTES,
                available: buf.len(),
            });
        }
        let len = be_i32(buf, OFF_BATCH_LENGTH);
        if len < (BATCH_HEADER_BYTES - BATCH_LENGTH_PREFIX_BYTES) as i32 {
            return Err(BatchError::InvalidLength(len));
        }
        Ok(BATCH_LENGTH_PREFIX_BYTES + len as usize)
    }

    /// Parses the batch at the start of `buf`; the view covers exactly that batch.
    /// Checks sizes, magic and header consistency, not the CRC (see [`Self::verify_crc`]).
    pub fn parse(buf: &'a [u8]) -> Result<Self, BatchError> {
        let size = Self::peek_size(buf)?;
        if buf.len() < size {
            return Err(BatchError::Truncated {
                needed: size,
                available: buf.len(),
            });
        }
        let bytes = &buf[..size];
        let magic = bytes[OFF_MAGIC] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        let view = RecordBatchView { bytes };
        if view.last_offset_delta() < 0 {
            return Err(BatchError::Invalid("negative last offset delta"));
        }
        if view.record_count() < 0 {
            return Err(BatchError::Invalid("negative record count"));
        }
        Ok(view)
    }

    /// Parses and verifies the CRC.
    pub fn parse_verified(buf: &'a [u8]) -> Result<Self, BatchError> {
        let view = Self::parse(buf)?;
        view.verify_crc()?;
        Ok(view)
    }

    /// Checks the stored CRC32C against bytes 21..end of the batch.
    pub fn verify_crc(&self) -> Result<(), BatchError> {
        let stored = self.crc();
        let computed = crc32c::crc32c(&self.bytes[OFF_ATTRIBUTES..]);
        if stored != computed {
            return Err(BatchError::CrcMismatch { stored, computed });
        }
        Ok(())
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn size_bytes(&self) -> usize {
        self.bytes.len()
    }
    pub fn base_offset(&self) -> i64 {
        be_i64(self.bytes, OFF_BASE_OFFSET)
    }
    /// `base_offset + last_offset_delta`, saturating (a garbage base offset near `i64::MAX`
    /// from a producer must not overflow; the broker overwrites it anyway).
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .saturating_add(i64::from(self.last_offset_delta()))
    }
    pub fn batch_length(&self) -> i32 {
        be_i32(self.bytes, OFF_BATCH_LENGTH)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.bytes, OFF_LEADER_EPOCH)
    }
    pub fn magic(&self) -> i8 {
        self.bytes[OFF_MAGIC] as i8
    }
    pub fn crc(&self) -> u32 {
        be_i32(self.bytes, OFF_CRC) as u32
    }
    pub fn attributes(&self) -> i16 {
        be_i16(self.bytes, OFF_ATTRIBUTES)
    }
    pub fn compression(&self) -> Option<Compression> {
        match self.attributes() & 0x7 {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }
    /// Attribute bit 3: timestamps are LogAppendTime.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & 0x8 != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & 0x10 != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & 0x20 != 0
    }
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.bytes, OFF_LAST_OFFSET_DELTA)
    }
    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.bytes, OFF_BASE_TIMESTAMP)
    }
    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.bytes, OFF_MAX_TIMESTAMP)
    }
    pub fn producer_id(&self) -> i64 {
        be_i64(self.bytes, OFF_PRODUCER_ID)
    }
    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.bytes, OFF_PRODUCER_EPOCH)
    }
    pub fn base_sequence(&self) -> i32 {
        be_i32(self.bytes, OFF_BASE_SEQUENCE)
    }
    pub fn record_count(&self) -> i32 {
        be_i32(self.bytes, OFF_RECORD_COUNT)
    }
    /// The records section (possibly compressed).
    pub fn records_bytes(&self) -> &'a [u8] {
        &self.bytes[BATCH_HEADER_BYTES.min(self.bytes.len())..]
    }
}

/// Writes the base offset into a batch in place (not covered by the CRC).
///
/// # Panics
/// If `batch` is shorter than [`BATCH_HEADER_BYTES`]; call it only on a batch that parsed.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[OFF_BASE_OFFSET..OFF_BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes the partition leader epoch into a batch in place (not covered by the CRC).
///
/// # Panics
/// If `batch` is shorter than [`BATCH_HEADER_BYTES`]; call it only on a batch that parsed.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[OFF_LEADER_EPOCH..OFF_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Sets LogAppendTime: the attribute bit and max timestamp, then recomputes the CRC
/// (these fields are covered by it). Used for topics with
/// `message.timestamp.type=LogAppendTime`. `batch` must be exactly one batch (the CRC covers
/// everything from byte 21 to the end of the slice).
///
/// # Panics
/// If `batch` is shorter than [`BATCH_HEADER_BYTES`]; call it only on a batch that parsed.
pub fn set_log_append_time(batch: &mut [u8], timestamp_ms: i64) {
    let attrs = be_i16(batch, OFF_ATTRIBUTES) | 0x8;
    batch[OFF_ATTRIBUTES..OFF_ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[OFF_MAX_TIMESTAMP..OFF_MAX_TIMESTAMP + 8].copy_from_slice(&timestamp_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[OFF_ATTRIBUTES..]);
    batch[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Iterates the batches in a buffer of concatenated batches (e.g. a produce request's records
/// or a segment slice), yielding an error for the first malformed one and then stopping.
pub struct BatchIter<'a> {
    buf: &'a [u8],
    failed: bool,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter { buf, failed: false }
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<RecordBatchView<'a>, BatchError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() || self.failed {
            return None;
        }
        match RecordBatchView::parse(self.buf) {
            Ok(v) => {
                self.buf = &self.buf[v.size_bytes()..];
                Some(Ok(v))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
