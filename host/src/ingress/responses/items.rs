//! Input items into canonical messages: `message` items (roles user,
//! system, developer, assistant; `input_text` and `input_image` parts, and
//! an earlier turn's `output_text` and `refusal`), `function_call` items
//! (joined to the assistant message before them, as chat completions carry
//! calls) and `function_call_output` items (tool messages). The same
//! reading serves a request's `input` and, for `previous_response_id`, an
//! earlier response's output items. Anything else is refused with an error
//! naming the field (`input[i].type`, `input[i].content[j].type`).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::canonical::{Content, ContentPart, ImageUrl, Message, Role, ToolCall};
use crate::error::ApiError;

/// `input`: a user message's text, or a list of items.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Input {
    Text(String),
    Items(Vec<Value>),
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ItemRole {
    User,
    System,
    Developer,
    Assistant,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ItemContent {
    Text(String),
    Parts(Vec<Value>),
}

#[derive(Deserialize)]
struct MessageItem {
    role: ItemRole,
    content: ItemContent,
}

#[derive(Deserialize)]
struct FunctionCallItem {
    call_id: String,
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
struct FunctionCallOutputItem {
    call_id: String,
    output: ItemContent,
}

#[derive(Deserialize)]
struct TextPart {
    text: String,
}

#[derive(Deserialize)]
struct RefusalPart {
    refusal: String,
}

#[derive(Deserialize)]
struct ImagePart {
    #[serde(default)]
    image_url: Option<String>,
    #[serde(default)]
    file_id: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

pub(super) const HINTS: &[(&str, &str)] = &[
    (
        "untagged enum Input",
        "expected a string or an array of input items",
    ),
    (
        "untagged enum ItemContent",
        "expected a string or an array of content parts",
    ),
];

pub(super) fn spell(path: &str, hint: &str) -> String {
    format!("Invalid value for `{path}`: {hint}.")
}

pub(super) fn invalid(path: &str, message: String) -> ApiError {
    ApiError::invalid(message).param(path)
}

/// Deserialize `v`, found at `at`, with errors naming the field inside it.
pub(super) fn decode<T: DeserializeOwned>(v: Value, at: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let path = match inner.as_str() {
            "." | "" => at.to_owned(),
            p if p.starts_with('[') => format!("{at}{p}"),
            p => format!("{at}.{p}"),
        };
        let msg = e.into_inner().to_string();
        let hint = HINTS
            .iter()
            .find(|(fragment, _)| msg.contains(fragment))
            .map_or(msg.as_str(), |(_, hint)| hint);
        invalid(&path, spell(&path, hint))
    })
}

/// The `type` of the object `v` at `at`: `Ok(None)` when it has none.
pub(super) fn kind<'v>(v: &'v Value, at: &str) -> Result<Option<&'v str>, ApiError> {
    let Value::Object(o) = v else {
        return Err(invalid(
            at,
            format!("Invalid value for `{at}`: expected an object."),
        ));
    };
    match o.get("type") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => {
            let path = format!("{at}.type");
            Err(invalid(&path, spell(&path, "expected a string")))
        }
    }
}

/// `input` (here, or an earlier request's) into messages appended to `out`.
pub(super) fn input_messages(
    input: Input,
    at: &str,
    out: &mut Vec<Message>,
) -> Result<(), ApiError> {
    match input {
        Input::Text(t) => {
            push(out, message(Role::User, Some(Content::Text(t))));
            Ok(())
        }
        Input::Items(items) => item_messages(items, at, out),
    }
}

