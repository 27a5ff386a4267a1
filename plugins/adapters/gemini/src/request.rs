//! Canonical requests into `GenerateContentRequest` bodies.
//!
//! - system and developer messages: `systemInstruction` (text parts, in
//!   order);
//! - user messages: `user` contents; text parts are `text`, a `data:` image
//!   is `inlineData`, an image URL is `fileData` (MIME type from the file
//!   extension), OpenAI `input_audio` and `file` (`file_data`) parts are
//!   `inlineData`;
//! - assistant messages: `model` contents; tool calls are `functionCall`
//!   parts whose `args` is the parsed arguments object;
//! - tool results: `functionResponse` parts (consecutive results share one
//!   `user` content), named after the call with that id earlier in the
//!   conversation; a result that is not a JSON object is wrapped as
//!   `{"content": "…"}`;
//! - `tools`: one `functionDeclarations` tool; `tool_choice`:
//!   `toolConfig.functionCallingConfig` (`AUTO`, `ANY`, `NONE`, or `ANY`
//!   with `allowedFunctionNames` for a named function);
//! - sampling settings, `n`, `seed`, stop sequences and JSON modes:
//!   `generationConfig`.

use adapter_kit::types::{
    ChatRequest, Content, ContentPart, ErrorKind, Message, ProviderError, ResponseFormat, Role,
    ToolChoice,
};
use adapter_kit::{content_text, err, parse_data_url, parse_json_text};
use serde_json::{Map, Value, json};

/// The thought signature Google documents for function calls whose real
/// signature is unknown (history from another model, or from a client that
/// does not keep Gemini's signatures): it skips Gemini 3's validation.
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Build the request body. `opts` are the provider options.
pub fn build(req: ChatRequest, opts: &Value) -> Result<Value, ProviderError> {
    let signatures = opts
        .get("thought_signatures")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let mut body = Map::new();
    let (system, contents) = contents(&req.messages, signatures)?;
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    if !req.tools.is_empty() {
        let mut decls = Vec::with_capacity(req.tools.len());
        for t in &req.tools {
            let mut d = Map::new();
            d.insert("name".into(), json!(t.name));
            if let Some(desc) = &t.description {
                d.insert("description".into(), json!(desc));
            }
            if let Some(p) = parse_json_text(&t.parameters_json, "tool parameters")?
                .as_ref()
                .and_then(schema)
            {
                d.insert("parameters".into(), p);
            }
            decls.push(Value::Object(d));
        }
        body.insert("tools".into(), json!([{ "functionDeclarations": decls }]));
    }
    if let Some(choice) = &req.tool_choice {
        let config = match choice {
            ToolChoice::None => json!({ "mode": "NONE" }),
            ToolChoice::Auto => json!({ "mode": "AUTO" }),
            ToolChoice::Required => json!({ "mode": "ANY" }),
            ToolChoice::Function(name) => json!({ "mode": "ANY", "allowedFunctionNames": [name] }),
        };
        body.insert(
            "toolConfig".into(),
            json!({ "functionCallingConfig": config }),
        );
    }
    let config = generation_config(&req, opts)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    if let Some(s) = opts.get("safety_settings") {
        body.insert("safetySettings".into(), s.clone());
    }
    Ok(Value::Object(body))
}

fn generation_config(req: &ChatRequest, opts: &Value) -> Result<Map<String, Value>, ProviderError> {
    let mut c = match opts.get("generation_config") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let mut set = |k: &str, v: Value| {
        c.insert(k.to_owned(), v);
    };
    if let Some(t) = req.temperature {
        set("temperature", json!(t));
    }
    if let Some(p) = req.top_p {
        set("topP", json!(p));
    }
    if let Some(m) = req.max_completion_tokens.or(req.max_tokens) {
        set("maxOutputTokens", json!(m));
    }
    if !req.stop.is_empty() {
        set("stopSequences", json!(req.stop));
    }
    if let Some(n) = req.n {
        set("candidateCount", json!(n));
    }
    if let Some(s) = req.seed {
        set("seed", json!(s));
    }
    if let Some(p) = req.presence_penalty {
        set("presencePenalty", json!(p));
    }
    if let Some(p) = req.frequency_penalty {
        set("frequencyPenalty", json!(p));
    }
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => set("responseMimeType", json!("application/json")),
        Some(ResponseFormat::JsonSchema(s)) => {
            set("responseMimeType", json!("application/json"));
            if let Some(schema) = parse_json_text(&s.schema_json, "response_format schema")?
                .as_ref()
                .and_then(schema)
            {
                set("responseSchema", schema);
            }
        }
    }
    Ok(c)
}

