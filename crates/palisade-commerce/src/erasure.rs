//! Erasure of a buyer across every store (issue #21 item 4), kept as a tombstone and re-applied after a restore.
//!
//! What happens to each column comes from the personal-data inventory
//! ([`palisade_privacy::inventory::REGISTRY`]), not from a hand list: a table with a personal column whose rule
//! is `DeleteRow` loses the person's rows, a table whose personal columns are `AnonymiseWith` keeps its rows with
//! those columns replaced ([`replacement`] gives the concrete value of each), and `Keep` columns stay (orders,
//! ledger and tax records, the audit chain). This module only says *which rows are the person's* in each table
//! ([`TARGETS`]); a test fails when the inventory gains a table with an erasable column that no target covers,
//! or an anonymised column without a replacement, so a new column is covered by construction.
//!
//! Orders are kept with the buyer's email, address and tracking number replaced by a stable marker
//! (`erased-<short id>`, from the account id, so re-applying gives the same values). Rows elsewhere that merely
//! *quote* the person (delivered mail, webhook bodies, firewall events, job payloads) are deleted when they
//! contain one of the person's emails or address lines. Everything is one write transaction with one audit event
//! per store chain the person touched and one on their account's chain: no half state is ever visible.
//!
//! The person's orders are the account's own. Guest orders placed with the account's sign-in email are not
//! reached yet: a sign-in email is never confirmed, so anyone could register someone else's address and erase
//! that person's guest orders (or block their erasure with an open guest order in their name). The selector for
//! them ([`Rows::GuestOrder`]: an exact, case-insensitive match of the whole address, never a substring) is kept
//! for when the address is proven, and is in no target until then ([`GUEST_ORDERS_REACHED`]).
//! [`Rows::BuyerOrder`] follows the person's orders into the rows that hang off an order (reviews, disputes);
//! those run before `orders` itself.
//!
//! Refused while any of the person's orders is still open (unpaid, in escrow, shipped,
//! delivered but not completed, or disputed): the books and the dispute process need it. Refused too while a scam
//! report the buyer filed is still open: erasure deletes their message threads, which are the report's evidence
//! until an operator decides it.

use std::collections::BTreeSet;

use palisade_core::AccountId;
use palisade_core::time::Timestamp;
use palisade_privacy::inventory::{Erase, REGISTRY};
use palisade_store::audit::{self, NewEvent};
use palisade_store::{Db, StoreError, StoreScope};
use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;

use crate::error::{CommerceError, Result, stored_id};

/// The purpose under which the tombstone's keyed hash of an email is made (`LinkSigner::sign(purpose, email)`
/// over the trimmed, lower-cased address): the web layer and the retention job use the same.
pub const TOMBSTONE_EMAIL_PURPOSE: &str = "erasure-tombstone-email v1";

/// Which rows of a table are the person's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// `column` holds the account id.
    Account(&'static str),
    /// `column` holds the id of one of the person's orders: the account's own and its guest orders
    /// ([`Rows::GuestOrder`]).
    BuyerOrder(&'static str),
    /// In `orders`: a guest order (no `buyer_id`) whose `buyer_email` is one of the person's sign-in emails,
    /// compared whole and lower-cased (never a LIKE: `xmei@…` is not `mei@…`).
    GuestOrder,
    /// `column` holds one of the person's email addresses (compared lower-cased).
    Email(&'static str),
    /// One of these columns quotes one of the person's email addresses or address lines.
    Mentions(&'static [&'static str]),
    /// `cart_id` is one of the person's carts.
    BuyerCart,
    /// `thread_id` is one of the person's message threads (the store's replies in them go too: they were written
    /// to the person and quote what the person wrote).
    BuyerThread,
}

/// One table erasure touches, and how its rows are found (any selector matches).
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub table: &'static str,
    pub rows: &'static [Rows],
}

