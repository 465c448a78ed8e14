//! A store's MFA policy: the owner can require two-step verification for all staff, with a grace period
//! after which a member without it can only reach the enrolment page.

use std::time::Duration;

use palisade_core::AccountId;
use palisade_core::time::Timestamp;
use palisade_store::audit::{self, NewEvent};
use palisade_store::{Db, StoreError, StoreScope};
use serde::Serialize;

/// The policy as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct MfaPolicy {
    pub require_staff_mfa: bool,
    /// Until when members without MFA may still work normally.
    pub grace_until: Option<Timestamp>,
}

/// The scoped store's policy (off when never set).
pub async fn get(db: &Db, scope: &StoreScope) -> Result<MfaPolicy, StoreError> {
    let row: Option<(i64, Option<i64>)> =
        sqlx::query_as("SELECT require_staff_mfa, mfa_grace_until FROM store_security WHERE store_id = $1")
            .bind(scope.store_key())
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(r, g)| MfaPolicy { require_staff_mfa: r != 0, grace_until: g.map(Timestamp) }).unwrap_or_default())
}

/// Whether a store requires two-step verification of all its staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffMfa {
    Required,
    Optional,
}

/// Turns the requirement on (with a grace period from now) or off. Audited.
pub async fn set(db: &Db, scope: &StoreScope, staff_mfa: StaffMfa, grace: Duration) -> Result<MfaPolicy, StoreError> {
    let require = staff_mfa == StaffMfa::Required;
    let now = db.now();
    let grace_until = require.then(|| now.plus(grace));
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO store_security (store_id, require_staff_mfa, mfa_grace_until, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (store_id) DO UPDATE SET require_staff_mfa = excluded.require_staff_mfa, \
         mfa_grace_until = excluded.mfa_grace_until, updated_at = excluded.updated_at",
    )
    .bind(scope.store_key())
    .bind(i64::from(require))
    .bind(grace_until.map(|t| t.0))
    .bind(now.0)
    .execute(&mut *tx)
    .await?;
    let details = serde_json::json!({"require_staff_mfa": require, "grace_until": grace_until.map(|t| t.0)});
    audit::record_store(&mut tx, db, scope, NewEvent::new("security.mfa_policy_changed", "store").details(details))
        .await?;
    tx.commit().await?;
    Ok(MfaPolicy { require_staff_mfa: require, grace_until })
}

/// What the policy means for one member right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Nothing required, or MFA already set up.
    Open,
    /// Required, not set up, still within the grace period: work normally, but be reminded.
    Grace { until: Timestamp },
    /// Required, not set up, grace over: only the enrolment page.
    EnrolOnly,
}

/// Whether a member has a second factor set up (a confirmed authenticator app or a passkey).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mfa {
    SetUp,
    Missing,
}

/// Decides the gate for a member with or without MFA.
#[must_use]
pub fn gate(policy: &MfaPolicy, mfa: Mfa, now: Timestamp) -> Gate {
    if !policy.require_staff_mfa || mfa == Mfa::SetUp {
        return Gate::Open;
    }
    match policy.grace_until {
        Some(until) if until > now => Gate::Grace { until },
        _ => Gate::EnrolOnly,
    }
}

/// Members of the scoped store with a confirmed second factor.
pub async fn members_with_mfa(db: &Db, scope: &StoreScope) -> Result<Vec<AccountId>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT m.account_id FROM store_members m WHERE m.store_id = $1 AND ( \
           EXISTS (SELECT 1 FROM totp_credentials t WHERE t.account_id = m.account_id AND t.confirmed_at IS NOT NULL) \
           OR EXISTS (SELECT 1 FROM passkeys p WHERE p.account_id = m.account_id))",
    )
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(|(id,)| id.parse().map_err(|e| StoreError::Corrupt(format!("account id: {e}")))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates() {
        let now = Timestamp(1_000_000);
        let off = MfaPolicy::default();
        assert_eq!(gate(&off, Mfa::Missing, now), Gate::Open);
        let on = MfaPolicy { require_staff_mfa: true, grace_until: Some(Timestamp(2_000_000)) };
        assert_eq!(gate(&on, Mfa::SetUp, now), Gate::Open);
        assert_eq!(gate(&on, Mfa::Missing, now), Gate::Grace { until: Timestamp(2_000_000) });
        assert_eq!(gate(&on, Mfa::Missing, Timestamp(2_000_000)), Gate::EnrolOnly);
    }
}
