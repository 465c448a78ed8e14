//! Seller verification (issue #20 item 1): a store's seller proves who they are before its first payout.
//!
//! States: `unverified` (no row) → `submitted` → `verified` | `rejected` (with the operator's reason) |
//! `reverify_needed` (the payout bank account changed after approval). A business seller gives its UEN (validated
//! exactly by [`palisade_trust::uen`]) and entity name; an individual gives an NRIC/FIN (validated by
//! [`palisade_trust::nric`]) and name — the NRIC is kept only as a keyed hash and a masked form (`S****567D`): the
//! caller makes the [`NricRecord`] with the platform's key, so the full number never reaches this module's storage.
//!
//! On submission the identifier is checked against [`GovernmentRecords`] (like the payment gateway: a built-in
//! [`TestRegistry`], a real registry plugged in later); a number the registry does not know, or knows as
//! deregistered, is refused before anything is written. Only an operator (an [`OperatorPrincipal`], which a
//! merchant cannot hold) approves or rejects; every change is audited in the store's chain.
//!
//! Payouts check [`is_verified_on`] inside their own transaction ([`crate::payouts::request`]), so every path that
//! pays out — merchant page, API, CLI, jobs — is refused with [`CommerceError::SellerUnverified`] until the store
//! is verified.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use palisade_core::StoreId;
use palisade_core::time::Timestamp;
use palisade_store::audit::{self, NewEvent};
use palisade_store::scope::OperatorPrincipal;
use palisade_store::{Db, StaffScope, StoreError, StoreScope};
use palisade_trust::nric::NricRecord;
use palisade_trust::uen::Uen;
use serde::Serialize;

use crate::error::{CommerceError, Result};

/// Longest legal / entity name accepted.
pub const MAX_NAME: usize = 200;
/// Longest rejection reason accepted.
pub const MAX_REASON: usize = 1000;
/// Platform setting (JSON boolean): sellers must be verified before they can list products.
pub const REQUIRED_BEFORE_LISTING: &str = "verification.required_before_listing";

/// Where a store's verification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Unverified,
    Submitted,
    Verified,
    Rejected,
    ReverifyNeeded,
}

impl State {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unverified => "unverified",
            State::Submitted => "submitted",
            State::Verified => "verified",
            State::Rejected => "rejected",
            State::ReverifyNeeded => "reverify_needed",
        }
    }

    fn parse(s: &str) -> Result<State> {
        Ok(match s {
            "unverified" => State::Unverified,
            "submitted" => State::Submitted,
            "verified" => State::Verified,
            "rejected" => State::Rejected,
            "reverify_needed" => State::ReverifyNeeded,
            other => return Err(StoreError::Corrupt(format!("verification state `{other}`")).into()),
        })
    }

    /// Words for the merchant.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            State::Unverified => "Not verified",
            State::Submitted => "Submitted, waiting for review",
            State::Verified => "Verified",
            State::Rejected => "Rejected",
            State::ReverifyNeeded => "Re-verification needed (payout bank account changed)",
        }
    }
}

/// Who the seller says they are.
pub enum Identity {
    /// A business, by its UEN (public registry data).
    Business { uen: Uen },
    /// An individual, by the keyed hash and masked form of their NRIC/FIN.
    Individual { nric: NricRecord },
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Business { uen } => f.debug_struct("Business").field("uen", &uen.as_str()).finish(),
            Identity::Individual { nric } => f.debug_struct("Individual").field("nric", &nric.masked.as_str()).finish(),
        }
    }
}

/// What the registry says about an identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryAnswer {
    /// Registered and live.
    Live,
    /// The registry does not know this number.
    NotFound,
    /// Registered once, now struck off / deregistered.
    Deregistered,
}

impl RegistryAnswer {
    fn as_str(self) -> &'static str {
        match self {
            RegistryAnswer::Live => "live",
            RegistryAnswer::NotFound => "not_found",
            RegistryAnswer::Deregistered => "deregistered",
        }
    }
}

/// The registry could not be asked (not the seller's fault: never a 4xx).
#[derive(Debug, thiserror::Error)]
#[error("the government records service is unavailable: {0}")]
pub struct RegistryUnavailable(pub String);

type RegistryFuture<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<RegistryAnswer, RegistryUnavailable>> + Send + 'a>>;

