//! Serialising JSON the way Meta writes webhook bodies: compact, pure ASCII, with Meta's
//! escapes, so that a relay which re-serialises a body instead of hashing the bytes it
//! received fails its signature check here just as it would against Meta.
//!
//! The rules, and the evidence for each:
//!
//! - Every non-ASCII character becomes `\uXXXX` with lowercase hex; characters beyond the
//!   BMP (emoji) become a UTF-16 surrogate pair (`👍` is `\ud83d\udc4d`). Meta's own words
//!   (reference §2: "`äöå` should be escaped to `\u00e4\u00f6\u00e5`"), the fixtures
//!   (`"\u2764\ufe0f"`, `"\ud83d\udc4d"`) and `test_vectors.json` (turning those escapes into
//!   raw UTF-8 changes the digest).
//! - `/` becomes `\/`. Raw Messenger webhook bodies captured in 2016–2017 carry
//!   `"url":"https:\/\/scontent.xx.fbcdn.net\/v\/…"` and `https:\/\/cdn.fbsbx.com\/v\/…`, and
//!   a character-by-character test against live Messenger signatures (Hacker Noon,
//!   "Regenerating a raw request payload: an impossible task?", 2017) found `/` must be
//!   written `\/`.
//! - `@` becomes `\u0040`, `%` becomes `\u0025` and `<` becomes `\u003C` (with an
//!   *uppercase* `C`, which that test called out as breaking Meta's own "lowercase hex"
//!   rule). Same test; the `@` one is also in reference §2 (re-serialising fails when the
//!   text contains `@`), and a 2010 Graph API capture shows `"zkessin\u0040…"`.
//! - Everything else that is printable ASCII stays literal, `&`, `>`, `'` and `` ` ``
//!   included (the same captures show `?_nc_ad=z-m&oh=…&oe=…` with a bare `&`).
//! - `"`, `\` and control characters use JSON's standard escapes (`\"`, `\\`, `\n`, `\t`,
//!   …, other controls as lowercase `\u00XX`), and DEL as `\u007f`. Meta's handling of
//!   these is not documented; these are the common encoders' choices (PHP's `json_encode`,
//!   and `jsesc` in JSON mode, which the reconstructions above build on).
//!
//! The fixtures in `fixtures/meta/` are pretty-printed by hand and write `/` bare; they are
//! examples of shape, not captures of bytes on the wire, so they are not evidence against
//! `\/`.

use serde::Serialize;
use serde_json::ser::Formatter;
use std::io;

/// How Meta writes `<`: the one escape whose hex is uppercase (see the module docs).
const LESS_THAN: &[u8] = b"\\u003C";

/// A `serde_json` formatter that writes compact JSON with Meta's escapes. Usable with any
/// `Serialize` type through [`serde_json::Serializer::with_formatter`]; [`to_vec`] and
/// [`to_string`] are the shortcuts.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetaFormatter;

impl Formatter for MetaFormatter {
    // serde_json hands over runs of a string that need no *standard* JSON escape (it has
    // already taken out quotes, backslashes and control characters), split on char
    // boundaries. Meta escapes more than the standard, so those runs are escaped here.
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let bytes = fragment.as_bytes();
        let mut plain_from = 0;
        for (at, ch) in fragment.char_indices() {
            let escaped = match ch {
                '/' | '@' | '%' | '<' | '\u{7f}' => true,
                c => !c.is_ascii(),
            };
            if !escaped {
                continue;
            }
            writer.write_all(&bytes[plain_from..at])?;
            plain_from = at + ch.len_utf8();
            match ch {
                '/' => writer.write_all(b"\\/")?,
                '<' => writer.write_all(LESS_THAN)?,
                c => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        write!(writer, "\\u{unit:04x}")?;
                    }
                }
            }
        }
        writer.write_all(&bytes[plain_from..])
    }
}

/// `value` as Meta would put it on the wire. Fails only where `serde_json` itself would
/// (a map with non-string keys, a failing `Serialize` impl); never for a
/// [`serde_json::Value`].
pub fn to_vec<T: ?Sized + Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, MetaFormatter);
    value.serialize(&mut serializer)?;
    Ok(out)
}

