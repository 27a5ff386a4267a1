use super::*;
use crate::canonical::{Content, ContentPart, Role};

fn ok(body: &str) -> Parsed {
    match parse(body.as_bytes()) {
        Ok(p) => p,
        Err(e) => panic!("{body}: {}", e.message),
    }
}

fn err(body: &str) -> ApiError {
    match parse(body.as_bytes()) {
        Ok(_) => panic!("{body} parsed"),
        Err(e) => e,
    }
}

#[test]
fn a_string_input_is_one_user_message() {
    let p = ok(r#"{"model":"m","input":"hi","instructions":"Be brief."}"#);
    let r = &p.request;
    assert_eq!(r.model, "m");
    assert_eq!(r.dialect, "responses");
    assert_eq!(r.messages.len(), 1);
    assert_eq!(r.messages[0].role, Role::User);
    assert!(matches!(&r.messages[0].content, Some(Content::Text(t)) if t == "hi"));
    // Instructions are the echo's until the conversation is assembled.
    assert_eq!(p.echo.instructions.as_deref(), Some("Be brief."));
    assert!(!r.stream && r.include_usage);
    assert!(p.echo.store && p.echo.parallel_tool_calls);
}

#[test]
fn everything_a_client_sends_is_kept() {
    let p = ok(r#"{
        "model": "route", "stream": true, "store": false, "temperature": 0.2, "top_p": 0.9,
        "max_output_tokens": 64, "metadata": {"team": "a"}, "user": "u1", "parallel_tool_calls": false,
        "reasoning": {"effort": "low"}, "truncation": "auto",
        "input": [
          {"role": "developer", "content": "Use tools."},
          {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "what is this"},
            {"type": "input_image", "image_url": "https://x/y.png", "detail": "high"}]},
          {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
           "content": [{"type": "output_text", "text": "Let me ", "annotations": []},
                       {"type": "output_text", "text": "look.", "annotations": []}]},
          {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}"},
          {"type": "function_call", "call_id": "call_2", "name": "g", "arguments": "{\"a\":1}"},
          {"type": "function_call_output", "call_id": "call_1", "output": "42"},
          {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "7"}]}
        ],
        "tools": [{"type": "function", "name": "f", "description": "F", "parameters": {"type": "object"}, "strict": true},
                  {"type": "function", "name": "g"}],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": true}}
    }"#);
    let r = &p.request;
    let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::Developer,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Tool
        ]
    );
    match &r.messages[1].content {
        Some(Content::Parts(p)) => {
            assert!(matches!(&p[0], ContentPart::Text(t) if t == "what is this"));
            assert!(
                matches!(&p[1], ContentPart::Image(i) if i.url == "https://x/y.png" && i.detail.as_deref() == Some("high"))
            );
        }
        other => panic!("{other:?}"),
    }
    // The earlier turn's text and both calls are one assistant message.
    let a = &r.messages[2];
    assert!(matches!(&a.content, Some(Content::Text(t)) if t == "Let me look."));
    let calls: Vec<(&str, &str)> = a
        .tool_calls
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(calls, [("call_1", "f"), ("call_2", "g")]);
    assert_eq!(r.messages[3].tool_call_id.as_deref(), Some("call_1"));
    assert!(matches!(&r.messages[4].content, Some(Content::Text(t)) if t == "7"));
    assert_eq!(r.tools.len(), 2);
    assert_eq!(r.tools[0].strict, Some(true));
    assert_eq!(
        r.tools[0].parameters_json.as_deref(),
        Some(r#"{"type":"object"}"#)
    );
    assert!(matches!(r.tool_choice, Some(ToolChoice::Function(ref n)) if n == "f"));
    assert!(
        matches!(&r.response_format, Some(ResponseFormat::JsonSchema(s)) if s.name == "s" && s.strict == Some(true))
    );
    assert_eq!(
        (r.temperature, r.top_p, r.max_completion_tokens),
        (Some(0.2), Some(0.9), Some(64))
    );
    assert_eq!(r.parallel_tool_calls, Some(false));
    assert_eq!(r.metadata, [("team".to_owned(), "a".to_owned())]);
    assert_eq!(r.user.as_deref(), Some("u1"));
    assert!(r.stream);
    let extra: Value = serde_json::from_str(r.extra_json.as_deref().unwrap()).unwrap();
    assert_eq!(extra["reasoning"]["effort"], "low");
    assert!(!p.echo.store && !p.echo.parallel_tool_calls);
    let echo = serde_json::to_value(&p.echo).unwrap();
    assert_eq!(echo["tool_choice"]["name"], "f");
    assert_eq!(echo["tools"][1]["type"], "function");
    assert_eq!(echo["text"]["format"]["type"], "json_schema");
    assert_eq!(echo["metadata"]["team"], "a");
}