/// Government records (ACRA for UENs; individuals are checked by the operator's document review, so the built-in
/// registry only checks the masked form's shape). Implementations must never log the identifiers.
pub trait GovernmentRecords: Send + Sync + fmt::Debug {
    fn check<'a>(&'a self, identity: &'a Identity) -> RegistryFuture<'a>;
}

/// The built-in, deterministic test registry:
///
/// | identifier | answer |
/// |---|---|
/// | a UEN whose digits end in `000` before the check letter (e.g. a business `12345000` + letter) | not found |
/// | a UEN whose digits end in `999` before the check letter | deregistered |
/// | any other valid UEN | live |
/// | any NRIC/FIN (already validated) | live |
#[derive(Debug, Default)]
pub struct TestRegistry;

impl GovernmentRecords for TestRegistry {
    fn check<'a>(&'a self, identity: &'a Identity) -> RegistryFuture<'a> {
        let answer = match identity {
            Identity::Business { uen } => {
                let s = uen.as_str();
                let body = s.get(..s.len().saturating_sub(1)).unwrap_or("");
                if body.ends_with("000") {
                    RegistryAnswer::NotFound
                } else if body.ends_with("999") {
                    RegistryAnswer::Deregistered
                } else {
                    RegistryAnswer::Live
                }
            }
            Identity::Individual { .. } => RegistryAnswer::Live,
        };
        Box::pin(async move { Ok(answer) })
    }
}

/// A store's verification as the merchant and the operator see it (never the NRIC hash).
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub store_id: String,
    pub state: State,
    pub state_label: &'static str,
    /// `business` or `individual`, once submitted.
    pub kind: Option<String>,
    /// The UEN (business) or the masked NRIC/FIN (individual).
    pub identifier: Option<String>,
    pub legal_name: Option<String>,
    pub registry_status: Option<String>,
    /// The operator's reason, when rejected.
    pub reason: Option<String>,
    pub submitted_at: Option<Timestamp>,
    pub decided_at: Option<Timestamp>,
    /// The masked payout bank account, when one is set.
    pub payout_account: Option<String>,
    /// The account holder's name as entered, for the operator to compare with the legal name.
    pub payout_holder: Option<String>,
    /// When the payout account was last set (milliseconds): the operator's approval names the version it saw,
    /// so an account swapped while the operator reviewed is not approved with it.
    pub payout_account_version: Option<i64>,
}

/// The payout account columns [`from_row`] takes: bank, masked number, holder, last change.
type AccountRow = (String, String, String, i64);

type Row = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

const COLUMNS: &str = "state, kind, uen, nric_masked, legal_name, registry_status, reason, submitted_at, decided_at";

fn from_row(store: String, row: Option<Row>, account: Option<AccountRow>) -> Result<Verification> {
    let payout_holder = account.as_ref().map(|(_, _, holder, _)| holder.clone());
    let payout_account_version = account.as_ref().map(|(_, _, _, at)| *at);
    let account = account.map(|(bank, masked, _, _)| format!("{bank} {masked}"));
    let Some((state, kind, uen, masked, name, registry, reason, submitted, decided)) = row else {
        return Ok(Verification {
            store_id: store,
            state: State::Unverified,
            state_label: State::Unverified.label(),
            kind: None,
            identifier: None,
            legal_name: None,
            registry_status: None,
            reason: None,
            submitted_at: None,
            decided_at: None,
            payout_account: account,
            payout_holder,
            payout_account_version,
        });
    };
    let state = State::parse(&state)?;
    Ok(Verification {
        store_id: store,
        state,
        state_label: state.label(),
        kind,
        identifier: uen.or(masked),
        legal_name: name,
        registry_status: registry,
        reason,
        submitted_at: submitted.map(Timestamp),
        decided_at: decided.map(Timestamp),
        payout_account: account,
        payout_holder,
        payout_account_version,
    })
}

async fn load(conn: &mut sqlx::AnyConnection, store: &str) -> Result<Verification> {
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM store_verifications WHERE store_id = $1")))
            .bind(store)
            .fetch_optional(&mut *conn)
            .await?;
    let account = payout_account_on(conn, store).await?;
    from_row(store.to_owned(), row, account)
}

