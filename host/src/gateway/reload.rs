//! Hot reload: one task owns every reload. It watches the plugin directory
//! and the config file (notify; events debounced ~150 ms, so an editor's
//! write-temp-then-rename or a burst of in-place writes is one reload), takes
//! on-demand triggers (`POST /admin/reload`, SIGHUP), and runs the gateway's
//! reload pipeline for each. A half-written file fails validation and is
//! simply retried on the next event. It never builds a generation itself:
//! [`Gateway::reload`] does, so every way of reloading runs the same steps.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, oneshot};

use super::Gateway;
use crate::config::Config;

const DEBOUNCE: Duration = Duration::from_millis(150);

enum Trigger {
    /// Something changed on disk.
    Files,
    /// Asked for; the result goes back.
    Now(oneshot::Sender<Result<u64, String>>),
}

/// A handle to the reload task.
#[derive(Clone)]
pub struct Reloader {
    tx: mpsc::Sender<Trigger>,
}

impl Reloader {
    /// Reload now and wait for the outcome: the new generation's id, or why
    /// it was refused.
    pub async fn reload(&self) -> Result<u64, String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Trigger::Now(tx))
            .await
            .map_err(|_| "the reload task is not running".to_owned())?;
        rx.await.map_err(|_| "the reload task stopped".to_owned())?
    }

    /// Ask for a reload without waiting (SIGHUP).
    pub fn poke(&self) {
        let _ = self.tx.try_send(Trigger::Files);
    }
}

/// Start the reload task, watching `config_path` (if the gateway runs from
/// a file) and the current config's plugin directory.
pub fn start(gw: Arc<Gateway>, config_path: Option<PathBuf>) -> anyhow::Result<Reloader> {
    let (tx, rx) = mpsc::channel(64);
    let watcher = watch(&gw, config_path.as_deref(), tx.clone())?;
    tokio::spawn(run(gw, config_path, rx, watcher));
    Ok(Reloader { tx })
}

fn watch(
    gw: &Gateway,
    config_path: Option<&Path>,
    tx: mpsc::Sender<Trigger>,
) -> anyhow::Result<Option<notify::RecommendedWatcher>> {
    // notify reports absolute paths; compare against the canonical directory.
    let plugin_dir = gw.current().config.plugins.dir.clone().map(|d| {
        std::fs::create_dir_all(&d).ok();
        std::fs::canonicalize(&d).unwrap_or(d)
    });
    if config_path.is_none() && plugin_dir.is_none() {
        return Ok(None);
    }
    let config_name = config_path
        .and_then(|p| p.file_name())
        .map(|n| n.to_owned());
    let dir_for_filter = plugin_dir.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        // The config's directory is watched (editors replace the file by
        // rename); only events about the config file itself count there.
        let relevant = event.paths.iter().any(|p| {
            let in_plugins = dir_for_filter
                .as_deref()
                .is_some_and(|d| p.parent() == Some(d));
            let is_config = config_name
                .as_deref()
                .is_some_and(|n| p.file_name() == Some(n));
            in_plugins || is_config
        });
        if relevant {
            let _ = tx.try_send(Trigger::Files);
        }
    })?;
    if let Some(dir) = &plugin_dir {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        tracing::info!(dir = %dir.display(), "watching the plugin directory");
    }
    if let Some(parent) = config_path.and_then(|p| p.parent()) {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        watcher.watch(parent, RecursiveMode::NonRecursive)?;
    }
    Ok(Some(watcher))
}

async fn run(
    gw: Arc<Gateway>,
    config_path: Option<PathBuf>,
    mut rx: mpsc::Receiver<Trigger>,
    _watcher: Option<notify::RecommendedWatcher>,
) {
    while let Some(first) = rx.recv().await {
        let mut waiters = Vec::new();
        let mut from_files = false;
        match first {
            Trigger::Now(w) => waiters.push(w),
            Trigger::Files => from_files = true,
        }
        if from_files {
            // Debounce: collect everything that arrives while files settle.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(Trigger::Files)) => {}
                    Ok(Some(Trigger::Now(w))) => waiters.push(w),
                    Ok(None) | Err(_) => break,
                }
            }
        } else {
            while let Ok(t) = rx.try_recv() {
                if let Trigger::Now(w) = t {
                    waiters.push(w);
                }
            }
        }
        let result = match read_config(&gw, config_path.as_deref()) {
            Ok(cfg) => gw.reload(cfg).await.map_err(|e| format!("{e:#}")),
            Err(e) => {
                let msg = format!("{e:#}");
                gw.record_failure(&msg);
                tracing::warn!(
                    "reload refused, generation {} keeps serving: {msg}",
                    gw.current().id
                );
                Err(msg)
            }
        };
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}

fn read_config(gw: &Gateway, path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Config::load(p),
        // The embedded default has no file: reload its plugins only.
        None => Ok(gw.current().config.clone()),
    }
}
