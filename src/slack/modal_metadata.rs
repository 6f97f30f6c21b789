//! The order modal's `private_metadata`: the channel and workspace `/coffee` was run in,
//! sealed with an HMAC so a submission cannot name another.
//!
//! Slack hands `private_metadata` back verbatim, but the submitting client could have
//! changed it: signed as the request is, its text is the client's. Sealed, an order joins
//! only the channel and workspace the command came from, and only for the user who opened
//! the modal. The key is derived from the signing secret, so there is nothing new to keep;
//! a modal opened before the secret was rotated is refused with a request to reopen it.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::payloads::OrderModalMetadata;

/// What the seal's key is derived for: a key of its own, not the signing secret itself.
const KEY_PURPOSE: &[u8] = b"coffeebuddy order modal private_metadata v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("private_metadata is not the order modal's")]
    Malformed,
    #[error("private_metadata's seal does not match")]
    Forged,
}

/// The text in `private_metadata`.
#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(flatten)]
    metadata: OrderModalMetadata,
    mac: String,
}

/// `metadata` as `private_metadata` for a modal opened by `user_id`.
pub fn seal(signing_secret: &[u8], metadata: &OrderModalMetadata, user_id: &str) -> String {
    let mac = mac(signing_secret, metadata, user_id)
        .finalize()
        .into_bytes();
    let sealed = Sealed {
        metadata: metadata.clone(),
        mac: hex::encode(mac),
    };
    serde_json::to_string(&sealed).expect("plain strings serialize")
}

/// The metadata of a modal `user_id` submitted, if its seal holds.
pub fn open(
    signing_secret: &[u8],
    private_metadata: &str,
    user_id: &str,
) -> Result<OrderModalMetadata, MetadataError> {
    let sealed: Sealed =
        serde_json::from_str(private_metadata).map_err(|_| MetadataError::Malformed)?;
    let expected = hex::decode(&sealed.mac).map_err(|_| MetadataError::Forged)?;
    mac(signing_secret, &sealed.metadata, user_id)
        .verify_slice(&expected)
        .map_err(|_| MetadataError::Forged)?;
    Ok(sealed.metadata)
}

fn mac(signing_secret: &[u8], metadata: &OrderModalMetadata, user_id: &str) -> Hmac<Sha256> {
    let mut derive =
        Hmac::<Sha256>::new_from_slice(signing_secret).expect("HMAC accepts keys of any length");
    derive.update(KEY_PURPOSE);
    let key = derive.finalize().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts keys of any length");
    // Each part is an id of `[A-Z0-9]` (checked when parsed), so `:` cannot be forged into
    // a boundary.
    for part in [
        user_id,
        metadata.workspace_id.as_deref().unwrap_or(""),
        &metadata.channel_id,
    ] {
        mac.update(part.as_bytes());
        mac.update(b":");
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";

    fn metadata() -> OrderModalMetadata {
        OrderModalMetadata {
            channel_id: "C1".into(),
            workspace_id: Some("T1".into()),
        }
    }

    #[test]
    fn a_sealed_metadata_opens_for_its_user() {
        let text = seal(SECRET, &metadata(), "U1");
        assert_eq!(open(SECRET, &text, "U1"), Ok(metadata()));
    }

    #[test]
    fn another_user_channel_workspace_or_secret_does_not_open_it() {
        let text = seal(SECRET, &metadata(), "U1");
        assert_eq!(open(SECRET, &text, "U2"), Err(MetadataError::Forged));
        assert_eq!(open(b"rotated", &text, "U1"), Err(MetadataError::Forged));
        for (from, to) in [("\"C1\"", "\"C2\""), ("\"T1\"", "\"T2\"")] {
            let changed = text.replace(from, to);
            assert_eq!(open(SECRET, &changed, "U1"), Err(MetadataError::Forged));
        }
    }

    #[test]
    fn unsealed_or_garbled_metadata_is_refused() {
        for text in [
            "",
            "{\"channel_id\":\"C1\"}",
            "{\"channel_id\":\"C1\",\"mac\":\"zz\"}",
            "{\"channel_id\":\"c|1\",\"mac\":\"00\"}",
        ] {
            assert!(open(SECRET, text, "U1").is_err(), "{text}");
        }
    }
}
