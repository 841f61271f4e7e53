//! Replication (openraft glue). Filled by the replication issue; see ARCHITECTURE.md.
