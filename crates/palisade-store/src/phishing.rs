//! Phishing simulation for a store's staff (issue #22 item 2): opt-in by the store's owner, campaigns from
//! built-in templates only, one link per recipient, the landing visits the bot filter judges, "report phishing",
//! and the results with the platform cohort.
//!
//! - **Owner only.** Enabling, disabling and launching take the actor's [`Membership`] and re-read the actor's role
//!   inside the write transaction (a demoted owner cannot act on a stale session); each change is audited.
//! - **No merchant-written mail.** A campaign names one of [`TEMPLATES`] by id; the mail's text is ours, with the
//!   store's name and the link filled in as plain text.
//! - **Tokens**: 256 random bits, sent once in the mail and kept only as their SHA-256 (`token_hash`); the link
//!   itself is the capability of the public landing page, like an invitation link.
//! - **Visits** keep the engine's JSON ([`palisade_awareness::phish::ClickEvent`], [`Confirmation`]) with the
//!   client address truncated (/24 or /48) before it is stored, and are classified when read
//!   ([`palisade_awareness::phish::first_counted_click`]), so a better filter re-judges old visits.
//! - **Reports**: a member's own simulation link marks them reported; anything else becomes a report for the
//!   owner ([`report`]), and the answer never says whether a token exists for someone else.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use palisade_awareness::phish::metrics::{self, CohortComparison, RecipientOutcome, StoreFigures};
use palisade_awareness::phish::{ClickEvent, Confirmation, Verdict, Visit, classify, first_counted_click};
use palisade_core::AccountId;
use palisade_core::time::Timestamp;
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::audit::{self, NewEvent};
use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::outbox::{self, Dressing, NewMail};
use crate::scope::{Actor, StaffScope, StoreScope};
use crate::tenancy::Membership;

/// Link hits one recipient's token may record per hour; past it the landing page answers 429 and records nothing.
pub const MAX_HITS_PER_HOUR: i64 = 30;
/// Recipients one campaign may have.
pub const MAX_RECIPIENTS: usize = 500;
/// Campaigns one store may launch in 24 hours (the outbox is shared; a simulation is not a mailing list).
pub const MAX_CAMPAIGNS_PER_DAY: i64 = 5;
/// What is kept of a pasted suspicious mail (characters).
pub const MAX_EXCERPT: usize = 500;
/// The path prefix of the landing page.
pub const LANDING_PATH: &str = "/learn/";
/// The window the results and the cohort look back over (days).
pub const FIGURES_DAYS: i64 = 365;

/// A built-in simulation mail and what its landing page teaches.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Template {
    pub id: &'static str,
    pub title: &'static str,
    pub subject: &'static str,
    /// The plain-text body; `{store}` and `{link}` are replaced (plain text, no markup).
    pub body: &'static str,
    /// The signs a careful reader would have noticed.
    pub signs: &'static [&'static str],
}

/// The only mails a campaign can send.
pub const TEMPLATES: &[Template] = &[
    Template {
        id: "support-verification",
        title: "Palisade support needs your verification code",
        subject: "Action required: verify your store {store} within 24 hours",
        body: "Hello,\n\nThis is Palisade merchant support. We detected unusual activity on {store} and must verify \
               that you are its rightful manager. Please confirm your identity and your verification code here \
               within 24 hours, or the store will be suspended:\n\n{link}\n\nPalisade Support Team",
        signs: &[
            "Urgency and a threat (\"within 24 hours\", \"suspended\") to rush you.",
            "Palisade never asks for a verification code or a password by mail, chat or phone.",
            "The link's address is not the admin address you always use: open the admin yourself instead.",
            "A generic greeting (\"Hello\") rather than your name.",
        ],
    },
    Template {
        id: "payout-hold",
        title: "Your payout is on hold",
        subject: "Payout on hold for {store}: update your bank details",
        body: "Dear merchant,\n\nYour latest payout for {store} could not be sent and is now on hold. To release \
               it, review and update your bank details using the secure link below:\n\n{link}\n\nIf you do not \
               act, the funds will be returned to the buyers.\n\nPayouts Department",
        signs: &[
            "Money pressure: a held payout and a threat to lose the funds.",
            "Bank details are only ever changed in the admin, after entering your password again.",
            "A department with no name and no way to check it other than the link.",
            "The link does not lead to the admin address you know.",
        ],
    },
    Template {
        id: "shared-invoice",
        title: "A supplier shared an invoice with you",
        subject: "Invoice #48213 shared with {store}",
        body: "Hi,\n\nA document has been shared with you: Invoice_48213.pdf (2 pages).\n\nView the document:\n\
               {link}\n\nThis link expires in 48 hours.\n\nDocument sharing service",
        signs: &[
            "An invoice you did not expect, from a sender you cannot name.",
            "A \"shared document\" link that asks you to sign in is a classic password trap.",
            "An expiry to hurry you.",
        ],
    },
];

