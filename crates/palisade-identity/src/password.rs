//! Passwords: argon2id hashes and the NIST SP 800-63B policy.
//!
//! Parameters follow OWASP's current recommendation for argon2id (19 MiB, 2 iterations, 1 lane) and are stored
//! in the PHC string of each hash, so raising them later only needs [`needs_rehash`] at the next sign-in.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// Memory cost in KiB (OWASP: at least 19 MiB with t=2, p=1).
pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

/// Minimum lengths (NIST SP 800-63B: at least 8; staff guard other people's data, so 12).
pub const MIN_LEN_STAFF: usize = 12;
pub const MIN_LEN_BUYER: usize = 8;
/// Long passphrases are welcome, but hashing megabytes is a denial of service.
pub const MAX_LEN: usize = 256;

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Failures of hashing itself (not a wrong password).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("stored password hash is malformed")]
    Malformed,
}

/// Hashes a password with a fresh random salt.
pub fn hash(password: &SecretString) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    hasher()?
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Checks a password against a stored hash (constant-time comparison inside argon2).
pub fn verify(password: &SecretString, stored: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(stored).map_err(|_| PasswordError::Malformed)?;
    // Verify with the parameters recorded in the hash, whatever today's defaults are.
    Ok(Argon2::default().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok())
}

/// True when the stored hash uses other parameters than today's: rehash after a successful sign-in.
#[must_use]
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return true };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    let Ok(params) = Params::try_from(&parsed) else { return true };
    params.m_cost() < M_COST_KIB || params.t_cost() < T_COST || params.p_cost() < P_COST
}

/// A hash of a random password, verified against when the account does not exist, so that the response time
/// does not reveal whether an email address has an account.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        hash(&SecretString::from(hex::encode(bytes))).unwrap_or_default()
    })
}

/// Who the password is for: sets the minimum length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Staff,
    Buyer,
}

/// Why a new password was refused, in words for the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum PolicyViolation {
    #[error("use at least {min} characters")]
    TooShort { min: usize },
    #[error("use at most {max} characters")]
    TooLong { max: usize },
    #[error("this password appears in lists of common or breached passwords; choose another")]
    Common,
    #[error("the password must not contain your email address or name")]
    ContainsIdentity,
}

/// Strength feedback for the form (zxcvbn score 0–4 and its advice).
#[derive(Debug, Clone, Serialize)]
pub struct Strength {
    pub score: u8,
    pub warning: Option<String>,
    pub suggestions: Vec<String>,
}

/// Checks a new password against the policy: length, identity, common passwords. No composition rules.
pub fn check_policy(
    password: &SecretString,
    audience: Audience,
    user_inputs: &[&str],
) -> Result<Strength, PolicyViolation> {
    let pw = password.expose_secret();
    let len = pw.chars().count();
    let min = match audience {
        Audience::Staff => MIN_LEN_STAFF,
        Audience::Buyer => MIN_LEN_BUYER,
    };
    if len < min {
        return Err(PolicyViolation::TooShort { min });
    }
    if len > MAX_LEN {
        return Err(PolicyViolation::TooLong { max: MAX_LEN });
    }
    let lower = pw.to_lowercase();
    for input in user_inputs {
        let input = input.to_lowercase();
        let local = input.split('@').next().unwrap_or(&input);
        if local.len() >= 4 && lower.contains(local) {
            return Err(PolicyViolation::ContainsIdentity);
        }
    }
    if crate::password::common::is_common(&lower) || pwned::is_pwned(pw) {
        return Err(PolicyViolation::Common);
    }
    Ok(strength(pw, user_inputs))
}

/// zxcvbn's estimate, for the meter on the form.
#[must_use]
pub fn strength(password: &str, user_inputs: &[&str]) -> Strength {
    let entropy = zxcvbn::zxcvbn(password, user_inputs);
    let feedback = entropy.feedback();
    Strength {
        score: u8::from(entropy.score()),
        warning: feedback.and_then(|f| f.warning()).map(|w| w.to_string()),
        suggestions: feedback.map(|f| f.suggestions().iter().map(ToString::to_string).collect()).unwrap_or_default(),
    }
}

pub mod common {
    //! The bundled list of common and breached passwords (see `data/README.md`), decompressed once on first use.

    use std::collections::HashSet;
    use std::io::Read;
    use std::sync::OnceLock;

    static LIST_GZ: &[u8] = include_bytes!("../data/common-passwords.txt.gz");

