//! Switchyard: a multi-model LLM gateway whose routing policies and provider
//! adapters are sandboxed WebAssembly components.
//!
//! The request path, in module order: [`proxy`] (HTTP ingress, the client's
//! dialect; [`keys`] and [`limits`] admit the caller) → [`router`] (policy decision, attempt loop, failover) →
//! [`runtime`] (plugin calls: adapters build and parse) → [`broker`] (the only
//! outbound HTTP, key injection, allowlists) → back out through [`proxy`].
//! [`gateway`] holds the current generation of config and plugins;
//! [`config`] and [`defaults`] describe it; [`stats`] keeps live figures;
//! [`mock`] is the simulated upstream used by tests and benchmarks.

// Tests may unwrap; the library itself may not (checked by clippy's non-test pass).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod breaker;
pub mod broker;
pub mod canonical;
pub mod cli;
pub mod complete;
pub mod config;
pub mod defaults;
pub mod error;
pub mod gateway;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod mock;
pub mod plugin_tools;
pub mod proxy;
pub mod reload;
pub mod router;
pub mod runtime;
pub mod stats;