/// Every table erasure reaches. The action on each (delete or anonymise) comes from the inventory.
pub const TARGETS: &[Target] = &[
    Target { table: "accounts", rows: &[Rows::Account("id")] },
    Target { table: "api_tokens", rows: &[Rows::Account("account_id")] },
    Target { table: "buyer_addresses", rows: &[Rows::Account("account_id")] },
    Target { table: "cart_items", rows: &[Rows::BuyerCart] },
    Target { table: "carts", rows: &[Rows::Account("buyer_id")] },
    Target { table: "console_sessions", rows: &[Rows::Account("account_id")] },
    Target { table: "data_request_batches", rows: &[Rows::Account("buyer_id")] },
    Target { table: "data_requests", rows: &[Rows::Account("buyer_id"), Rows::Email("buyer_email")] },
    // Before `orders`: a guest order is found by its email, which the orders' anonymisation replaces.
    Target { table: "disputes", rows: &[Rows::BuyerOrder("order_id")] },
    Target { table: "invitations", rows: &[Rows::Email("email")] },
    Target { table: "jobs", rows: &[Rows::Mentions(&["payload", "last_error"])] },
    Target { table: "known_devices", rows: &[Rows::Account("account_id")] },
    Target { table: "merchant_applications", rows: &[Rows::Email("email")] },
    // Messages before their threads (the threads' rows select them).
    Target { table: "messages", rows: &[Rows::BuyerThread, Rows::Account("author_id")] },
    Target { table: "message_threads", rows: &[Rows::Account("buyer_id")] },
    Target {
        table: "outbox",
        rows: &[Rows::Email("to_addr"), Rows::Mentions(&["subject", "body", "html", "last_error"])],
    },
    Target { table: "passkeys", rows: &[Rows::Account("account_id")] },
    Target { table: "password_resets", rows: &[Rows::Account("account_id")] },
    Target { table: "recovery_codes", rows: &[Rows::Account("account_id")] },
    // Before `orders` (see `disputes`).
    Target { table: "reviews", rows: &[Rows::BuyerOrder("order_id"), Rows::Email("buyer_email")] },
    // The report stays (the operator's decision and the store's record need it); the buyer's words go.
    Target { table: "scam_reports", rows: &[Rows::Account("reporter_id")] },
    Target { table: "sessions", rows: &[Rows::Account("account_id")] },
    Target { table: "shield_events", rows: &[Rows::Mentions(&["path", "findings"])] },
    Target { table: "store_members", rows: &[Rows::Account("account_id")] },
    Target { table: "totp_credentials", rows: &[Rows::Account("account_id")] },
    Target { table: "training_attempts", rows: &[Rows::Account("account_id")] },
    Target { table: "training_reminders", rows: &[Rows::Account("account_id")] },
    Target { table: "webauthn_challenges", rows: &[Rows::Account("account_id")] },
    Target { table: "webhook_deliveries", rows: &[Rows::Mentions(&["body"])] },
    // Last: every target with `Rows::BuyerOrder` selects through the orders' emails before they are replaced.
    Target { table: "orders", rows: &[Rows::Account("buyer_id")] },
];

/// Tables with an erasable personal column that erasure deliberately leaves to retention, and why.
pub const LEFT_TO_RETENTION: &[(&str, &str)] = &[
    ("login_throttle", "a keyed hash of an email or a client address, forgotten 15 minutes after the last failure"),
    ("payment_declines", "keyed hashes of a card and an email only; deleted when the security-log window ends"),
    ("phishing_reports", "a staff member's reports of suspicious mail; buyers have none (staff are not erased here)"),
    ("phishing_visits", "hits of staff members' simulation links, deleted after 90 days; buyers have none"),
    ("product_imports", "a staff member's import runs, deleted once expired; buyers have none"),
    ("stores", "the security contact is staff's, changed by the store's owner; a buyer's erasure never touches it"),
];

/// The stable marker that replaces the person's identifying values: `erased-` and the last 12 hex digits of the
/// account id (a UUIDv7's random part), so the same account always gets the same marker.
#[must_use]
pub fn marker(account: AccountId) -> String {
    let hex: String = account.to_string().chars().filter(char::is_ascii_hexdigit).collect();
    let tail = hex.get(hex.len().saturating_sub(12)..).unwrap_or_default();
    format!("erased-{tail}")
}

