//! Incremental server-sent-events framing: bytes arrive in arbitrary pieces
//! (a line, an event or a UTF-8 character may be split anywhere); complete
//! events come out. Used by the stream decoders of the adapters.

/// One event: its `event:` name if any, and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field: the event's name, if it has one.
    pub event: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
}

/// Buffers partial lines between feeds.
#[derive(Debug, Default)]
pub struct Buffer {
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no line end: a long line arriving
    /// in many small pieces is scanned once, not once per piece.
    scanned: usize,
    event: Option<String>,
    data: Option<String>,
}

/// The stream carried bytes that are not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Buffer {
    /// Feed bytes; returns the events they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, InvalidUtf8> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        let mut from = self.scanned.min(self.buf.len());
        while let Some(pos) = self.buf[from..].iter().position(|&b| b == b'\n') {
            let end = from + pos;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            start = end + 1;
            from = start;
            if line.is_empty() {
                if let Some(e) = self.take() {
                    events.push(e);
                }
                continue;
            }
            let line = std::str::from_utf8(line).map_err(|_| InvalidUtf8)?;
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "data" => match &mut self.data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                },
                "event" => self.event = Some(value.to_owned()),
                // `id:`, `retry:` and `:` comments carry nothing we use.
                _ => {}
            }
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        Ok(events)
    }

    /// The stream ended: a last event without its blank line still counts.
    pub fn finish(&mut self) -> Option<Event> {
        self.take()
    }

    fn take(&mut self) -> Option<Event> {
        let data = self.data.take();
        let event = self.event.take();
        data.map(|data| Event { event, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_any_split() {
        let text = "event: a\ndata: {\"x\":\"é\"}\n\n: comment\ndata: one\ndata: two\r\n\r\ndata: [DONE]\n\n".as_bytes();
        for size in 1..text.len() {
            let mut b = Buffer::default();
            let mut out = Vec::new();
            for piece in text.chunks(size) {
                out.extend(b.feed(piece).unwrap());
            }
            assert_eq!(out.len(), 3, "size {size}");
            assert_eq!(out[0].event.as_deref(), Some("a"));
            assert_eq!(out[0].data, "{\"x\":\"é\"}");
            assert_eq!(out[1].data, "one\ntwo");
            assert_eq!(out[2].data, "[DONE]");
            assert!(b.finish().is_none());
        }
    }

    #[test]
    fn a_long_line_in_one_byte_pieces() {
        let mut text = b"data: ".to_vec();
        text.extend(std::iter::repeat_n(b'x', 100_000));
        text.extend_from_slice(b"\n\ndata: [DONE]\n\n");
        let mut b = Buffer::default();
        let mut out = Vec::new();
        for byte in &text {
            out.extend(b.feed(std::slice::from_ref(byte)).unwrap());
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].data.len(), 100_000);
        assert_eq!(out[1].data, "[DONE]");
    }

    #[test]
    fn last_event_without_blank_line() {
        let mut b = Buffer::default();
        assert!(b.feed(b"data: tail\n").unwrap().is_empty());
        assert_eq!(b.finish().unwrap().data, "tail");
    }
}
