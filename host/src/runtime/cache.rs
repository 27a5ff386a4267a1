//! The on-disk cache of compiled components, keyed by the sha256 of the
//! component and the engine's compatibility hash, so a restart or a reload
//! of an unchanged plugin costs milliseconds. Files are written atomically
//! (write, then rename); a file that will not load is ignored, never trusted.

use std::path::Path;
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::Runtime;

impl Runtime {
    /// Compile a component, or load its compiled form from the cache.
    /// Returns the component, its sha256 and whether the cache served it.
    pub fn compile(&self, bytes: &[u8]) -> anyhow::Result<(Component, String, bool)> {
        let sha = hex::encode(Sha256::digest(bytes));
        let Some(dir) = &self.cache_dir else {
            self.compiles.fetch_add(1, Ordering::Relaxed);
            let c = Component::new(&self.engine, bytes).map_err(anyhow::Error::from)?;
            return Ok((c, sha, false));
        };
        let path = dir.join(format!("{sha}-{:016x}.cwasm", self.engine_hash));
        if path.exists() {
            match load_precompiled(&self.engine, &path) {
                Ok(c) => return Ok((c, sha, true)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring unusable cached component")
                }
            }
        }
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let c = Component::new(&self.engine, bytes).map_err(anyhow::Error::from)?;
        let serialized = c.serialize().map_err(anyhow::Error::from)?;
        // Write then rename, so a concurrent reader never maps a partial file.
        let tmp = dir.join(format!(".{sha}-{}.tmp", std::process::id()));
        let written = std::fs::write(&tmp, &serialized).and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), error = %e, "could not cache compiled component");
        }
        Ok((c, sha, false))
    }
}

#[allow(unsafe_code)]
fn load_precompiled(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be wasmtime's own output.
    // Files in the cache directory are written only by `Runtime::compile`
    // (atomically, via rename) and are named by the sha256 of their source and
    // the engine's compatibility hash, so a file is only ever read by an
    // engine that can run it. The cache directory must not be writable by
    // anyone the gateway does not trust.
    unsafe { Component::deserialize_file(engine, path) }.map_err(anyhow::Error::from)
}
