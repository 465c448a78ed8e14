//! "Sell on Palisade": a would-be merchant applies for a store (their name and email; the store's name, address
//! and currency; the platform's terms). The application counts only once the address's owner opens the link mailed
//! to it and confirms on that page (a POST: a mail scanner fetching the link confirms nothing), choosing the
//! account's password there — so nobody can open a store, or an account, in someone else's name or with a
//! password of their choosing. Then an operator approves or declines it, or — when the platform allows it
//! ([`SignupMode::Open`]) — it opens at once.
//!
//! Approval creates the owner's staff account (with the password chosen at confirmation, kept meanwhile only as
//! its argon2 hash and cleared once decided; an address that already has a staff account keeps its own password)
//! and the store, in one transaction. An address that belongs to a buyer account is told to apply with another one: buyer and staff
//! accounts are apart on this platform (their policies differ).
//!
//! Submitting answers the same whether or not the address has an account: what differs goes into the mail, which
//! only the address's owner reads.

use std::time::Duration;

use palisade_core::money::Currency;
use palisade_core::text::{Email, Slug};
use palisade_core::time::Timestamp;
use palisade_store::audit::{self, NewEvent};
use palisade_store::scope::{OperatorPrincipal, PlatformScope};
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore};
use palisade_store::{Db, StoreError, outbox, settings};
use rand::RngCore;
use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{IdentityError, Result};
use crate::resets::{PER_ADDRESS, PER_CLIENT};
use crate::service::Identity;
use crate::throttle;

/// How long the confirmation link works.
pub const VALID_FOR: Duration = Duration::from_secs(24 * 3600);

/// The platform setting that says how new stores open.
pub const MODE_SETTING: &str = "merchant_signup";

/// How new stores open, as the operator chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignupMode {
    /// Confirmed applications wait for an operator (the default).
    Review,
    /// A confirmed application opens its store at once.
    Open,
    /// No applications are taken.
    Closed,
}

impl SignupMode {
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "review" => Some(Self::Review),
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Review => "review",
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }

    /// The current mode. Unset is [`SignupMode::Review`]; a stored value that is not a mode is an error (a
    /// setting that cannot be read must not open stores).
    pub async fn current(db: &Db) -> Result<Self> {
        match settings::get(db, MODE_SETTING).await? {
            None => Ok(Self::Review),
            Some((v, _)) => v
                .as_str()
                .and_then(Self::parse)
                .ok_or_else(|| StoreError::Corrupt(format!("platform setting `{MODE_SETTING}`: {v}")).into()),
        }
    }

    /// Sets the mode, audited on the platform's chain.
    pub async fn set(db: &Db, platform: &PlatformScope, mode: Self) -> Result<()> {
        settings::put(db, MODE_SETTING, &serde_json::json!(mode.as_str())).await?;
        let event = NewEvent::new("platform.merchant_signup_set", "setting:merchant_signup")
            .details(serde_json::json!({"mode": mode.as_str()}));
        audit::record_platform_now(db, platform, event).await?;
        Ok(())
    }
}

/// What an applicant sends (no password: that is chosen by whoever holds the mailed link).
#[derive(Debug)]
pub struct NewApplication {
    pub email: Email,
    pub name: String,
    pub store_name: String,
    pub slug: Slug,
    pub currency: Currency,
}

/// What became of a submission. The applicant sees the same page for the first two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// A confirmation link (or, for a buyer's address, a note) went to the address.
    Mailed,
    /// Too many applications for this address or from this client: nothing was sent.
    Throttled,
    /// The platform takes no applications now.
    Closed,
}

/// An application as the operator's queue shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Application {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub store_name: String,
    pub slug: String,
    pub currency: String,
    pub status: String,
    pub created_at: Timestamp,
    /// Whether the address already has a staff account (the store is added to it).
    pub existing_account: bool,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(format!("palisade-sell-v1:{token}").as_bytes()))
}

fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// Takes an application and mails its confirmation link. A store address already taken (by a store or by an
/// application still in progress) is refused here, so the applicant can choose another.
pub async fn submit(
    identity: &Identity,
    app: NewApplication,
    client: Option<&str>,
    link_base: &str,
) -> Result<Submitted> {
    let db = identity.db();
    if SignupMode::current(db).await? == SignupMode::Closed {
        return Ok(Submitted::Closed);
    }
    if slug_taken(db, &app.slug).await? {
        return Err(IdentityError::NotAllowed("that store address is taken; choose another"));
    }
    let keys = [
        // The same limits as reset mail: three mails an hour to an address, ten an hour from one client.
        Some((throttle::email_key(identity.links(), "sell", app.email.as_str()), PER_ADDRESS)),
        client.map(|c| (format!("sell-{}", throttle::ip_key(c)), PER_CLIENT)),
    ];
    let mut over = false;
    for (key, policy) in keys.iter().flatten() {
        over |= throttle::record_failure(db, key, policy).await?.failures > policy.free_failures;
    }
    if over {
        return Ok(Submitted::Throttled);
    }
    let base = link_base.trim_end_matches('/');
    let existing = tenancy::find_account_by_email(db, &app.email).await?;
    if let Some(account) = existing.as_ref().filter(|a| a.kind != AccountKind::Staff || a.disabled) {
        let body = format!(
            "Someone (perhaps you) applied to sell on Palisade with this address, which belongs to a {} account.\n\n\
             Buyer and seller accounts are kept apart here: please apply again with another address for your \
             store at {base}/sell.\n\nIf this was not you, you can ignore this message.",
            if account.disabled { "closed" } else { "buyer" }
        );
        let mail =
            outbox::NewMail { store_id: None, to: app.email.as_str(), subject: "Your application to sell", body };
        outbox::enqueue(db, mail).await?;
        return Ok(Submitted::Mailed);
    }
    let token = new_token();
    let now = db.now();
    sqlx::query(
        "INSERT INTO merchant_applications (id, email, display_name, password_hash, store_name, slug, currency, \
         token_hash, status, created_at, expires_at) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, 'unconfirmed', $8, $9)",
    )
    .bind(palisade_core::JobId::new().to_string())
    .bind(app.email.as_str())
    .bind(&app.name)
    .bind(&app.store_name)
    .bind(app.slug.as_str())
    .bind(app.currency.code())
    .bind(hash(&token))
    .bind(now.0)
    .bind(now.plus(VALID_FOR).0)
    .execute(db.pool())
    .await
    .map_err(StoreError::from)?;
    // The applicant's own words (the store's name) stay out of this mail: it goes from the platform's address to
    // whatever address was typed, and must not carry a stranger's message.
    let body = format!(
        "Someone (we hope you) applied to sell on Palisade with this address.\n\nTo go on, open this link within 24 \
         hours; you will see the application and choose your password there:\n{base}/sell/confirm?token={token}\n\n\
         If this was not you, ignore this message: nothing happens unless the link is used."
    );
    let mail =
        outbox::NewMail { store_id: None, to: app.email.as_str(), subject: "Confirm your application to sell", body };
    outbox::enqueue(db, mail).await?;
    Ok(Submitted::Mailed)
}

async fn slug_taken(db: &Db, slug: &Slug) -> Result<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM stores WHERE slug = $1) + (SELECT COUNT(*) FROM merchant_applications \
         WHERE slug = $1 AND (status = 'pending' OR (status = 'unconfirmed' AND expires_at > $2)))",
    )
    .bind(slug.as_str())
    .bind(db.now().0)
    .fetch_one(db.pool())
    .await
    .map_err(StoreError::from)?;
    Ok(n > 0)
}

/// What a confirmation link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The application waits for an operator.
    Pending,
    /// The platform opens stores at once: this one is open.
    Opened { slug: String },
    /// The link is unknown, used or expired.
    Invalid,
}

/// An application as its confirmation page shows it, while its link works.
#[derive(Debug, Clone, Serialize)]
pub struct Unconfirmed {
    pub email: String,
    pub store_name: String,
    pub slug: String,
    /// No account has this address yet: the confirmation chooses its password.
    pub needs_password: bool,
}

fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The application a link confirms, while it works. Reading it changes nothing (mail scanners fetch links).
pub async fn unconfirmed(db: &Db, token: &str) -> Result<Option<Unconfirmed>> {
    Ok(live(db, token).await?.map(|(_, u)| u))
}