/// A template by id.
#[must_use]
pub fn template(id: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.id == id)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `s` looks like a link token (64 lower-case hex digits), checked before any lookup.
#[must_use]
pub fn is_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The client address as stored: IPv4 to its /24, IPv6 to its /48 (enough for a network, not a person).
#[must_use]
pub fn truncate_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Settings

/// The store's simulation setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub enabled: bool,
    pub changed_at: Option<Timestamp>,
}

/// The store's setting (off until its owner turns it on).
pub async fn settings(db: &Db, scope: &StoreScope) -> Result<Settings> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT enabled, changed_at FROM phishing_settings WHERE store_id = $1")
            .bind(scope.store_key())
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map_or(Settings { enabled: false, changed_at: None }, |(e, at)| Settings {
        enabled: e != 0,
        changed_at: Some(Timestamp(at)),
    }))
}

/// Refuses unless `by` is the store's owner now (re-read inside `conn`'s transaction) or an owner's system task.
async fn require_owner(conn: &mut AnyConnection, by: &Membership) -> Result<()> {
    let forbidden = StoreError::Forbidden("only the store's owner runs phishing simulations");
    match by.scope.actor() {
        Actor::System(_) if by.role == crate::tenancy::Role::Owner => Ok(()),
        Actor::Account(a) => {
            let role: Option<(String,)> =
                sqlx::query_as("SELECT role FROM store_members WHERE store_id = $1 AND account_id = $2")
                    .bind(by.scope.store_key())
                    .bind(a.to_string())
                    .fetch_optional(&mut *conn)
                    .await?;
            if role.is_some_and(|r| r.0 == "owner") { Ok(()) } else { Err(forbidden) }
        }
        _ => Err(forbidden),
    }
}

/// The store's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
}

/// Turns the simulation on or off for the store (owner only, audited).
pub async fn set_enabled(db: &Db, by: &Membership, switch: Switch) -> Result<Settings> {
    let enabled = switch == Switch::On;
    let scope = &by.scope;
    let now = db.now();
    let mut tx = db.begin_write().await?;
    require_owner(&mut tx, by).await?;
    sqlx::query(
        "INSERT INTO phishing_settings (store_id, enabled, changed_at, changed_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (store_id) DO UPDATE SET enabled = excluded.enabled, changed_at = excluded.changed_at, \
         changed_by = excluded.changed_by",
    )
    .bind(scope.store_key())
    .bind(i64::from(enabled))
    .bind(now.0)
    .bind(scope.actor().as_audit_text())
    .execute(&mut *tx)
    .await?;
    let action = if enabled { "phishing.enabled" } else { "phishing.disabled" };
    audit::record_store(&mut tx, db, scope, NewEvent::new(action, "phishing")).await?;
    tx.commit().await?;
    Ok(Settings { enabled, changed_at: Some(now) })
}

// ---------------------------------------------------------------------------------------------------------------
// Campaigns

/// Who a campaign goes to.
#[derive(Debug, Clone)]
pub enum Recipients {
    /// Every active (not disabled) member of the store.
    AllActive,
    /// These members (each must be an active member of the store).
    Chosen(Vec<AccountId>),
}

/// A launched campaign.
#[derive(Debug, Clone, Serialize)]
pub struct Launched {
    pub campaign: String,
    pub recipients: usize,
}

