//! What is not on the serving path: the command line ([`cli`]), the
//! embedded default config of `switchyard serve` ([`defaults`]), the
//! simulated upstream `switchyard mock-upstream` ([`mock`]), and the plugin
//! authors' tools `switchyard plugin new|test` ([`plugin`]), and the
//! benchmark of models on a user's tasks `switchyard bench` ([`mod@bench`]). Nothing on the
//! request path depends on these modules, except that the embedded default
//! config can start the simulated upstream in-process.

pub mod bench;
pub mod cli;
pub mod defaults;
pub mod logs;
pub mod mock;
pub mod plugin;
