//! Host bindings of the `switchyard:plugin` WIT package. The adapter world is
//! generated first (it holds the `types` and `host` interfaces); the policy
//! world reuses its `host` through `with`, so both share one set of Rust types.

#![allow(missing_docs)]

/// The adapter world; its `types` module is the host's canonical vocabulary.
pub mod adapter {
    wasmtime::component::bindgen!({
        world: "adapter-plugin",
        path: "../wit",
        imports: { default: trappable },
        exports: { default: async },
    });
}

/// The policy world, sharing the adapter world's host interface.
pub mod policy {
    wasmtime::component::bindgen!({
        world: "policy-plugin",
        path: "../wit",
        // `complete` waits on an upstream call: the one async import.
        imports: {
            "switchyard:plugin/models.complete": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        with: {
            "switchyard:plugin/host": super::adapter::switchyard::plugin::host,
            "switchyard:plugin/request.request-view": crate::runtime::RequestView,
        },
    });
}

pub use adapter::switchyard::plugin::types;
