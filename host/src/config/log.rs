//! `[log]`: the durable request log — where finished requests' records are
//! kept (a SQLite file, a PostgreSQL database, or nowhere), for how long,
//! and whether prompt and answer texts are kept with them. Plain data and
//! its checks; nothing here opens the database.

use std::path::PathBuf;

use serde::Deserialize;

use super::KeyError;
use super::files::{CA_FILE_MAX, read_text_capped};

/// `[log]`: the request log.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `sqlite` (a local file), `postgres` (shared by replicas) or `off`.
    #[serde(default)]
    pub backend: Backend,
    /// The SQLite file (relative to the config file); by default
    /// `$XDG_DATA_HOME/switchyard/requests.db`
    /// (`~/.local/share/switchyard/requests.db`).
    pub path: Option<PathBuf>,
    /// `postgres://user@host:port/db` for the postgres backend; a password
    /// may be in it, or better in the variable `password_env` names.
    pub url: Option<String>,
    /// The environment variable holding the PostgreSQL password.
    pub password_env: Option<String>,
    /// A PEM file of the CA certificate(s) the PostgreSQL server's
    /// certificate must chain to (relative to the config file). Given, or
    /// with `sslmode=require` in the url, the connection uses TLS (without
    /// it, verified against the system's trust store).
    pub ca_file: Option<PathBuf>,
    /// Rows older than this many days are deleted (hourly); 0 keeps them
    /// forever.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Whether records carry the prompt's and the answer's text.
    #[serde(default)]
    pub bodies: bool,
    /// Each kept text is cut to at most this many bytes.
    #[serde(default = "default_body_max_bytes")]
    pub body_max_bytes: usize,
    /// Records waiting to be written, at most; more are dropped (and
    /// counted), never waited for.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Records written in one transaction, at most.
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_retention_days() -> u32 {
    30
}
fn default_body_max_bytes() -> usize {
    16384
}
fn default_queue() -> usize {
    10_000
}
fn default_batch() -> usize {
    500
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            backend: Backend::Sqlite,
            path: None,
            url: None,
            password_env: None,
            ca_file: None,
            retention_days: default_retention_days(),
            bodies: false,
            body_max_bytes: default_body_max_bytes(),
            queue: default_queue(),
            batch: default_batch(),
        }
    }
}

/// `[log] backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// A local SQLite file.
    #[default]
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
    /// No request log.
    Off,
}

impl LogConfig {
    /// The SQLite file: `path`, else the default under the user's data
    /// directory.
    pub fn sqlite_path(&self) -> anyhow::Result<PathBuf> {
        match &self.path {
            Some(p) => Ok(p.clone()),
            None => dirs::data_dir()
                .map(|d| d.join("switchyard").join("requests.db"))
                .ok_or_else(|| {
                    KeyError {
                        key: "log.path".into(),
                        message: "no data directory for the default (set HOME or XDG_DATA_HOME, or log.path)".into(),
                    }
                    .into()
                }),
        }
    }
}

/// Check `[log]`.
pub fn validate(l: &LogConfig) -> anyhow::Result<()> {
    let err = |key: &str, message: &str| -> anyhow::Error {
        KeyError {
            key: format!("log.{key}"),
            message: message.into(),
        }
        .into()
    };
    if l.backend == Backend::Off {
        return Ok(());
    }
    if l.queue == 0 || l.queue > 10_000_000 {
        return Err(err("queue", "must be between 1 and 10000000"));
    }
    if l.batch == 0 || l.batch > 10_000 {
        return Err(err("batch", "must be between 1 and 10000"));
    }
    if l.bodies && l.body_max_bytes == 0 {
        return Err(err(
            "body_max_bytes",
            "must be at least 1 when bodies = true",
        ));
    }
    match l.backend {
        Backend::Off => Ok(()),
        Backend::Sqlite => {
            for (key, set) in [
                ("url", l.url.is_some()),
                ("password_env", l.password_env.is_some()),
                ("ca_file", l.ca_file.is_some()),
            ] {
                if set {
                    return Err(err(key, "only used with backend = \"postgres\""));
                }
            }
            if l.path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(err("path", "must not be empty"));
            }
            Ok(())
        }
        Backend::Postgres => {
            if l.path.is_some() {
                return Err(err("path", "only used with backend = \"sqlite\""));
            }
            let Some(url) = &l.url else {
                return Err(err(
                    "url",
                    "the postgres backend needs a url like postgres://switchyard@127.0.0.1:5432/switchyard",
                ));
            };
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(err(
                    "url",
                    "must be a URL like postgres://user@host:port/db",
                ));
            }
            let parsed = url
                .parse::<tokio_postgres::Config>()
                .map_err(|e| err("url", &format!("not a usable PostgreSQL URL: {e}")))?;
            if parsed.get_hosts().is_empty() {
                return Err(err("url", "names no host"));
            }
            if let Some(var) = &l.password_env {
                if var.is_empty() {
                    return Err(err("password_env", "must name an environment variable"));
                }
                if std::env::var_os(var).is_none() {
                    return Err(err(
                        "password_env",
                        &format!("the environment variable {var} is not set"),
                    ));
                }
            }
            if let Some(f) = &l.ca_file {
                match read_text_capped(f, CA_FILE_MAX) {
                    Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {}
                    Ok(_) => {
                        return Err(err(
                            "ca_file",
                            &format!("{} holds no PEM certificate", f.display()),
                        ));
                    }
                    Err(e) => {
                        return Err(err("ca_file", &format!("reading {}: {e}", f.display())));
                    }
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn log(toml: &str) -> anyhow::Result<LogConfig> {
        let c = Config::parse(&format!("[log]\n{toml}"))?;
        validate(&c.log)?;
        Ok(c.log)
    }

    #[test]
    fn defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.log, LogConfig::default());
        assert_eq!(c.log.backend, Backend::Sqlite);
        assert_eq!((c.log.queue, c.log.batch), (10_000, 500));
        assert!(
            c.log
                .sqlite_path()
                .unwrap()
                .ends_with("switchyard/requests.db")
        );
        validate(&c.log).unwrap();
    }

    #[test]
    fn errors_name_the_key() {
        let e = |t: &str| format!("{:#}", log(t).unwrap_err());
        assert!(e("backend = \"postgres\"").starts_with("log.url:"));
        assert!(e("backend = \"postgres\"\nurl = \"http://x\"").starts_with("log.url:"));
        assert!(e("url = \"postgres://a@b/c\"").starts_with("log.url:"));
        assert!(e("queue = 0").starts_with("log.queue:"));
        assert!(e("batch = 0").starts_with("log.batch:"));
        assert!(e("colour = 1").contains("colour"));
        let pg = "backend = \"postgres\"\nurl = \"postgres://sy@127.0.0.1:5432/sy\"\n";
        log(pg).unwrap();
        assert!(
            e(&format!(
                "{pg}password_env = \"SWITCHYARD_TEST_SURELY_UNSET\""
            ))
            .starts_with("log.password_env:")
        );
        assert!(e(&format!("{pg}ca_file = \"/nonexistent.pem\"")).starts_with("log.ca_file:"));
        assert!(e(&format!("{pg}path = \"x.db\"")).starts_with("log.path:"));
        // Off ignores the rest, so a log can be turned off with one line.
        log("backend = \"off\"\nqueue = 0").unwrap();
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("switchyard.toml");
        std::fs::write(&f, "[log]\npath = \"logs/requests.db\"\n").unwrap();
        let c = Config::load(&f).unwrap();
        assert_eq!(c.log.path.unwrap(), dir.path().join("logs/requests.db"));
    }
}
