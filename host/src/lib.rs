//! Switchyard: a multi-model LLM gateway whose routing policies and provider
//! adapters are sandboxed WebAssembly components.
//!
//! # The request path, in module order
//!
//! ```text
//! client ─HTTP─▶ ingress ─▶ keys ─▶ limits ─▶ routing ─▶ runtime ─▶ broker ─▶ upstream
//!                (dialect)  (who)   (how much) (plan, attempts) (plugins) (egress)
//!          ◀──── ingress ◀──────────────────── routing ◀─────────────────────┘
//!                 │                                │
//!                 └──── ledger (the request's record → key limits,
//!                           metrics, the request log) ◀┘
//! ```
//!
//! - [`ingress`]: the HTTP server, endpoints, and the client's dialect in
//!   both directions (OpenAI, Anthropic); everything below it is canonical.
//! - [`keys`] then [`limits`]: who may call, and how much (rate limits,
//!   budgets, parallel slots, and the usage counted after the answer).
//! - [`routing`]: capability filter, the policy's plan, the attempt loop with
//!   retries, failover and breakers, the committed stream.
//! - [`runtime`]: the plugins — engine, compile cache, policy pools, adapter
//!   instances, caps and faults.
//! - [`broker`]: the only outbound HTTP — egress rule, keys, timeouts.
//! - [`cache`]: the exact response cache ingress consults before routing
//!   (memory or Redis).
//! - [`monitor`]: live figures per model and plugin, and each model's
//!   circuit breaker.
//! - [`ledger`]: each request's [`record::Record`], filled along the path
//!   and handed once, when the request is finished, to its sinks: the key's
//!   limits, metrics, and the request log (SQLite or PostgreSQL).
//!
//! State: [`gateway`] is the running process (router, limiter, the current
//! generation, hot reload); [`generation`] is one immutable snapshot of
//! config and plugins. Foundations every stage shares: [`config`] (plain
//! data and validation, the price catalog), [`canonical`] (the request and
//! response types), [`record`] (a request's record),
//! [`wit`] (the plugin contract's bindings), [`error`] (client-facing
//! errors). [`tools`] holds what is not on the serving path: the command
//! line, the simulated upstream, and the plugin authors' tools.
//!
//! Calls go down the path and `use`s never form a cycle: in the layers
//! below, a module uses only modules of the rows under its own (checked by
//! `scripts/check-modules.py` in the lint step).
//!
//! ```text
//! tools
//! ingress
//! gateway
//! ledger
//! routing
//! generation
//! cache
//! limits, monitor
//! keys, runtime, broker
//! canonical, config, error, record
//! wit
//! ```
//!
//! # Why modules, not crates
//!
//! The stages share one set of canonical types and one generation snapshot,
//! and wasmtime dominates the build whichever way the code is cut: a crate
//! per stage would make every internal item public API and buy no build time.
//! So the split is by module, linkerd2-proxy style (one small module per
//! concern, tests beside it), with the acyclic order above kept by review and
//! by `scripts/lint.sh`'s module-cycle check.

// Tests may unwrap; the library itself may not (checked by clippy's non-test pass).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

// The request path, in order.
pub mod broker;
pub mod cache;
pub mod ingress;
pub mod keys;
pub mod ledger;
pub mod limits;
pub mod monitor;
pub mod routing;
pub mod runtime;

// State.
pub mod gateway;
pub mod generation;

// Foundations.
pub mod canonical;
pub mod config;
pub mod error;
pub mod record;
pub mod wit;

// Not on the serving path.
pub mod tools;

/// The test plugins of this build (`plugins/test/`), for unit tests only.
#[cfg(test)]
pub(crate) mod test_plugins {
    include!(concat!(env!("OUT_DIR"), "/test_plugins.rs"));
}
