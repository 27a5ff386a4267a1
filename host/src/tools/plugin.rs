//! Tools for plugin authors, behind `switchyard plugin new`,
//! `switchyard plugin test` and `switchyard plugin eval`.
//!
//! [`scaffold`] writes a buildable policy project (Rust, Python or
//! JavaScript) with its own copy of the WIT contract, from the templates in
//! `plugin_tools/templates/`, so a project is self-contained and builds
//! outside this repository. [`harness`] runs a policy component on recorded
//! requests (the input files are read by [`recorded`]) with the real
//! runtime and request parsing, but no gateway: no listener, no providers,
//! no network; [`eval`] does the same for an evaluator on recorded answers. None of them touches a running gateway or its plugin
//! directory.

pub mod eval;
pub mod harness;
pub mod recorded;
pub mod scaffold;

pub use eval::{EvalArgs, eval_plugin};
pub use harness::{TestArgs, test_plugin};
pub use scaffold::{NewArgs, new_plugin};
