//! Meta's send and status error codes → failures an agent can act on.
//!
//! Meta reports a failed send with a numeric `code` (plus, on Messenger and Instagram, an
//! `error_subcode`), synchronously from the Graph API or later in a WhatsApp `failed`
//! status. Agents should never have to read those numbers: [`failure_from_meta`] turns
//! them into a [`SendFailure`] whose `reason` says what happened and what to do, and
//! whose `retryable` tells the relay's sender whether backing off and trying again can
//! help (reference §5d).
//!
//! Decisions where the reference leaves room:
//! - Code 551 means "this person isn't available right now" whatever its subcode (the
//!   reference names 1545041, the one seen in practice).
//! - Code 10 with a subcode we don't know, and codes 200–299, are permission problems:
//!   not retryable, and the reason asks an admin to check the channel, with Meta's words.
//! - 368 (temporarily blocked for policy) and 131048/131049 (quality limits) are not
//!   retryable: they last hours or days, and blind retries make them worse.
//! - Anything else is unknown: not retryable, and the reason carries Meta's own message
//!   (trimmed and shortened) so an agent or support has something to go on.

use ventana_protocol::event::SendFailure;

/// Meta's message is attacker-influenced only in theory, but it is shown to agents and
/// logged: keep it to a sentence or two.
const MAX_META_MESSAGE_CHARS: usize = 300;

/// A send failed with Meta's `code` (and `subcode`, if any): what should the agent see,
/// and may the relay try again?
pub fn failure_from_meta(
    code: i64,
    subcode: Option<i64>,
    meta_message: Option<&str>,
) -> SendFailure {
    let retryable = is_retryable(code, subcode);
    let reason = match known_reason(code, subcode) {
        Some(Reason::Fixed(sentence)) => sentence.to_owned(),
        Some(Reason::Permission) => permission_reason(code, subcode, meta_message),
        None => unknown_reason(code, subcode, meta_message),
    };
    SendFailure {
        code,
        subcode,
        reason,
        retryable,
    }
}

/// Whether sending again later may succeed: throttling and Meta's temporary failures.
/// Everything else (window closed, opted out, undeliverable, bad token, policy blocks,
/// unknown codes) needs a person to change something first.
pub fn is_retryable(code: i64, subcode: Option<i64>) -> bool {
    // Subcodes don't change the verdict for any retryable code we know of.
    let _ = subcode;
    matches!(
        code,
        // Graph: temporary / unexpected errors.
        1 | 2
        // Graph and Messenger throttling.
        | 4 | 17 | 341 | 613
        // Messenger: temporary send failure.
        | 1200
        // WhatsApp: WABA, throughput and pair rate limits; account maintenance.
        | 80007 | 130429 | 131056 | 131057
    )
}

