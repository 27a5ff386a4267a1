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
        // Compiled to bytes, written, then mapped from the file: the code
        // then lives in the page cache (shared, reclaimable), as it does
        // for a warm start, instead of in the process's anonymous memory
        // (a cold start held ~80 MB more for the first-party plugins).
        let serialized = self
            .engine
            .precompile_component(bytes)
            .map_err(anyhow::Error::from)?;
        // Write then rename, so a concurrent reader never maps a partial file.
        let tmp = dir.join(format!(".{sha}-{}.tmp", std::process::id()));
        let written = std::fs::write(&tmp, &serialized).and_then(|_| std::fs::rename(&tmp, &path));
        match written {
            Ok(()) => match load_precompiled(&self.engine, &path) {
                Ok(c) => return Ok((c, sha, false)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not map the component just compiled")
                }
            },
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                tracing::warn!(path = %path.display(), error = %e, "could not cache compiled component");
            }
        }
        let c = load_compiled(&self.engine, &serialized)?;
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

#[allow(unsafe_code)]
fn load_compiled(engine: &Engine, serialized: &[u8]) -> anyhow::Result<Component> {
    // SAFETY: `serialized` is `engine.precompile_component`'s output of a
    // moment ago, never written anywhere or read from outside the process.
    unsafe { Component::deserialize(engine, serialized) }.map_err(anyhow::Error::from)
}