#[test]
fn formats_and_tool_choices() {
    let p = ok(
        r#"{"model":"m","input":"x","text":{"format":{"type":"json_object"}},"tool_choice":"required"}"#,
    );
    assert!(matches!(
        p.request.response_format,
        Some(ResponseFormat::JsonObject)
    ));
    assert!(matches!(p.request.tool_choice, Some(ToolChoice::Required)));
    let p =
        ok(r#"{"model":"m","input":"x","text":{"format":{"type":"text"}},"tool_choice":"none"}"#);
    assert!(p.request.response_format.is_none());
    assert!(matches!(p.request.tool_choice, Some(ToolChoice::None)));
}

#[test]
fn wrong_types_name_the_field() {
    for (body, param) in [
        (
            r#"{"model":"m","input":"x","temperature":"hot"}"#,
            "temperature",
        ),
        (r#"{"model":5,"input":"x"}"#, "model"),
        (r#"{"input":"x"}"#, ""),
        (r#"{"model":"m","input":5}"#, "input"),
        (
            r#"{"model":"m","input":"x","max_output_tokens":-1}"#,
            "max_output_tokens",
        ),
        (
            r#"{"model":"m","input":"x","metadata":{"a":1}}"#,
            "metadata.a",
        ),
        (r#"{"model":"m","input":"x","stream":"yes"}"#, "stream"),
        (r#"{"model":"m","input":["x"]}"#, "input[0]"),
        (
            r#"{"model":"m","input":[{"role":"robot","content":"x"}]}"#,
            "input[0].role",
        ),
        (
            r#"{"model":"m","input":[{"role":"user","content":5}]}"#,
            "input[0].content",
        ),
        (
            r#"{"model":"m","input":[{"role":"user","content":[]}]}"#,
            "input[0].content",
        ),
        (
            r#"{"model":"m","input":[{"type":7,"role":"user","content":"x"}]}"#,
            "input[0].type",
        ),
        (
            r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":3}]}]}"#,
            "input[0].content[0].text",
        ),
        (
            r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_image"}]}]}"#,
            "input[0].content[0].image_url",
        ),
        (
            r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"f"}]}]}"#,
            "input[0].content[0].file_id",
        ),
        (
            r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]}"#,
            "input[0].content[0].type",
        ),
        (
            r#"{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":{}}]}"#,
            "input[0].arguments",
        ),
        (
            r#"{"model":"m","input":[{"type":"function_call_output","output":"x"}]}"#,
            "input[0]",
        ),
        (
            r#"{"model":"m","input":"x","tools":[{"name":"f"}]}"#,
            "tools[0].type",
        ),
        (
            r#"{"model":"m","input":"x","tools":[{"type":"function"}]}"#,
            "tools[0]",
        ),
        (
            r#"{"model":"m","input":"x","tool_choice":"always"}"#,
            "tool_choice",
        ),
        (
            r#"{"model":"m","input":"x","tool_choice":{"type":"function"}}"#,
            "tool_choice.name",
        ),
        (
            r#"{"model":"m","input":"x","text":{"format":{"type":"xml"}}}"#,
            "text.format.type",
        ),
        (
            r#"{"model":"m","input":"x","background":true}"#,
            "background",
        ),
        (
            r#"{"model":"m","input":"x","conversation":"conv_1"}"#,
            "conversation",
        ),
    ] {
        let e = err(body);
        assert_eq!(e.status, 400, "{body}");
        assert_eq!(
            e.param.as_deref().unwrap_or(""),
            param,
            "{body}: {}",
            e.message
        );
        if !param.is_empty() {
            assert!(e.message.contains(param), "{body}: {}", e.message);
        }
    }
}

#[test]
fn unknown_item_types_are_refused_by_name() {
    for kind in ["reasoning", "item_reference", "web_search_call", "banana"] {
        let e = err(&format!(
            r#"{{"model":"m","input":[{{"role":"user","content":"x"}},{{"type":"{kind}","id":"x"}}]}}"#
        ));
        assert_eq!(e.param.as_deref(), Some("input[1].type"));
        assert!(e.message.contains(kind), "{}", e.message);
    }
}

#[test]
fn built_in_tools_are_refused_by_name() {
    for kind in [
        "web_search",
        "web_search_preview",
        "file_search",
        "computer_use_preview",
        "code_interpreter",
        "image_generation",
        "mcp",
        "local_shell",
        "custom",
    ] {
        let e = err(&format!(
            r#"{{"model":"m","input":"x","tools":[{{"type":"function","name":"f"}},{{"type":"{kind}"}}]}}"#
        ));
        assert_eq!(e.param.as_deref(), Some("tools[1].type"), "{kind}");
        assert!(e.message.contains(kind), "{}", e.message);
        assert_eq!(e.code.as_deref(), Some("unsupported_tool"));
    }
    let e = err(r#"{"model":"m","input":"x","tool_choice":{"type":"web_search_preview"}}"#);
    assert_eq!(e.param.as_deref(), Some("tool_choice.type"));
}

#[test]
fn malformed_bodies_are_400s() {
    for body in [
        &b"{"[..],
        b"[]",
        b"{\"model\":\"m\"} x",
        b"{\"model\":\"\xff\"}",
    ] {
        let e = parse(body).err().unwrap();
        assert_eq!(e.status, 400);
    }
}