/// The system parts and the contents of a conversation.
fn contents(
    messages: &[Message],
    signatures: bool,
) -> Result<(Vec<Value>, Vec<Value>), ProviderError> {
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    // Whether the last content pushed holds tool results, so the next result
    // joins it.
    let mut last_is_results = false;
    for (i, m) in messages.iter().enumerate() {
        match m.role {
            Role::System | Role::Developer => {
                let text = text_of(m.content.as_ref());
                if !text.is_empty() {
                    system.push(json!({ "text": text }));
                }
            }
            Role::User => {
                let parts = user_parts(m.content.as_ref())?;
                if !parts.is_empty() {
                    contents.push(json!({ "role": "user", "parts": parts }));
                    last_is_results = false;
                }
            }
            Role::Assistant => {
                let mut parts = Vec::new();
                let text = text_of(m.content.as_ref());
                if !text.is_empty() {
                    parts.push(json!({ "text": text }));
                }
                for (n, call) in m.tool_calls.iter().enumerate() {
                    let mut part = json!({
                        "functionCall": { "name": call.name, "args": arguments(&call.arguments, &call.name)? }
                    });
                    if signatures && n == 0 {
                        part["thoughtSignature"] = json!(SKIP_SIGNATURE);
                    }
                    parts.push(part);
                }
                if !parts.is_empty() {
                    contents.push(json!({ "role": "model", "parts": parts }));
                    last_is_results = false;
                }
            }
            Role::Tool => {
                let name = tool_name(messages, i)?;
                let text = text_of(m.content.as_ref());
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(o)) => Value::Object(o),
                    _ => json!({ "content": text }),
                };
                let part = json!({ "functionResponse": { "name": name, "response": response } });
                match contents.last_mut().and_then(|c| c["parts"].as_array_mut()) {
                    Some(parts) if last_is_results => parts.push(part),
                    _ => contents.push(json!({ "role": "user", "parts": [part] })),
                }
                last_is_results = true;
            }
        }
    }
    Ok((system, contents))
}

/// The function a tool result answers: the name of the latest earlier call
/// with its id, else the message's `name`.
fn tool_name(messages: &[Message], i: usize) -> Result<String, ProviderError> {
    let m = &messages[i];
    if let Some(id) = &m.tool_call_id {
        let found = messages[..i]
            .iter()
            .rev()
            .flat_map(|p| p.tool_calls.iter().rev())
            .find(|c| &c.id == id);
        if let Some(c) = found {
            return Ok(c.name.clone());
        }
    }
    m.name.clone().ok_or_else(|| {
        err(
            ErrorKind::BadRequest,
            format!(
                "messages[{i}]: the tool result answers no earlier tool call (tool_call_id {:?})",
                m.tool_call_id.as_deref().unwrap_or("")
            ),
        )
    })
}

/// The `args` object of a call. Empty arguments are `{}`.
fn arguments(text: &str, name: &str) -> Result<Value, ProviderError> {
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => Ok(Value::Object(o)),
        _ => Err(err(
            ErrorKind::BadRequest,
            format!("the arguments of the call of `{name}` are not a JSON object"),
        )),
    }
}

/// The text of a content: the string, or its text parts joined.
fn text_of(content: Option<&Content>) -> String {
    content.map(|c| content_text(c, "")).unwrap_or_default()
}