async fn live(db: &Db, token: &str) -> Result<Option<(String, Unconfirmed)>> {
    if !well_formed(token) {
        return Ok(None);
    }
    let row: Option<(String, String, String, String)> = sqlx::query_as(
        "SELECT id, email, store_name, slug FROM merchant_applications WHERE token_hash = $1 AND status = 'unconfirmed' AND expires_at > $2",
    )
    .bind(hash(token))
    .bind(db.now().0)
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::from)?;
    let Some((id, email, store_name, slug)) = row else { return Ok(None) };
    let parsed = Email::parse(&email).map_err(|e| StoreError::Corrupt(format!("application email: {e}")))?;
    let needs_password = tenancy::find_account_by_email(db, &parsed).await?.is_none();
    Ok(Some((id, Unconfirmed { email, store_name, slug, needs_password })))
}

/// Confirms an application (once, before the link expires), by whoever opened the mailed link. Where the address
/// has no account yet, `password` becomes the new account's (the staff policy applies); hashing runs whether or not
/// it is needed, so the time taken says nothing about the address.
pub async fn confirm(identity: &Identity, token: &str, password: SecretString, link_base: &str) -> Result<Confirmed> {
    let db = identity.db();
    let Some((id, app)) = live(db, token).await? else { return Ok(Confirmed::Invalid) };
    if app.needs_password {
        crate::password::check_policy(&password, crate::password::Audience::Staff, &[app.email.as_str(), &app.slug])?;
    }
    let hashed = identity.hash_blocking(move || crate::password::hash(&password)).await??;
    let moved = sqlx::query(
        "UPDATE merchant_applications SET status = 'pending', password_hash = $1 WHERE id = $2 AND status = 'unconfirmed'",
    )
    .bind(app.needs_password.then_some(hashed))
    .bind(&id)
    .execute(db.pool())
    .await
    .map_err(StoreError::from)?;
    if moved.rows_affected() != 1 {
        return Ok(Confirmed::Invalid);
    }
    if SignupMode::current(db).await? == SignupMode::Open {
        let platform = PlatformScope::system("signup:open");
        approve(db, &platform, &id, link_base).await?;
        return Ok(Confirmed::Opened { slug: app.slug });
    }
    Ok(Confirmed::Pending)
}

type Row = (String, String, String, String, String, String, String, i64);
const COLUMNS: &str = "id, email, display_name, store_name, slug, currency, status, created_at";

/// Confirmed applications waiting for a decision, oldest first.
pub async fn pending(db: &Db, _platform: &PlatformScope) -> Result<Vec<Application>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM merchant_applications WHERE status = 'pending' ORDER BY created_at LIMIT 500"
    )))
    .fetch_all(db.pool())
    .await
    .map_err(StoreError::from)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let email = Email::parse(&r.1).map_err(|e| StoreError::Corrupt(format!("application email: {e}")))?;
        let existing_account = tenancy::find_account_by_email(db, &email).await?.is_some();
        out.push(Application {
            id: r.0,
            email: r.1,
            display_name: r.2,
            store_name: r.3,
            slug: r.4,
            currency: r.5,
            status: r.6,
            created_at: Timestamp(r.7),
            existing_account,
        });
    }
    Ok(out)
}

/// An operator's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Decline,
}

/// An operator approves (the store opens) or declines (with a note the applicant reads) a pending application.
pub async fn decide(
    db: &Db,
    operator: &OperatorPrincipal,
    id: &str,
    decision: Decision,
    note: &str,
    link_base: &str,
) -> Result<()> {
    let platform = operator.platform_scope();
    match decision {
        Decision::Approve => approve(db, &platform, id, link_base).await.map(|_| ()),
        Decision::Decline => decline(db, &platform, id, note.trim()).await,
    }
}

type Pending = (String, String, Option<String>, String, String, String);