async fn payout_account_on(conn: &mut sqlx::AnyConnection, store: &str) -> Result<Option<AccountRow>> {
    Ok(sqlx::query_as(
        "SELECT bank_name, account_masked, holder_name, updated_at FROM store_payout_accounts WHERE store_id = $1",
    )
    .bind(store)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Refuses a payout unless the store has a payout account on file. (Any account set after approval sends the
/// store back to review, so a verified store's account is the one the operator approved.)
pub(crate) async fn require_payout_account_on(conn: &mut sqlx::AnyConnection, scope: &StoreScope) -> Result<()> {
    match payout_account_on(conn, &scope.store_key()).await? {
        Some(_) => Ok(()),
        None => Err(CommerceError::NoPayoutAccount),
    }
}

/// The store's verification (staff of the store, or an operator's store scope).
pub async fn get(db: &Db, scope: &StaffScope) -> Result<Verification> {
    let mut conn = db.pool().acquire().await?;
    load(&mut conn, &scope.store_key()).await
}

/// Whether the store is verified now (for the storefront badge and the safety rating; any scope of the store).
pub async fn is_verified(db: &Db, scope: &StoreScope) -> Result<bool> {
    let mut conn = db.pool().acquire().await?;
    is_verified_on(&mut conn, scope).await
}

/// [`is_verified`] inside the caller's transaction (payouts check it with the payout, so a bank-account change
/// committed meanwhile cannot slip a payout through).
pub async fn is_verified_on(conn: &mut sqlx::AnyConnection, scope: &StoreScope) -> Result<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM store_verifications WHERE store_id = $1 AND state = 'verified'")
            .bind(scope.store_key())
            .fetch_one(&mut *conn)
            .await?;
    Ok(n > 0)
}

/// Refuses with [`CommerceError::SellerUnverified`] unless the store is verified.
pub async fn require_verified_on(conn: &mut sqlx::AnyConnection, scope: &StoreScope) -> Result<()> {
    if is_verified_on(conn, scope).await? { Ok(()) } else { Err(CommerceError::SellerUnverified) }
}

/// Listing gate: when the operator has set [`REQUIRED_BEFORE_LISTING`], an unverified store cannot list. A setting
/// that cannot be read refuses (fail closed).
pub async fn require_listing_allowed(db: &Db, scope: &StoreScope) -> Result<()> {
    let required = match palisade_store::settings::get(db, REQUIRED_BEFORE_LISTING).await? {
        None => false,
        Some((serde_json::Value::Bool(b), _)) => b,
        Some(_) => true,
    };
    if required && !is_verified(db, scope).await? { Err(CommerceError::SellerUnverified) } else { Ok(()) }
}

fn checked_text(field: &'static str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(CommerceError::Invalid(format!("the {field} is required")));
    }
    if v.chars().count() > max {
        return Err(CommerceError::TooLong { field, max });
    }
    if v.chars().any(char::is_control) {
        return Err(CommerceError::Invalid(format!("the {field} has control characters")));
    }
    Ok(v.to_owned())
}

/// The seller submits who they are. Refused when already verified or waiting for review (nothing to do), when
/// the registry does not know the number, or when it is deregistered. Staff of the store only (the web layer
/// checks the permission).
pub async fn submit(
    db: &Db,
    scope: &StaffScope,
    registry: &dyn GovernmentRecords,
    identity: Identity,
    legal_name: &str,
) -> Result<Verification> {
    let name = checked_text("name", legal_name, MAX_NAME)?;
    let answer = registry.check(&identity).await.map_err(|e| CommerceError::Invalid(e.to_string()))?;
    match answer {
        RegistryAnswer::Live => {}
        RegistryAnswer::NotFound => {
            return Err(CommerceError::Registry("the government records have no entity with this number"));
        }
        RegistryAnswer::Deregistered => {
            return Err(CommerceError::Registry("the government records show this entity as deregistered"));
        }
    }
    let (kind, uen, hash, masked) = match &identity {
        Identity::Business { uen } => ("business", Some(uen.as_str().to_owned()), None, None),
        Identity::Individual { nric } => {
            ("individual", None, Some(nric.hash.as_str().to_owned()), Some(nric.masked.as_str().to_owned()))
        }
    };
    let store = scope.store_key();
    let now = db.now().0;
    let mut tx = db.begin_write().await?;
    let current = load(&mut tx, &store).await?;
    if matches!(current.state, State::Verified | State::Submitted) {
        return Err(CommerceError::InvalidTransition(format!(
            "verification is already {}",
            current.state.as_str().replace('_', " ")
        )));
    }
    sqlx::query(
        "INSERT INTO store_verifications (store_id, state, kind, uen, nric_hash, nric_masked, legal_name, \
         registry_status, reason, submitted_at, submitted_by, decided_at, decided_by, updated_at) \
         VALUES ($1, 'submitted', $2, $3, $4, $5, $6, $7, NULL, $8, $9, NULL, NULL, $8) \
         ON CONFLICT (store_id) DO UPDATE SET state = 'submitted', kind = excluded.kind, uen = excluded.uen, \
         nric_hash = excluded.nric_hash, nric_masked = excluded.nric_masked, legal_name = excluded.legal_name, \
         registry_status = excluded.registry_status, reason = NULL, submitted_at = excluded.submitted_at, \
         submitted_by = excluded.submitted_by, decided_at = NULL, decided_by = NULL, updated_at = excluded.updated_at",
    )
    .bind(&store)
    .bind(kind)
    .bind(&uen)
    .bind(&hash)
    .bind(&masked)
    .bind(&name)
    .bind(answer.as_str())
    .bind(now)
    .bind(scope.actor().as_audit_text())
    .execute(&mut *tx)
    .await?;
    // The audit keeps the kind and the registry's answer; never the number or the name.
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("verification.submitted", "verification")
            .details(serde_json::json!({"kind": kind, "registry": answer.as_str()})),
    )
    .await?;
    let v = load(&mut tx, &store).await?;
    tx.commit().await?;
    Ok(v)
}

