//! Errors that reach a client: a status, the dialect's error type and code, the
//! offending parameter when there is one, and a message that says what to fix.
//! Each ingress dialect renders these in its own JSON shape.
//! It never logs and never decides a status on its own: the stage that
//! fails says what happened, this module says it in the client's terms.

use http::StatusCode;

/// An error answered to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The OpenAI-style error type (`invalid_request_error`, …).
    pub kind: &'static str,
    /// A machine-readable code (`model_not_found`, …).
    pub code: Option<String>,
    /// The request field at fault.
    pub param: Option<String>,
    /// What went wrong and what to do about it.
    pub message: String,
    /// Seconds the client should wait before retrying.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A new error with no code, param or retry hint.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            code: None,
            param: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Set the code.
    pub fn code(mut self, code: impl Into<String>) -> ApiError {
        self.code = Some(code.into());
        self
    }

    /// Set the param.
    pub fn param(mut self, param: impl Into<String>) -> ApiError {
        self.param = Some(param.into());
        self
    }

    /// 400 for a malformed request.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 404 for a model that no route or model of the config names.
    pub fn unknown_model(model: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!(
                "The model `{model}` does not exist on this gateway. GET /v1/models lists the routes and models it serves."
            ),
        )
        .code("model_not_found")
        .param("model")
    }

    /// 500 for a fault of the gateway itself.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// The OpenAI dialect's error body; with the request's id (as
    /// `error.request_id`) when there is one.
    pub fn openai_body(&self, request_id: Option<&str>) -> Vec<u8> {
        let mut body = serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        });
        if let (Some(id), Some(e)) = (request_id, body.get_mut("error"))
            && let Some(e) = e.as_object_mut()
        {
            e.insert("request_id".into(), id.into());
        }
        body.to_string().into_bytes()
    }
}
