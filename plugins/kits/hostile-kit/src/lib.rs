//! Misbehaviours shared by the hostile test plugins: what a buggy or
//! malicious guest does to its host, in one place so that the policy and the
//! adapter that try them try the same thing.

/// Spin until the host's deadline interrupts.
pub fn spin_forever() -> ! {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// Allocate a MiB at a time until the host's memory cap stops it.
pub fn hog_memory() -> ! {
    let mut hog: Vec<Vec<u8>> = Vec::new();
    loop {
        hog.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hog);
    }
}

/// Recurse until the stack runs out; the addition after the call keeps it
/// from becoming a loop.
#[allow(unconditional_recursion)]
pub fn recurse(n: u64) -> u64 {
    let mut pad = [n; 64];
    pad[(n % 64) as usize] = recurse(std::hint::black_box(n + 1));
    std::hint::black_box(&pad);
    pad.iter().sum()
}

/// `count` pairs `(name, value)` whose values all point at one `bytes`-long
/// string: a hostile guest does not need the memory a host would spend
/// copying them.
pub fn alias_pairs(name: &str, count: usize, bytes: usize) -> Vec<(String, String)> {
    let shared = std::mem::ManuallyDrop::new("y".repeat(bytes));
    let (ptr, len) = (shared.as_ptr() as *mut u8, shared.len());
    (0..count)
        .map(|_| {
            // SAFETY: none — aliasing owned strings is the point of this
            // hostile mode; the instance never runs again after the call.
            #[allow(unsafe_code)]
            let v = unsafe { String::from_raw_parts(ptr, len, len) };
            (name.to_owned(), v)
        })
        .collect()
}

/// What reading files and directories through WASI yields, one line per
/// path tried.
pub fn probe_files() -> Vec<String> {
    ["/etc/passwd", "/proc/self/environ", "secrets.txt", ".", "/"]
        .iter()
        .map(|path| {
            let r = match std::fs::read(path) {
                Ok(b) => format!("read {} bytes", b.len()),
                Err(e) => match std::fs::read_dir(path) {
                    Ok(d) => format!("listed {} entries", d.count()),
                    Err(e2) => format!("refused ({e}; {e2})"),
                },
            };
            format!("{path}: {r}")
        })
        .collect()
}