/// What the operator decides.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Approves whatever payout account is on file (tools and tests).
    Approve,
    /// Approves only if the payout account is still the version the operator was shown (`None`: none was on
    /// file): the console's approve button, so an account swapped during review is refused, not approved.
    ApproveAsShown {
        payout_account_version: Option<i64>,
    },
    Reject {
        reason: String,
    },
}

/// An operator approves or rejects a submitted verification; audited in the store's chain as the operator. Only
/// a `submitted` verification can be decided (a second click, or a decision on a store that changed its bank
/// account meanwhile, is refused).
pub async fn decide(db: &Db, operator: &OperatorPrincipal, store: StoreId, decision: Decision) -> Result<Verification> {
    let scope = operator.store_scope(store);
    let (state, reason) = match &decision {
        Decision::Approve | Decision::ApproveAsShown { .. } => (State::Verified, None),
        Decision::Reject { reason } => (State::Rejected, Some(checked_text("reason", reason, MAX_REASON)?)),
    };
    let key = scope.store_key();
    let now = db.now().0;
    let mut tx = db.begin_write().await?;
    // Lock the verification row before reading the account (`set_payout_account` takes the same row first), so an
    // account change cannot commit between the check below and the approval on PostgreSQL.
    sqlx::query("UPDATE store_verifications SET updated_at = updated_at WHERE store_id = $1")
        .bind(&key)
        .execute(&mut *tx)
        .await?;
    if let Decision::ApproveAsShown { payout_account_version } = &decision {
        let on_file = payout_account_on(&mut tx, &key).await?.map(|(_, _, _, at)| at);
        if on_file != *payout_account_version {
            return Err(CommerceError::InvalidTransition(
                "the payout account changed while you reviewed it; review the store again".into(),
            ));
        }
    }
    let done = sqlx::query(
        "UPDATE store_verifications SET state = $1, reason = $2, decided_at = $3, decided_by = $4, updated_at = $3 \
         WHERE store_id = $5 AND state = 'submitted'",
    )
    .bind(state.as_str())
    .bind(&reason)
    .bind(now)
    .bind(scope.actor().as_audit_text())
    .bind(&key)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::InvalidTransition("only a submitted verification can be decided".into()));
    }
    // The store's pages carry the verdict (the trust bar): a new version for the page cache, a fresh rating.
    palisade_store::storefront::touch(&mut tx, &scope).await?;
    let action = if state == State::Verified { "verification.approved" } else { "verification.rejected" };
    audit::record_store(
        &mut tx,
        db,
        &scope,
        NewEvent::new(action, "verification").details(serde_json::json!({"reason": reason})),
    )
    .await?;
    let v = load(&mut tx, &key).await?;
    tx.commit().await?;
    crate::safety::forget(&key);
    Ok(v)
}

