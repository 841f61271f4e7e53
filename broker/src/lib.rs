//! The Riffle broker: tokio listeners, one handler per Kafka API, topic and producer state,
//! and the mapping from internal errors to Kafka error codes.

pub mod admin;
pub mod api;
pub mod cluster;
pub mod errors;
pub mod group;
pub mod internal_topic;
pub mod lag;
pub mod metrics;
pub mod producer_state;
pub mod registry;
pub mod server;
pub mod state;
