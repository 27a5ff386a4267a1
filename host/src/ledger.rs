//! The ledger: a finished request's [`crate::record::Record`] and its sinks
//! (metrics, key accounting, the request log).

pub mod log;
