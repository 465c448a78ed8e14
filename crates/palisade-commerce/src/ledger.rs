//! The escrow ledger: double entry, so money is only ever moved, never made or lost.
//!
//! Buyers' payments are captured from the gateway into a per-order escrow account; released to the store's
//! balance (less the platform fee) when the order completes; refunded back to the gateway; and paid out from the
//! balance to the merchant's bank. Every transfer's legs sum to zero, and internal accounts (escrow, balances,
//! fees) can never go negative: each leg is one conditional UPDATE inside the transfer's transaction, and a
//! refused leg rolls the whole transfer back.
//!
//! Authority: the public functions are the store staff's (or a system task's) and take a [`StaffScope`]; the
//! `*_on` variants are crate-private and take a plain scope, because the order lifecycle calls them for a buyer's
//! own action (confirming receipt releases escrow) after it has checked the buyer's [`crate::access::OrderAccess`].

use palisade_core::OrderId;
use palisade_core::money::{Currency, Money};
use palisade_store::{Db, StaffScope, StoreScope};
use serde::Serialize;

use crate::error::{CommerceError, Result};

/// What kind of account a leg touches.
#[derive(Debug, Clone)]
struct Leg {
    account: String,
    kind: &'static str,
    store: Option<String>,
    /// External counterparts (the card gateway, merchants' banks) mirror money outside the platform.
    external: bool,
    delta: i64,
}

fn gateway(c: Currency) -> (String, &'static str) {
    (format!("gateway:{}", c.code()), "gateway")
}

fn escrow(order: OrderId) -> (String, &'static str) {
    (format!("escrow:{order}"), "escrow")
}

fn balance(store: &str, c: Currency) -> (String, &'static str) {
    (format!("balance:{store}:{}", c.code()), "balance")
}

fn bank(store: &str, c: Currency) -> (String, &'static str) {
    (format!("bank:{store}:{}", c.code()), "bank")
}

fn fees(c: Currency) -> (String, &'static str) {
    (format!("fees:platform:{}", c.code()), "fees")
}

