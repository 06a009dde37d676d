//! Minting Meta's message ids in their real formats: Messenger `m_…` mids, Instagram's
//! base64 mids and WhatsApp's `wamid.…` (base64 of a small binary record holding the user's
//! number). Ids never repeat within one generator, by construction rather than by luck: each
//! embeds a counter passed through a bijection, so they still look random.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use rand::rngs::StdRng;
use rand::{Rng, RngCore};

/// How Instagram mids begin (see `fixtures/meta/instagram_*.json`).
const INSTAGRAM_MID_PREFIX: &str = "aWdfZAG1faXRlbTo";

/// Mints unique ids. `counter * mul + add` (mod 2^bits, `mul` odd) is a bijection, so
/// distinct counters give distinct values in any width up to 64 bits.
#[derive(Debug, Clone)]
pub(crate) struct IdMint {
    counter: u64,
    mul: u64,
    add: u64,
}

impl IdMint {
    pub(crate) fn new(rng: &mut StdRng) -> Self {
        IdMint {
            counter: 0,
            mul: rng.next_u64() | 1,
            add: rng.next_u64(),
        }
    }

    /// A value never returned before by this mint, in the low `bits` bits (as long as
    /// fewer than 2^bits values were asked for).
    fn unique(&mut self, bits: u32) -> u64 {
        let value = self.counter.wrapping_mul(self.mul).wrapping_add(self.add);
        self.counter += 1;
        if bits >= 64 {
            value
        } else {
            value & ((1u64 << bits) - 1)
        }
    }

    /// A Messenger mid: `m_` and 86 base64url characters, as current mids look.
    pub(crate) fn messenger_mid(&mut self, rng: &mut StdRng) -> String {
        let mut raw = [0u8; 64];
        raw[..8].copy_from_slice(&self.unique(64).to_be_bytes());
        rng.fill_bytes(&mut raw[8..]);
        format!("m_{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// An Instagram mid: the fixtures' (and Meta's) leading `aWdfZAG1faXRlbTo`, then base64
    /// of `1:IGMessageID:<account>:<n>`. The prefix is 16 characters, a whole number of
    /// base64 quanta, so the result is still one valid base64 string.
    pub(crate) fn instagram_mid(&mut self, rng: &mut StdRng, ig_id: &str) -> String {
        let unique = self.unique(64);
        let tail: u64 = rng.random();
        let payload = format!("1:IGMessageID:{ig_id}:{unique}{tail:020}");
        format!("{INSTAGRAM_MID_PREFIX}{}", STANDARD_NO_PAD.encode(payload))
    }

    /// A WhatsApp message id (wamid) for a message to or from `wa_id`. Inbound and
    /// outbound wamids differ in one byte and in the length of their hex part, as Meta's do.
    pub(crate) fn wamid(&mut self, rng: &mut StdRng, wa_id: &str, outbound: bool) -> String {
        let unique = self.unique(64);
        let hex = if outbound {
            format!("{unique:016X}{:02X}", rng.random::<u8>())
        } else {
            format!("{unique:016X}{:04X}", rng.random::<u16>())
        };
        let mut raw = vec![0x1c, 0x18];
        raw.push(u8::try_from(wa_id.len()).unwrap_or(u8::MAX));
        raw.extend_from_slice(wa_id.as_bytes());
        raw.extend_from_slice(&[0x15, 0x02, 0x00, if outbound { 0x11 } else { 0x12 }, 0x18]);
        raw.push(u8::try_from(hex.len()).unwrap_or(u8::MAX));
        raw.extend_from_slice(hex.as_bytes());
        raw.push(0x00);
        format!("wamid.{}", STANDARD.encode(raw))
    }

    /// A WhatsApp media id: 16 digits.
    pub(crate) fn media_id(&mut self) -> String {
        (1_000_000_000_000_000 + self.unique(52)).to_string()
    }

    /// A Messenger sticker id: 15 digits.
    pub(crate) fn sticker_id(&mut self) -> u64 {
        100_000_000_000_000 + self.unique(48)
    }

    /// A unique token of letters and digits (a Click-to-WhatsApp click id, say): the
    /// unique part as hex, then `extra` random characters.
    pub(crate) fn token(&mut self, rng: &mut StdRng, extra: usize) -> String {
        format!("{:016x}{}", self.unique(64), random_alnum(rng, extra))
    }
}

/// `len` random letters and digits (signature-like query parameters of CDN URLs).
pub(crate) fn random_alnum(rng: &mut StdRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| {
            char::from(
                ALPHABET
                    .get(rng.random_range(0..ALPHABET.len()))
                    .copied()
                    .unwrap_or(b'x'),
            )
        })
        .collect()
}

/// A media file's SHA-256 as WhatsApp sends it: base64 of 32 bytes.
pub(crate) fn media_sha256(rng: &mut StdRng) -> String {
    let mut digest = [0u8; 32];
    rng.fill_bytes(&mut digest);
    STANDARD.encode(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn wamids_decode_to_the_record_meta_uses() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut mint = IdMint::new(&mut rng);
        let wamid = mint.wamid(&mut rng, "15550001234", false);
        let raw = STANDARD.decode(wamid.trim_start_matches("wamid.")).unwrap();
        assert_eq!(&raw[..14], b"\x1c\x18\x0b15550001234");
        assert_eq!(&raw[14..20], b"\x15\x02\x00\x12\x18\x14");
        assert_eq!(raw.len(), 20 + 20 + 1);
        let out = mint.wamid(&mut rng, "15550001234", true);
        let raw = STANDARD.decode(out.trim_start_matches("wamid.")).unwrap();
        assert_eq!(&raw[14..20], b"\x15\x02\x00\x11\x18\x12");
    }

    #[test]
    fn instagram_mids_start_like_the_fixtures() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut mint = IdMint::new(&mut rng);
        assert!(
            mint.instagram_mid(&mut rng, "17841400000000001")
                .starts_with("aWdfZAG1faXRlbTo")
        );
    }

    #[test]
    fn ids_do_not_repeat() {
        let mut rng = StdRng::seed_from_u64(9);
        let mut mint = IdMint::new(&mut rng);
        let mut seen = HashSet::new();
        for _ in 0..5000 {
            assert!(seen.insert(mint.messenger_mid(&mut rng)));
            assert!(seen.insert(mint.media_id()));
            assert!(seen.insert(mint.wamid(&mut rng, "15550001234", true)));
        }
    }
}