/// The marker's email form (`.invalid` never routes, RFC 2606).
#[must_use]
pub fn marker_email(account: AccountId) -> String {
    format!("{}@invalid", marker(account))
}

/// A replacement value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Text(String),
}

/// The concrete replacement of an `AnonymiseWith` column (the inventory's text describes it; this makes it).
/// `None` for a column erasure has no value for: a test fails on every such column of a target table.
#[must_use]
pub fn replacement(table: &str, column: &str, account: AccountId) -> Option<Value> {
    let text = Value::Text;
    Some(match (table, column) {
        ("accounts", "display_name") => text(marker(account)),
        ("accounts", "email" | "email_key") => text(marker_email(account)),
        ("accounts", "password_hash") => Value::Null,
        ("data_request_batches", "details") => text(String::new()),
        ("data_requests", "answer_note" | "details") => text(String::new()),
        ("data_requests", "buyer_email") => text(marker_email(account)),
        ("data_requests", "export_json") => Value::Null,
        ("disputes", "buyer_statement") => text("erased".into()),
        ("orders", "address") => {
            let m = marker(account);
            text(json!({"name": m, "line1": m, "line2": m, "city": m, "postcode": m, "country": m}).to_string())
        }
        ("orders", "buyer_email") => text(marker_email(account)),
        ("orders", "idempotency_fingerprint" | "tracking_no") => Value::Null,
        ("scam_reports", "details") => text(String::new()),
        _ => return None,
    })
}

/// Columns set besides the inventory's replacements: the account is closed.
const ALSO_SET: &[(&str, &str)] = &[("accounts", "disabled = 1")];

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    pub account: String,
    pub marker: String,
    /// Stores whose records were touched (each has an audit event).
    pub stores: usize,
    /// Rows deleted and rows anonymised, all tables together.
    pub deleted: u64,
    pub anonymised: u64,
}

/// What the inventory says to do with a table's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Delete the person's rows.
    Delete,
    /// Overwrite these columns in the person's rows.
    Anonymise(Vec<&'static str>),
    /// Only `Keep` columns: rows that quote the person are deleted, rows that are theirs stay.
    KeepUnlessQuoted,
}

