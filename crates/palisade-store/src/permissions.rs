//! What a store member may do: a role gives defaults, and an owner can grant staff more.

use serde::Serialize;

use crate::tenancy::Role;

/// One capability in a store's admin. Every admin route names the one it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Products,
    Orders,
    Refunds,
    Payouts,
    /// Customers' personal data (export, correction requests).
    CustomerData,
    Theme,
    SecuritySettings,
    StaffManagement,
}

impl Permission {
    pub const ALL: [Permission; 8] = [
        Permission::Products,
        Permission::Orders,
        Permission::Refunds,
        Permission::Payouts,
        Permission::CustomerData,
        Permission::Theme,
        Permission::SecuritySettings,
        Permission::StaffManagement,
    ];

    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Permission::Products => "products",
            Permission::Orders => "orders",
            Permission::Refunds => "refunds",
            Permission::Payouts => "payouts",
            Permission::CustomerData => "customer_data",
            Permission::Theme => "theme",
            Permission::SecuritySettings => "security_settings",
            Permission::StaffManagement => "staff_management",
        }
    }

    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Permission::Products => "Products and stock",
            Permission::Orders => "Orders and shipping",
            Permission::Refunds => "Refunds",
            Permission::Payouts => "Payouts and payout details",
            Permission::CustomerData => "Customers' personal data",
            Permission::Theme => "Store theme",
            Permission::SecuritySettings => "Security settings",
            Permission::StaffManagement => "Staff management",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.key() == s)
    }

    /// What a role may do without extra grants.
    #[must_use]
    pub fn defaults(role: Role) -> &'static [Permission] {
        match role {
            Role::Owner => &Permission::ALL,
            Role::Admin => &[
                Permission::Products,
                Permission::Orders,
                Permission::Refunds,
                Permission::CustomerData,
                Permission::Theme,
                Permission::SecuritySettings,
                Permission::StaffManagement,
            ],
            Role::Staff => &[Permission::Products, Permission::Orders],
        }
    }
}

impl Permission {
    /// Only an owner may hand these out: money leaving the store, and the power to hand out permissions (an
    /// admin who could grant staff management could raise a helper to do what the admin may not).
    pub const OWNER_ONLY: [Permission; 2] = [Permission::Payouts, Permission::StaffManagement];
}

/// Whether a member with `role` and `held` permissions may give `p` to someone (or take it away): owners may
/// give anything; anyone else needs staff management, must hold `p` themselves, and `p` must not be owner-only.
#[must_use]
pub fn can_grant(role: Role, held: &[Permission], p: Permission) -> bool {
    role == Role::Owner
        || (held.contains(&Permission::StaffManagement) && held.contains(&p) && !Permission::OWNER_ONLY.contains(&p))
}

/// A member's standing in a store: a role and the permissions it adds up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub role: Role,
    pub permissions: Vec<Permission>,
}

impl Standing {
    /// The standing a role with `grants` gives.
    #[must_use]
    pub fn of(role: Role, grants: &[Permission]) -> Standing {
        Standing { role, permissions: effective(role, grants) }
    }
}

/// Why a change to someone's membership was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRefusal {
    NoStaffManagement,
    OwnersOnly,
    BeyondOwnRights,
}

impl GrantRefusal {
    /// What the person is told.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            GrantRefusal::NoStaffManagement => "changing staff needs the staff management permission",
            GrantRefusal::OwnersOnly => "only an owner may change an owner or make one",
            GrantRefusal::BeyondOwnRights => {
                "you may only give or take away permissions you hold yourself; payouts and staff management \
                 (and so the admin role) are given by owners only"
            }
        }
    }
}

impl std::fmt::Display for GrantRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for GrantRefusal {}

impl From<GrantRefusal> for crate::StoreError {
    fn from(r: GrantRefusal) -> Self {
        crate::StoreError::Forbidden(r.message())
    }
}

/// Whose rights a change touches: one's own may always be given up, another member's only within one's rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whom {
    Oneself,
    Another,
}

