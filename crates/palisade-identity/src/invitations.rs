//! Staff invitations: a single-use link, valid for a few days, sent by email. Accepting creates the account
//! (or uses the invitee's existing one, signed in) and the membership in one step.

use palisade_store::db::ExecuteWrite;
use std::time::Duration;

use palisade_core::text::Email;
use palisade_core::time::Timestamp;
use palisade_core::{AccountId, StoreId};
use palisade_store::audit::{self, NewEvent};
use palisade_store::permissions::{self, Standing};
use palisade_store::tenancy::{self, Account, AccountKind, Membership, NewAccount, Role};
use palisade_store::{Db, StoreError, StoreScope, outbox};
use rand::RngCore;
use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{IdentityError, Result};
use crate::service::Identity;

/// How long an invitation link works.
pub const VALID_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(format!("palisade-invite-v1:{token}").as_bytes()))
}

/// A pending invitation, as the invitee's page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    pub id: String,
    /// Who sent it: their rights are checked again when it is accepted.
    #[serde(skip)]
    pub invited_by: AccountId,
    pub store_id: StoreId,
    pub store_name: String,
    pub email: String,
    pub role: Role,
    pub expires_at: Timestamp,
}

/// A pending invitation as the store's staff page lists it. The link's token is not here: it exists only in the
/// invitee's mail (the table keeps its hash).
#[derive(Debug, Clone, Serialize)]
pub struct PendingInvitation {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub invited_by: AccountId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Invites `email` to `by`'s store and mails them the link (`link_base` + token). Returns the pending
/// invitation (the token goes only to the invitee). An invitation gives the role's permissions, so it is held to
/// the same rule as any grant ([`permissions::check_change`]): only owners invite owners or admins.
pub async fn invite(
    db: &Db,
    by: &Membership,
    inviter: AccountId,
    email: &Email,
    role: Role,
    link_base: &str,
) -> Result<PendingInvitation> {
    let scope = &by.scope;
    permissions::check_change(&by.standing(), permissions::Whom::Another, None, Some(&Standing::of(role, &[])))
        .map_err(StoreError::from)?;
    let store = tenancy::get_store(db, scope).await?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let now = db.now();
    let id = palisade_core::TokenId::new().to_string();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO invitations (id, store_id, email, role, token_hash, invited_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(scope.store_key())
    .bind(email.as_str())
    .bind(role.as_str())
    .bind(hash(&token))
    .bind(inviter.to_string())
    .bind(now.0)
    .bind(now.plus(VALID_FOR).0)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let target = format!("invitation:{id}");
    let details = serde_json::json!({"email": email.as_str(), "role": role.as_str()});
    audit::record_store(&mut tx, db, scope, NewEvent::new("member.invited", &target).details(details)).await?;
    tx.commit().await.map_err(StoreError::from)?;
    let body = format!(
        "Hello,\n\nYou have been invited to join {} on Palisade as {}.\n\nAccept within 7 days (the link works once):\n\n  {}/invitations/{token}\n\n\
         If you did not expect this, ignore this message.\n",
        store.name,
        role.as_str(),
        link_base.trim_end_matches('/'),
    );
    outbox::enqueue(
        db,
        outbox::NewMail {
            store_id: Some(scope.store_key()),
            to: email.as_str(),
            subject: "You're invited to a store on Palisade",
            body,
        },
    )
    .await?;
    Ok(PendingInvitation {
        id,
        email: email.as_str().to_owned(),
        role,
        invited_by: inviter,
        created_at: now,
        expires_at: now.plus(VALID_FOR),
    })
}

type PendingRow = (String, String, String, String, i64, i64);

fn pending_from_row(r: PendingRow) -> Result<PendingInvitation> {
    Ok(PendingInvitation {
        id: r.0,
        email: r.1,
        role: Role::parse(&r.2)?,
        invited_by: r.3.parse().map_err(|e| StoreError::Corrupt(format!("inviter id: {e}")))?,
        created_at: Timestamp(r.4),
        expires_at: Timestamp(r.5),
    })
}

/// The scoped store's invitations that can still be accepted, newest first.
pub async fn list_pending(db: &Db, scope: &StoreScope) -> Result<Vec<PendingInvitation>> {
    let rows: Vec<PendingRow> = sqlx::query_as(
        "SELECT id, email, role, invited_by, created_at, expires_at FROM invitations \
         WHERE store_id = $1 AND accepted_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id DESC",
    )
    .bind(scope.store_key())
    .bind(db.now().0)
    .fetch_all(db.pool())
    .await
    .map_err(StoreError::from)?;
    rows.into_iter().map(pending_from_row).collect()
}

/// Withdraws a pending invitation of `by`'s store (its link stops working at once), audited. Held to the rule
/// that sent it: only someone who could invite with that role may withdraw it (an admin cannot cancel an owner's
/// invitation of another owner). Another store's, an accepted or an expired invitation is not found.
pub async fn revoke(db: &Db, by: &Membership, id: &str) -> Result<()> {
    let scope = &by.scope;
    let now = db.now();
    let mut tx = db.begin_write().await?;
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT role FROM invitations WHERE id = $1 AND store_id = $2 AND accepted_at IS NULL AND expires_at > $3",
    )
    .bind(id)
    .bind(scope.store_key())
    .bind(now.0)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let Some((role,)) = row else { return Err(StoreError::NotFound("pending invitation").into()) };
    let role = Role::parse(&role)?;
    permissions::check_change(&by.standing(), permissions::Whom::Another, None, Some(&Standing::of(role, &[])))
        .map_err(StoreError::from)?;
    // Expiring it is withdrawing it: every use of a link requires `expires_at` in the future. Set to the epoch,
    // not to this node's "now", so a node whose clock is behind cannot still accept it; and only while it is still
    // pending (an acceptance that got in first is reported, not papered over with a "withdrawn").
    let done =
        sqlx::query("UPDATE invitations SET expires_at = 0 WHERE id = $1 AND store_id = $2 AND accepted_at IS NULL")
            .bind(id)
            .bind(scope.store_key())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
    if done.rows_affected() != 1 {
        return Err(StoreError::NotFound("pending invitation").into());
    }
    let target = format!("invitation:{id}");
    let details = serde_json::json!({"role": role.as_str()});
    audit::record_store(&mut tx, db, scope, NewEvent::new("invitation.revoked", &target).details(details)).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Whether `token` has the shape of an invitation link's token (64 hex digits). Anything else — a control
/// character, say — is simply not an invitation, and must not reach a query, a log line or a redirect.
#[must_use]
pub fn is_well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The pending invitation for a link, if it is still valid.
pub async fn find(db: &Db, token: &str) -> Result<Option<Invitation>> {
    if !is_well_formed(token) {
        return Ok(None);
    }
    let row: Option<(String, String, String, String, i64, String, String)> = sqlx::query_as(
        "SELECT i.id, i.store_id, i.email, i.role, i.expires_at, s.name, i.invited_by FROM invitations i \
         JOIN stores s ON s.id = i.store_id WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.expires_at > $2",
    )
    .bind(hash(token))
    .bind(db.now().0)
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::from)?;
    let Some((id, store_id, email, role, expires_at, store_name, invited_by)) = row else { return Ok(None) };
    Ok(Some(Invitation {
        id,
        invited_by: invited_by.parse().map_err(|e| StoreError::Corrupt(format!("inviter id: {e}")))?,
        store_id: store_id.parse().map_err(|e| StoreError::Corrupt(format!("store id: {e}")))?,
        store_name,
        email,
        role: Role::parse(&role)?,
        expires_at: Timestamp(expires_at),
    }))
}

/// Who accepts: the invitee's existing account (already signed in), or a new one.
#[derive(Debug)]
pub enum Acceptor {
    Existing(Account),
    New { display_name: String, password: SecretString },
}

/// Accepts an invitation once. Returns the member's account.
pub async fn accept(identity: &Identity, token: &str, who: Acceptor) -> Result<Account> {
    let db = identity.db();
    let inv =
        find(db, token).await?.ok_or(IdentityError::NotAllowed("this invitation link is invalid, used or expired"))?;
    let email = Email::parse(&inv.email).map_err(|e| StoreError::Invalid(e.to_string()))?;
    // The inviter's rights now, not when they sent it: someone removed or demoted since cannot still add members.
    let inviter = tenancy::membership(db, inv.invited_by, inv.store_id).await?;
    let still_may = inviter.is_some_and(|m| {
        permissions::check_change(&m.standing(), permissions::Whom::Another, None, Some(&Standing::of(inv.role, &[])))
            .is_ok()
    });
    if !still_may {
        return Err(IdentityError::NotAllowed(
            "the person who invited you can no longer add members with this role; ask the store for a new invitation",
        ));
    }
    let account = match who {
        Acceptor::Existing(a) => {
            if a.email.to_lowercase() != inv.email.to_lowercase() {
                return Err(IdentityError::NotAllowed("this invitation was sent to another email address"));
            }
            a
        }
        Acceptor::New { display_name, password } => {
            if tenancy::find_account_by_email(db, &email).await?.is_some() {
                return Err(IdentityError::NotAllowed(
                    "an account with this email exists: sign in first, then open the link again",
                ));
            }
            crate::password::check_policy(&password, crate::password::Audience::Staff, &[&inv.email, &display_name])?;
            let name = palisade_core::text::display_name("name", &display_name)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            let a =
                tenancy::create_account(db, NewAccount { email, display_name: name, kind: AccountKind::Staff }).await?;
            identity.set_password(&a, password).await?;
            a
        }
    };
    if account.kind != AccountKind::Staff {
        return Err(IdentityError::NotAllowed("only staff accounts can join a store"));
    }
    // Single use: only one acceptance can flip `accepted_at`.
    let won = sqlx::query("UPDATE invitations SET accepted_at = $1, accepted_by = $2 WHERE id = $3 AND accepted_at IS NULL AND expires_at > $1")
        .bind(db.now().0)
        .bind(account.id.to_string())
        .bind(&inv.id)
        .execute_write(db)
        .await
        ?
        .rows_affected()
        == 1;
    if !won {
        return Err(IdentityError::NotAllowed("this invitation link is invalid, used or expired"));
    }
    let scope = StoreScope::system(inv.store_id, "invitation");
    tenancy::add_member(db, &scope, account.id, inv.role).await?;
    Ok(account)
}
