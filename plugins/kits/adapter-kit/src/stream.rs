//! Stream decoders. A [`Decode`] turns a stream's bytes, in whatever pieces
//! they arrive, into canonical events; [`SseDecoder`] does the framing of
//! server-sent events for dialects whose events are JSON documents, leaving
//! them only the meaning of one event ([`Events`]);
//! [`stream_decoder!`](crate::stream_decoder) makes one the adapter's
//! `stream-decoder` resource.

use crate::err;
use crate::types::{ErrorKind, ProviderError, StreamEvent};

/// A stream decoder of one dialect.
pub trait Decode {
    /// Feed the next bytes; returns the events they complete.
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, ProviderError>;
    /// The stream ended: any last events, or an error if it was not complete.
    fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError>;
}

/// What one dialect makes of the events of an SSE stream.
pub trait Events {
    /// Handle the (non-empty) `data` of one event.
    fn event(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError>;
    /// The provider said the stream is complete.
    fn complete(&self) -> bool;
    /// The message of the error for a stream that ends before it is
    /// complete.
    const INCOMPLETE: &'static str = "upstream stream ended before it was complete";
}

/// Decodes an SSE stream: frames events, hands their data to `E`, and at the
/// end refuses a stream `E` does not call complete, so a broken stream never
/// looks like a whole one.
#[derive(Debug, Default)]
pub struct SseDecoder<E> {
    frames: sse::Buffer,
    events: E,
}

impl<E: Events> SseDecoder<E> {
    /// A decoder handing events to `events`.
    pub fn new(events: E) -> Self {
        SseDecoder {
            frames: sse::Buffer::default(),
            events,
        }
    }

    fn event(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if data.is_empty() {
            return Ok(());
        }
        self.events.event(data, out)
    }
}

impl<E: Events> Decode for SseDecoder<E> {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, ProviderError> {
        let frames = self
            .frames
            .feed(bytes)
            .map_err(|_| err(ErrorKind::Other, "stream carried invalid UTF-8"))?;
        let mut out = Vec::new();
        for frame in frames {
            self.event(&frame.data, &mut out)?;
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        let mut out = Vec::new();
        // A last event without its blank line still counts.
        if let Some(frame) = self.frames.finish() {
            self.event(&frame.data, &mut out)?;
        }
        if self.events.complete() {
            Ok(out)
        } else {
            Err(err(ErrorKind::Other, E::INCOMPLETE))
        }
    }
}

/// Defines `Decoder`, the adapter's `stream-decoder` resource, over a
/// [`Decode`] of type `$inner` made from the `Target` by `$new`. Invoke it
/// where [`plugin!`](crate::plugin) put `exports`, at the crate root:
///
/// ```ignore
/// adapter_kit::stream_decoder!(dialect::Decoder, |_target| dialect::Decoder::default());
/// ```
#[macro_export]
// `crate` is meant: the resource trait is the calling adapter's.
#[allow(clippy::crate_in_macro_def)]
macro_rules! stream_decoder {
    ($inner:ty, $new:expr) => {
        /// The `stream-decoder` resource: one stream's decoder.
        pub struct Decoder {
            inner: ::std::cell::RefCell<$inner>,
        }

        impl crate::exports::switchyard::plugin::adapter::GuestStreamDecoder for Decoder {
            fn new(target: $crate::types::Target) -> Self {
                let new: fn($crate::types::Target) -> $inner = $new;
                Decoder {
                    inner: ::std::cell::RefCell::new(new(target)),
                }
            }

            fn feed(
                &self,
                bytes: ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::types::StreamEvent>,
                $crate::types::ProviderError,
            > {
                $crate::Decode::feed(&mut *self.inner.borrow_mut(), &bytes)
            }

            fn finish(
                &self,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::types::StreamEvent>,
                $crate::types::ProviderError,
            > {
                $crate::Decode::finish(&mut *self.inner.borrow_mut())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Count {
        seen: Vec<String>,
        done: bool,
    }

    impl Events for Count {
        fn event(&mut self, data: &str, _: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
            self.done = data == "end";
            self.seen.push(data.to_owned());
            Ok(())
        }

        fn complete(&self) -> bool {
            self.done
        }
    }

    #[test]
    fn complete_only_when_the_dialect_says_so() {
        let mut d = SseDecoder::new(Count::default());
        d.feed(b"data: a\n\ndata:\n\ndata: end\n").unwrap();
        assert!(
            d.finish().is_ok(),
            "a last event without its blank line counts"
        );
        assert_eq!(d.events.seen, ["a", "end"], "empty events are skipped");

        let mut d = SseDecoder::new(Count::default());
        d.feed(b"data: a\n\n").unwrap();
        let e = d.finish().unwrap_err();
        assert!(e.message.contains("before it was complete"));

        let mut d = SseDecoder::new(Count::default());
        assert!(d.feed(b"data: \xff\n\n").is_err());
    }
}
