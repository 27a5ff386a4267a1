//! Tools for plugin authors, behind `switchyard plugin new`,
//! `switchyard plugin test` and `switchyard plugin eval`.
//!
//! [`scaffold`] writes a buildable plugin project (a policy or an evaluator
//! in Rust, Python or JavaScript, an adapter in Rust) with its own copy of
//! the WIT contract and the sample inputs its README uses, from the
//! templates in `plugin/templates/`, so a project is self-contained and
//! builds outside this repository. [`harness`] runs a policy component on
//! recorded requests and [`eval`] an evaluator on recorded answers (the
//! input files are read by [`recorded`]), with the real runtime and request
//! parsing, but no gateway: no listener, no providers, no network. None of
//! them touches a running gateway or its plugin directory.

pub mod eval;
pub mod harness;
pub mod recorded;
pub mod scaffold;

pub use eval::{EvalArgs, eval_plugin};
pub use harness::{TestArgs, test_plugin};
pub use scaffold::{NewArgs, new_plugin};