/// Launches a campaign of the built-in template `template_id` (owner only, simulation enabled): one mail per
/// recipient through the outbox, each with its own link under `base_url`, the campaign, its recipients, their
/// mails and the audit event in one transaction.
pub async fn launch(
    db: &Db,
    by: &Membership,
    template_id: &str,
    recipients: Recipients,
    base_url: &str,
) -> Result<Launched> {
    let scope = &by.scope;
    let tpl = template(template_id).ok_or_else(|| StoreError::Invalid("unknown simulation template".into()))?;
    let now = db.now();
    let mut tx = db.begin_write().await?;
    require_owner(&mut tx, by).await?;
    let enabled: Option<(i64,)> = sqlx::query_as("SELECT enabled FROM phishing_settings WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_optional(&mut *tx)
        .await?;
    if enabled.is_none_or(|e| e.0 == 0) {
        return Err(StoreError::Conflict("turn the phishing simulation on before launching a campaign".into()));
    }
    let (today,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM phishing_campaigns WHERE store_id = $1 AND launched_at > $2")
            .bind(scope.store_key())
            .bind(now.0 - 86_400_000)
            .fetch_one(&mut *tx)
            .await?;
    if today >= MAX_CAMPAIGNS_PER_DAY {
        return Err(StoreError::Conflict(format!("at most {MAX_CAMPAIGNS_PER_DAY} campaigns a day")));
    }
    let (store_name,): (String,) =
        sqlx::query_as("SELECT name FROM stores WHERE id = $1").bind(scope.store_key()).fetch_one(&mut *tx).await?;
    let active: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.id, a.email FROM store_members m JOIN accounts a ON a.id = m.account_id \
         WHERE m.store_id = $1 AND a.disabled = 0 ORDER BY a.email",
    )
    .bind(scope.store_key())
    .fetch_all(&mut *tx)
    .await?;
    let chosen = pick(active, &recipients)?;
    let campaign = new_id();
    sqlx::query(
        "INSERT INTO phishing_campaigns (id, store_id, template, launched_by, launched_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&campaign)
    .bind(scope.store_key())
    .bind(tpl.id)
    .bind(scope.actor().as_audit_text())
    .bind(now.0)
    .execute(&mut *tx)
    .await?;
    let subject = tpl.subject.replace("{store}", &store_name);
    for (account, email) in &chosen {
        let token = random_hex();
        let link = format!("{}{LANDING_PATH}{token}", base_url.trim_end_matches('/'));
        // `{link}` last, so a store name containing "{link}" cannot place a second link.
        let body = tpl.body.replace("{store}", &store_name).replace("{link}", &link);
        let mail = NewMail { store_id: Some(scope.store_key()), to: email, subject: &subject, body };
        let outbox_id = outbox::enqueue_on(&mut tx, db, mail, Dressing::default()).await?;
        sqlx::query(
            "INSERT INTO phishing_recipients (id, campaign_id, store_id, account_id, token_hash, outbox_id, queued_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new_id())
        .bind(&campaign)
        .bind(scope.store_key())
        .bind(account)
        .bind(sha256_hex(&token))
        .bind(outbox_id)
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
    }
    let event =
        NewEvent::new("phishing.launched", &campaign).details(json!({"template": tpl.id, "recipients": chosen.len()}));
    audit::record_store(&mut tx, db, scope, event).await?;
    tx.commit().await?;
    Ok(Launched { campaign, recipients: chosen.len() })
}

/// The (account id, email) pairs a campaign goes to, from the store's active members.
fn pick(active: Vec<(String, String)>, recipients: &Recipients) -> Result<Vec<(String, String)>> {
    let chosen = match recipients {
        Recipients::AllActive => active,
        Recipients::Chosen(ids) => {
            let mut out = Vec::new();
            for id in ids {
                let id = id.to_string();
                let Some(m) = active.iter().find(|(a, _)| *a == id) else {
                    // Not an active member of this store: the same answer whether or not the account exists.
                    return Err(StoreError::Invalid("a chosen recipient is not an active member of this store".into()));
                };
                if !out.contains(m) {
                    out.push(m.clone());
                }
            }
            out
        }
    };
    if chosen.is_empty() {
        return Err(StoreError::Invalid("choose at least one recipient".into()));
    }
    if chosen.len() > MAX_RECIPIENTS {
        return Err(StoreError::Invalid(format!("at most {MAX_RECIPIENTS} recipients per campaign")));
    }
    Ok(chosen)
}

/// When the store's newest campaign was launched.
pub async fn last_launch(db: &Db, scope: &StoreScope) -> Result<Option<Timestamp>> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT MAX(launched_at) FROM phishing_campaigns WHERE store_id = $1")
            .bind(scope.store_key())
            .fetch_optional(db.pool())
            .await?;
    Ok(row.and_then(|r| r.0).map(Timestamp))
}

// ---------------------------------------------------------------------------------------------------------------
// The landing page

/// A recipient's link, resolved from its token (the token is the capability: no session is involved).
#[derive(Debug, Clone)]
pub struct LinkAccess {
    recipient: String,
    store: StoreScope,
    pub store_name: String,
    pub template: &'static Template,
    /// When the mail went out (the outbox's delivery time, or when it was queued while not yet sent).
    pub delivered_at: Timestamp,
}

impl LinkAccess {
    #[must_use]
    pub fn store_id(&self) -> palisade_core::StoreId {
        self.store.store_id()
    }
}

/// The recipient a link token belongs to; `None` for a malformed or unknown token (the caller answers 404).
pub async fn resolve(db: &Db, token: &str) -> Result<Option<LinkAccess>> {
    if !is_token(token) {
        return Ok(None);
    }
    let row: Option<(String, String, String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT r.id, r.store_id, s.name, c.template, r.queued_at, o.sent_at FROM phishing_recipients r \
         JOIN phishing_campaigns c ON c.id = r.campaign_id JOIN stores s ON s.id = r.store_id \
         LEFT JOIN outbox o ON o.id = r.outbox_id WHERE r.token_hash = $1",
    )
    .bind(sha256_hex(token))
    .fetch_optional(db.pool())
    .await?;
    let Some((recipient, store, store_name, tpl, queued_at, sent_at)) = row else { return Ok(None) };
    let store = store.parse().map_err(|e| StoreError::Corrupt(format!("store id: {e}")))?;
    let template = template(&tpl).ok_or_else(|| StoreError::Corrupt(format!("simulation template {tpl}")))?;
    Ok(Some(LinkAccess {
        recipient,
        store: StoreScope::system(store, "web:phishing-landing"),
        store_name,
        template,
        delivered_at: Timestamp(sent_at.unwrap_or(queued_at)),
    }))
}

/// The outcome of recording a link hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    /// Recorded; the page carries this nonce for its confirmation.
    Recorded { nonce: String },
    /// Too many hits of this link in the last hour: nothing recorded.
    Limited,
}

/// Records a hit of the link (any method: a `HEAD` is stored as such and never counts). The address is truncated
/// before it is stored.
pub async fn record_hit(db: &Db, link: &LinkAccess, hit: &ClickEvent) -> Result<Hit> {
    let now = db.now();
    let mut tx = db.begin_write().await?;
    let (recent,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM phishing_visits WHERE recipient_id = $1 AND at > $2")
        .bind(&link.recipient)
        .bind(now.0 - 3_600_000)
        .fetch_one(&mut *tx)
        .await?;
    if recent >= MAX_HITS_PER_HOUR {
        return Ok(Hit::Limited);
    }
    let mut stored = hit.clone();
    stored.ip = truncate_ip(hit.ip);
    let landing = serde_json::to_string(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let nonce = random_hex();
    sqlx::query(
        "INSERT INTO phishing_visits (id, store_id, recipient_id, nonce_hash, landing, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(link.store.store_key())
    .bind(&link.recipient)
    .bind(sha256_hex(&nonce))
    .bind(landing)
    .bind(now.0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Hit::Recorded { nonce })
}

/// Records the confirmation of the visit `nonce` opened, once; false when the nonce is not one of this link's
/// visits or the visit was already confirmed.
pub async fn confirm(db: &Db, link: &LinkAccess, nonce: &str, confirmation: &Confirmation) -> Result<bool> {
    if !is_token(nonce) {
        return Ok(false);
    }
    let text = serde_json::to_string(confirmation).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE phishing_visits SET confirmation = $1 WHERE recipient_id = $2 AND nonce_hash = $3 \
         AND confirmation IS NULL",
    )
    .bind(text)
    .bind(&link.recipient)
    .bind(sha256_hex(nonce))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------------------------------------------
// Reporting

/// What a report turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reported {
    /// The member's own simulation link: marked reported.
    Simulation,
    /// Anything else: recorded for the owner.
    ForOwner,
}

/// The link token in a pasted text, if it holds a landing link (or is a bare token).
#[must_use]
pub fn token_in(pasted: &str) -> Option<&str> {
    let t = pasted.trim();
    if is_token(t) {
        return Some(t);
    }
    let at = t.find(LANDING_PATH)? + LANDING_PATH.len();
    let rest = t.get(at..)?;
    let end = rest.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(rest.len());
    rest.get(..end).filter(|s| is_token(s))
}

/// `s` with every run of 64 or more hex digits (a landing token, anyone's) replaced: the owner reading a report
/// must not be handed another member's — or another store's member's — live simulation link, whose visit would
/// count as that member's click.
#[must_use]
pub fn redact_tokens(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 64 {
            out.push_str("[link token removed]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Most reports for the owner one member may make in an hour.
pub const MAX_REPORTS_PER_MEMBER_HOUR: i64 = 20;
/// Most reports for the owner one member may make in a day: well under the store's, so one member cannot use up
/// the store's allowance and silence the others.
pub const MAX_REPORTS_PER_MEMBER_DAY: i64 = 40;
/// Most reports for the owner a store keeps in a day.
pub const MAX_REPORTS_PER_STORE_DAY: i64 = 200;

/// A member reports a suspicious mail by pasting its link (or text). Only the member's *own* simulation link of
/// this store marks a recipient reported; anything else — a real suspicious mail, another member's link, another
/// store's link — is recorded for the owner and audited, so the answer reveals nothing about other tokens.
pub async fn report(db: &Db, scope: &StaffScope, pasted: &str) -> Result<Reported> {
    let Actor::Account(me) = scope.actor() else {
        return Err(StoreError::Forbidden("a report is made by a member in person"));
    };
    let pasted: String = pasted.chars().filter(|c| !c.is_control() || *c == '\n').take(MAX_EXCERPT).collect();
    if pasted.trim().is_empty() {
        return Err(StoreError::Invalid("paste the suspicious link or message".into()));
    }
    let now = db.now();
    let mut tx = db.begin_write().await?;
    if let Some(token) = token_in(&pasted) {
        let mine: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT id, reported_at FROM phishing_recipients WHERE token_hash = $1 AND store_id = $2 AND account_id = $3",
        )
        .bind(sha256_hex(token))
        .bind(scope.store_key())
        .bind(me.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((id, reported_at)) = mine {
            if reported_at.is_none() {
                sqlx::query("UPDATE phishing_recipients SET reported_at = $1 WHERE id = $2 AND reported_at IS NULL")
                    .bind(now.0)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            return Ok(Reported::Simulation);
        }
    }
    // Reports for the owner are capped per member (an hour) and per store (a day): each is a row the owner reads
    // and an event in the store's chain, so a scripted member must not flood either.
    type Counts = (i64, i64, i64, i64);
    let (mine_hour, mine_day, store_hour, store_day): Counts = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN account_id = $2 AND reported_at > $3 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN account_id = $2 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN reported_at > $3 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         COUNT(*) FROM phishing_reports WHERE store_id = $1 AND reported_at > $4",
    )
    .bind(scope.store_key())
    .bind(me.to_string())
    .bind(now.0 - 3_600_000)
    .bind(now.0 - 86_400_000)
    .fetch_one(&mut *tx)
    .await?;
    if mine_hour >= MAX_REPORTS_PER_MEMBER_HOUR
        || mine_day >= MAX_REPORTS_PER_MEMBER_DAY
        || store_day >= MAX_REPORTS_PER_STORE_DAY
    {
        return Err(StoreError::RateLimited("reports"));
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO phishing_reports (id, store_id, account_id, excerpt, reported_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(scope.store_key())
    .bind(me.to_string())
    .bind(redact_tokens(&pasted))
    .bind(now.0)
    .execute(&mut *tx)
    .await?;
    // The excerpt stays out of the chain (it may hold anyone's data); the event names the report.
    audit::record_store(&mut tx, db, scope, NewEvent::new("phishing.reported", &format!("phishing-report:{id}")))
        .await?;
    // At most one mail an hour per store: the first report of the hour tells the owners, the rest wait in the
    // Security Center (one member's flood must not become a flood of mail).
    if store_hour == 0 {
        tell_owners(&mut tx, db, scope, me).await?;
    }
    tx.commit().await?;
    Ok(Reported::ForOwner)
}

/// Mails the store's owners (other than the reporter) that a member reported a suspicious mail, in the report's
/// transaction: a real phishing attempt on one member is often aimed at the others too. The mail names neither
/// the excerpt (it may hold anyone's data) nor a link token; the owner reads the report in the Security Center.
async fn tell_owners(tx: &mut AnyConnection, db: &Db, scope: &StaffScope, reporter: AccountId) -> Result<()> {
    let owners: Vec<(String,)> = sqlx::query_as(
        "SELECT a.email FROM store_members m JOIN accounts a ON a.id = m.account_id \
         WHERE m.store_id = $1 AND m.role = 'owner' AND a.id <> $2 AND a.disabled = 0",
    )
    .bind(scope.store_key())
    .bind(reporter.to_string())
    .fetch_all(&mut *tx)
    .await?;
    let subject = "A member of your store reported a suspicious message";
    for (email,) in owners {
        let body = "A member of your store reported a message they think is phishing.\n\n\
                    Read it under Security Center → Phishing → \"Suspicious mail reported by your team\", and warn the others if it is \
                    real. Palisade staff never ask for passwords, sign-in codes or payout changes by mail or chat.\n"
            .to_owned();
        let mail = NewMail { store_id: Some(scope.store_key()), to: &email, subject, body };
        outbox::enqueue_on(&mut *tx, db, mail, Dressing::default()).await?;
    }
    Ok(())
}

/// A report for the owner.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerReport {
    pub id: String,
    pub email: String,
    pub excerpt: String,
    pub reported_at: Timestamp,
}

/// The store's reports of suspicious mail, newest first.
pub async fn owner_reports(db: &Db, scope: &StaffScope, limit: i64) -> Result<Vec<OwnerReport>> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT r.id, a.email, r.excerpt, r.reported_at FROM phishing_reports r JOIN accounts a ON a.id = r.account_id \
         WHERE r.store_id = $1 ORDER BY r.reported_at DESC, r.id DESC LIMIT $2",
    )
    .bind(scope.store_key())
    .bind(limit.clamp(1, 200))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, email, excerpt, at)| OwnerReport { id, email, excerpt, reported_at: Timestamp(at) })
        .collect())
}

// ---------------------------------------------------------------------------------------------------------------
// Results

/// One campaign's figures for its owner.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignResult {
    pub id: String,
    pub template: String,
    pub title: String,
    pub launched_at: Timestamp,
    pub sent: usize,
    /// Recipients with a counted (human) click.
    pub human_clicks: usize,
    /// Link hits the filter set aside as automated (scanners, previews, prefetches, too soon).
    pub automated_hits: usize,
    pub reports: usize,
    pub median_seconds_to_report: Option<f64>,
}

struct RecipientRow {
    store: String,
    campaign: String,
    delivered_at: i64,
    reported_at: Option<i64>,
    /// Frozen by [`prune_visits`]; otherwise computed from `visits`.
    clicked_at: Option<i64>,
    visits: Vec<Visit>,
}

/// An instant as the engine's time type (for building its events).
#[must_use]
pub fn instant(t: Timestamp) -> jiff::Timestamp {
    to_jiff(t.0)
}

fn to_jiff(t: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Whose recipients to read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Whose {
    /// The store's own.
    Own,
    /// Every other store's (for the cohort; never shown per store).
    Others,
}

type RecipientSql = (String, String, String, i64, Option<i64>, Option<i64>, Option<i64>);

/// Recipients (with their visits) of campaigns launched since `since`: of one store, or of every store but one.
async fn recipient_rows(db: &Db, store: &str, whose: Whose, since: i64) -> Result<BTreeMap<String, RecipientRow>> {
    let op = if whose == Whose::Others { "<>" } else { "=" };
    let rows: Vec<RecipientSql> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT r.id, r.store_id, r.campaign_id, r.queued_at, o.sent_at, r.reported_at, r.clicked_at \
             FROM phishing_recipients r \
             JOIN phishing_campaigns c ON c.id = r.campaign_id LEFT JOIN outbox o ON o.id = r.outbox_id \
             WHERE r.store_id {op} $1 AND c.launched_at >= $2"
    )))
    .bind(store)
    .bind(since)
    .fetch_all(db.pool())
    .await?;
    let mut out: BTreeMap<String, RecipientRow> = rows
        .into_iter()
        .map(|(id, store, campaign, queued, sent, reported, clicked_at)| {
            (
                id,
                RecipientRow {
                    store,
                    campaign,
                    delivered_at: sent.unwrap_or(queued),
                    reported_at: reported,
                    clicked_at,
                    visits: vec![],
                },
            )
        })
        .collect();
    let visits: Vec<(String, String, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT v.recipient_id, v.landing, v.confirmation FROM phishing_visits v \
         JOIN phishing_recipients r ON r.id = v.recipient_id JOIN phishing_campaigns c ON c.id = r.campaign_id \
         WHERE v.store_id {op} $1 AND c.launched_at >= $2 ORDER BY v.at"
    )))
    .bind(store)
    .bind(since)
    .fetch_all(db.pool())
    .await?;
    for (recipient, landing, confirmation) in visits {
        let (Ok(landing), Ok(confirmation)) = (
            serde_json::from_str::<ClickEvent>(&landing),
            confirmation.map(|c| serde_json::from_str::<Confirmation>(&c)).transpose(),
        ) else {
            tracing::warn!(phishing.recipient = %recipient, "unreadable phishing visit skipped");
            continue;
        };
        if let Some(r) = out.get_mut(&recipient) {
            r.visits.push(Visit { landing, confirmation });
        }
    }
    Ok(out)
}