/// The operator's queue: submitted verifications, oldest first.
pub async fn queue(db: &Db, _operator: &OperatorPrincipal) -> Result<Vec<Verification>> {
    type QueueRow = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<QueueRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT store_id, {COLUMNS} FROM store_verifications WHERE state = 'submitted' \
             ORDER BY submitted_at, store_id LIMIT 500"
    )))
    .fetch_all(db.pool())
    .await?;
    let mut conn = db.pool().acquire().await?;
    let mut out = Vec::with_capacity(rows.len());
    for (store, s, k, u, m, n, r, why, sub, dec) in rows {
        let account = payout_account_on(&mut conn, &store).await?;
        out.push(from_row(store, Some((s, k, u, m, n, r, why, sub, dec)), account)?);
    }
    Ok(out)
}

/// A payout bank account as entered: the caller makes the keyed hash (so the number is recognised when entered
/// again) and the masked form; the full number is never stored.
#[derive(Clone)]
pub struct BankAccount {
    pub bank_name: String,
    pub holder_name: String,
    pub account_hash: String,
    pub account_masked: String,
}

impl fmt::Debug for BankAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BankAccount").field("bank", &self.bank_name).field("account", &self.account_masked).finish()
    }
}

/// Digits of a bank account number as typed (spaces and dashes allowed), 6 to 20 digits.
pub fn account_digits(input: &str) -> Result<String> {
    let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if !(6..=20).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(CommerceError::Invalid("a bank account number is 6 to 20 digits".into()));
    }
    Ok(digits)
}

/// `****1234`: the last four digits only.
#[must_use]
pub fn mask_account(digits: &str) -> String {
    let tail = digits.get(digits.len().saturating_sub(4)..).unwrap_or("");
    format!("****{tail}")
}

/// Sets the store's payout bank account. A different account (by its keyed hash) on a verified store sends it back
/// to `reverify_needed`, which blocks payouts until an operator approves again; a submitted one goes back to the
/// queue as is. Audited with the masked form only.
pub async fn set_payout_account(db: &Db, scope: &StaffScope, account: BankAccount) -> Result<Verification> {
    let bank = checked_text("bank name", &account.bank_name, MAX_NAME)?;
    let holder = checked_text("account holder", &account.holder_name, MAX_NAME)?;
    let store = scope.store_key();
    let now = db.now().0;
    let mut tx = db.begin_write().await?;
    // The verification row first (the order `decide` locks in), so an approval and an account change are one
    // after the other on PostgreSQL too.
    sqlx::query("UPDATE store_verifications SET updated_at = updated_at WHERE store_id = $1")
        .bind(&store)
        .execute(&mut *tx)
        .await?;
    let previous: Option<(String, String, String)> =
        sqlx::query_as("SELECT account_hash, bank_name, holder_name FROM store_payout_accounts WHERE store_id = $1")
            .bind(&store)
            .fetch_optional(&mut *tx)
            .await?;
    // Any change counts: the number, the bank or the holder's name (money to a different holder is a new account).
    let changed =
        previous.as_ref().is_none_or(|(hash, b, h)| hash != &account.account_hash || b != &bank || h != &holder);
    sqlx::query(
        "INSERT INTO store_payout_accounts (store_id, bank_name, account_hash, account_masked, holder_name, \
         updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (store_id) DO UPDATE SET bank_name = excluded.bank_name, account_hash = excluded.account_hash, \
         account_masked = excluded.account_masked, holder_name = excluded.holder_name, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(&store)
    .bind(&bank)
    .bind(&account.account_hash)
    .bind(&account.account_masked)
    .bind(&holder)
    .bind(now)
    .bind(scope.actor().as_audit_text())
    .execute(&mut *tx)
    .await?;
    let mut reset = false;
    // Any change, the first account included: the operator approved the seller, not an account added afterwards
    // (someone who took over a member with the payouts permission would otherwise route the money unreviewed).
    if changed {
        let done = sqlx::query(
            "UPDATE store_verifications SET state = 'reverify_needed', updated_at = $1 \
             WHERE store_id = $2 AND state = 'verified'",
        )
        .bind(now)
        .bind(&store)
        .execute(&mut *tx)
        .await?;
        reset = done.rows_affected() > 0;
        if reset {
            palisade_store::storefront::touch(&mut tx, scope).await?;
        }
    }
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("payout_account.changed", "payout_account")
            .details(serde_json::json!({"account": account.account_masked, "reverify_needed": reset})),
    )
    .await?;
    let v = load(&mut tx, &store).await?;
    tx.commit().await?;
    if reset {
        crate::safety::forget(&store);
    }
    Ok(v)
}

