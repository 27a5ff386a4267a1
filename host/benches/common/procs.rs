//! Processes of the benchmark programs: the real `switchyard` binary,
//! started on a free port and killed when dropped.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

/// The binary under benchmark.
pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A child process killed on drop.
pub struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `switchyard ARGS` and wait for its `listening on ADDR` line.
pub fn spawn(args: &[&str]) -> anyhow::Result<(Proc, String)> {
    spawn_bin(BIN, args)
}

/// [`spawn`] with another build of the binary (a baseline to compare with).
pub fn spawn_bin(bin: &str, args: &[&str]) -> anyhow::Result<(Proc, String)> {
    let mut child = Command::new(bin)
        .args(args)
        .env("SWITCHYARD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| anyhow::anyhow!("unexpected first line: {line}"))?
        .to_owned();
    Ok((Proc(child), addr))
}
