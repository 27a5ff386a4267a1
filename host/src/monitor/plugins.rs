//! Error counters of one plugin, by fault (`GET /admin/plugins`, metrics).
//! Counting only: what a fault means for the request is the router's call.
//! It never
//! touches the plugin.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::runtime::PluginFault;

/// Error counters of one plugin (by name; they survive reloads).
#[derive(Default)]
pub struct PluginCounters {
    counts: [AtomicU64; 6],
}

impl PluginCounters {
    /// Count one fault.
    pub fn record(&self, fault: PluginFault) {
        let i = PluginFault::ALL
            .iter()
            .position(|f| *f == fault)
            .unwrap_or(0);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Every fault kind with its count, and the total.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        let mut total = 0;
        for (f, c) in PluginFault::ALL.iter().zip(&self.counts) {
            let n = c.load(Ordering::Relaxed);
            total += n;
            m.insert(f.as_str().into(), n.into());
        }
        m.insert("total".into(), total.into());
        serde_json::Value::Object(m)
    }
}
