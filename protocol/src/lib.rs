//! Sans-io Kafka wire protocol for Riffle: frames, request headers, typed messages (via the
//! `kafka-protocol` crate) and zero-copy record-batch views. No sockets, clocks or tokio here.

pub mod batch;

pub use kafka_protocol;
