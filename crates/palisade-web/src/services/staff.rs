//! A store's staff and invitations: the Security Center's forms and the staff API list members, change a role or
//! grants, remove a member, and send, list and withdraw invitations through these functions. Who may change whom
//! (only owners touch owners, nobody gives more than they hold, the last owner stays) is the store layer's rule
//! (`palisade_store::permissions::check_change`); here every change also needs staff management and a person who
//! re-entered their password recently ([`super::permitted_person`]), as on the page.

use palisade_core::AccountId;
use palisade_core::text::Email;
use palisade_core::time::Timestamp;
use palisade_identity::invitations::{self, PendingInvitation};
use palisade_identity::{policy, sessions};
use palisade_store::StoreScope;
use palisade_store::permissions::Permission;
use palisade_store::tenancy::{self, Role};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Refusal, invalid, permitted, permitted_person};
use crate::http::ApiError;
use crate::http::access::StaffAccess;
use crate::state::AppState;

/// A member of the store's staff.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffMember {
    pub account_id: AccountId,
    pub email: String,
    /// The member's display name.
    pub name: String,
    #[schema(value_type = String, example = "staff")]
    pub role: Role,
    /// Whether the member has a second factor.
    pub mfa: bool,
    pub last_active_at: Option<Timestamp>,
    /// No activity for a long time (a candidate for removal).
    pub dormant: bool,
    /// Effective permission keys (the role's defaults and explicit grants).
    #[schema(example = json!(["products", "orders"]))]
    pub permissions: Vec<String>,
}

/// An invitation that has not been accepted, withdrawn or expired. Its link is only in the invitee's mail.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    #[schema(value_type = String, example = "staff")]
    pub role: Role,
    pub invited_by: AccountId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl From<PendingInvitation> for Invitation {
    fn from(p: PendingInvitation) -> Self {
        Invitation {
            id: p.id,
            email: p.email,
            role: p.role,
            invited_by: p.invited_by,
            created_at: p.created_at,
            expires_at: p.expires_at,
        }
    }
}

/// The store's staff; needs staff management.
pub async fn list(state: &AppState, access: &StaffAccess) -> Result<Vec<StaffMember>, Refusal> {
    permitted(access, Permission::StaffManagement)?;
    Ok(rows(state, &access.membership.scope).await?)
}

/// The staff rows, for a caller that has checked staff management.
pub async fn rows(state: &AppState, scope: &StoreScope) -> Result<Vec<StaffMember>, ApiError> {
    let members = tenancy::list_members(&state.db, scope).await?;
    let with_mfa = policy::members_with_mfa(&state.db, scope).await?;
    let dormant_before = state.db.now().minus(palisade_identity::controls::DORMANT_AFTER);
    Ok(members
        .into_iter()
        .map(|m| StaffMember {
            mfa: with_mfa.contains(&m.account_id),
            dormant: m.last_active_at.unwrap_or(m.joined_at) < dormant_before,
            permissions: m.permissions.iter().map(|p| p.key().to_owned()).collect(),
            account_id: m.account_id,
            email: m.email,
            name: m.display_name,
            role: m.role,
            last_active_at: m.last_active_at,
        })
        .collect())
}

/// A role as typed or sent ("owner", "admin", "staff").
pub fn parse_role(s: &str) -> Result<Role, ApiError> {
    Ok(Role::parse(s.trim())?)
}

/// One member's row after a change.
async fn member(state: &AppState, scope: &StoreScope, account: AccountId) -> Result<StaffMember, Refusal> {
    rows(state, scope)
        .await?
        .into_iter()
        .find(|m| m.account_id == account)
        .ok_or_else(|| Refusal::Failed(ApiError::not_found("store member")))
}

/// Changes a member's role; answers the member as changed.
pub async fn set_role(
    state: &AppState,
    access: &StaffAccess,
    account: AccountId,
    role: Role,
) -> Result<StaffMember, Refusal> {
    permitted_person(state, access, Permission::StaffManagement)?;
    tenancy::set_role(&state.db, &access.membership, account, role).await?;
    member(state, &access.membership.scope, account).await
}

/// Replaces a member's explicit grants; answers the member as changed.
pub async fn set_grants(
    state: &AppState,
    access: &StaffAccess,
    account: AccountId,
    grants: &[Permission],
) -> Result<StaffMember, Refusal> {
    permitted_person(state, access, Permission::StaffManagement)?;
    tenancy::set_grants(&state.db, &access.membership, account, grants).await?;
    member(state, &access.membership.scope, account).await
}

/// Removes a member. Someone who belongs to no store any more is signed out everywhere now, not at their next
/// timeout.
pub async fn remove(state: &AppState, access: &StaffAccess, account: AccountId) -> Result<(), Refusal> {
    permitted_person(state, access, Permission::StaffManagement)?;
    tenancy::remove_member(&state.db, &access.membership, account).await?;
    if tenancy::memberships(&state.db, account).await?.is_empty() {
        sessions::revoke_all(&state.db, account, None).await?;
    }
    Ok(())
}

/// The store's pending invitations; needs staff management.
pub async fn invitations(state: &AppState, access: &StaffAccess) -> Result<Vec<Invitation>, Refusal> {
    permitted(access, Permission::StaffManagement)?;
    Ok(pending(state, &access.membership.scope).await?)
}

/// The pending invitations, for a caller that has checked staff management.
pub async fn pending(state: &AppState, scope: &StoreScope) -> Result<Vec<Invitation>, ApiError> {
    Ok(invitations::list_pending(&state.db, scope).await?.into_iter().map(Invitation::from).collect())
}

/// Invites `email` with `role` and mails the link (only the invitee ever sees it).
pub async fn invite(state: &AppState, access: &StaffAccess, email: &str, role: &str) -> Result<Invitation, Refusal> {
    permitted_person(state, access, Permission::StaffManagement)?;
    let email = Email::parse(email).map_err(|e| invalid(e.to_string()))?;
    let role = parse_role(role)?;
    let sent =
        invitations::invite(&state.db, &access.membership, access.account.id, &email, role, &state.config.public_url)
            .await?;
    Ok(sent.into())
}

/// Withdraws a pending invitation of the store. Like revoking a token, taking access back needs no fresh
/// password; who may withdraw which invitation is the identity layer's rule (`invitations::revoke`).
pub async fn revoke_invitation(state: &AppState, access: &StaffAccess, id: &str) -> Result<(), Refusal> {
    permitted(access, Permission::StaffManagement)?;
    invitations::revoke(&state.db, &access.membership, id).await?;
    Ok(())
}