/// After `reverify_needed`, the seller asks for review again with the identity already on file.
pub async fn request_reverification(db: &Db, scope: &StaffScope) -> Result<Verification> {
    let store = scope.store_key();
    let now = db.now().0;
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE store_verifications SET state = 'submitted', submitted_at = $1, submitted_by = $2, reason = NULL, \
         decided_at = NULL, decided_by = NULL, updated_at = $1 WHERE store_id = $3 AND state = 'reverify_needed'",
    )
    .bind(now)
    .bind(scope.actor().as_audit_text())
    .bind(&store)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::InvalidTransition("re-verification is not needed".into()));
    }
    audit::record_store(&mut tx, db, scope, NewEvent::new("verification.resubmitted", "verification")).await?;
    let v = load(&mut tx, &store).await?;
    tx.commit().await?;
    Ok(v)
}

/// Marks a store verified without review: the CLI's demo data only (`system:demo`), so the badge shows.
pub async fn verify_for_demo(db: &Db, scope: &StaffScope, uen: &Uen, name: &str) -> Result<()> {
    if scope.actor() != palisade_store::scope::Actor::System("demo") {
        return Err(StoreError::Forbidden("only the demo data may skip the review").into());
    }
    let now = db.now().0;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO store_verifications (store_id, state, kind, uen, legal_name, registry_status, submitted_at, \
         submitted_by, decided_at, decided_by, updated_at) VALUES ($1, 'verified', 'business', $2, $3, 'live', $4, $5, $4, $5, $4) \
         ON CONFLICT (store_id) DO NOTHING",
    )
    .bind(scope.store_key())
    .bind(uen.as_str())
    .bind(name)
    .bind(now)
    .bind(scope.actor().as_audit_text())
    .execute(&mut *tx)
    .await?;
    // A placeholder account, so the demo's payouts work: no real number behind it (its hash is no keyed hash of
    // any digits).
    sqlx::query(
        "INSERT INTO store_payout_accounts (store_id, bank_name, account_hash, account_masked, holder_name,          updated_at, updated_by) VALUES ($1, 'Demo Bank', $2, '****0000', $3, $4, $5) ON CONFLICT (store_id) DO NOTHING",
    )
    .bind(scope.store_key())
    .bind(format!("demo:{}", scope.store_key()))
    .bind(name)
    .bind(now)
    .bind(scope.actor().as_audit_text())
    .execute(&mut *tx)
    .await?;
    audit::record_store(&mut tx, db, scope, NewEvent::new("verification.approved", "verification")).await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    crate::safety::forget(&scope.store_key());
    Ok(())
}

/// Largest document accepted (the upload route's body limit is this plus multipart framing).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// Most documents a store keeps for review.
pub const MAX_DOCUMENTS: i64 = 10;
/// Longest file name kept (shown to the operator; the download names the file by its id).
const MAX_FILE_NAME: usize = 120;

/// The content type of an allowed document, by its magic bytes (never by its name or the browser's word): PDF,
/// PNG or JPEG. `None` for anything else (an HTML page renamed `.pdf` is refused).
#[must_use]
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// A document's description (never its content).
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub id: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub uploaded_at: Timestamp,
}

/// The associated data a document is sealed with: its store and id, so a sealed value copied to another store's
/// row does not open.
#[must_use]
pub fn document_context(store: StoreId, id: &str) -> String {
    format!("verification-document:{store}:{id}")
}

