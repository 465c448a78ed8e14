//! One-time recovery codes: ten random codes shown once, stored as SHA-256 hashes.
//!
//! Each code carries 50 bits of entropy from a CSPRNG, so a fast hash is enough; use marks it spent.

use rand::Rng;
use sha2::{Digest, Sha256};

pub const COUNT: usize = 10;
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Ten fresh codes formatted `xxxxx-xxxxx`.
#[must_use]
pub fn generate() -> Vec<String> {
    let mut rng = rand::rng();
    (0..COUNT)
        .map(|_| {
            let mut s = String::with_capacity(11);
            for i in 0..10 {
                if i == 5 {
                    s.push('-');
                }
                let idx = rng.random_range(0..ALPHABET.len());
                s.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'x')));
            }
            s
        })
        .collect()
}

/// Normalises what a person typed (case, spaces, missing dash) and hashes it.
#[must_use]
pub fn hash(code: &str) -> String {
    let norm: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    hex::encode(Sha256::digest(format!("palisade-recovery-v1:{norm}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_normalised_when_hashed() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), COUNT);
        let c = &codes[0];
        assert_eq!(hash(c), hash(&c.to_uppercase().replace('-', " ")));
        assert_ne!(hash(c), hash(&codes[1]));
    }
}