/// Opens the store of a pending application: the account (if new) and the store in one transaction.
async fn approve(db: &Db, platform: &PlatformScope, id: &str, link_base: &str) -> Result<String> {
    let row: Option<Pending> = sqlx::query_as(
        "SELECT email, display_name, password_hash, store_name, slug, currency FROM merchant_applications \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::from)?;
    let Some((email, name, password_hash, store_name, slug, currency)) = row else {
        return Err(StoreError::NotFound("pending application").into());
    };
    let corrupt = |what: &str| StoreError::Corrupt(format!("application {id}: {what}"));
    let email = Email::parse(&email).map_err(|_| corrupt("email"))?;
    let slug = Slug::parse(&slug).map_err(|_| corrupt("slug"))?;
    let currency = Currency::parse(&currency).map_err(|_| corrupt("currency"))?;
    let mut tx = db.begin_write().await?;
    // Read inside the write: an account disabled meanwhile must not receive the store.
    let existing = tenancy::find_account_by_email_on(&mut tx, &email).await?;
    let moved = sqlx::query(
        "UPDATE merchant_applications SET status = 'approved', decided_at = $1, decided_by = $2 WHERE id = $3 AND status = 'pending'",
    )
    .bind(db.now().0)
    .bind(platform.actor().as_audit_text())
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    if moved.rows_affected() != 1 {
        return Err(StoreError::Conflict("this application was decided meanwhile".into()).into());
    }
    let owner = match (existing, password_hash) {
        (Some(a), _) if a.kind == AccountKind::Staff && !a.disabled => a,
        (Some(_), _) => return Err(IdentityError::NotAllowed("this address now belongs to a buyer or closed account")),
        (None, None) => {
            return Err(IdentityError::NotAllowed(
                "the account this application named is gone; ask for a new application",
            ));
        }
        (None, Some(hash)) => {
            let new = NewAccount { email: email.clone(), display_name: name, kind: AccountKind::Staff };
            let account = tenancy::create_account_on(&mut tx, db, new).await?;
            sqlx::query("UPDATE accounts SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(db.now().0)
                .bind(account.id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            account
        }
    };
    let new = NewStore { slug, name: store_name, currency, owner: owner.id, security_contact: Some(email.clone()) };
    let (store, _) = tenancy::create_store_on(&mut tx, db, platform, new, &owner).await?;
    sqlx::query("UPDATE merchant_applications SET store_id = $1, password_hash = NULL WHERE id = $2")
        .bind(store.id.to_string())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    let target = format!("application:{id}");
    let event = NewEvent::new("merchant_application.approved", &target)
        .details(serde_json::json!({"store": store.id, "slug": store.slug}));
    audit::record_platform(&mut tx, db, platform, event).await?;
    tx.commit().await.map_err(StoreError::from)?;
    let base = link_base.trim_end_matches('/');
    let body = format!(
        "Your store \"{}\" is open on Palisade.\n\nSign in at {base}/login with this address and the password you \
         chose, then set it up at {base}/admin: add products, turn on two-step verification for everyone who helps \
         you, and look at your Security Center.\n\nYour shop's address: {base}/s/{}",
        store.name, store.slug
    );
    let mail = outbox::NewMail {
        store_id: Some(store.id.to_string()),
        to: email.as_str(),
        subject: "Your store is open",
        body,
    };
    outbox::enqueue(db, mail).await?;
    Ok(store.slug)
}

async fn decline(db: &Db, platform: &PlatformScope, id: &str, note: &str) -> Result<()> {
    if note.is_empty() || note.chars().count() > 2000 {
        return Err(IdentityError::NotAllowed("say why in 1 to 2,000 characters: the applicant reads it"));
    }
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT email, slug FROM merchant_applications WHERE id = $1 AND status = 'pending'")
            .bind(id)
            .fetch_optional(db.pool())
            .await
            .map_err(StoreError::from)?;
    let Some((email, slug)) = row else { return Err(StoreError::NotFound("pending application").into()) };
    let moved = sqlx::query(
        "UPDATE merchant_applications SET status = 'declined', decided_at = $1, decided_by = $2, note = $3, \
         password_hash = NULL WHERE id = $4 AND status = 'pending'",
    )
    .bind(db.now().0)
    .bind(platform.actor().as_audit_text())
    .bind(note)
    .bind(id)
    .execute(db.pool())
    .await
    .map_err(StoreError::from)?;
    if moved.rows_affected() != 1 {
        return Err(StoreError::Conflict("this application was decided meanwhile".into()).into());
    }
    let target = format!("application:{id}");
    audit::record_platform_now(db, platform, NewEvent::new("merchant_application.declined", &target)).await?;
    let body = format!(
        "Thank you for applying to sell on Palisade with the store at /s/{slug}. We cannot open it this time.\n\n\
         The reason: {note}\n\nYou are welcome to apply again when that has changed."
    );
    let mail = outbox::NewMail { store_id: None, to: &email, subject: "Your application to sell", body };
    outbox::enqueue(db, mail).await?;
    Ok(())
}