    fn set() -> &'static HashSet<String> {
        static SET: OnceLock<HashSet<String>> = OnceLock::new();
        SET.get_or_init(|| {
            let mut text = String::new();
            if flate2::read::GzDecoder::new(LIST_GZ).read_to_string(&mut text).is_err() {
                tracing::error!("the bundled common-password list is unreadable; the check is disabled");
                return HashSet::new();
            }
            text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
        })
    }

    /// True when the (lower-cased) password is on the list.
    #[must_use]
    pub fn is_common(lower: &str) -> bool {
        set().contains(lower)
    }

    /// How many passwords the list holds.
    #[must_use]
    pub fn len() -> usize {
        set().len()
    }
}

pub mod pwned {
    //! The operator's optional full breached-password list, in the Pwned Passwords range format: a directory
    //! with one file per 5-hex-digit SHA-1 prefix (`00000` … `FFFFF`), each line `SUFFIX:COUNT` — what the
    //! Pwned Passwords downloader produces. Only one small file is read per check.

    use std::path::PathBuf;
    use std::sync::OnceLock;

    use sha1::{Digest, Sha1};

    static DIR: OnceLock<PathBuf> = OnceLock::new();

    /// Turns on the check against `dir` (once per process; later calls are ignored).
    pub fn configure(dir: PathBuf) -> Result<(), String> {
        if !dir.is_dir() {
            return Err(format!("{} is not a directory of Pwned Passwords range files", dir.display()));
        }
        let _ = DIR.set(dir);
        Ok(())
    }

    /// True when the list is configured and holds this password.
    #[must_use]
    pub fn is_pwned(password: &str) -> bool {
        DIR.get().is_some_and(|dir| contains(dir, password))
    }

    /// Looks `password` up in the range files under `dir`.
    #[must_use]
    pub fn contains(dir: &std::path::Path, password: &str) -> bool {
        let hash = hex::encode_upper(Sha1::digest(password.as_bytes()));
        let (prefix, suffix) = hash.split_at(5);
        let Ok(text) = std::fs::read_to_string(dir.join(prefix))
            .or_else(|_| std::fs::read_to_string(dir.join(format!("{prefix}.txt"))))
        else {
            return false;
        };
        text.lines().filter_map(|l| l.split(':').next()).any(|s| s.trim().eq_ignore_ascii_case(suffix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(p: &str) -> SecretString {
        SecretString::from(p.to_owned())
    }

    #[test]
    fn hashes_verify_and_record_their_parameters() {
        let h = hash(&s("correct horse battery staple")).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(&s("correct horse battery staple"), &h).unwrap());
        assert!(!verify(&s("correct horse battery stapler"), &h).unwrap());
        assert!(!needs_rehash(&h));
        assert_ne!(h, hash(&s("correct horse battery staple")).unwrap(), "salted");
    }

    #[test]
    fn the_range_format_list_is_consulted() {
        let dir = std::env::temp_dir().join(format!("pwned-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // SHA-1("granite pelican umbrella") split into the 5-digit prefix file and the suffix line.
        let hash = hex::encode_upper(<sha1::Sha1 as sha1::Digest>::digest(b"granite pelican umbrella"));
        std::fs::write(dir.join(&hash[..5]), format!("0000000000000000000000000000000000A:3\n{}:42\n", &hash[5..]))
            .unwrap();
        assert!(pwned::contains(&dir, "granite pelican umbrella"));
        assert!(!pwned::contains(&dir, "granite pelican umbrellas"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn weaker_parameters_ask_for_a_rehash() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap());
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let h = weak.hash_password(b"some long password", &salt).unwrap().to_string();
        assert!(verify(&s("some long password"), &h).unwrap(), "old hashes still verify");
        assert!(needs_rehash(&h));
        assert!(needs_rehash("not a hash"));
    }

    #[test]
    fn policy_is_length_and_lists_not_composition() {
        assert_eq!(check_policy(&s("short"), Audience::Buyer, &[]).unwrap_err(), PolicyViolation::TooShort { min: 8 });
        assert_eq!(
            check_policy(&s("elevenchars"), Audience::Staff, &[]).unwrap_err(),
            PolicyViolation::TooShort { min: 12 }
        );
        assert_eq!(check_policy(&s("password1234"), Audience::Staff, &[]).unwrap_err(), PolicyViolation::Common);
        assert_eq!(
            check_policy(&s("Password1234"), Audience::Staff, &[]).unwrap_err(),
            PolicyViolation::Common,
            "case-insensitive"
        );
        assert_eq!(
            check_policy(&s("meilin-rocks-2026"), Audience::Staff, &["meilin@lioncitytea.example"]).unwrap_err(),
            PolicyViolation::ContainsIdentity
        );
        // All lower-case letters and spaces, no digits or symbols: fine if long and uncommon.
        let ok = check_policy(&s("granite pelican umbrella"), Audience::Staff, &[]).unwrap();
        assert!(ok.score >= 3);
        assert!(check_policy(&s(&"x".repeat(300)), Audience::Buyer, &[]).is_err());
        assert!(common::len() > 1000);
    }
}