/// Moves money between accounts inside the caller's transaction. Legs must sum to zero. On an error the caller
/// must roll back (dropping the transaction does).
async fn transfer_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    kind: &str,
    store: Option<&str>,
    reference: &str,
    currency: Currency,
    legs: Vec<Leg>,
) -> Result<String> {
    if legs.iter().map(|l| l.delta).sum::<i64>() != 0 {
        return Err(CommerceError::Invalid("a transfer's legs must balance".into()));
    }
    let amount: i64 = legs.iter().filter(|l| l.delta > 0).map(|l| l.delta).sum();
    if amount <= 0 {
        return Err(CommerceError::Invalid("amount must be positive".into()));
    }
    let now = db.now().0;
    let id = palisade_core::JobId::new().to_string();
    sqlx::query("INSERT INTO ledger_transfers (id, kind, store_id, reference, currency, amount, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&id)
        .bind(kind)
        .bind(store)
        .bind(reference)
        .bind(currency.code())
        .bind(amount)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    for leg in legs.iter().filter(|l| l.delta != 0) {
        sqlx::query(
            "INSERT INTO ledger_accounts (id, kind, store_id, currency, balance, allow_negative, created_at) VALUES ($1, $2, $3, $4, 0, $5, $6) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&leg.account)
        .bind(leg.kind)
        .bind(&leg.store)
        .bind(currency.code())
        .bind(i64::from(leg.external))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let moved = sqlx::query(
            "UPDATE ledger_accounts SET balance = balance + $1 WHERE id = $2 AND currency = $3 AND (allow_negative = 1 OR balance + $1 >= 0)",
        )
        .bind(leg.delta)
        .bind(&leg.account)
        .bind(currency.code())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            // Dropping the transaction rolls every earlier leg back.
            return Err(CommerceError::InsufficientFunds { account: leg.account.clone() });
        }
        sqlx::query(
            "INSERT INTO ledger_entries (id, transfer_id, account_id, amount, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(palisade_core::JobId::new().to_string())
        .bind(&id)
        .bind(&leg.account)
        .bind(leg.delta)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(id)
}

/// One transfer in its own transaction (the ledger's tests' payouts; every real move runs in its caller's).
#[cfg(feature = "testing")]
async fn transfer(
    db: &Db,
    kind: &str,
    store: Option<&str>,
    reference: &str,
    currency: Currency,
    legs: Vec<Leg>,
) -> Result<String> {
    let mut tx = db.begin_write().await?;
    let id = transfer_on(&mut tx, db, kind, store, reference, currency, legs).await?;
    tx.commit().await?;
    Ok(id)
}

/// A leg on an account inside the platform's books.
fn leg((account, kind): (String, &'static str), store: Option<&str>, delta: i64) -> Leg {
    Leg { account, kind, store: store.map(str::to_owned), external: false, delta }
}

/// A leg on an account outside the platform (the gateway, a merchant's bank): money enters or leaves the books.
fn external_leg((account, kind): (String, &'static str), store: Option<&str>, delta: i64) -> Leg {
    Leg { account, kind, store: store.map(str::to_owned), external: true, delta }
}

fn positive(m: &Money) -> Result<i64> {
    if m.minor <= 0 {
        return Err(CommerceError::Invalid("amount must be positive".into()));
    }
    Ok(m.minor)
}

/// A buyer's payment, captured by the gateway, goes into the order's escrow.
pub async fn capture(db: &Db, scope: &StaffScope, order: OrderId, amount: Money) -> Result<String> {
    let mut tx = db.begin_write().await?;
    let id = capture_on(&mut tx, db, scope, order, amount).await?;
    tx.commit().await?;
    Ok(id)
}

/// Completes an order: what is left in its escrow goes to the store's balance, less the platform fee.
pub async fn release(
    db: &Db,
    scope: &StaffScope,
    order: OrderId,
    currency: Currency,
    fee_minor: i64,
) -> Result<String> {
    let mut tx = db.begin_write().await?;
    let id = release_on(&mut tx, db, scope, order, currency, fee_minor).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`release`] inside the caller's transaction (the order's status change commits with it).
pub(crate) async fn release_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    order: OrderId,
    currency: Currency,
    fee_minor: i64,
) -> Result<String> {
    let held = held_on(tx, scope, order).await?;
    if held <= 0 {
        return Err(CommerceError::InsufficientFunds { account: escrow(order).0 });
    }
    let fee = fee_minor.clamp(0, held);
    let store = scope.store_key();
    let mut legs =
        vec![leg(escrow(order), Some(&store), -held), leg(balance(&store, currency), Some(&store), held - fee)];
    if fee > 0 {
        legs.push(leg(fees(currency), None, fee));
    }
    transfer_on(tx, db, "release", Some(&store), &order.to_string(), currency, legs).await
}

/// What an order's escrow holds, read inside a transaction.
pub(crate) async fn held_on(tx: &mut sqlx::AnyConnection, scope: &StoreScope, order: OrderId) -> Result<i64> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT balance FROM ledger_accounts WHERE id = $1 AND store_id = $2")
        .bind(escrow(order).0)
        .bind(scope.store_key())
        .fetch_optional(&mut *tx)
        .await?;
    Ok(row.map_or(0, |(b,)| b))
}

/// [`refund`] inside the caller's transaction.
pub(crate) async fn refund_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    order: OrderId,
    amount: Money,
) -> Result<String> {
    let a = positive(&amount)?;
    let store = scope.store_key();
    let legs = vec![leg(escrow(order), Some(&store), -a), external_leg(gateway(amount.currency), None, a)];
    transfer_on(tx, db, "refund", Some(&store), &order.to_string(), amount.currency, legs).await
}

/// [`capture`] inside the caller's transaction.
pub(crate) async fn capture_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    order: OrderId,
    amount: Money,
) -> Result<String> {
    let a = positive(&amount)?;
    let store = scope.store_key();
    let legs = vec![external_leg(gateway(amount.currency), None, -a), leg(escrow(order), Some(&store), a)];
    transfer_on(tx, db, "capture", Some(&store), &order.to_string(), amount.currency, legs).await
}