/// The inventory's action for `table`.
#[must_use]
pub fn action(table: &str) -> Action {
    let personal: Vec<(&'static str, Erase)> = REGISTRY
        .iter()
        .filter(|c| c.table == table)
        .filter_map(|c| c.personal().map(|p| (c.column, p.erase)))
        .collect();
    if personal.iter().any(|(_, e)| *e == Erase::DeleteRow) {
        return Action::Delete;
    }
    let cols: Vec<&'static str> =
        personal.iter().filter(|(_, e)| matches!(e, Erase::AnonymiseWith(_))).map(|(c, _)| *c).collect();
    if cols.is_empty() { Action::KeepUnlessQuoted } else { Action::Anonymise(cols) }
}

/// The person's values that other rows may quote, read inside the erasure's transaction: the account's own sign-in
/// email only. Not the emails typed at checkout (anyone can type anyone's address there, and erasing would then
/// delete the other person's mail, invitations and sign-in throttle), and not address lines (free text a buyer
/// chooses: a line such as `account:` would have matched, and deleted, rows of the whole platform). Rows that
/// belong to the person are found by their ids; quoting is only for mail, jobs and logs that name them.
#[derive(Debug, Default)]
struct Quoted {
    emails: BTreeSet<String>,
}

async fn quoted(conn: &mut AnyConnection, account: AccountId) -> Result<Quoted> {
    let id = account.to_string();
    let mut q = Quoted::default();
    let emails: Vec<(String,)> =
        sqlx::query_as("SELECT email FROM accounts WHERE id = $1").bind(&id).fetch_all(&mut *conn).await?;
    q.emails.extend(emails.into_iter().map(|(e,)| e.trim().to_lowercase()).filter(|e| e.contains('@')));
    // Markers are not the person's data: an erased row quoting a marker is not residue.
    let m = marker(account);
    q.emails.retain(|e| !e.starts_with(&m));
    Ok(q)
}

/// What may stand right before an email address where it is quoted (start of text, JSON, a query string, a mail
/// header, a throttle key…). An email is matched only after one of these, so erasing `a@example.com` never
/// touches `anna@example.com`.
const QUOTE_BEFORE: &[&str] = &["", " ", "\"", "'", "<", ":", "=", ",", ";", "(", "/", "\n", "\t"];

/// LIKE patterns matching `email` quoted after one of [`QUOTE_BEFORE`] (and not followed by more address: the
/// next character is not a letter, digit, `.` or `-`, checked as "end of text or one of the same separators").
fn quoted_patterns(email: &str) -> Vec<String> {
    let escaped = like_escape(email);
    let after: &[&str] = &["", " ", "\"", "'", ">", ",", ";", ")", "&", "\n", "\t", "\\"];
    let mut out = Vec::new();
    for b in QUOTE_BEFORE {
        let lead = if b.is_empty() { String::new() } else { format!("%{}", like_escape(b)) };
        for a in after {
            let tail = if a.is_empty() { String::new() } else { format!("{}%", like_escape(a)) };
            out.push(format!("{lead}{escaped}{tail}"));
        }
    }
    out
}

fn like_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `%value%` for LIKE, with LIKE's own wildcards escaped (`\` is the escape character).
pub(crate) fn like_pattern(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('%');
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Pushes `p` as the next text parameter (after `$1`, the account id) and names it.
fn next_param(p: String, params: &mut Vec<String>) -> String {
    params.push(p);
    format!("${}", params.len() + 1)
}

/// The condition on `orders` (aliased `alias`, or unqualified when empty) selecting the person's orders: the
/// account's own, and guest orders placed with one of its sign-in emails (whole address, lower-cased).
fn person_orders(alias: &str, q: &Quoted, params: &mut Vec<String>) -> String {
    let col = |c: &str| if alias.is_empty() { c.to_owned() } else { format!("{alias}.{c}") };
    let guest = if GUEST_ORDERS_REACHED { guest_orders(alias, q, params) } else { "1 = 0".to_owned() };
    if guest == "1 = 0" {
        format!("{} = $1", col("buyer_id"))
    } else {
        format!("({} = $1 OR {guest})", col("buyer_id"))
    }
}

/// Whether erasure reaches guest orders placed with the sign-in email: not until sign-in emails are confirmed
/// (see the module docs; a review showed an unconfirmed address let a stranger erase or block another person).
pub const GUEST_ORDERS_REACHED: bool = false;

/// The condition on `orders` selecting guest orders placed with one of the person's sign-in emails.
fn guest_orders(alias: &str, q: &Quoted, params: &mut Vec<String>) -> String {
    let col = |c: &str| if alias.is_empty() { c.to_owned() } else { format!("{alias}.{c}") };
    let emails: Vec<String> = q.emails.iter().map(|e| next_param(e.clone(), params)).collect();
    if emails.is_empty() {
        return "1 = 0".into();
    }
    format!("({} IS NULL AND LOWER(TRIM({})) IN ({}))", col("buyer_id"), col("buyer_email"), emails.join(", "))
}

/// The WHERE clause selecting the person's rows in `target`, and its text parameters after `$1` (the account id).
fn selection(target: &Target, q: &Quoted) -> (String, Vec<String>) {
    let mut params: Vec<String> = Vec::new();
    let next = next_param;
    let mut parts: Vec<String> = Vec::new();
    for rows in target.rows {
        match rows {
            Rows::Account(col) => parts.push(format!("{col} = $1")),
            Rows::BuyerOrder(col) => {
                let orders = person_orders("", q, &mut params);
                parts.push(format!("{col} IN (SELECT id FROM orders WHERE {orders})"));
            }
            Rows::GuestOrder => parts.push(guest_orders("", q, &mut params)),
            Rows::BuyerCart => parts.push("cart_id IN (SELECT id FROM carts WHERE buyer_id = $1)".into()),
            Rows::BuyerThread => {
                parts.push("thread_id IN (SELECT id FROM message_threads WHERE buyer_id = $1)".into());
            }
            Rows::Email(col) => {
                for e in &q.emails {
                    let p = next(e.clone(), &mut params);
                    parts.push(format!("LOWER({col}) = {p}"));
                }
            }
            Rows::Mentions(cols) => {
                for v in &q.emails {
                    for pattern in quoted_patterns(v) {
                        let p = next(pattern, &mut params);
                        for col in *cols {
                            parts.push(format!("LOWER({col}) LIKE {p} ESCAPE '\\'"));
                        }
                    }
                }
            }
        }
    }
    if parts.is_empty() {
        return ("1 = 0".into(), params);
    }
    (parts.join(" OR "), params)
}

/// Order statuses under which the order is still open and erasure is refused.
const OPEN_ORDER_STATUSES: &str = "'placed', 'paid', 'shipped', 'delivered', 'disputed'";

/// Erases a buyer's personal data across every store, in one transaction, and records a tombstone
/// (`email_key`: the caller's keyed hash of the account's normalised email, never the email).
///
/// Refused (`ErasureRefused`) for a staff or operator account, for an account already erased, while any of the
/// person's orders (guest orders with the sign-in email included) is open or a dispute about one is open, and
/// while a scam report the buyer filed is still open.
pub async fn erase_buyer(db: &Db, account: AccountId, email_key: &str) -> Result<Erased> {
    let mut tx = db.begin_write().await?;
    if db.backend() == palisade_store::Backend::Postgres {
        sqlx::query("SELECT id FROM accounts WHERE id = $1 FOR UPDATE")
            .bind(account.to_string())
            .execute(&mut *tx)
            .await?;
    }
    let row: Option<(String,)> = sqlx::query_as("SELECT kind FROM accounts WHERE id = $1")
        .bind(account.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    let Some((kind,)) = row else {
        return Err(CommerceError::Store(StoreError::NotFound("account")));
    };
    if kind != "buyer" {
        return Err(CommerceError::ErasureRefused(
            "only a buyer account can be erased here; a staff member's account is closed by the store's owner".into(),
        ));
    }
    let done: Option<(i64,)> = sqlx::query_as("SELECT erased_at FROM erasure_tombstones WHERE account_id = $1")
        .bind(account.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    if done.is_some() {
        return Err(CommerceError::ErasureRefused("this account has already been erased".into()));
    }
    refuse_while_open(&mut tx, account).await?;
    let now = db.now();
    let erased = erase_on(&mut tx, db, account, now, "account.erased").await?;
    sqlx::query("INSERT INTO erasure_tombstones (account_id, email_key, erased_at) VALUES ($1, $2, $3)")
        .bind(account.to_string())
        .bind(email_key)
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(account.id = %account, stores = erased.stores, deleted = erased.deleted, anonymised = erased.anonymised, "buyer erased");
    Ok(erased)
}

/// Refuses (`ErasureRefused`) while one of the person's orders (their account's or a guest order with their
/// sign-in email) is open or under an undecided dispute, or while a scam report they filed is still open (its
/// evidence is their message thread, which erasure deletes). Read inside the erasure's transaction.
async fn refuse_while_open(tx: &mut AnyConnection, account: AccountId) -> Result<()> {
    let q = quoted(tx, account).await?;
    let mut params = Vec::new();
    let orders = person_orders("o", &q, &mut params);
    let mut query = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM orders o WHERE {orders} AND (o.status IN ({OPEN_ORDER_STATUSES}) \
         OR EXISTS (SELECT 1 FROM disputes d WHERE d.order_id = o.id AND d.status <> 'decided'))"
    )))
    .bind(account.to_string());
    for p in params {
        query = query.bind(p);
    }
    let open = query.fetch_one(&mut *tx).await?;
    if open.0 > 0 {
        return Err(CommerceError::ErasureRefused(format!(
            "{} of your orders {} still open (awaiting payment, held in escrow, on its way or under dispute): the \
             store's books need {} until {} complete. Ask again once every order is completed, refunded or cancelled.",
            open.0,
            if open.0 == 1 { "is" } else { "are" },
            if open.0 == 1 { "it" } else { "them" },
            if open.0 == 1 { "it is" } else { "they are" },
        )));
    }
    // Open = not yet upheld or dismissed by an operator (`scam_reports::decide`).
    let (reports,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM scam_reports WHERE reporter_id = $1 AND status = 'open'")
            .bind(account.to_string())
            .fetch_one(&mut *tx)
            .await?;
    if reports > 0 {
        return Err(CommerceError::ErasureRefused(format!(
            "{reports} of your scam reports {} still open: your messages with the seller are the evidence Palisade \
             is reviewing, and erasing your account would delete them. Ask again once {} been decided (you will \
             see the outcome on your account's Messages page, and by mail).",
            if reports == 1 { "is" } else { "are" },
            if reports == 1 { "it has" } else { "they have" },
        )));
    }
    Ok(())
}

/// The erasure itself, inside the caller's transaction: every target's rows, and one audit event per store the
/// person's orders, requests or carts touch plus one on the account's chain (`action`).
async fn erase_on(
    tx: &mut AnyConnection,
    db: &Db,
    account: AccountId,
    now: Timestamp,
    action_name: &str,
) -> Result<Erased> {
    let q = quoted(tx, account).await?;
    let mut params = Vec::new();
    let orders = person_orders("", &q, &mut params);
    let mut query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(format!(
        "SELECT store_id FROM orders WHERE {orders} UNION SELECT store_id FROM data_requests WHERE buyer_id = $1 \
         UNION SELECT ci.store_id FROM cart_items ci JOIN carts c ON c.id = ci.cart_id WHERE c.buyer_id = $1",
    )))
    .bind(account.to_string());
    for p in params {
        query = query.bind(p);
    }
    let stores: Vec<(String,)> = query.fetch_all(&mut *tx).await?;
    let mut erased = Erased {
        account: account.to_string(),
        marker: marker(account),
        stores: stores.len(),
        deleted: 0,
        anonymised: 0,
    };
    for target in TARGETS {
        let (filter, params) = selection(target, &q);
        let (sql, values) = match action(target.table) {
            Action::Delete => (format!("DELETE FROM {} WHERE {filter}", target.table), Vec::new()),
            Action::KeepUnlessQuoted => {
                // Only rows that quote the person go; rows that merely belong to them are kept by the inventory.
                if target.rows.iter().all(|r| matches!(r, Rows::Mentions(_))) {
                    (format!("DELETE FROM {} WHERE {filter}", target.table), Vec::new())
                } else {
                    continue;
                }
            }
            Action::Anonymise(cols) => {
                let mut sets: Vec<String> = Vec::new();
                let mut values: Vec<Value> = Vec::new();
                for col in cols {
                    let v = replacement(target.table, col, account).ok_or_else(|| {
                        CommerceError::Store(StoreError::Corrupt(format!(
                            "erasure has no replacement for {}.{col}",
                            target.table
                        )))
                    })?;
                    values.push(v);
                    sets.push(format!("{col} = ${}", params.len() + 1 + values.len()));
                }
                sets.extend(ALSO_SET.iter().filter(|(t, _)| *t == target.table).map(|(_, s)| (*s).to_owned()));
                (format!("UPDATE {} SET {} WHERE {filter}", target.table, sets.join(", ")), values)
            }
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account.to_string());
        for p in &params {
            query = query.bind(p.clone());
        }
        let updating = !values.is_empty();
        for v in values {
            query = match v {
                Value::Null => query.bind(None::<String>),
                Value::Text(t) => query.bind(t),
            };
        }
        let n = query.execute(&mut *tx).await?.rows_affected();
        if updating {
            erased.anonymised += n;
        } else {
            erased.deleted += n;
        }
    }
    let target = format!("account:{account}");
    for (store,) in &stores {
        let store = stored_id("store", store)?;
        let scope = StoreScope::system(store, "privacy.erasure");
        let event = NewEvent::new("buyer.erased", &target).details(json!({"via": action_name}));
        audit::record_store(tx, db, &scope, event).await?;
    }
    let event = NewEvent::new(action_name, &target).details(json!({"stores": erased.stores, "at": now.0}));
    audit::record_account(tx, db, account, event).await?;
    Ok(erased)
}

/// What re-applying the tombstones did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reapplied {
    /// Tombstones read.
    pub tombstones: u64,
    /// Accounts found again (restored from before their erasure) and erased again.
    pub erased_again: u64,
    /// Tombstones whose account is not in this database (restored from before it was created).
    pub absent: u64,
}

