//! `[server]`: the HTTP server's limits and the admin key's source. Plain
//! data with defaults; it never reads a key (see [`super::keys`]).

use std::path::PathBuf;

use serde::Deserialize;

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Largest request body accepted, in bytes (413 beyond).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Environment variable holding the admin key (`/admin/*`).
    pub admin_key_env: Option<String>,
    /// File holding the admin key.
    pub admin_key_file: Option<PathBuf>,
    /// SHA-256 (hex) of the admin key.
    pub admin_key_sha256: Option<String>,
    /// Listen on a non-loopback `listen` address even with no client keys
    /// (e.g. behind an authenticating proxy). Off: such an address is
    /// replaced by loopback.
    #[serde(default)]
    pub allow_public_without_keys: bool,
    /// Time a client has to send a request's head (HTTP/1), counted from
    /// when the gateway starts waiting for it; the connection is closed after.
    #[serde(default = "default_header_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// Time a client has to send a request's whole body (408 after).
    #[serde(default = "default_body_timeout_ms")]
    pub body_read_timeout_ms: u64,
    /// Open client connections at most; more wait to be accepted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// On SIGTERM, how long open requests and streams may take to finish.
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
    /// A directory of `switchyard bench` output directories (each with
    /// `summary.json` and `report.html`) that the operator page lists.
    #[serde(default)]
    pub reports_dir: Option<PathBuf>,
}

fn default_max_body() -> usize {
    16 << 20
}
fn default_header_timeout_ms() -> u64 {
    10_000
}
fn default_body_timeout_ms() -> u64 {
    60_000
}
fn default_max_connections() -> usize {
    4096
}
fn default_drain_timeout_ms() -> u64 {
    30_000
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: default_max_body(),
            admin_key_env: None,
            admin_key_file: None,
            admin_key_sha256: None,
            allow_public_without_keys: false,
            header_read_timeout_ms: default_header_timeout_ms(),
            body_read_timeout_ms: default_body_timeout_ms(),
            max_connections: default_max_connections(),
            drain_timeout_ms: default_drain_timeout_ms(),
            reports_dir: None,
        }
    }
}
