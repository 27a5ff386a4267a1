//! Helpers for the adapters' golden tests: streams decoded however their
//! bytes are split, events and errors in a comparable form.

use crate::Decode;
use crate::types::{ChatRequest, Content, HttpResponse, Message, ProviderError, Role, StreamEvent};

/// The bytes of `fixtures/NAME` of the crate under test.
#[macro_export]
macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/", $name)).as_slice()
    };
}

/// A message of `role` with text content (none for `None`).
pub fn message(role: Role, text: Option<&str>) -> Message {
    Message {
        role,
        content: text.map(|t| Content::Text(t.into())),
        name: None,
        tool_calls: vec![],
        tool_call_id: None,
        extra_json: None,
    }
}

/// A request of the OpenAI dialect with these messages and nothing else set.
pub fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        model: "route".into(),
        messages,
        tools: vec![],
        tool_choice: None,
        parallel_tool_calls: None,
        response_format: None,
        temperature: None,
        top_p: None,
        max_tokens: None,
        max_completion_tokens: None,
        stop: vec![],
        seed: None,
        frequency_penalty: None,
        presence_penalty: None,
        n: None,
        stream: false,
        include_usage: false,
        user: None,
        metadata: vec![],
        dialect: "openai".into(),
        extra_json: None,
    }
}

/// One line per event, for comparing streams.
pub fn describe(e: &StreamEvent) -> String {
    match e {
        StreamEvent::Start(s) => format!("start {} {} {}", s.id, s.model, s.created),
        StreamEvent::Role(i) => format!("role {i}"),
        StreamEvent::Text(t) => format!("text {} {:?}", t.choice, t.text),
        StreamEvent::ToolCall(t) => format!(
            "call {}#{} {:?} {:?} {}",
            t.choice, t.index, t.id, t.name, t.arguments
        ),
        StreamEvent::Finish(f) => format!("finish {} {:?}", f.choice, f.reason),
        StreamEvent::Usage(u) => format!(
            "usage {}/{}/{} cached {:?} reasoning {:?}",
            u.prompt_tokens,
            u.completion_tokens,
            u.total_tokens,
            u.cached_tokens,
            u.reasoning_tokens
        ),
    }
}

/// What decoding a stream gave: the events, and how it ended.
pub type Decoded = (Vec<String>, Result<(), ProviderError>);

/// Decode `bytes` fed in pieces of `size`.
pub fn decode<D: Decode>(mut d: D, bytes: &[u8], size: usize) -> Decoded {
    let mut out = Vec::new();
    for piece in bytes.chunks(size.max(1)) {
        match d.feed(piece) {
            Ok(events) => out.extend(events.iter().map(describe)),
            Err(e) => return (out, Err(e)),
        }
    }
    match d.finish() {
        Ok(events) => {
            out.extend(events.iter().map(describe));
            (out, Ok(()))
        }
        Err(e) => (out, Err(e)),
    }
}

/// Decode `bytes` whole and split into pieces of several sizes; asserts that
/// every split gives the same events (up to an error in `feed`, which drops
/// the events of that piece) and the same ending. Returns the whole decode.
pub fn decode_all_ways<D: Decode>(new: impl Fn() -> D, bytes: &[u8]) -> Decoded {
    let whole = decode(new(), bytes, bytes.len());
    for size in [1, 2, 7, 64] {
        let split = decode(new(), bytes, size);
        assert_eq!(
            split.1.is_ok(),
            whole.1.is_ok(),
            "split into pieces of {size}"
        );
        if split.1.is_ok() {
            assert_eq!(split.0, whole.0, "split into pieces of {size}");
        }
    }
    whole
}

/// An HTTP response of `status` with `headers` and `body`.
pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.to_vec(),
    }
}

/// Read a JSON fixture.
///
/// # Panics
///
/// When the fixture is not JSON: a broken fixture fails the test using it.
#[expect(
    clippy::expect_used,
    reason = "a test helper: a broken fixture should fail the test"
)]
pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("fixture is JSON")
}