/// Returns part or all of an order's escrow to the buyer through the gateway.
pub async fn refund(db: &Db, scope: &StaffScope, order: OrderId, amount: Money) -> Result<String> {
    let mut tx = db.begin_write().await?;
    let id = refund_on(&mut tx, db, scope, order, amount).await?;
    tx.commit().await?;
    Ok(id)
}

fn payout_legs(scope: &StoreScope, amount: &Money) -> Result<(String, Vec<Leg>)> {
    let a = positive(amount)?;
    let store = scope.store_key();
    let legs = vec![
        leg(balance(&store, amount.currency), Some(&store), -a),
        external_leg(bank(&store, amount.currency), Some(&store), a),
    ];
    Ok((store, legs))
}

/// Moves the merchant's balance to their bank with none of the payout's checks (verification, bank account,
/// holds): the ledger's own tests only. Every real payout goes through [`crate::payouts::request`].
#[cfg(feature = "testing")]
pub async fn payout(db: &Db, scope: &StaffScope, amount: Money) -> Result<String> {
    let (store, legs) = payout_legs(scope, &amount)?;
    transfer(db, "payout", Some(&store), "payout", amount.currency, legs).await
}

/// [`payout`] inside the caller's transaction.
pub(crate) async fn payout_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    amount: Money,
) -> Result<String> {
    let (store, legs) = payout_legs(scope, &amount)?;
    transfer_on(tx, db, "payout", Some(&store), "payout", amount.currency, legs).await
}

async fn account_balance(db: &Db, id: &str, store: &str) -> Result<i64> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT balance FROM ledger_accounts WHERE id = $1 AND store_id = $2")
        .bind(id)
        .bind(store)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map_or(0, |(b,)| b))
}

/// What an order's escrow holds.
pub async fn escrow_balance(db: &Db, scope: &StaffScope, order: OrderId) -> Result<i64> {
    account_balance(db, &escrow(order).0, &scope.store_key()).await
}

/// The store's balance (released, not yet paid out).
pub async fn store_balance(db: &Db, scope: &StaffScope, currency: Currency) -> Result<i64> {
    account_balance(db, &balance(&scope.store_key(), currency).0, &scope.store_key()).await
}

/// What all of the store's escrow accounts hold together (money paid for orders not yet completed or refunded).
pub async fn escrow_total(db: &Db, scope: &StaffScope) -> Result<i64> {
    let (held,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM ledger_accounts WHERE store_id = $1 AND kind = 'escrow'",
    )
    .bind(scope.store_key())
    .fetch_one(db.pool())
    .await?;
    Ok(held)
}

/// A consistency report over the whole ledger (the invariants the property test checks; also for operators).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Audit {
    /// Sum of every account's balance: always 0.
    pub total: i64,
    /// Internal accounts below zero: always none.
    pub negative_internal: Vec<String>,
    /// Accounts whose balance differs from the sum of their entries: always none.
    pub drifted: Vec<String>,
    /// Transfers whose entries do not sum to zero: always none.
    pub unbalanced_transfers: Vec<String>,
}

/// Checks the ledger's invariants.
pub async fn audit(db: &Db) -> Result<Audit> {
    let (total,): (Option<i64>,) =
        sqlx::query_as("SELECT CAST(SUM(balance) AS BIGINT) FROM ledger_accounts").fetch_one(db.pool()).await?;
    let negative: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM ledger_accounts WHERE allow_negative = 0 AND balance < 0 ORDER BY id")
            .fetch_all(db.pool())
            .await?;
    let drifted: Vec<(String,)> = sqlx::query_as(
        "SELECT a.id FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id \
         GROUP BY a.id, a.balance HAVING a.balance <> COALESCE(SUM(e.amount), 0) ORDER BY a.id",
    )
    .fetch_all(db.pool())
    .await?;
    let unbalanced: Vec<(String,)> = sqlx::query_as(
        "SELECT transfer_id FROM ledger_entries GROUP BY transfer_id HAVING SUM(amount) <> 0 ORDER BY transfer_id",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(Audit {
        total: total.unwrap_or(0),
        negative_internal: negative.into_iter().map(|r| r.0).collect(),
        drifted: drifted.into_iter().map(|r| r.0).collect(),
        unbalanced_transfers: unbalanced.into_iter().map(|r| r.0).collect(),
    })
}