/// Keeps a document for review, sealed by `seal(plaintext, context)` (the web layer's AEAD under a
/// master-key-derived key). Refused: empty, over [`MAX_DOCUMENT_BYTES`], not PDF/PNG/JPEG by magic bytes, more than
/// [`MAX_DOCUMENTS`] already, or a verified store (nothing to review). Audited (name and type, not the content).
pub async fn add_document(
    db: &Db,
    scope: &StaffScope,
    file_name: &str,
    bytes: &[u8],
    seal: &(dyn Fn(&[u8], &str) -> String + Sync),
) -> Result<Document> {
    if bytes.is_empty() {
        return Err(CommerceError::Invalid("choose a file to upload".into()));
    }
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(CommerceError::Invalid(format!(
            "documents must be at most {} MiB",
            MAX_DOCUMENT_BYTES / 1024 / 1024
        )));
    }
    let content_type =
        sniff(bytes).ok_or_else(|| CommerceError::Invalid("documents must be PDF, PNG or JPEG files".into()))?;
    let name: String =
        file_name.chars().filter(|c| !c.is_control() && !matches!(c, '/' | '\\' | '"')).take(MAX_FILE_NAME).collect();
    let name = if name.trim().is_empty() { "document".to_owned() } else { name.trim().to_owned() };
    let id = palisade_core::JobId::new().to_string();
    let sealed = seal(bytes, &document_context(scope.store_id(), &id));
    let store = scope.store_key();
    let now = db.now();
    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    let mut tx = db.begin_write().await?;
    if load(&mut tx, &store).await?.state == State::Verified {
        return Err(CommerceError::InvalidTransition("the store is verified: no documents are needed".into()));
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM verification_documents WHERE store_id = $1")
        .bind(&store)
        .fetch_one(&mut *tx)
        .await?;
    if count >= MAX_DOCUMENTS {
        return Err(CommerceError::Invalid(format!("at most {MAX_DOCUMENTS} documents per store")));
    }
    sqlx::query(
        "INSERT INTO verification_documents (id, store_id, file_name, content_type, size_bytes, sealed, uploaded_at, \
         uploaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&store)
    .bind(&name)
    .bind(content_type)
    .bind(size)
    .bind(&sealed)
    .bind(now.0)
    .bind(scope.actor().as_audit_text())
    .execute(&mut *tx)
    .await?;
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("verification.document_added", &format!("verification_document:{id}"))
            .details(serde_json::json!({"content_type": content_type, "size_bytes": size})),
    )
    .await?;
    tx.commit().await?;
    Ok(Document { id, file_name: name, content_type: content_type.to_owned(), size_bytes: size, uploaded_at: now })
}

type DocRow = (String, String, String, i64, i64);

fn document(row: DocRow) -> Document {
    let (id, file_name, content_type, size_bytes, at) = row;
    Document { id, file_name, content_type, size_bytes, uploaded_at: Timestamp(at) }
}

async fn documents_of(db: &Db, store: &str) -> Result<Vec<Document>> {
    let rows: Vec<DocRow> = sqlx::query_as(
        "SELECT id, file_name, content_type, size_bytes, uploaded_at FROM verification_documents \
         WHERE store_id = $1 ORDER BY uploaded_at, id",
    )
    .bind(store)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(document).collect())
}

/// The store's documents (descriptions only).
pub async fn documents(db: &Db, scope: &StaffScope) -> Result<Vec<Document>> {
    documents_of(db, &scope.store_key()).await
}

/// A store's documents, for the operator's review.
pub async fn documents_for_review(db: &Db, operator: &OperatorPrincipal, store: StoreId) -> Result<Vec<Document>> {
    documents_of(db, &operator.store_scope(store).store_key()).await
}

/// One document's description and sealed content, for the operator (open it with [`document_context`]). The
/// download is audited in the store's chain as the operator. Another store's document id is not found.
pub async fn document_for_review(
    db: &Db,
    operator: &OperatorPrincipal,
    store: StoreId,
    id: &str,
) -> Result<(Document, String)> {
    let scope = operator.store_scope(store);
    let row: Option<(String, String, String, i64, i64, String)> = sqlx::query_as(
        "SELECT id, file_name, content_type, size_bytes, uploaded_at, sealed FROM verification_documents \
         WHERE store_id = $1 AND id = $2",
    )
    .bind(scope.store_key())
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    let (id, name, ty, size, at, sealed) = row.ok_or(StoreError::NotFound("document"))?;
    audit::record_store_now(
        db,
        &scope,
        NewEvent::new("verification.document_viewed", &format!("verification_document:{id}")),
    )
    .await?;
    Ok((document((id, name, ty, size, at)), sealed))
}
