//! Helpers shared by the fuzz targets: how an input is split into what a
//! target drives, and the stream check every adapter target makes.
//!
//! An adapter target's input is `[mode, status, seed, bytes…]`: `mode`
//! selects the response parser, the stream decoder or the error classifier
//! (and, bit 7, whether a `retry-after` header is sent); `status` picks the
//! HTTP status; `seed` picks where the stream is cut. The gateway feeds a
//! stream decoder whatever pieces the network delivers, so every stream is
//! decoded twice, whole and cut at pseudo-random points, and the two must
//! agree.

use adapter_kit::Decode;
use adapter_kit::testing::describe;
use adapter_kit::types::HttpResponse;

/// What an adapter target does with its input.
pub enum Mode {
    /// `parse_response` of a complete answer.
    Response,
    /// The stream decoder (`feed`, `finish`).
    Stream,
    /// The error classifier of a non-2xx answer.
    Error,
}

/// An adapter target's input, split.
pub struct Input<'a> {
    /// What the target drives.
    pub mode: Mode,
    /// The upstream answer: the status the input picked, its headers, and
    /// `bytes` as the body.
    pub response: HttpResponse,
    /// Where a stream is cut.
    pub seed: u8,
    /// The input's bytes after the three it starts with.
    pub bytes: &'a [u8],
}

const STATUSES: [u16; 16] = [
    200, 200, 200, 201, 400, 401, 403, 404, 408, 413, 422, 429, 500, 503, 504, 529,
];

impl<'a> Input<'a> {
    /// Split an input; `None` when it is too short to mean anything.
    pub fn split(data: &'a [u8]) -> Option<Input<'a>> {
        let (&[mode, status, seed], bytes) = data.split_first_chunk::<3>()?;
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if mode & 0x80 != 0 {
            // A retry hint spelled by the input: its first line, up to 16 bytes.
            let end = bytes
                .iter()
                .take(16)
                .position(|&b| b == b'\n')
                .unwrap_or(bytes.len().min(16));
            let value = String::from_utf8_lossy(&bytes[..end]).into_owned();
            let name = if mode & 0x40 != 0 {
                "retry-after-ms"
            } else {
                "retry-after"
            };
            headers.push((name.to_owned(), value));
        }
        let mode = match mode % 3 {
            0 => Mode::Response,
            1 => Mode::Stream,
            _ => Mode::Error,
        };
        Some(Input {
            mode,
            response: HttpResponse {
                status: STATUSES[usize::from(status) % STATUSES.len()],
                headers,
                body: bytes.to_vec(),
            },
            seed,
            bytes,
        })
    }
}

/// Decoded events (one line each) and whether the stream ended well.
pub type Decoded = (Vec<String>, bool);

fn run<D: Decode>(mut d: D, pieces: &[&[u8]]) -> Decoded {
    let mut out = Vec::new();
    for piece in pieces {
        match d.feed(piece) {
            Ok(events) => out.extend(events.iter().map(describe)),
            Err(_) => return (out, false),
        }
    }
    match d.finish() {
        Ok(events) => {
            out.extend(events.iter().map(describe));
            (out, true)
        }
        Err(_) => (out, false),
    }
}

/// Cut `bytes` into pieces of 1 to 64 bytes, at points drawn from `seed`
/// (an empty piece now and then too: a read may deliver nothing).
pub fn pieces(bytes: &[u8], seed: u8) -> Vec<&[u8]> {
    // Xorshift never leaves a non-zero state, so the cutting always ends.
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 65) as usize;
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        out.push(piece);
        rest = tail;
    }
    out
}

/// Decode `bytes` whole and in pieces; both must give the same events and
/// the same ending (a stream that fails fails however it is cut).
pub fn check_stream<D: Decode>(new: impl Fn() -> D, bytes: &[u8], seed: u8) {
    let whole = run(new(), &[bytes]);
    let split = run(new(), &pieces(bytes, seed));
    assert_eq!(
        whole.1, split.1,
        "ending depends on where the stream is cut"
    );
    if whole.1 {
        assert_eq!(whole.0, split.0, "events depend on where the stream is cut");
    }
}

#[cfg(feature = "ingress")]
pub mod config;
#[cfg(feature = "ingress")]
pub mod ingress;
pub mod stored;
pub mod targets;