fn outcome(r: &RecipientRow) -> RecipientOutcome {
    RecipientOutcome {
        delivered_at: to_jiff(r.delivered_at),
        clicked_at: r.clicked_at.map(to_jiff).or_else(|| first_counted_click(&r.visits)),
        reported_at: r.reported_at.map(to_jiff),
    }
}

/// Every campaign of the store in the last [`FIGURES_DAYS`], newest first, with its figures.
pub async fn results(db: &Db, scope: &StaffScope) -> Result<Vec<CampaignResult>> {
    let since = db.now().0 - FIGURES_DAYS * 86_400_000;
    let campaigns: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT id, template, launched_at FROM phishing_campaigns WHERE store_id = $1 AND launched_at >= $2 \
         ORDER BY launched_at DESC, id DESC",
    )
    .bind(scope.store_key())
    .bind(since)
    .fetch_all(db.pool())
    .await?;
    let rows = recipient_rows(db, &scope.store_key(), Whose::Own, since).await?;
    Ok(campaigns
        .into_iter()
        .map(|(id, tpl, at)| {
            let mine: Vec<&RecipientRow> = rows.values().filter(|r| r.campaign == id).collect();
            let outcomes: Vec<RecipientOutcome> = mine.iter().map(|r| outcome(r)).collect();
            let figures = metrics::store_figures(&outcomes);
            let automated_hits = mine
                .iter()
                .map(|r| {
                    let hits: Vec<ClickEvent> = r.visits.iter().map(|v| v.landing.clone()).collect();
                    r.visits.iter().filter(|v| matches!(classify(v, &hits), Verdict::Automated(_))).count()
                })
                .sum();
            CampaignResult {
                title: template(&tpl).map_or("(retired template)", |t| t.title).to_owned(),
                template: tpl,
                id,
                launched_at: Timestamp(at),
                sent: outcomes.len(),
                human_clicks: outcomes.iter().filter(|o| o.clicked_at.is_some()).count(),
                automated_hits,
                reports: outcomes.iter().filter(|o| o.reported_at.is_some()).count(),
                median_seconds_to_report: figures.median_seconds_to_report,
            }
        })
        .collect())
}

