use serde_json::Value;

use super::*;
use crate::canonical::{Finish, StreamStart, TextDelta, ToolCallDelta};
use crate::ingress::responses::parse::parse;

fn encoder(store: bool) -> SseEncoder {
    let body = format!(r#"{{"model":"route","input":"hi","store":{store}}}"#);
    let mut echo = parse(body.as_bytes()).unwrap().echo;
    echo.id = "resp_r1".into();
    SseEncoder::new(Box::new(echo))
}

/// The events in `out`: (name, data), checking the framing on the way.
fn events(out: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(out).unwrap();
    assert!(text.ends_with("\n\n"), "{text}");
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap().to_owned();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], name.as_str(), "{e}");
            (name, data)
        })
        .collect()
}

fn names(ev: &[(String, Value)]) -> Vec<&str> {
    ev.iter().map(|(n, _)| n.as_str()).collect()
}

fn text(s: &str) -> StreamEvent {
    StreamEvent::Text(TextDelta {
        choice: 0,
        text: s.into(),
    })
}

fn call(id: Option<&str>, name: Option<&str>, args: &str) -> StreamEvent {
    StreamEvent::ToolCall(ToolCallDelta {
        choice: 0,
        index: 0,
        id: id.map(Into::into),
        name: name.map(Into::into),
        arguments: args.into(),
    })
}

fn finish(reason: FinishReason) -> StreamEvent {
    StreamEvent::Finish(Finish { choice: 0, reason })
}

fn usage_event() -> StreamEvent {
    StreamEvent::Usage(Usage {
        prompt_tokens: 10,
        completion_tokens: 3,
        total_tokens: 13,
        cached_tokens: Some(4),
        reasoning_tokens: None,
    })
}

fn start() -> StreamEvent {
    StreamEvent::Start(StreamStart {
        id: "up-1".into(),
        model: "gpt-x".into(),
        created: 5,
    })
}

#[test]
fn a_text_stream_is_the_sequence_openai_sends() {
    let mut enc = encoder(true);
    let mut out = Vec::new();
    enc.encode(vec![start(), StreamEvent::Role(0), text("Hel")], &mut out);
    enc.encode(vec![text("lo."), finish(FinishReason::Stop)], &mut out);
    enc.encode(vec![usage_event()], &mut out);
    enc.finish(&mut out);
    let ev = events(&out);
    assert_eq!(
        names(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, (_, d)) in ev.iter().enumerate() {
        assert_eq!(d["sequence_number"], i as u64);
    }
    let created = &ev[0].1["response"];
    assert_eq!(created["id"], "resp_r1");
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["model"], "gpt-x");
    assert_eq!(created["created_at"], 5);
    assert_eq!(created["output"], Value::Array(vec![]));
    assert_eq!(created["usage"], Value::Null);
    let item_id = ev[2].1["item"]["id"].as_str().unwrap().to_owned();
    assert!(item_id.starts_with("msg_"));
    assert_eq!(ev[2].1["item"]["status"], "in_progress");
    assert_eq!(ev[3].1["part"]["type"], "output_text");
    assert_eq!(ev[4].1["delta"], "Hel");
    assert_eq!(ev[4].1["item_id"], item_id.as_str());
    assert_eq!(ev[4].1["output_index"], 0);
    assert_eq!(ev[4].1["content_index"], 0);
    assert_eq!(ev[6].1["text"], "Hello.");
    assert_eq!(ev[7].1["part"]["text"], "Hello.");
    assert_eq!(ev[8].1["item"]["status"], "completed");
    let done = &ev[9].1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["id"], item_id.as_str());
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello.");
    assert_eq!(done["usage"]["input_tokens"], 10);
    assert_eq!(done["usage"]["input_tokens_details"]["cached_tokens"], 4);
    assert_eq!(done["usage"]["output_tokens"], 3);
    assert_eq!(done["usage"]["total_tokens"], 13);
    let kept: Value = serde_json::from_str(&enc.kept_answer().unwrap()).unwrap();
    assert_eq!(kept, done["output"]);
}

