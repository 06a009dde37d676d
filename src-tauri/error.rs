//! The one error shape that crosses from Rust to the UI: `{code, message}`.
//!
//! The UI branches on `code` (stable, snake_case) and shows `message` (for people).
//! Nothing else about an error crosses the boundary, so internals never leak to the UI.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CommandError {
    /// A stable machine-readable code, e.g. `keyring_unavailable`, `relay_unreachable`.
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
}

impl CommandError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl From<ventana_inbox::EngineError> for CommandError {
    fn from(error: ventana_inbox::EngineError) -> Self {
        Self::new(error.code, error.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crosses_to_the_ui_as_an_object_with_code_and_message() {
        let error = CommandError::new("relay_unreachable", "The relay did not answer.");
        let json = serde_json::to_value(&error).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"code": "relay_unreachable", "message": "The relay did not answer."})
        );
    }
}
