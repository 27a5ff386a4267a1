//! Reading files a config names (the config itself, key files, CA files,
//! plugins) with a size cap: a device, a pipe or a huge file is an error,
//! never an endless read. Never interprets what it reads.

use std::path::Path;

/// The most a config file may hold.
pub const CONFIG_FILE_MAX: u64 = 16 << 20;
/// The most a key or secret file may hold.
pub const SECRET_FILE_MAX: u64 = 64 << 10;
/// The most a CA certificate file may hold.
pub const CA_FILE_MAX: u64 = 1 << 20;
/// The most a plugin file may hold.
pub const PLUGIN_FILE_MAX: u64 = 512 << 20;

/// Read at most `max` bytes of a file named in config: a path that turns out
/// to be a device, a pipe or a huge file is an error, never an endless read.
pub fn read_capped(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_text_capped(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read_capped(path, max)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}
