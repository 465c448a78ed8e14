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
}