fn user_parts(content: Option<&Content>) -> Result<Vec<Value>, ProviderError> {
    let mut out = Vec::new();
    match content {
        None => {}
        Some(Content::Text(t)) if t.is_empty() => {}
        Some(Content::Text(t)) => out.push(json!({ "text": t })),
        Some(Content::Parts(parts)) => {
            for p in parts {
                match p {
                    ContentPart::Text(t) if t.is_empty() => {}
                    ContentPart::Text(t) => out.push(json!({ "text": t })),
                    ContentPart::Image(img) => out.push(media_part(&img.url, None)?),
                    ContentPart::OtherJson(j) => out.push(other_part(j)?),
                }
            }
        }
    }
    Ok(out)
}

/// An image (or other media) by URL: `inlineData` for a base64 `data:` URL,
/// `fileData` for anything else.
fn media_part(url: &str, mime: Option<&str>) -> Result<Value, ProviderError> {
    if let Some((mime_type, data)) = parse_data_url(url) {
        let mime_type = if mime_type.is_empty() {
            mime.unwrap_or("application/octet-stream")
        } else {
            mime_type
        };
        return Ok(json!({ "inlineData": { "mimeType": mime_type, "data": data } }));
    }
    if url.starts_with("data:") {
        return Err(err(
            ErrorKind::BadRequest,
            "a data: URL must carry base64 data (data:<type>;base64,…)",
        ));
    }
    let mime_type = mime.map(str::to_owned).unwrap_or_else(|| guess_mime(url));
    Ok(json!({ "fileData": { "mimeType": mime_type, "fileUri": url } }))
}

/// The MIME type of a file URL from its extension (images by default).
fn guess_mime(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        _ => "image/jpeg",
    }
    .to_owned()
}

/// A part Switchyard does not model: OpenAI's `input_audio` and `file`
/// (inline data) parts are translated; an untyped part is taken to be a
/// Gemini part already and passed on; anything else is refused.
fn other_part(json_text: &str) -> Result<Value, ProviderError> {
    let v: Value = serde_json::from_str(json_text)
        .map_err(|_| err(ErrorKind::BadRequest, "a content part is not valid JSON"))?;
    match v.get("type").and_then(Value::as_str) {
        Some("input_audio") => {
            let audio = &v["input_audio"];
            let data = audio["data"].as_str().unwrap_or_default();
            let format = audio["format"].as_str().unwrap_or("wav");
            Ok(json!({ "inlineData": { "mimeType": format!("audio/{format}"), "data": data } }))
        }
        Some("file") => match v["file"]["file_data"].as_str() {
            Some(url) => media_part(url, None),
            None => Err(err(
                ErrorKind::BadRequest,
                "gemini takes file parts only as inline file_data",
            )),
        },
        Some(other) => Err(err(
            ErrorKind::BadRequest,
            format!("gemini does not take content parts of type `{other}`"),
        )),
        None => Ok(v),
    }
}

/// Schema keys Gemini accepts (its OpenAPI 3.0 subset).
const SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// `format` values Gemini accepts.
const FORMATS: &[&str] = &["enum", "date-time", "int32", "int64", "float", "double"];

/// A JSON schema cut down to what Gemini accepts: local `$ref`s inlined (a
/// recursive one is cut to a plain object), `oneOf`/single `allOf` folded,
/// `type: [t, "null"]` and `null` branches as `nullable`, `const` as a
/// one-value `enum`, every other key (such as `additionalProperties`,
/// `$schema`, `strict`) dropped. `None` for an object schema without
/// properties, which Gemini refuses as function parameters (the declaration
/// then has no parameters).
pub fn schema(root: &Value) -> Option<Value> {
    let s = Cleaner {
        root,
        refs: vec!["#".to_owned()],
    }
    .clean(root);
    let empty_object = s.get("type").and_then(Value::as_str) == Some("object")
        && s.get("properties")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
    (!empty_object).then_some(s)
}

struct Cleaner<'a> {
    root: &'a Value,
    /// The `$ref`s being inlined on the current path.
    refs: Vec<String>,
}

