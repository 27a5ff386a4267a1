//! The request log (placeholder until the writer lands).

use crate::record::Record;

/// The request log's writer.
#[derive(Clone)]
pub struct RequestLog;

impl RequestLog {
    /// Queue a record.
    pub fn submit(&self, _r: Record) {}
    /// Records dropped.
    pub fn dropped(&self) -> u64 {
        0
    }
    /// Records written.
    pub fn written(&self) -> u64 {
        0
    }
    /// Records queued.
    pub fn queue_depth(&self) -> usize {
        0
    }
    /// Wait for queued records.
    pub async fn flush(&self, _t: std::time::Duration) {}
}
