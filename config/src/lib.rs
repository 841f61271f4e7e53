//! Broker and topic settings with Kafka's names and defaults.
