//! The Graph API's error answers, as Meta writes them: `{"error": {message, type, code,
//! error_subcode?, is_transient?, error_data?, fbtrace_id}}` with Meta's HTTP status (reference §5d, "Generic Graph errors").
//!
//! Every constructor says where its code and words come from. Where neither the reference
//! nor the fixtures pin the exact message, the doc comment says UNVERIFIED: the code and
//! subcode are what a client branches on (reference §5d: "build logic on `code` and
//! `error_data.details`, not on titles"), the words are best effort.
//!
//! HTTP status: Meta answers Graph errors with 400, token errors included ("the API will
//! return an HTTP 400 status code", developers.facebook.com/docs/facebook-login/
//! access-tokens/debugging-and-error-handling, read outside the reference). The temporary
//! codes 1 and 2 come with 500. UNVERIFIED: whether WhatsApp's Cloud API answers 190 with
//! 401 (some clients report 401); metasim uses 400 everywhere but for code 2.

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;

/// `type` of most Graph errors.
pub const OAUTH_EXCEPTION: &str = "OAuthException";
/// `type` of "no such object" and appsecret_proof errors (seen in OSS clients' captured
/// responses; not in the reference).
pub const GRAPH_METHOD_EXCEPTION: &str = "GraphMethodException";

/// One Graph API error, before it gets its `fbtrace_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    /// The HTTP status Meta answers with.
    pub http_status: u16,
    pub message: String,
    /// `type`: [`OAUTH_EXCEPTION`] or [`GRAPH_METHOD_EXCEPTION`].
    pub kind: &'static str,
    pub code: u32,
    pub subcode: Option<u32>,
    /// `is_transient: true` on throttling and temporary failures.
    pub is_transient: bool,
    /// WhatsApp's `error_data: {messaging_product: "whatsapp", details}`.
    pub whatsapp_details: Option<String>,
}

impl GraphError {
    fn new(code: u32, message: impl Into<String>) -> Self {
        GraphError {
            http_status: 400,
            message: message.into(),
            kind: OAUTH_EXCEPTION,
            code,
            subcode: None,
            is_transient: false,
            whatsapp_details: None,
        }
    }

    fn subcode(mut self, subcode: u32) -> Self {
        self.subcode = Some(subcode);
        self
    }

    fn transient(mut self) -> Self {
        self.is_transient = true;
        self
    }

    fn method_exception(mut self) -> Self {
        self.kind = GRAPH_METHOD_EXCEPTION;
        self
    }

