//! Per-packet media decisions.