impl Cleaner<'_> {
    fn clean(&mut self, v: &Value) -> Value {
        let Some(obj) = v.as_object() else {
            return v.clone();
        };
        let mut obj = obj.clone();
        // Fold the forms Gemini lacks into ones it has, then clean the result.
        if let Some(Value::String(target)) = obj.remove("$ref") {
            if self.refs.contains(&target) {
                // Gemini has no recursion: the inner occurrence is any object.
                obj.insert("type".into(), json!("object"));
            } else if let Some(found) = resolve(self.root, &target) {
                let mut merged = found.as_object().cloned().unwrap_or_default();
                merged.extend(obj);
                self.refs.push(target);
                let out = self.clean(&Value::Object(merged));
                self.refs.pop();
                return out;
            }
        }
        if let Some(Value::Array(mut all)) = obj.remove("allOf")
            && all.len() == 1
        {
            let mut merged = all.remove(0).as_object().cloned().unwrap_or_default();
            merged.extend(obj);
            return self.clean(&Value::Object(merged));
        }
        if let Some(one) = obj.remove("oneOf") {
            obj.entry("anyOf").or_insert(one);
        }
        if let Some(c) = obj.remove("const") {
            if c.is_string() {
                obj.entry("type").or_insert(json!("string"));
            }
            obj.insert("enum".into(), json!([c]));
        }
        if let Some(Value::Array(types)) = obj.get("type").cloned() {
            let non_null: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
            if non_null.len() < types.len() {
                obj.insert("nullable".into(), json!(true));
            }
            match non_null.as_slice() {
                [one] => {
                    obj.insert("type".into(), one.clone());
                }
                _ => {
                    obj.remove("type");
                    let branches = non_null.iter().map(|t| json!({ "type": t })).collect();
                    obj.insert("anyOf".into(), Value::Array(branches));
                }
            }
        }
        if let Some(Value::Array(branches)) = obj.get("anyOf").cloned() {
            let is_null = |b: &Value| b.get("type").and_then(Value::as_str) == Some("null");
            let mut rest: Vec<Value> = branches.iter().filter(|b| !is_null(b)).cloned().collect();
            if rest.len() < branches.len() {
                obj.insert("nullable".into(), json!(true));
            }
            if rest.len() == 1 {
                obj.remove("anyOf");
                let mut merged = rest.remove(0).as_object().cloned().unwrap_or_default();
                merged.extend(obj);
                return self.clean(&Value::Object(merged));
            }
            obj.insert("anyOf".into(), Value::Array(rest));
        }
        self.keep_known(obj)
    }

    /// The keys Gemini accepts, their sub-schemas cleaned.
    fn keep_known(&mut self, obj: Map<String, Value>) -> Value {
        let mut out = Map::new();
        for (k, v) in obj {
            if !SCHEMA_KEYS.contains(&k.as_str()) {
                continue;
            }
            let v = match (k.as_str(), v) {
                ("properties", Value::Object(props)) => Value::Object(
                    props
                        .iter()
                        .map(|(name, p)| (name.clone(), self.clean(p)))
                        .collect(),
                ),
                ("items", Value::Array(items)) => match items.first() {
                    Some(first) => self.clean(first),
                    None => continue,
                },
                ("items", item) => self.clean(&item),
                ("anyOf", Value::Array(bs)) => {
                    Value::Array(bs.iter().map(|b| self.clean(b)).collect())
                }
                ("properties" | "anyOf", _) => continue,
                ("format", f) if !f.as_str().is_some_and(|f| FORMATS.contains(&f)) => continue,
                (_, v) => v,
            };
            out.insert(k, v);
        }
        Value::Object(out)
    }
}

/// A local reference: `#/$defs/X`, `#/definitions/X` or any JSON pointer
/// into the root schema.
fn resolve<'a>(root: &'a Value, target: &str) -> Option<&'a Value> {
    root.pointer(target.strip_prefix('#')?)
}
