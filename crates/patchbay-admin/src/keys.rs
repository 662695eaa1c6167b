//! API keys and generated ids: randomness from the OS, keys stored only as hashes.
//!
//! A key reads `pb_<key id>_<secret>`: the key id (64 random bits, hex) is public and names
//! the stored record; the secret is 192 random bits. Only the SHA-256 of the whole key is
//! stored, and a presented key is compared with it in constant time, so neither the store
//! nor timing reveals a usable key.

use sha2::{Digest, Sha256};

use crate::error::AdminError;
use crate::model::{Grant, KeyInfo, KeyRecord};

const PREFIX: &str = "pb_";

/// Fills `buf` from the operating system's random source.
fn random(buf: &mut [u8]) -> Result<(), AdminError> {
    getrandom::fill(buf)
        .map_err(|e| AdminError::internal(format!("no randomness from the OS: {e}")))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// A new random id with `prefix`: 128 random bits from the OS, hex, so ids are unique and
/// not guessable in order (connector ids, error ids).
pub fn new_id(prefix: &str) -> Result<String, AdminError> {
    let mut bytes = [0u8; 16];
    random(&mut bytes)?;
    Ok(format!("{prefix}{}", hex(&bytes)))
}

/// A key that was just created: the secret (shown once) and the record to store.
pub(crate) struct NewKey {
    pub(crate) secret: String,
    pub(crate) record: KeyRecord,
}

pub(crate) fn generate(
    account_id: &str,
    grant: Grant,
    label: &str,
    now: u64,
) -> Result<NewKey, AdminError> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 24];
    random(&mut id)?;
    random(&mut secret)?;
    let key_id = format!("key_{}", hex(&id));
    let full = format!("{PREFIX}{key_id}_{}", hex(&secret));
    let hash = hex(&Sha256::digest(full.as_bytes()));
    Ok(NewKey {
        secret: full,
        record: KeyRecord {
            info: KeyInfo {
                key_id,
                account_id: account_id.to_string(),
                grant,
                label: label.to_string(),
                created_at: now,
                revoked: false,
            },
            hash,
        },
    })
}

/// The key id inside a presented key, if it has the shape of one.
pub(crate) fn key_id_of(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.rsplit_once('_')?;
    (id.starts_with("key_") && !secret.is_empty()).then_some(id)
}

/// Whether `presented` is the key whose hash is `record.hash`, in constant time.
pub(crate) fn matches(presented: &str, record: &KeyRecord) -> bool {
    let computed = hex(&Sha256::digest(presented.as_bytes()));
    let (a, b) = (computed.as_bytes(), record.hash.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_only_themselves() {
        let new = generate("acme", Grant::AllProjects, "ci", 1).expect("key");
        assert!(new.secret.starts_with("pb_key_"));
        assert_eq!(
            key_id_of(&new.secret),
            Some(new.record.info.key_id.as_str())
        );
        assert!(matches(&new.secret, &new.record));
        assert!(!new.record.hash.contains(&new.secret[20..]));
        let mut wrong = new.secret.clone();
        wrong.pop();
        wrong.push('x');
        assert!(!matches(&wrong, &new.record));
        let other = generate("acme", Grant::AllProjects, "ci", 1).expect("key");
        assert_ne!(other.secret, new.secret);
        assert!(!matches(&other.secret, &new.record));
        assert_eq!(key_id_of("pb_nope"), None);
        assert_eq!(key_id_of("Bearer x"), None);
    }

    #[test]
    fn ids_are_random_and_long() {
        let a = new_id("conn_").expect("id");
        let b = new_id("conn_").expect("id");
        assert_ne!(a, b);
        assert_eq!(a.len(), 5 + 32);
    }
}