/// The store's figures over the last [`FIGURES_DAYS`] and, when the cohort is large enough, the platform's
/// quartiles beside them (no other store's name, id or figure leaves this function).
pub async fn cohort(db: &Db, scope: &StaffScope) -> Result<(StoreFigures, Option<CohortComparison>)> {
    let since = db.now().0 - FIGURES_DAYS * 86_400_000;
    let own: Vec<RecipientOutcome> =
        recipient_rows(db, &scope.store_key(), Whose::Own, since).await?.values().map(outcome).collect();
    let own = metrics::store_figures(&own);
    let store = scope.store_key();
    let now = db.now().0;
    let db_key = db.display_url();
    let cached = COHORT.lock().ok().and_then(|c| {
        c.as_ref()
            .filter(|(url, at, _)| url == db_key && now >= *at && now - *at < COHORT_CACHE_MS)
            .map(|(_, _, all)| Arc::clone(all))
    });
    let all = match cached {
        Some(all) => all,
        None => {
            // Every store's figures at once (the empty store id matches none, so `<>` reads them all); one
            // computation serves every store's page for the next few minutes.
            let mut by_store: BTreeMap<String, Vec<RecipientOutcome>> = BTreeMap::new();
            for r in recipient_rows(db, "", Whose::Others, since).await?.values() {
                by_store.entry(r.store.clone()).or_default().push(outcome(r));
            }
            let all: Arc<BTreeMap<String, StoreFigures>> =
                Arc::new(by_store.into_iter().map(|(s, o)| (s, metrics::store_figures(&o))).collect());
            if let Ok(mut c) = COHORT.lock() {
                *c = Some((db_key.to_owned(), now, Arc::clone(&all)));
            }
            all
        }
    };
    let others: Vec<StoreFigures> = all.iter().filter(|(s, _)| **s != store).map(|(_, f)| f.clone()).collect();
    let comparison = metrics::compare(&own, &others);
    Ok((own, comparison))
}