enum Reason {
    Fixed(&'static str),
    /// Code 10 with an unknown subcode, or 200–299: a permission the channel lacks.
    Permission,
}

fn known_reason(code: i64, subcode: Option<i64>) -> Option<Reason> {
    let sentence = match (code, subcode) {
        (10, Some(2018278)) => {
            "The customer's 24-hour Messenger reply window has closed. Within 7 days of their \
             last message a human agent can still reply with the HUMAN_AGENT tag (if the \
             channel is approved for it); otherwise wait for the customer to write again."
        }
        (10, Some(2534022)) => {
            "The customer's 24-hour Instagram reply window has closed. Within 7 days of their \
             last message a human agent can still reply with the HUMAN_AGENT tag (if the \
             channel is approved for it); otherwise wait for the customer to write again."
        }
        (10, Some(1893063)) => {
            "Meta has temporarily restricted this Page from sending messages. An admin should \
             check the Page's status in Meta Business Suite; sending works again once the \
             restriction is lifted."
        }
        (10, _) => return Some(Reason::Permission),
        (200..=299, _) => return Some(Reason::Permission),
        (131047, _) => {
            "More than 24 hours have passed since the customer last wrote on WhatsApp, so \
             free-form messages can't be sent. Send an approved template instead."
        }
        (130429, _) => {
            "This WhatsApp number reached its sending rate limit. Try again in a few minutes."
        }
        (131056, _) => {
            "Too many messages were sent to this customer in a short time. Wait a minute and \
             try again."
        }
        (80007, _) => {
            "The WhatsApp Business Account reached its rate limit. Try again in a few minutes."
        }
        (4, _) => "Meta's request limit for this app was reached. Try again in a few minutes.",
        (17, _) => "Meta's request limit for this account was reached. Try again in a few minutes.",
        (341, _) => "Meta's application limit was reached. Try again in a few minutes.",
        (613, _) => "Meta's rate limit for sending was exceeded. Try again in a few minutes.",
        (1, _) => "Meta had a temporary problem. Try again in a few minutes.",
        (2, _) => {
            "Meta's service was temporarily unavailable. Try again in a few minutes; if it \
             keeps failing, the customer may have blocked the business."
        }
        (1200, _) => "Meta could not send the message this time. Try again in a few minutes.",
        (131057, _) => {
            "The WhatsApp account is briefly in maintenance (usually under a minute). Try \
             again shortly."
        }
        (131050, _) => {
            "The customer has stopped marketing messages from this business on WhatsApp. \
             Don't send them marketing templates; replies and utility templates still work."
        }
        (131026, _) => {
            "WhatsApp could not deliver the message: the number may not be on WhatsApp, may \
             use an outdated app, or hasn't accepted the latest terms. Check the number or \
             reach the customer another way."
        }
        (131048, _) => {
            "WhatsApp is limiting this number because too many of its messages were reported \
             as spam. Slow down and review what is being sent before sending more."
        }
        (131049, _) => {
            "WhatsApp held back this marketing message to limit how many the customer \
             receives. Don't resend it now; try a different message later."
        }
        (551, _) => {
            "This person isn't available on Messenger right now (they may have blocked the \
             Page or left). Don't send again; reach them another way."
        }
        (100, Some(2018001)) => {
            "Messenger found no user matching this contact. The conversation can't be \
             answered from here; don't send again."
        }
        (190, _) => {
            "The channel's access token has expired or was revoked. An admin must reconnect \
             the channel before messages can be sent."
        }
        (368, _) => {
            "Meta has temporarily blocked this account from sending because of a policy \
             violation. Review Meta's messaging policies; sending works again when the block \
             ends."
        }
        _ => return None,
    };
    Some(Reason::Fixed(sentence))
}

fn permission_reason(code: i64, subcode: Option<i64>, meta_message: Option<&str>) -> String {
    let mut reason = format!(
        "Meta refused the send for lack of permission ({}). An admin should check the \
         channel's permissions and reconnect it if needed.",
        code_label(code, subcode)
    );
    if let Some(message) = clean(meta_message) {
        reason.push_str(" Meta says: ");
        reason.push_str(&message);
    }
    reason
}

fn unknown_reason(code: i64, subcode: Option<i64>, meta_message: Option<&str>) -> String {
    match clean(meta_message) {
        Some(message) => format!(
            "Meta rejected the message ({}): {message} Contact support if it keeps happening.",
            code_label(code, subcode)
        ),
        None => format!(
            "Meta rejected the message ({}). Contact support if it keeps happening.",
            code_label(code, subcode)
        ),
    }
}

fn code_label(code: i64, subcode: Option<i64>) -> String {
    match subcode {
        Some(subcode) => format!("error {code}/{subcode}"),
        None => format!("error {code}"),
    }
}

/// Meta's message with whitespace collapsed, cut to a readable length on a character
/// boundary, and ending in punctuation so it reads as a sentence; `None` when blank.
fn clean(meta_message: Option<&str>) -> Option<String> {
    let words: Vec<&str> = meta_message?.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    let joined = words.join(" ");
    let mut message: String = joined.chars().take(MAX_META_MESSAGE_CHARS).collect();
    if message.len() < joined.len() {
        message.push('…');
    }
    if !message.ends_with(['.', '!', '?', '…']) {
        message.push('.');
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (code, subcode, retryable, words the reason must contain)
    const TABLE: &[(i64, Option<i64>, bool, &[&str])] = &[
        (
            10,
            Some(2018278),
            false,
            &["24-hour", "Messenger", "HUMAN_AGENT"],
        ),
        (
            10,
            Some(2534022),
            false,
            &["24-hour", "Instagram", "HUMAN_AGENT"],
        ),
        (131047, None, false, &["24 hours", "template"]),
        (130429, None, true, &["rate limit", "Try again"]),
        (131056, None, true, &["Too many", "try again"]),
        (4, None, true, &["limit", "Try again"]),
        (613, None, true, &["rate limit", "Try again"]),
        (80007, None, true, &["rate limit", "Try again"]),
        (1, None, true, &["temporary", "Try again"]),
        (2, None, true, &["temporarily", "Try again"]),
        (17, None, true, &["limit", "Try again"]),
        (341, None, true, &["limit", "Try again"]),
        (1200, None, true, &["could not send", "Try again"]),
        (131057, None, true, &["maintenance", "again"]),
        (131050, None, false, &["stopped marketing", "Don't send"]),
        (131026, None, false, &["could not deliver", "another way"]),
        (131048, None, false, &["spam", "Slow down"]),
        (131049, None, false, &["marketing", "Don't resend"]),
        (
            551,
            Some(1545041),
            false,
            &["isn't available", "Don't send again"],
        ),
        (100, Some(2018001), false, &["no user", "don't send again"]),
        (190, None, false, &["expired", "admin must reconnect"]),
        (368, None, false, &["blocked", "policy"]),
        (10, Some(1893063), false, &["restricted", "Page"]),
    ];

    #[test]
    fn every_listed_code_has_an_actionable_reason_and_the_right_retry_verdict() {
        for &(code, subcode, retryable, words) in TABLE {
            let failure = failure_from_meta(code, subcode, Some("whatever Meta said"));
            assert_eq!(failure.code, code);
            assert_eq!(failure.subcode, subcode);
            assert_eq!(failure.retryable, retryable, "{code}/{subcode:?}");
            assert_eq!(is_retryable(code, subcode), retryable, "{code}/{subcode:?}");
            for word in words {
                assert!(
                    failure.reason.contains(word),
                    "{code}/{subcode:?}: {:?} lacks {word:?}",
                    failure.reason
                );
            }
            // Known codes speak for themselves; Meta's wording is not needed.
            assert!(!failure.reason.contains("whatever Meta said"), "{code}");
            assert!(failure.reason.ends_with('.'), "{code}: {}", failure.reason);
        }
    }

    #[test]
    fn the_two_window_subcodes_name_their_platform() {
        let messenger = failure_from_meta(10, Some(2018278), None).reason;
        let instagram = failure_from_meta(10, Some(2534022), None).reason;
        assert_ne!(messenger, instagram);
    }

    #[test]
    fn unknown_codes_are_not_retryable_and_carry_metas_message() {
        let failure = failure_from_meta(131999, None, Some("  Something   odd\nhappened "));
        assert!(!failure.retryable);
        assert_eq!(
            failure.reason,
            "Meta rejected the message (error 131999): Something odd happened. Contact \
             support if it keeps happening."
        );
        let failure = failure_from_meta(42, Some(7), None);
        assert!(!failure.retryable);
        assert_eq!(
            failure.reason,
            "Meta rejected the message (error 42/7). Contact support if it keeps happening."
        );
        // A blank message counts as none.
        assert_eq!(
            failure_from_meta(42, Some(7), Some(" \n ")).reason,
            failure.reason
        );
    }

    #[test]
    fn code_100_without_the_known_subcode_is_unknown() {
        let failure = failure_from_meta(100, Some(33), Some("Invalid parameter"));
        assert!(!failure.retryable);
        assert!(failure.reason.contains("error 100/33"));
        assert!(failure.reason.contains("Invalid parameter."));
    }

    #[test]
    fn other_code_10_subcodes_and_200s_are_permission_problems() {
        for (code, subcode) in [(10, Some(2018065)), (10, None), (200, None), (299, Some(1))] {
            let failure = failure_from_meta(code, subcode, Some("(#10) Needs permission"));
            assert!(!failure.retryable, "{code}");
            assert!(failure.reason.contains("permission"), "{code}");
            assert!(
                failure
                    .reason
                    .contains("Meta says: (#10) Needs permission.")
            );
        }
    }

    #[test]
    fn long_meta_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(1000);
        let failure = failure_from_meta(999_999, None, Some(&long));
        assert!(failure.reason.contains('…'));
        assert!(failure.reason.chars().count() < 400);
    }

    #[test]
    fn extreme_codes_do_not_panic() {
        for code in [i64::MIN, -1, 0, i64::MAX] {
            let failure = failure_from_meta(code, Some(i64::MIN), Some(""));
            assert!(!failure.retryable);
        }
    }
}
