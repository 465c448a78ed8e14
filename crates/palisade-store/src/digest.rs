//! The weekly security digest (issue #22, item 5): to a store's owners and staff managers, the store's unmet
//! controls (its column of the matrix, as merchants see it), the team's training that is due or overdue, and what
//! the firewall stopped on the store's paths in the last seven days. Plain text and HTML, in the store's name,
//! through the outbox.
//!
//! At most one digest per store and ISO week: the job claims `(store, week)` in `security_digests` with an insert
//! that only one caller can win (two nodes, or a second run, send nothing). The claim is committed before the mail
//! is queued, as the training reminders do: a failure to queue loses that week's digest rather than sending twice.
//!
//! A member opts out per store (`store_members.security_digest`), from the Security Center or with the mail's
//! unsubscribe link. That link carries a tag made by the caller's signer (an HMAC under a key derived from the
//! master key, `palisade_identity::links`) over [`UNSUBSCRIBE_PURPOSE`] and `store:member`: it names one member of
//! one store, does one thing (turn this digest off), and cannot be made for anyone else without the key.

use std::sync::Arc;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use palisade_core::matrix::ControlStatus;
use palisade_core::time::Timestamp;
use palisade_core::{AccountId, StoreId};

use crate::db::{Db, ExecuteWrite};
use crate::error::{Result, StoreError};
use crate::matrix::{NodeFacts, Registry};
use crate::permissions::Permission;
use crate::scope::{Actor, PlatformScope, StaffScope, StoreScope};
use crate::tenancy::{self, Role, Store};

/// The job kind (weekly).
pub const DIGEST_JOB: &str = "security.digest";
/// The signing purpose of unsubscribe links; a tag for any other purpose (an order link) does not work here.
pub const UNSUBSCRIBE_PURPOSE: &str = "security-digest-unsubscribe v1";

/// Signs a link subject (`store:member`) for [`UNSUBSCRIBE_PURPOSE`].
pub type Signer<'a> = &'a (dyn Fn(&str) -> String + Send + Sync);

/// Whether a member receives the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Subscription {
    Subscribed,
    OptedOut,
}

/// The subject an unsubscribe tag signs.
#[must_use]
pub fn link_subject(store: StoreId, member: AccountId) -> String {
    format!("{store}:{member}")
}