/// A tombstone as carried across a restore (no plain personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Tombstone {
    pub account_id: String,
    pub email_key: String,
    pub erased_at: i64,
}

/// Every tombstone (for a restore to carry over). Reads nothing when the table does not exist yet (a database
/// older than migration 0037).
pub async fn tombstones(db: &Db) -> Result<Vec<Tombstone>> {
    let rows: std::result::Result<Vec<(String, String, i64)>, sqlx::Error> = sqlx::query_as(
        "SELECT account_id, email_key, erased_at FROM erasure_tombstones ORDER BY erased_at, account_id",
    )
    .fetch_all(db.pool())
    .await;
    match rows {
        Ok(rows) => Ok(rows
            .into_iter()
            .map(|(account_id, email_key, erased_at)| Tombstone { account_id, email_key, erased_at })
            .collect()),
        Err(sqlx::Error::Database(_)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// After a restore (or a store import): adds `carried` tombstones (those the target held before it was replaced)
/// to the database's own, then erases again every tombstoned account the database holds, in one transaction.
/// An already-erased account is erased again harmlessly (its values are markers already).
pub async fn reapply(db: &Db, carried: &[Tombstone]) -> Result<Reapplied> {
    let mut tx = db.begin_write().await?;
    for t in carried {
        sqlx::query(
            "INSERT INTO erasure_tombstones (account_id, email_key, erased_at) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(&t.account_id)
        .bind(&t.email_key)
        .bind(t.erased_at)
        .execute(&mut *tx)
        .await?;
    }
    let all: Vec<(String,)> =
        sqlx::query_as("SELECT account_id FROM erasure_tombstones ORDER BY account_id").fetch_all(&mut *tx).await?;
    let now = db.now();
    let mut report = Reapplied { tombstones: all.len() as u64, ..Reapplied::default() };
    for (id,) in all {
        let account: AccountId = stored_id("account", &id)?;
        let present: Option<(String, String)> =
            sqlx::query_as("SELECT email, kind FROM accounts WHERE id = $1").bind(&id).fetch_optional(&mut *tx).await?;
        let Some((email, _kind)) = present else {
            report.absent += 1;
            continue;
        };
        if email == marker_email(account) {
            continue;
        }
        erase_on(&mut tx, db, account, now, "account.erasure_reapplied").await?;
        sqlx::query("UPDATE erasure_tombstones SET reapplied_at = $1 WHERE account_id = $2")
            .bind(now.0)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        report.erased_again += 1;
    }
    tx.commit().await?;
    if report.erased_again > 0 {
        tracing::warn!(erased_again = report.erased_again, "erasures re-applied after a restore");
    }
    Ok(report)
}

/// Tombstoned accounts whose row still carries something other than the marker (should be none after
/// [`reapply`]): the restore drill's proof that erased people did not come back. Account ids only.
pub async fn unerased(db: &Db) -> Result<Vec<String>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT a.id, a.email, a.display_name FROM erasure_tombstones t JOIN accounts a ON a.id = t.account_id \
         ORDER BY a.id",
    )
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for (id, email, name) in rows {
        let account: AccountId = stored_id("account", &id)?;
        if email != marker_email(account) || name != marker(account) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Whether the account has been erased.
pub async fn is_erased(db: &Db, account: AccountId) -> Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT erased_at FROM erasure_tombstones WHERE account_id = $1")
        .bind(account.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

#[cfg(test)]
#[path = "erasure_tests.rs"]
mod tests;