/// How long this node reuses the platform's per-store figures for the cohort comparison: the comparison is of
/// quartiles over 90 days, which minutes do not move, and computing it reads every store's campaigns.
const COHORT_CACHE_MS: i64 = 5 * 60 * 1000;

/// Every store's figures, with the database they were read from and when (see [`COHORT_CACHE_MS`]).
type CohortCache = Option<(String, i64, Arc<BTreeMap<String, StoreFigures>>)>;
static COHORT: std::sync::Mutex<CohortCache> = std::sync::Mutex::new(None);

/// How long link visits (user agent, truncated address) are kept: the security-log window.
pub const VISIT_RETENTION_DAYS: i64 = 90;

/// Removes the visits of campaigns launched more than [`VISIT_RETENTION_DAYS`] ago, first freezing each
/// recipient's counted click (`clicked_at`) so the results keep their clicks; one transaction per campaign.
/// Platform-wide housekeeping (run by the daily training job). Returns the visits removed.
pub async fn prune_visits(db: &Db, _platform: &crate::scope::PlatformScope) -> Result<u64> {
    let before = db.now().0 - VISIT_RETENTION_DAYS * 86_400_000;
    let campaigns: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT c.id FROM phishing_campaigns c JOIN phishing_recipients r ON r.campaign_id = c.id \
         JOIN phishing_visits v ON v.recipient_id = r.id WHERE c.launched_at < $1",
    )
    .bind(before)
    .fetch_all(db.pool())
    .await?;
    let mut removed = 0;
    for (campaign,) in campaigns {
        let mut tx = db.begin_write().await?;
        let visits: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT v.recipient_id, v.landing, v.confirmation FROM phishing_visits v \
             JOIN phishing_recipients r ON r.id = v.recipient_id WHERE r.campaign_id = $1 ORDER BY v.at",
        )
        .bind(&campaign)
        .fetch_all(&mut *tx)
        .await?;
        let mut by_recipient: BTreeMap<String, Vec<Visit>> = BTreeMap::new();
        for (recipient, landing, confirmation) in visits {
            if let (Ok(landing), Ok(confirmation)) = (
                serde_json::from_str::<ClickEvent>(&landing),
                confirmation.map(|c| serde_json::from_str::<Confirmation>(&c)).transpose(),
            ) {
                by_recipient.entry(recipient).or_default().push(Visit { landing, confirmation });
            }
        }
        for (recipient, visits) in &by_recipient {
            if let Some(at) = first_counted_click(visits) {
                sqlx::query("UPDATE phishing_recipients SET clicked_at = $1 WHERE id = $2 AND clicked_at IS NULL")
                    .bind(at.as_millisecond())
                    .bind(recipient)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let done = sqlx::query(
            "DELETE FROM phishing_visits WHERE recipient_id IN \
             (SELECT id FROM phishing_recipients WHERE campaign_id = $1)",
        )
        .bind(&campaign)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        removed += done.rows_affected();
    }
    Ok(removed)
}

mod controls;

pub use controls::register;

#[cfg(test)]
mod tests;