/// [`to_vec`] as a `String` (the output is always ASCII).
pub fn to_string<T: ?Sized + Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let bytes = to_vec(value)?;
    // The formatter writes ASCII only, so this conversion cannot fail; mapping the error
    // keeps that an error rather than a panic if it ever did.
    String::from_utf8(bytes).map_err(|e| {
        serde_json::Error::io(io::Error::new(io::ErrorKind::InvalidData, e.utf8_error()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn meta(value: &Value) -> String {
        to_string(value).unwrap()
    }

    #[test]
    fn escapes_non_ascii_with_lowercase_hex_as_meta_documents() {
        assert_eq!(meta(&json!("äöå")), r#""\u00e4\u00f6\u00e5""#);
        assert_eq!(meta(&json!("ÄÖ")), r#""\u00c4\u00d6""#);
    }

    #[test]
    fn writes_emoji_as_surrogate_pairs_like_the_fixtures() {
        assert_eq!(meta(&json!("❤️")), r#""\u2764\ufe0f""#);
        assert_eq!(meta(&json!("👍")), r#""\ud83d\udc4d""#);
        // A skin-tone modifier and a flag: two astral characters each.
        assert_eq!(meta(&json!("👍🏽")), r#""\ud83d\udc4d\ud83c\udffd""#);
        assert_eq!(meta(&json!("🇪🇸")), r#""\ud83c\uddea\ud83c\uddf8""#);
    }

    #[test]
    fn escapes_the_ascii_characters_meta_escapes_and_no_others() {
        assert_eq!(
            meta(&json!("https://x.invalid/a?b=1&c=2")),
            r#""https:\/\/x.invalid\/a?b=1&c=2""#
        );
        assert_eq!(meta(&json!("ana@example.com")), r#""ana\u0040example.com""#);
        assert_eq!(meta(&json!("50% off")), r#""50\u0025 off""#);
        assert_eq!(meta(&json!("<3 >_<")), r#""\u003C3 >_\u003C""#);
        let literal = " !#$&'()*+,-.0123456789:;=>?ABCXYZ[]^_`abcxyz{|}~";
        assert_eq!(meta(&json!(literal)), format!("\"{literal}\""));
    }

    #[test]
    fn uses_standard_escapes_for_quotes_backslashes_and_controls() {
        assert_eq!(
            meta(&json!("a\"b\\c\nd\te\r\u{8}\u{c}\u{1}\u{1f}\u{7f}")),
            r#""a\"b\\c\nd\te\r\b\f\u0001\u001f\u007f""#
        );
    }

    #[test]
    fn is_compact_and_escapes_keys_too() {
        let value = json!({"a/b": [1, 2.5, true, null], "é": {"x": "y"}});
        assert_eq!(
            meta(&value),
            r#"{"a\/b":[1,2.5,true,null],"\u00e9":{"x":"y"}}"#
        );
    }

    #[test]
    fn serialises_structs_in_field_order() {
        #[derive(Serialize)]
        struct Event {
            sender: &'static str,
            recipient: &'static str,
            timestamp: i64,
        }
        let event = Event {
            sender: "1",
            recipient: "2",
            timestamp: 3,
        };
        assert_eq!(
            to_string(&event).unwrap(),
            r#"{"sender":"1","recipient":"2","timestamp":3}"#
        );
    }

    #[test]
    fn reproduces_every_escape_the_fixtures_contain() {
        // The fixtures are pretty-printed, so their bytes cannot be reproduced; but each
        // `\u` escape they contain must come out of meta_json exactly as written there.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/meta");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let raw = std::fs::read_to_string(&path).unwrap();
            let value: Value = serde_json::from_str(&raw).unwrap();
            let ours = meta(&value);
            let mut rest = raw.as_str();
            while let Some(at) = rest.find("\\u") {
                let run_end = rest[at..]
                    .char_indices()
                    .find(|&(i, c)| i > 0 && c == '"')
                    .map_or(rest.len(), |(i, _)| at + i);
                let escaped_run = &rest[at..run_end];
                assert!(
                    ours.contains(escaped_run),
                    "{}: {escaped_run} is not in {ours}",
                    path.display()
                );
                checked += 1;
                rest = &rest[run_end..];
            }
        }
        assert!(
            checked >= 3,
            "expected the fixtures' emoji escapes, found {checked}"
        );
    }

    /// Any JSON value, with arbitrary Unicode in its strings and keys.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1.0e12f64..1.0e12).prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "\\PC*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_string_comes_out_ascii_and_parses_back(s in any::<String>()) {
            let value = Value::String(s);
            let out = to_vec(&value).unwrap();
            prop_assert!(out.is_ascii());
            prop_assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), value);
        }

        #[test]
        fn any_value_comes_out_ascii_compact_and_parses_back(value in any_value()) {
            let out = to_vec(&value).unwrap();
            prop_assert!(out.is_ascii());
            prop_assert!(!out.contains(&b'\n'));
            // Nothing is left bare that Meta escapes (inside strings or not: `/`, `@`, `%`
            // and `<` cannot appear in JSON's own syntax).
            prop_assert!(!out.iter().any(|&b| matches!(b, b'@' | b'%' | b'<' | 0x7f)));
            prop_assert!(!out.windows(2).any(|w| w[1] == b'/' && w[0] != b'\\'));
            prop_assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), value);
        }
    }
}