/// The permission algebra: may `actor` change `target` from `before` to `after` (`None`: not a member)?
///
/// Every way of changing someone's rights (role, grants, removal, invitation) goes through this one rule, so
/// none of them can give more than another: only owners touch owners, and every permission gained or lost
/// must be one the actor could grant ([`can_grant`]). Giving up one's own permissions needs no right.
pub fn check_change(
    actor: &Standing,
    whom: Whom,
    before: Option<&Standing>,
    after: Option<&Standing>,
) -> Result<(), GrantRefusal> {
    if !actor.permissions.contains(&Permission::StaffManagement) && actor.role != Role::Owner {
        return Err(GrantRefusal::NoStaffManagement);
    }
    let touches_owner = [before, after].into_iter().flatten().any(|s| s.role == Role::Owner);
    if touches_owner && actor.role != Role::Owner {
        return Err(GrantRefusal::OwnersOnly);
    }
    let none: &[Permission] = &[];
    let old = before.map_or(none, |s| s.permissions.as_slice());
    let new = after.map_or(none, |s| s.permissions.as_slice());
    let gained = new.iter().filter(|p| !old.contains(p));
    let lost = old.iter().filter(|p| !new.contains(p) && whom == Whom::Another);
    if gained.chain(lost).all(|p| can_grant(actor.role, &actor.permissions, *p)) {
        Ok(())
    } else {
        Err(GrantRefusal::BeyondOwnRights)
    }
}

/// A role's defaults plus explicit grants, de-duplicated and ordered.
#[must_use]
pub fn effective(role: Role, grants: &[Permission]) -> Vec<Permission> {
    let mut all: Vec<Permission> = Permission::defaults(role).iter().chain(grants.iter()).copied().collect();
    all.sort();
    all.dedup();
    all
}

/// Parses the stored JSON list, ignoring names this release does not know.
#[must_use]
pub fn parse_stored(json: &str) -> Vec<Permission> {
    serde_json::from_str::<Vec<String>>(json).unwrap_or_default().iter().filter_map(|s| Permission::parse(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_grants_combine() {
        assert_eq!(effective(Role::Owner, &[]).len(), 8);
        assert!(!effective(Role::Admin, &[]).contains(&Permission::Payouts));
        assert_eq!(
            effective(Role::Staff, &[Permission::Refunds, Permission::Products]),
            vec![Permission::Products, Permission::Orders, Permission::Refunds]
        );
        assert_eq!(parse_stored(r#"["refunds","nonsense"]"#), vec![Permission::Refunds]);
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.key()), Some(p));
        }
    }

    #[test]
    fn only_owners_hand_out_payouts_and_staff_management() {
        let owner = Standing::of(Role::Owner, &[]);
        let admin = Standing::of(Role::Admin, &[]);
        let staff = Standing::of(Role::Staff, &[]);
        let before = Standing::of(Role::Staff, &[]);
        for p in Permission::ALL {
            let after = Standing::of(Role::Staff, &[p]);
            assert_eq!(check_change(&owner, Whom::Another, Some(&before), Some(&after)), Ok(()), "{p:?}");
            let admin_may = !Permission::OWNER_ONLY.contains(&p);
            assert_eq!(check_change(&admin, Whom::Another, Some(&before), Some(&after)).is_ok(), admin_may, "{p:?}");
            // An admin granting itself anything it lacks (payouts) is refused like granting anyone else.
            let admin_after = Standing::of(Role::Admin, &[p]);
            assert_eq!(
                check_change(&admin, Whom::Oneself, Some(&admin), Some(&admin_after)).is_ok(),
                admin.permissions.contains(&p),
                "{p:?} to self"
            );
            assert!(check_change(&staff, Whom::Another, Some(&before), Some(&after)).is_err());
        }
        // Admins neither touch owners nor make them; they cannot make admins (that hands out staff management).
        assert_eq!(check_change(&admin, Whom::Another, Some(&owner), Some(&admin)), Err(GrantRefusal::OwnersOnly));
        assert_eq!(check_change(&admin, Whom::Another, Some(&owner), None), Err(GrantRefusal::OwnersOnly));
        assert_eq!(check_change(&admin, Whom::Another, Some(&staff), Some(&owner)), Err(GrantRefusal::OwnersOnly));
        assert_eq!(check_change(&admin, Whom::Another, Some(&staff), Some(&admin)), Err(GrantRefusal::BeyondOwnRights));
        assert_eq!(check_change(&admin, Whom::Another, None, Some(&staff)), Ok(()));
        // Giving up one's own rights is always allowed (the last-owner rule is the store's to check).
        assert_eq!(check_change(&admin, Whom::Oneself, Some(&admin), Some(&staff)), Ok(()));
    }
}
