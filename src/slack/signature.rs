//! Slack request signatures (REQ-004): `v0=` + hex HMAC-SHA256 of
//! `v0:{timestamp}:{raw body}` under the signing secret, compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Requests further than this from now, either way, are replays or clock trouble.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed X-Slack-Signature or X-Slack-Request-Timestamp")]
    Missing,
    #[error("request timestamp is more than 5 minutes from now")]
    Expired,
    #[error("signature does not match")]
    Mismatch,
}

impl SignatureError {
    /// The contract's error code for this rejection.
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Expired => "request_expired",
            SignatureError::Missing | SignatureError::Mismatch => "invalid_signature",
        }
    }
}

/// Checks one request. `now` is Unix seconds, passed in so the expiry edges are testable.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let sent_at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Missing)?;
    // `abs_diff`: the timestamp is the sender's, and `now - i64::MIN` overflows.
    if now.abs_diff(sent_at) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(SignatureError::Expired);
    }
    let expected = signature
        .strip_prefix("v0=")
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or(SignatureError::Mismatch)?;
    mac(secret, timestamp, body)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The `X-Slack-Signature` value Slack would send; tests and the demo sign with it.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked example of https://api.slack.com/authentication/verifying-requests-from-slack
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const SENT: i64 = 1_531_420_618;

    #[test]
    fn slacks_documented_example_verifies() {
        assert_eq!(sign(SECRET, TIMESTAMP, BODY), SIGNATURE);
        assert_eq!(
            verify(SECRET, Some(TIMESTAMP), Some(SIGNATURE), BODY, SENT),
            Ok(())
        );
    }

    #[test]
    fn exactly_five_minutes_either_way_is_accepted() {
        for now in [SENT + MAX_SKEW_SECS, SENT - MAX_SKEW_SECS] {
            assert_eq!(
                verify(SECRET, Some(TIMESTAMP), Some(SIGNATURE), BODY, now),
                Ok(())
            );
        }
    }

    #[test]
    fn one_second_past_five_minutes_either_way_is_expired() {
        for now in [SENT + MAX_SKEW_SECS + 1, SENT - MAX_SKEW_SECS - 1] {
            assert_eq!(
                verify(SECRET, Some(TIMESTAMP), Some(SIGNATURE), BODY, now),
                Err(SignatureError::Expired)
            );
        }
    }

    #[test]
    fn a_timestamp_at_the_ends_of_the_range_is_expired_not_a_panic() {
        for sent in [i64::MIN, i64::MAX] {
            let timestamp = sent.to_string();
            let signature = sign(SECRET, &timestamp, BODY);
            assert_eq!(
                verify(SECRET, Some(&timestamp), Some(&signature), BODY, SENT),
                Err(SignatureError::Expired),
                "{sent}"
            );
        }
    }

    #[test]
    fn a_changed_body_secret_or_signature_is_refused() {
        let mut body = BODY.to_vec();
        body[0] = b'T';
        assert_eq!(
            verify(SECRET, Some(TIMESTAMP), Some(SIGNATURE), &body, SENT),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"other-secret",
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY,
                SENT
            ),
            Err(SignatureError::Mismatch)
        );
        for bad in ["v1=a2114d57", "a2114d57b48e", "v0=zz", "v0="] {
            assert_eq!(
                verify(SECRET, Some(TIMESTAMP), Some(bad), BODY, SENT),
                Err(SignatureError::Mismatch),
                "{bad}"
            );
        }
    }

    #[test]
    fn missing_or_garbled_headers_are_invalid_signatures() {
        assert_eq!(
            verify(SECRET, None, Some(SIGNATURE), BODY, SENT),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(SECRET, Some(TIMESTAMP), None, BODY, SENT),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(SECRET, Some("yesterday"), Some(SIGNATURE), BODY, SENT),
            Err(SignatureError::Missing)
        );
        assert_eq!(SignatureError::Missing.code(), "invalid_signature");
        assert_eq!(SignatureError::Expired.code(), "request_expired");
    }
}
