//! Hot-reload latency: the time from writing a policy file into the plugin
//! directory (temp file + rename) to the first response decided by the new
//! version, for a Rust policy with and without a compile-cache hit, and for
//! the Python and JavaScript task-routers when their components have been
//! built (`examples/policies/build.sh`). A cache miss is forced by appending a
//! fresh custom section, which changes the component's hash but not its code.
//!
//! `cargo bench --bench reload`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "common/procs.rs"]
mod procs;
use procs::{BIN, spawn};

/// The test plugins of this build (the reverse policy swapped in).
mod test_plugins {
    include!(concat!(env!("OUT_DIR"), "/test_plugins.rs"));
}

/// Append a custom section named `switchyard-bench` holding `n`.
fn with_custom_section(bytes: &[u8], n: u64) -> Vec<u8> {
    fn leb(mut v: usize, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let name = b"switchyard-bench";
    let data = n.to_le_bytes();
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.extend_from_slice(&data);
    let mut out = bytes.to_vec();
    out.push(0);
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

fn install(bytes: &[u8], dst: &Path) -> anyhow::Result<()> {
    let tmp = dst.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dst)?;
    Ok(())
}

fn ask(agent: &ureq_like::Client, url: &str, body: &str) -> anyhow::Result<String> {
    agent.post(url, body)
}

/// A tiny blocking HTTP/1.1 client over one keep-alive connection.
mod ureq_like {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;

    pub struct Client {
        addr: String,
    }

    impl Client {
        pub fn new(addr: &str) -> Client {
            Client {
                addr: addr.to_owned(),
            }
        }

        pub fn post(&self, path: &str, body: &str) -> anyhow::Result<String> {
            let mut s = TcpStream::connect(&self.addr)?;
            s.set_nodelay(true)?;
            write!(
                s,
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            let mut r = BufReader::new(s);
            let mut line = String::new();
            let mut len = None;
            loop {
                line.clear();
                r.read_line(&mut line)?;
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse::<usize>().ok();
                }
            }
            let mut buf = vec![0; len.unwrap_or(0)];
            r.read_exact(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
    }
}

fn measure(
    client: &ureq_like::Client,
    dst: &Path,
    versions: &[(Vec<u8>, &str)],
    rounds: usize,
    fresh: bool,
) -> anyhow::Result<Vec<Duration>> {
    let body = r#"{"model":"main","messages":[{"role":"user","content":"hi"}]}"#;
    let mut out = Vec::new();
    for round in 0..rounds {
        let (bytes, label) = &versions[round % versions.len()];
        let bytes = if fresh {
            with_custom_section(bytes, rand_seed() ^ round as u64)
        } else {
            bytes.clone()
        };
        let start = Instant::now();
        install(&bytes, dst)?;
        loop {
            let text = ask(client, "/v1/chat/completions", body)?;
            if text.contains(&format!("[{label}] You said")) {
                break;
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(120),
                "version {label} never took over"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        out.push(start.elapsed());
    }
    Ok(out)
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
}

fn report(name: &str, mut s: Vec<Duration>) {
    s.sort();
    let at = |q: f64| s[((s.len() as f64 * q) as usize).min(s.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "  {name:<44} median {:>8.1} ms   p95 {:>8.1} ms   (n={})",
        at(0.5),
        at(0.95),
        s.len()
    );
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins)?;
    let dump = |name: &str| -> anyhow::Result<Vec<u8>> {
        let out = dir.path().join(format!("{name}.blob"));
        let ok = Command::new(BIN)
            .args(["plugin", "dump", name, "--out"])
            .arg(&out)
            .status()?;
        anyhow::ensure!(ok.success(), "dumping {name}");
        Ok(std::fs::read(out)?)
    };
    let ordered = dump("ordered")?;
    let reverse = std::fs::read(test_plugins::TEST_POLICY)?;
    let (_a, a) = spawn(&["mock-upstream", "--label", "a"])?;
    let (_b, b) = spawn(&["mock-upstream", "--label", "b"])?;
    let config = dir.path().join("gw.toml");
    let cache = dir.path().join("cache");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n[plugins]\ndir = \"{}\"\ncache_dir = \"{}\"\n\
             [providers.pa]\nadapter = \"openai\"\nbase_url = \"http://{a}/v1\"\n\
             [providers.pb]\nadapter = \"openai\"\nbase_url = \"http://{b}/v1\"\n\
             [models.ma]\nprovider = \"pa\"\n[models.mb]\nprovider = \"pb\"\n\
             [routes.main]\npolicy = \"ordered\"\nmodels = [\"ma\", \"mb\"]\n",
            plugins.display(),
            cache.display()
        ),
    )?;
    let config = config.to_string_lossy().into_owned();
    let (_gw, gw) = spawn(&["serve", "--config", &config])?;
    let client = ureq_like::Client::new(&gw);
    let dst = plugins.join("ordered.wasm");
    let versions = [(reverse.clone(), "b"), (ordered.clone(), "a")];

    println!(
        "time from file write (temp + rename) to the first response decided by the new version"
    );
    // Warm both versions into the compile cache first.
    measure(&client, &dst, &versions, 2, false)?;
    report(
        "Rust policy, compile-cache hit",
        measure(&client, &dst, &versions, 30, false)?,
    );
    report(
        "Rust policy, cache miss (new bytes)",
        measure(&client, &dst, &versions, 10, true)?,
    );

    for (lang, prefix, var) in [
        ("Python", "task-router-py", "SWITCHYARD_PY_POLICY"),
        ("JavaScript", "task-router-js", "SWITCHYARD_JS_POLICY"),
    ] {
        let Some(path) = built_policy(prefix, var) else {
            println!("  {lang} policy: not built (run examples/policies/build.sh)");
            continue;
        };
        let bytes = std::fs::read(&path)?;
        // The task-router without a tiers config returns an error, so the
        // route's static order answers (a); the reverse policy answers b.
        // Start from b so the first install of this version flips the answer
        // (and really compiles before anything is timed).
        let versions = [(reverse.clone(), "b"), (bytes, "a")];
        measure(&client, &dst, &versions, 2, false)?;
        report(
            &format!("{lang} policy, compile-cache hit"),
            measure(&client, &dst, &versions, 6, false)?,
        );
        let mut misses = Vec::new();
        for _ in 0..3 {
            measure(&client, &dst, &versions[..1], 1, false)?;
            misses.extend(measure(&client, &dst, &versions[1..], 1, true)?);
        }
        report(&format!("{lang} policy, cache miss (new bytes)"), misses);
    }
    Ok(())
}

/// The newest built component `PREFIX-*.wasm` of ~/.cache/switchyard/policies,
/// or the file `$VAR` names.
fn built_policy(prefix: &str, var: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(var) {
        return Some(PathBuf::from(p));
    }
    let dir = dirs::cache_dir()?.join("switchyard").join("policies");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".wasm"))
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}