    /// The same error with WhatsApp's `error_data.details`.
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.whatsapp_details = Some(details.into());
        self
    }

    /// Messenger outside the 24-hour window without a tag that allows it: 10/2018278 with
    /// the fixture's exact message (`fixtures/meta/messenger_error_outside_window.json`,
    /// reference §5d).
    pub fn messenger_outside_window() -> Self {
        GraphError::new(
            10,
            "(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview",
        )
        .subcode(2_018_278)
    }

    /// Instagram outside the window: 10/2534022 (reference §5d, community-observed). The
    /// message is UNVERIFIED.
    pub fn instagram_outside_window() -> Self {
        GraphError::new(10, "(#10) This message is sent outside of allowed window.")
            .subcode(2_534_022)
    }

    /// The `HUMAN_AGENT` tag on a channel whose app is not approved for the Human Agent
    /// feature (reference §5a: it "requires the Human Agent permission/feature through App
    /// Review"). UNVERIFIED: code 10 is the reference's permission family (§5d, "10,
    /// 200–299: permission issues"); the message is Graph's generic code-10 sentence; no
    /// subcode, because none is documented and an invented one would mislead.
    pub fn human_agent_not_approved() -> Self {
        GraphError::new(
            10,
            "(#10) Application does not have permission for this action",
        )
    }

    /// Messenger/Instagram send to a user id the Page or account does not know: 100/2018001
    /// "No matching user found" (reference §5d).
    pub fn no_matching_user() -> Self {
        GraphError::new(100, "(#100) No matching user found").subcode(2_018_001)
    }

    /// Messenger/Instagram: "This person isn't available right now", 551/1545041
    /// (reference §5d); do not retry.
    pub fn person_unavailable() -> Self {
        GraphError::new(551, "(#551) This person isn't available right now.").subcode(1_545_041)
    }

    /// A malformed request: code 100 (reference §5d lists 100 as non-retryable). The words
    /// are metasim's, in Graph's `(#100) …` style: UNVERIFIED.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        GraphError::new(100, format!("(#100) {}", message.into()))
    }

    /// WhatsApp's malformed-request error: code 100 with `error_data.details`
    /// (reference §5d: build logic on `code` and `error_data.details`). Words UNVERIFIED.
    pub fn whatsapp_invalid_parameter(details: impl Into<String>) -> Self {
        GraphError::new(100, "(#100) Invalid parameter").with_details(details)
    }

    /// An id in the path that does not exist or that the token may not use: 100/33,
    /// `GraphMethodException`, Graph's well-known "Unsupported post request" sentence (as
    /// captured in OSS clients; not in the reference).
    pub fn unknown_object(method: &str, id: &str) -> Self {
        let verb = if method.eq_ignore_ascii_case("POST") {
            "post"
        } else if method.eq_ignore_ascii_case("DELETE") {
            "delete"
        } else {
            "get"
        };
        GraphError::new(
            100,
            format!(
                "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
        )
        .subcode(33)
        .method_exception()
    }

    /// A path Graph has no edge for: code 2500 "Unknown path components". UNVERIFIED (not in
    /// the reference).
    pub fn unknown_path(path: &str) -> Self {
        GraphError::new(2500, format!("Unknown path components: {path}"))
    }

    /// No access token at all: code 104. UNVERIFIED (not in the reference).
    pub fn missing_token() -> Self {
        GraphError::new(104, "An access token is required to request this resource.")
    }

    /// A token Meta never issued: 190 with no subcode (reference §5d, "190: access token
    /// expired or invalid"; "if no subcode is present, the … access token has expired,
    /// been revoked, or is otherwise invalid").
    pub fn invalid_token() -> Self {
        GraphError::new(
            190,
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    /// An expired token: 190/463 (reference §5d names 463 as widely used, UNVERIFIED), with
    /// the sentence Meta uses (as captured in chatwoot issue #9708).
    pub fn token_expired(expired_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        GraphError::new(
            190,
            format!(
                "Error validating access token: Session has expired on {}. The current time is {}.",
                pacific(expired_at),
                pacific(now)
            ),
        )
        .subcode(463)
    }

    /// A token invalidated before its expiry (the admin changed their password, lost the
    /// Page role or removed the app, reference §7): 190/460, Graph's password-change subcode
    /// (reference §5d: "460 (password changed)").
    pub fn token_invalidated() -> Self {
        GraphError::new(
            190,
            "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
        )
        .subcode(460)
    }

    /// A wrong `appsecret_proof` (reference §7 defines the proof): code 100,
    /// `GraphMethodException`, as OSS clients capture it. UNVERIFIED beyond that.
    pub fn invalid_appsecret_proof() -> Self {
        GraphError::new(100, "Invalid appsecret_proof provided in the API argument")
            .method_exception()
    }

    /// An app that requires `appsecret_proof` called without one. UNVERIFIED words, as
    /// OSS clients quote them.
    pub fn appsecret_proof_required() -> Self {
        GraphError::new(
            100,
            "API calls from the server require an appsecret_proof argument",
        )
        .method_exception()
    }

    /// Throttling and rate limits (reference §5d). Rate-limited requests are not sends.
    /// Known codes get Meta's words (4, 613 from the Messenger error table; 80007, 130429,
    /// 131056 from the WhatsApp table, with `error_data.details` as WhatsApp sends it);
    /// any other code gets a generic "Rate limit hit" (UNVERIFIED).
    pub fn rate_limited(code: u32) -> Self {
        let error = match code {
            4 => GraphError::new(4, "(#4) Application request limit reached"),
            613 => GraphError::new(613, "(#613) Calls to this API have exceeded the rate limit."),
            80_007 => GraphError::new(80_007, "(#80007) Rate limit issues").with_details(
                "The WhatsApp Business Account has reached its rate limit.",
            ),
            130_429 => GraphError::new(130_429, "(#130429) Rate limit hit")
                .with_details("Cloud API message throughput has been reached."),
            131_056 => GraphError::new(
                131_056,
                "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            )
            .with_details(
                "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
            ),
            other => GraphError::new(other, format!("(#{other}) Rate limit hit")),
        };
        error.transient()
    }

    /// Meta's temporary failure: code 2 with HTTP 500 (reference §5d: "1, 2: temporary;
    /// wait and retry"). The sentence is Graph's; HTTP 500 is UNVERIFIED.
    pub fn server_error() -> Self {
        let mut error = GraphError::new(
            2,
            "An unexpected error has occurred. Please retry your request later.",
        )
        .transient();
        error.http_status = 500;
        error
    }

    /// WhatsApp: no approved template of that name in that language: 132001 with the
    /// sentence and `details` clients capture from Meta (not in the reference).
    pub fn template_missing(name: &str, language: &str) -> Self {
        GraphError::new(
            132_001,
            "(#132001) Template name does not exist in the translation",
        )
        .with_details(format!(
            "template name ({name}) does not exist in {language}"
        ))
    }

    /// WhatsApp: a paused template, 132015. UNVERIFIED (WhatsApp error-codes page as
    /// commonly reproduced; not in the reference).
    pub fn template_paused(name: &str) -> Self {
        GraphError::new(132_015, "(#132015) Template is paused")
            .with_details(format!("Template {name} is paused due to low quality."))
    }

    /// WhatsApp: a disabled template, 132016. UNVERIFIED, as [`GraphError::template_paused`].
    pub fn template_disabled(name: &str) -> Self {
        GraphError::new(132_016, "(#132016) Template is disabled")
            .with_details(format!("Template {name} has been disabled."))
    }

    /// WhatsApp: the parameters do not match the template's placeholders: 132000 with the
    /// sentence and `details` shape clients capture from Meta (not in the reference).
    pub fn template_parameter_mismatch(component: &str, given: usize, expected: usize) -> Self {
        GraphError::new(
            132_000,
            "(#132000) Number of parameters does not match the expected number of params",
        )
        .with_details(format!(
            "{component}: number of localizable_params ({given}) does not match the expected number of params ({expected})"
        ))
    }

    /// The body Meta sends, with `fbtrace_id`, in Meta's field order.
    pub fn body(&self, fbtrace_id: &str) -> ErrorBody {
        ErrorBody {
            error: ErrorObject {
                message: self.message.clone(),
                kind: self.kind,
                code: self.code,
                error_subcode: self.subcode,
                is_transient: self.is_transient.then_some(true),
                error_data: self.whatsapp_details.as_ref().map(|details| ErrorData {
                    messaging_product: "whatsapp",
                    details: details.clone(),
                }),
                fbtrace_id: fbtrace_id.to_owned(),
            },
        }
    }
}

/// `{"error": {…}}`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorObject {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_subcode: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_transient: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_data: Option<ErrorData>,
    pub fbtrace_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorData {
    pub messaging_product: &'static str,
    pub details: String,
}

/// Meta writes token times in Pacific time ("Saturday, 29-Jun-24 09:00:00 PDT"); metasim
/// uses a fixed UTC-8 and says PST, which is close enough for a message nobody parses.
fn pacific(at: DateTime<Utc>) -> String {
    match FixedOffset::west_opt(8 * 3600) {
        Some(offset) => at
            .with_timezone(&offset)
            .format("%A, %d-%b-%y %H:%M:%S PST")
            .to_string(),
        None => at.format("%A, %d-%b-%y %H:%M:%S UTC").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(error: &GraphError) -> serde_json::Value {
        serde_json::to_value(error.body("FAKEtraceId000")).unwrap()
    }

    #[test]
    fn the_outside_window_error_is_the_fixture() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/meta/messenger_error_outside_window.json");
        let fixture: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(json(&GraphError::messenger_outside_window()), fixture);
    }

    #[test]
    fn whatsapp_errors_carry_error_data_and_others_do_not() {
        let template = json(&GraphError::template_parameter_mismatch("body", 0, 2));
        assert_eq!(
            template["error"]["error_data"]["messaging_product"],
            "whatsapp"
        );
        assert_eq!(
            template["error"]["error_data"]["details"],
            "body: number of localizable_params (0) does not match the expected number of params (2)"
        );
        let token = json(&GraphError::invalid_token());
        assert!(token["error"].get("error_data").is_none());
        assert!(token["error"].get("error_subcode").is_none());
        assert_eq!(GraphError::server_error().http_status, 500);
        assert_eq!(
            json(&GraphError::rate_limited(613))["error"]["is_transient"],
            true
        );
    }

    #[test]
    fn expiry_messages_name_both_times() {
        let at = DateTime::from_timestamp(1_760_000_000, 0).unwrap();
        let error = GraphError::token_expired(at, at + chrono::TimeDelta::hours(2));
        assert_eq!(
            error.message,
            "Error validating access token: Session has expired on Thursday, 09-Oct-25 00:53:20 PST. The current time is Thursday, 09-Oct-25 02:53:20 PST."
        );
        assert_eq!((error.code, error.subcode), (190, Some(463)));
    }
}