#[test]
fn tool_calls_stream_their_arguments() {
    let mut enc = encoder(false);
    let mut out = Vec::new();
    enc.encode(
        vec![
            start(),
            text("Calling."),
            call(Some("call_1"), Some("f"), ""),
            call(None, None, "{\"a\":"),
            // Some upstreams repeat the id on every piece.
            call(Some("call_1"), None, "1}"),
            StreamEvent::ToolCall(ToolCallDelta {
                choice: 0,
                index: 1,
                id: Some("call_2".into()),
                name: Some("g".into()),
                arguments: "{}".into(),
            }),
            finish(FinishReason::ToolCalls),
        ],
        &mut out,
    );
    enc.finish(&mut out);
    let ev = events(&out);
    assert_eq!(
        names(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let added = &ev[8].1;
    assert_eq!(added["output_index"], 1);
    assert_eq!(added["item"]["type"], "function_call");
    assert_eq!(added["item"]["call_id"], "call_1");
    assert_eq!(added["item"]["name"], "f");
    assert_eq!(added["item"]["arguments"], "");
    let fc = added["item"]["id"].as_str().unwrap();
    assert!(fc.starts_with("fc_"));
    assert_eq!(ev[9].1["item_id"], fc);
    assert_eq!(ev[11].1["arguments"], r#"{"a":1}"#);
    assert_eq!(ev[12].1["item"]["arguments"], r#"{"a":1}"#);
    assert_eq!(ev[12].1["item"]["status"], "completed");
    let done = &ev[17].1["response"];
    let calls: Vec<&str> = done["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["call_id"].as_str())
        .collect();
    assert_eq!(calls, ["call_1", "call_2"]);
    assert_eq!(done["usage"], Value::Null, "the upstream reported none");
    assert_eq!(done["store"], false);
    assert_eq!(enc.kept_answer(), None, "not stored");
}

#[test]
fn a_cut_answer_ends_incomplete() {
    let mut enc = encoder(true);
    let mut out = Vec::new();
    enc.encode(vec![text("Hel"), finish(FinishReason::Length)], &mut out);
    enc.finish(&mut out);
    let ev = events(&out);
    let (name, last) = ev.last().unwrap();
    assert_eq!(name, "response.incomplete");
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    assert_eq!(last["response"]["output"][0]["status"], "incomplete");
    // Until an upstream names its model, the one asked for.
    assert_eq!(last["response"]["model"], "route");
}

#[test]
fn an_empty_answer_is_an_empty_message() {
    let mut enc = encoder(true);
    let mut out = Vec::new();
    enc.finish(&mut out);
    let ev = events(&out);
    assert_eq!(ev.len(), 8, "{:?}", names(&ev));
    assert_eq!(ev[7].1["response"]["output"][0]["content"][0]["text"], "");
}

#[test]
fn a_broken_stream_ends_failed_never_completed() {
    let mut enc = encoder(true);
    let mut out = Vec::new();
    enc.encode(vec![start(), text("Hel")], &mut out);
    let err = ApiError::new(
        http::StatusCode::BAD_GATEWAY,
        "server_error",
        "the upstream closed the stream",
    )
    .code("stream_interrupted");
    enc.error(&err, &mut out);
    let ev = events(&out);
    assert_eq!(
        names(&ev)[ev.len() - 2..],
        ["error", "response.failed"],
        "{:?}",
        names(&ev)
    );
    assert!(!names(&ev).contains(&"response.completed"));
    assert!(!names(&ev).contains(&"response.output_item.done"));
    let error = &ev[ev.len() - 2].1;
    assert_eq!(error["code"], "stream_interrupted");
    assert_eq!(error["message"], "the upstream closed the stream");
    let failed = &ev[ev.len() - 1].1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "server_error");
    assert_eq!(failed["output"][0]["status"], "incomplete");
    assert_eq!(failed["output"][0]["content"][0]["text"], "Hel");
    assert_eq!(enc.kept_answer(), None);

    // Broken before anything was sent: still created, then failed.
    let mut enc = encoder(true);
    let mut out = Vec::new();
    enc.error(&err, &mut out);
    let ev = events(&out);
    assert_eq!(
        names(&ev),
        [
            "response.created",
            "response.in_progress",
            "error",
            "response.failed"
        ]
    );
}
