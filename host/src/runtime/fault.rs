//! What a failed plugin call was — deadline, memory cap, trap, unusable
//! return value — told apart from wasmtime's error and the store's limiter,
//! and the counter it counts against ([`PluginFault`]). Never retries and
//! never decides a fallback: the router does.

use std::time::Duration;

use wasmtime::Store;

use super::{Plugin, PluginState};

/// Why a plugin call failed. The router treats every variant the same way
/// (the plugin is skipped or the static fallback is used); the variants exist
/// for logs, metrics and the client's error message.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin did not finish within its deadline.
    #[error("plugin `{plugin}` exceeded its {ms} ms deadline")]
    Deadline {
        /// Plugin name.
        plugin: String,
        /// The deadline.
        ms: u64,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error("plugin `{plugin}` hit its memory limit of {mib} MiB")]
    MemoryLimit {
        /// Plugin name.
        plugin: String,
        /// The cap.
        mib: usize,
    },
    /// The plugin trapped (panic, unreachable, out-of-bounds access, …).
    #[error("plugin `{plugin}` trapped: {message}")]
    Trap {
        /// Plugin name.
        plugin: String,
        /// The trap, as wasmtime describes it.
        message: String,
    },
    /// The plugin returned something the host cannot use.
    #[error("plugin `{plugin}` returned an unusable value: {message}")]
    BadReturn {
        /// Plugin name.
        plugin: String,
        /// What was wrong.
        message: String,
    },
}

pub(super) fn bad_return(plugin: &Plugin, message: &str) -> PluginError {
    PluginError::BadReturn {
        plugin: plugin.name.to_string(),
        message: message.to_owned(),
    }
}

pub(super) fn classify_trap(
    plugin: &str,
    store: &Store<PluginState>,
    e: wasmtime::Error,
    deadline: Duration,
) -> PluginError {
    let name = plugin.to_owned();
    if store.data().limiter.hit {
        return PluginError::MemoryLimit {
            plugin: name,
            mib: store.data().limiter.cap >> 20,
        };
    }
    if let Some(wasmtime::Trap::Interrupt) = e.downcast_ref::<wasmtime::Trap>() {
        return PluginError::Deadline {
            plugin: name,
            ms: deadline.as_millis() as u64,
        };
    }
    let message = format!("{e:#}");
    if message.contains("fuel allocated for hostcalls has been exhausted") {
        return PluginError::BadReturn {
            plugin: name,
            message: format!(
                "its return value is larger than the host copies out of a plugin ({message})"
            ),
        };
    }
    PluginError::Trap {
        plugin: name,
        message,
    }
}

impl PluginError {
    /// The plugin at fault.
    pub fn plugin(&self) -> &str {
        match self {
            PluginError::Deadline { plugin, .. }
            | PluginError::MemoryLimit { plugin, .. }
            | PluginError::Trap { plugin, .. }
            | PluginError::BadReturn { plugin, .. } => plugin,
        }
    }

    /// The counter this error counts against.
    pub fn fault(&self) -> PluginFault {
        match self {
            PluginError::Deadline { .. } => PluginFault::Deadline,
            PluginError::MemoryLimit { .. } => PluginFault::MemoryLimit,
            PluginError::Trap { .. } => PluginFault::Trap,
            PluginError::BadReturn { .. } => PluginFault::BadReturn,
        }
    }
}

/// How a plugin failed, for its error counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginFault {
    /// Ran past its deadline.
    Deadline,
    /// Hit its memory cap.
    MemoryLimit,
    /// Trapped (panic, stack overflow, unreachable, …).
    Trap,
    /// Returned something unusable (too large, a candidate that does not
    /// exist, no attempts).
    BadReturn,
    /// A policy returned an error value.
    ErrorValue,
    /// An adapter addressed a host or an address its provider does not allow.
    EgressDenied,
}

impl PluginFault {
    pub(crate) const ALL: [PluginFault; 6] = [
        PluginFault::Deadline,
        PluginFault::MemoryLimit,
        PluginFault::Trap,
        PluginFault::BadReturn,
        PluginFault::ErrorValue,
        PluginFault::EgressDenied,
    ];

    /// The name used in the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginFault::Deadline => "deadline",
            PluginFault::MemoryLimit => "memory_limit",
            PluginFault::Trap => "trap",
            PluginFault::BadReturn => "bad_return",
            PluginFault::ErrorValue => "error_value",
            PluginFault::EgressDenied => "egress_denied",
        }
    }
}
