//! Merchants withdraw their released balance to their bank. The ledger moves the money (balance → bank) and
//! refuses to overdraw; the payout row records who asked, in the same transaction.

use palisade_core::money::{Currency, Money};
use palisade_core::time::Timestamp;
use palisade_store::audit::{self, NewEvent};
use palisade_store::{Db, StaffScope, StoreError};
use serde::Serialize;

use crate::error::{CommerceError, Result};
use crate::ledger;

/// A completed payout.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Payout {
    pub id: String,
    pub amount: Money,
    pub requested_by: String,
    pub created_at: Timestamp,
}

/// Pays `amount` out of the store's balance. Fails with `SellerUnverified` unless the store's seller is verified
/// ([`crate::verification`]), with `NoPayoutAccount` without a payout bank account on file, and with
/// `InsufficientFunds` when the balance is short.
pub async fn request(db: &Db, scope: &StaffScope, amount: Money) -> Result<Payout> {
    if amount.minor <= 0 {
        return Err(CommerceError::Invalid("a payout must be a positive amount".into()));
    }
    let store = palisade_store::tenancy::get_store(db, scope).await?;
    if store.currency != amount.currency {
        return Err(CommerceError::CurrencyMismatch(format!("the store's balance is in {}", store.currency)));
    }
    let id = palisade_core::JobId::new().to_string();
    let now = db.now();
    let mut tx = db.begin_write().await?;
    // Checked in the payout's transaction: every path (page, API, CLI, jobs) ends here.
    crate::verification::require_verified_on(&mut tx, scope).await?;
    crate::verification::require_payout_account_on(&mut tx, scope).await?;
    // A payout hold (scam report or operator) refuses every payout, on every path; read in this transaction so a
    // hold placed before it commits is seen.
    if crate::scam_reports::hold_in(&mut tx, scope).await?.is_some() {
        return Err(CommerceError::PayoutsOnHold);
    }
    let transfer = ledger::payout_on(&mut tx, db, scope, amount).await?;
    sqlx::query(
        "INSERT INTO payouts (id, store_id, currency, amount_minor, transfer_id, requested_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(scope.store_key())
    .bind(amount.currency.code())
    .bind(amount.minor)
    .bind(&transfer)
    .bind(scope.actor().as_audit_text())
    .bind(now.0)
    .execute(&mut *tx)
    .await?;
    let target = format!("payout:{id}");
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("payout.paid", &target).details(serde_json::json!({"amount_minor": amount.minor})),
    )
    .await?;
    crate::notify::queue_payout_on(&mut tx, db, scope, &id).await?;
    tx.commit().await?;
    Ok(Payout { id, amount, requested_by: scope.actor().as_audit_text(), created_at: now })
}

/// One of the store's payouts (for its mail).
pub(crate) async fn get_in(db: &Db, scope: &palisade_store::StoreScope, id: &str) -> Result<Payout> {
    let row: Option<(String, String, i64, String, i64)> = sqlx::query_as(
        "SELECT id, currency, amount_minor, requested_by, created_at FROM payouts WHERE store_id = $1 AND id = $2",
    )
    .bind(scope.store_key())
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    let (id, c, minor, by, at) = row.ok_or(CommerceError::Store(StoreError::NotFound("payout")))?;
    let c = Currency::parse(&c).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Payout { id, amount: Money::new(minor, c), requested_by: by, created_at: Timestamp(at) })
}

/// The store's payouts, newest first.
pub async fn list(db: &Db, scope: &StaffScope) -> Result<Vec<Payout>> {
    let rows: Vec<(String, String, i64, String, i64)> = sqlx::query_as(
        "SELECT id, currency, amount_minor, requested_by, created_at FROM payouts WHERE store_id = $1 ORDER BY created_at DESC, id DESC LIMIT 200",
    )
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|(id, c, minor, by, at)| {
            let c = Currency::parse(&c).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(Payout { id, amount: Money::new(minor, c), requested_by: by, created_at: Timestamp(at) })
        })
        .collect()
}