/// The ISO week of `at` (UTC), e.g. `2026-W49`.
#[must_use]
pub fn iso_week(at: Timestamp) -> String {
    let t = jiff::Timestamp::from_millisecond(at.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let week = t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date().iso_week_date();
    format!("{:04}-W{:02}", week.year(), week.week())
}

fn day(at: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(at.0).map(|t| t.strftime("%Y-%m-%d").to_string()).unwrap_or_default()
}

fn member_of(scope: &StaffScope) -> Result<AccountId> {
    match scope.actor() {
        Actor::Account(a) => Ok(a),
        Actor::System(_) | Actor::Shopper(_) => Err(StoreError::Forbidden("a member's own setting")),
    }
}

/// The acting member's choice for this store.
pub async fn subscription(db: &Db, scope: &StaffScope) -> Result<Subscription> {
    let me = member_of(scope)?;
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT security_digest FROM store_members WHERE store_id = $1 AND account_id = $2")
            .bind(scope.store_key())
            .bind(me.to_string())
            .fetch_optional(db.pool())
            .await?;
    match row {
        Some((1,)) => Ok(Subscription::Subscribed),
        Some(_) => Ok(Subscription::OptedOut),
        None => Err(StoreError::NotFound("member")),
    }
}

/// Sets the acting member's own choice for this store.
pub async fn set_subscription(db: &Db, scope: &StaffScope, choice: Subscription) -> Result<()> {
    let me = member_of(scope)?;
    set(db, scope, me, choice, "settings").await
}

/// Turns the digest off for the member a verified unsubscribe link names (the caller checked the tag against
/// [`link_subject`]). Only this one setting; `NotFound` when the member is not (or no longer) in the store.
pub async fn unsubscribe(db: &Db, store: StoreId, member: AccountId) -> Result<()> {
    let scope = StoreScope::system(store, "link:security-digest-unsubscribe");
    set(db, &scope, member, Subscription::OptedOut, "unsubscribe link").await
}

/// The audit actions of a change of choice.
pub const SUBSCRIBED_ACTION: &str = "security_digest.subscribed";
pub const OPTED_OUT_ACTION: &str = "security_digest.opted_out";

/// Updates the member's row and records the change in the store's audit chain, in one transaction.
async fn set(db: &Db, scope: &StoreScope, member: AccountId, choice: Subscription, via: &str) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("UPDATE store_members SET security_digest = $1 WHERE store_id = $2 AND account_id = $3")
        .bind(i64::from(choice == Subscription::Subscribed))
        .bind(scope.store_key())
        .bind(member.to_string())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("member"));
    }
    let action = if choice == Subscription::Subscribed { SUBSCRIBED_ACTION } else { OPTED_OUT_ACTION };
    let target = format!("account:{member}");
    crate::audit::record_store(
        &mut tx,
        db,
        scope,
        crate::audit::NewEvent::new(action, &target).details(serde_json::json!({"via": via})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One recipient of a store's digest.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub account_id: AccountId,
    pub email: String,
    pub display_name: String,
}

/// Active owners and members holding staff management who have not opted out.
pub async fn recipients(db: &Db, scope: &StoreScope) -> Result<Vec<Recipient>> {
    let opted_out: Vec<(String,)> =
        sqlx::query_as("SELECT account_id FROM store_members WHERE store_id = $1 AND security_digest = 0")
            .bind(scope.store_key())
            .fetch_all(db.pool())
            .await?;
    Ok(tenancy::list_members(db, scope)
        .await?
        .into_iter()
        .filter(|m| !m.disabled)
        .filter(|m| m.role == Role::Owner || m.permissions.contains(&Permission::StaffManagement))
        .filter(|m| !opted_out.iter().any(|(id,)| *id == m.account_id.to_string()))
        .map(|m| Recipient { account_id: m.account_id, email: m.email, display_name: m.display_name })
        .collect())
}

/// What one store's digest says (the same for every recipient but the unsubscribe link).
#[derive(Debug, Clone, Default)]
pub struct Content {
    pub store_name: String,
    pub week: String,
    /// Unmet store controls: title, reason, unmet since (day).
    pub unmet: Vec<(String, String, Option<String>)>,
    /// Training not current: member's name, module title, state in words, due day.
    pub training: Vec<(String, String, &'static str, Option<String>)>,
    /// Firewall decisions on the store's paths in the last seven days: action, count.
    pub firewall: Vec<(String, i64)>,
    /// The Security Center's address.
    pub security_url: String,
}

fn state_words(state: &str) -> &'static str {
    match state {
        "not_started" => "not started",
        "retake" => "retake needed (new version)",
        "expired" => "expired",
        "overdue" => "overdue",
        _ => "due",
    }
}

/// Gathers a store's digest now: only this store's controls, members and events.
pub async fn content(
    db: &Db,
    registry: &Registry,
    facts: &Arc<NodeFacts>,
    store: &Store,
    base_url: &str,
) -> Result<Content> {
    let scope = StoreScope::system(store.id, "job:security.digest");
    let report = registry.evaluate_store(db, facts, &scope).await?.for_merchant();
    let unmet = report
        .unmet_merchant()
        .map(|r| match &r.status {
            ControlStatus::Unmet { reason, since } => (r.control.title.to_owned(), reason.clone(), since.map(day)),
            ControlStatus::Unknown { reason } | ControlStatus::NotApplicable { reason } => {
                (r.control.title.to_owned(), reason.clone(), None)
            }
            ControlStatus::Met { detail } => (r.control.title.to_owned(), detail.clone(), None),
        })
        .collect();
    let mut training = Vec::new();
    for row in crate::training::roster(db, &scope).await? {
        for m in row.modules.iter().filter(|m| !m.current) {
            training.push((row.display_name.clone(), m.title.clone(), state_words(m.state), m.due_at.map(day)));
        }
    }
    let week_ago = Timestamp(db.now().0 - 7 * 24 * 3600 * 1000);
    let firewall = crate::shield_events::actions_for_store_since(db, &scope, week_ago).await?;
    Ok(Content {
        store_name: store.name.clone(),
        week: iso_week(db.now()),
        unmet,
        training,
        firewall,
        security_url: format!("{}/admin/stores/{}/security", base_url.trim_end_matches('/'), store.id),
    })
}

impl Content {
    #[must_use]
    pub fn subject(&self) -> String {
        format!("Weekly security digest for {} ({})", self.store_name, self.week)
    }

    /// The plain-text part, addressed to `name`, ending with the unsubscribe address.
    #[must_use]
    pub fn text(&self, name: &str, unsubscribe_url: &str) -> String {
        let mut out =
            format!("Hello {name},\n\nThis is the security digest of {} for {}.\n\n", self.store_name, self.week);
        out.push_str("Controls not met\n");
        if self.unmet.is_empty() {
            out.push_str("  None: every control of your store's column is met.\n");
        }
        for (title, reason, since) in &self.unmet {
            let since = since.as_ref().map(|d| format!(" (since {d})")).unwrap_or_default();
            out.push_str(&format!("  - {title}: {reason}{since}\n"));
        }
        out.push_str("\nTraining due or overdue\n");
        if self.training.is_empty() {
            out.push_str("  None: every active member is trained.\n");
        }
        for (who, module, state, due) in &self.training {
            let due = due.as_ref().map(|d| format!(", due {d}")).unwrap_or_default();
            out.push_str(&format!("  - {who}: {module} ({state}{due})\n"));
        }
        out.push_str("\nFirewall, last 7 days\n");
        if self.firewall.is_empty() {
            out.push_str("  No requests to your store were blocked or challenged.\n");
        }
        for (action, n) in &self.firewall {
            out.push_str(&format!("  - {action}: {n}\n"));
        }
        out.push_str(&format!(
            "\nOpen the Security Center: {}\n\nYou receive this as an owner or staff manager of {}. \
             Stop these digests: {unsubscribe_url}\n",
            self.security_url, self.store_name
        ));
        out
    }

    /// The HTML part: the same content, every piece of text escaped, links only to platform-made addresses.
    #[must_use]
    pub fn html(&self, name: &str, unsubscribe_url: &str) -> String {
        let mut out = format!(
            "<p>Hello {},</p><p>This is the security digest of <strong>{}</strong> for {}.</p>",
            text(name),
            text(&self.store_name),
            text(&self.week)
        );
        out.push_str("<h2>Controls not met</h2><ul>");
        if self.unmet.is_empty() {
            out.push_str("<li>None: every control of your store's column is met.</li>");
        }
        for (title, reason, since) in &self.unmet {
            let since = since.as_ref().map(|d| format!(" (since {})", text(d))).unwrap_or_default();
            out.push_str(&format!("<li><strong>{}</strong>: {}{since}</li>", text(title), text(reason)));
        }
        out.push_str("</ul><h2>Training due or overdue</h2><ul>");
        if self.training.is_empty() {
            out.push_str("<li>None: every active member is trained.</li>");
        }
        for (who, module, state, due) in &self.training {
            let due = due.as_ref().map(|d| format!(", due {}", text(d))).unwrap_or_default();
            out.push_str(&format!("<li>{}: {} ({}{due})</li>", text(who), text(module), text(state)));
        }
        out.push_str("</ul><h2>Firewall, last 7 days</h2><ul>");
        if self.firewall.is_empty() {
            out.push_str("<li>No requests to your store were blocked or challenged.</li>");
        }
        for (action, n) in &self.firewall {
            out.push_str(&format!("<li>{}: {n}</li>", text(action)));
        }
        out.push_str(&format!(
            "</ul><p><a href=\"{}\">Open the Security Center</a></p><p><small>You receive this as an owner or \
             staff manager of {}. <a href=\"{}\">Stop these digests</a></small></p>",
            attr(&self.security_url),
            text(&self.store_name),
            attr(unsubscribe_url)
        ));
        out
    }
}

/// The unsubscribe address for one member of one store.
#[must_use]
pub fn unsubscribe_url(base_url: &str, store: StoreId, member: AccountId, sign: Signer<'_>) -> String {
    format!(
        "{}/security-digest/unsubscribe?store={store}&member={member}&k={}",
        base_url.trim_end_matches('/'),
        sign(&link_subject(store, member))
    )
}

/// Claims `(store, week)`; false when someone already did.
async fn claim(db: &Db, scope: &StoreScope, week: &str) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO security_digests (store_id, week, sent_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(scope.store_key())
    .bind(week)
    .bind(db.now().0)
    .execute_write(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sends this week's digest of every active store that has a recipient and has not had it yet this ISO week.
/// Returns the mails queued.
pub async fn send_digests(
    db: &Db,
    registry: &Registry,
    facts: &Arc<NodeFacts>,
    base_url: &str,
    sign: Signer<'_>,
) -> Result<usize> {
    let platform = PlatformScope::system("job:security.digest");
    let week = iso_week(db.now());
    let mut sent = 0;
    for store in tenancy::list_stores(db, &platform).await? {
        if store.status != tenancy::StoreStatus::Active {
            continue;
        }
        let scope = StoreScope::system(store.id, "job:security.digest");
        let to = recipients(db, &scope).await?;
        if to.is_empty() {
            continue;
        }
        let content = content(db, registry, facts, &store, base_url).await?;
        if !claim(db, &scope, &week).await? {
            continue;
        }
        let subject = content.subject();
        for r in to {
            let unsubscribe = unsubscribe_url(base_url, store.id, r.account_id, sign);
            let html = content.html(&r.display_name, &unsubscribe);
            crate::outbox::enqueue_dressed(
                db,
                crate::outbox::NewMail {
                    store_id: Some(store.id.to_string()),
                    to: &r.email,
                    subject: &subject,
                    body: content.text(&r.display_name, &unsubscribe),
                },
                crate::outbox::Dressing { html: Some(&html), from_name: Some(&store.name) },
            )
            .await?;
            sent += 1;
        }
    }
    Ok(sent)
}