/// Items (input items, or an earlier response's output items) into messages
/// appended to `out`; `at` names the list in errors.
pub(super) fn item_messages(
    items: Vec<Value>,
    at: &str,
    out: &mut Vec<Message>,
) -> Result<(), ApiError> {
    for (i, v) in items.into_iter().enumerate() {
        let at = format!("{at}[{i}]");
        // A message may leave out its type (an "easy input message").
        let m = match kind(&v, &at)?.unwrap_or("message") {
            "message" => {
                let m: MessageItem = decode(v, &at)?;
                let role = match m.role {
                    ItemRole::User => Role::User,
                    ItemRole::System => Role::System,
                    ItemRole::Developer => Role::Developer,
                    ItemRole::Assistant => Role::Assistant,
                };
                let content = content(m.content, &format!("{at}.content"), role)?;
                message(role, Some(content))
            }
            "function_call" => {
                let c: FunctionCallItem = decode(v, &at)?;
                Message {
                    tool_calls: vec![ToolCall {
                        id: c.call_id,
                        name: c.name,
                        arguments: c.arguments,
                    }],
                    ..message(Role::Assistant, None)
                }
            }
            "function_call_output" => {
                let o: FunctionCallOutputItem = decode(v, &at)?;
                let content = content(o.output, &format!("{at}.output"), Role::Tool)?;
                Message {
                    tool_call_id: Some(o.call_id),
                    ..message(Role::Tool, Some(content))
                }
            }
            other => {
                let path = format!("{at}.type");
                return Err(invalid(
                    &path,
                    format!(
                        "Invalid value for `{path}`: `{other}` is not an input item type Switchyard serves (message, function_call, function_call_output)."
                    ),
                ));
            }
        };
        push(out, m);
    }
    Ok(())
}

/// Append `more` to `out`, as [`push`] does.
pub(super) fn append(out: &mut Vec<Message>, more: Vec<Message>) {
    for m in more {
        push(out, m);
    }
}

/// Append `m`; a function call joins the assistant message before it, so
/// a turn's text and calls (and parallel calls) stay one message.
fn push(out: &mut Vec<Message>, m: Message) {
    if m.role == Role::Assistant
        && m.content.is_none()
        && let Some(last) = out.last_mut()
        && last.role == Role::Assistant
    {
        last.tool_calls.extend(m.tool_calls);
        return;
    }
    out.push(m);
}

fn message(role: Role, content: Option<Content>) -> Message {
    Message {
        role,
        content,
        name: None,
        tool_calls: vec![],
        tool_call_id: None,
        extra_json: None,
    }
}

/// Content of a message of `role` at `at`. An assistant's parts (an
/// earlier turn's output) become one text; a lone text part is plain text.
fn content(c: ItemContent, at: &str, role: Role) -> Result<Content, ApiError> {
    let parts = match c {
        ItemContent::Text(t) => return Ok(Content::Text(t)),
        ItemContent::Parts(p) => p,
    };
    if parts.is_empty() {
        return Err(invalid(
            at,
            format!("Invalid value for `{at}`: empty array. Expected at least one content part."),
        ));
    }
    let mut out = Vec::with_capacity(parts.len());
    for (j, v) in parts.into_iter().enumerate() {
        out.push(part(v, &format!("{at}[{j}]"))?);
    }
    let all_text = out.iter().all(|p| matches!(p, ContentPart::Text(_)));
    if all_text && (role == Role::Assistant || out.len() == 1) {
        let text = out
            .into_iter()
            .filter_map(|p| match p {
                ContentPart::Text(t) => Some(t),
                _ => None,
            })
            .collect::<String>();
        return Ok(Content::Text(text));
    }
    Ok(Content::Parts(out))
}

fn part(v: Value, at: &str) -> Result<ContentPart, ApiError> {
    let path = format!("{at}.type");
    match kind(&v, at)? {
        Some("input_text" | "output_text" | "text") => {
            Ok(ContentPart::Text(decode::<TextPart>(v, at)?.text))
        }
        Some("refusal") => Ok(ContentPart::Text(decode::<RefusalPart>(v, at)?.refusal)),
        Some("input_image") => {
            let img: ImagePart = decode(v, at)?;
            match (img.image_url, img.file_id) {
                (Some(url), _) => Ok(ContentPart::Image(ImageUrl {
                    url,
                    detail: img.detail,
                })),
                (None, Some(_)) => {
                    let path = format!("{at}.file_id");
                    Err(invalid(
                        &path,
                        format!(
                            "`{path}` is not supported: Switchyard has no file store. Send the image as `image_url` (an https: URL or a data: URL)."
                        ),
                    ))
                }
                (None, None) => {
                    let path = format!("{at}.image_url");
                    Err(invalid(
                        &path,
                        format!("Missing required parameter: `{path}`."),
                    ))
                }
            }
        }
        Some(other) => Err(invalid(
            &path,
            format!(
                "Invalid value for `{path}`: `{other}` is not a content part Switchyard serves (input_text, input_image; output_text and refusal from an earlier turn)."
            ),
        )),
        None => Err(invalid(
            &path,
            format!("Missing required parameter: `{path}`."),
        )),
    }
}
