//! Seller verification's keys, made from the master key: the NRIC hash key and the payout bank account's keyed
//! hash come from the identity links key (HMAC, one purpose each), the documents' AEAD key from the seal module
//! (HKDF of the master key, purpose [`SEAL_PURPOSE`]). Numbers are parsed here, at the edge; only their keyed
//! hashes and masked forms go further.

use axum::http::StatusCode;
use palisade_commerce::verification::{self, BankAccount, Identity};
use palisade_trust::nric::{Nric, NricKey};
use palisade_trust::uen::Uen;

use crate::http::ApiError;
use crate::state::AppState;

/// The seal purpose of verification documents.
pub const SEAL_PURPOSE: &[u8] = b"verification-document";

/// The platform's NRIC hash key (derived, never stored). A derivation that fails gives a short key, which
/// [`NricKey::new`] refuses: no submission rather than an unkeyed hash.
fn nric_key(state: &AppState) -> Result<NricKey, ApiError> {
    let material = hex::decode(state.identity.links().sign("nric-hash-key", "v1")).unwrap_or_default();
    NricKey::new(material).map_err(|_| {
        tracing::error!("the NRIC hash key could not be derived");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "verification is unavailable; try again later")
    })
}

/// Parses what the seller typed: `business` with a UEN, or `individual` with an NRIC/FIN (hashed and masked
/// here; the full number goes no further). Errors name the problem with the validator's stable code.
pub fn identity(state: &AppState, kind: &str, number: &str) -> Result<Identity, ApiError> {
    match kind {
        "business" => {
            let year = state
                .db
                .now()
                .to_datetime()
                .and_then(|d| d.format("%Y").to_string().parse::<u16>().ok())
                .unwrap_or(u16::MAX);
            let uen = Uen::parse(number, year)
                .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))?;
            Ok(Identity::Business { uen })
        }
        "individual" => {
            let nric = Nric::parse(number)
                .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))?;
            Ok(Identity::Individual { nric: nric.to_record(&nric_key(state)?) })
        }
        _ => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_kind", "kind is business or individual")),
    }
}

/// A payout bank account as typed, reduced to its keyed hash and masked form.
pub fn bank_account(state: &AppState, bank: &str, holder: &str, number: &str) -> Result<BankAccount, ApiError> {
    let digits = verification::account_digits(number).map_err(ApiError::from)?;
    let hash = state.identity.links().sign("payout-bank-account", &digits);
    if hash.is_empty() {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again later"));
    }
    Ok(BankAccount {
        bank_name: bank.to_owned(),
        holder_name: holder.to_owned(),
        account_hash: hash,
        account_masked: verification::mask_account(&digits),
    })
}
