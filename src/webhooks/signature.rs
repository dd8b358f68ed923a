//! The `Opsledger-Signature` header: `v1=` and the hex HMAC-SHA256, keyed with the
//! subscription's secret, of `"<timestamp>.<body>"`, where the timestamp is the
//! `Opsledger-Timestamp` header (Unix seconds). Receivers recompute it, compare in constant
//! time, and refuse timestamps further than [`SIGNATURE_TOLERANCE_SECS`] from their clock
//! (a replayed request is then refused; within the window, dedup by `Opsledger-Delivery`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far from the receiver's clock a timestamp may be, in seconds (5 minutes).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp` (Unix seconds): `v1=<64 hex digits>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    let mut out = String::with_capacity(3 + 64);
    out.push_str("v1=");
    for b in tag {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Checks a received request: the signature header (any of its comma-separated `v1=`
/// values) against `body` and the timestamp header, and the timestamp against `now` (Unix
/// seconds) within [`SIGNATURE_TOLERANCE_SECS`]. Constant-time comparison.
///
/// ```
/// use opsledger::webhooks::{sign, verify};
/// let body = br#"{"event_type":"incident.opened"}"#;
/// let header = sign(b"0123456789abcdef", 1_800_000_000, body);
/// assert!(verify(b"0123456789abcdef", "1800000000", &header, body, 1_800_000_060));
/// assert!(!verify(b"0123456789abcdef", "1800000000", &header, b"{}", 1_800_000_060));
/// assert!(!verify(b"0123456789abcdef", "1800000000", &header, body, 1_800_009_999));
/// ```
pub fn verify(secret: &[u8], timestamp: &str, signature: &str, body: &[u8], now: i64) -> bool {
    let Ok(ts) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    if (now - ts).abs() > SIGNATURE_TOLERANCE_SECS {
        return false;
    }
    signature.split(',').any(|part| {
        let Some(hex) = part.trim().strip_prefix("v1=") else {
            return false;
        };
        let Some(bytes) = decode_hex(hex) else {
            return false;
        };
        mac(secret, ts, body).verify_slice(&bytes).is_ok()
    })
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 ("Jefe"), through the same MAC: the construction is HMAC-SHA256.
    #[test]
    fn is_hmac_sha256() {
        let mut m = Hmac::<Sha256>::new_from_slice(b"Jefe").expect("key");
        m.update(b"what do ya want for nothing?");
        let hex: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // sign() is that MAC over "<timestamp>.<body>".
        let mut m = Hmac::<Sha256>::new_from_slice(b"k").expect("key");
        m.update(b"42.{}");
        let expected: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sign(b"k", 42, b"{}"), format!("v1={expected}"));
    }
}
