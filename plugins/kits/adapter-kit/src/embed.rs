//! Embeddings wire formats shared by the adapters that export the
//! `embeddings` interface: the OpenAI body (the `openai` and `azure-openai`
//! adapters), Gemini's `batchEmbedContents`, and Bedrock's Titan and Cohere
//! InvokeModel bodies.
//!
//! The functions here take and return plain Rust values ([`Texts`] in,
//! [`Vectors`] out) rather than the `embeddings` records, because those
//! records are generated inside each adapter's own bindings (an exported
//! interface cannot be bound once here); each adapter converts at its
//! `Guest` impl. Nothing here does I/O or calls a host import.

pub mod bedrock;
pub mod gemini;
pub mod openai;

use crate::err;
use crate::types::{ErrorKind, ProviderError};

/// What the adapters' embeddings requests carry, in plain values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Texts {
    /// The upstream's model name.
    pub model: String,
    /// The texts, in order; never empty.
    pub input: Vec<String>,
    /// The dimensions asked for, if any.
    pub dimensions: Option<u32>,
    /// The end user's id, if any.
    pub user: Option<String>,
}

/// A parsed embeddings answer, in plain values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vectors {
    /// One vector per input, in input order.
    pub embeddings: Vec<Vec<f32>>,
    /// The model the provider names, if it does.
    pub model: Option<String>,
    /// Input tokens, when reported.
    pub prompt_tokens: Option<u32>,
}

/// A 2xx body the adapter cannot read: an upstream fault, not the client's.
pub(crate) fn bad_body(what: &str, e: impl std::fmt::Display) -> ProviderError {
    err(
        ErrorKind::Other,
        format!("the provider's {what} answer is not readable: {e}"),
    )
}

/// Check that the answer has one vector per input.
pub(crate) fn one_per_input(v: Vectors, inputs: usize) -> Result<Vectors, ProviderError> {
    if v.embeddings.len() == inputs {
        Ok(v)
    } else {
        Err(err(
            ErrorKind::Other,
            format!(
                "the provider returned {} embeddings for {inputs} inputs",
                v.embeddings.len()
            ),
        ))
    }
}
