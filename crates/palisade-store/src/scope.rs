//! Typed authority: who may touch which tenant's data.
//!
//! Every function that reads or writes a store-owned table takes a [`StoreScope`] and binds its store id into
//! the query. A scope cannot be built from a bare id: it comes from a verified principal (an operator token
//! now; staff sessions with the identity work) or from an explicitly named system task (CLI, jobs), so a
//! handler that forgets to authorise has nothing to pass and does not compile.

use palisade_core::{AccountId, StoreId};

/// The platform-wide authority of an authenticated operator. Only [`crate::tokens::authenticate`] makes one.
#[derive(Debug, Clone)]
pub struct OperatorPrincipal {
    account_id: AccountId,
    email: String,
}

impl OperatorPrincipal {
    pub(crate) fn new(account_id: AccountId, email: String) -> Self {
        Self { account_id, email }
    }

    /// The principal of an operator whose credentials the identity layer has just verified (password and
    /// second factor). `None` for any other kind of account. Grep for this name to review every caller.
    #[must_use]
    pub fn from_verified_operator(account: &crate::tenancy::Account) -> Option<Self> {
        (account.kind == crate::tenancy::AccountKind::Operator && !account.disabled)
            .then(|| Self::new(account.id, account.email.clone()))
    }

    #[must_use]
    pub fn account_id(&self) -> AccountId {
        self.account_id
    }

    #[must_use]
    pub fn email(&self) -> &str {
        &self.email
    }

    /// Platform-wide reads and writes (listing stores, platform audit chain).
    #[must_use]
    pub fn platform_scope(&self) -> PlatformScope {
        PlatformScope { actor: Actor::Account(self.account_id) }
    }

    /// Operators may act on any store, staff-only operations included; the access is attributed to them in the
    /// audit log.
    #[must_use]
    pub fn store_scope(&self, store_id: StoreId) -> StaffScope {
        StaffScope(StoreScope { store_id, actor: Actor::Account(self.account_id) })
    }
}

/// Who performs an action, as recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Account(AccountId),
    /// A named system task: `cli`, `demo`, `job:audit.verify` …
    System(&'static str),
    /// A shopper on the storefront: a signed-in buyer, or a guest (`None`).
    Shopper(Option<AccountId>),
}

impl Actor {
    /// The text stored in `audit_events.actor`.
    #[must_use]
    pub fn as_audit_text(&self) -> String {
        match self {
            Actor::Account(id) => format!("account:{id}"),
            Actor::System(name) => format!("system:{name}"),
            Actor::Shopper(Some(id)) => format!("buyer:{id}"),
            Actor::Shopper(None) => "guest".to_owned(),
        }
    }
}

/// Authority over exactly one store's data.
#[derive(Debug, Clone)]
pub struct StoreScope {
    store_id: StoreId,
    actor: Actor,
}

impl StoreScope {
    /// Scope for a system task acting on one store (CLI commands, scheduled jobs, the demo generator).
    /// `task` names the task in the audit log; grep for `StoreScope::system` to review every use.
    #[must_use]
    pub fn system(store_id: StoreId, task: &'static str) -> Self {
        Self { store_id, actor: Actor::System(task) }
    }

    /// Scope for a shopper on the store's storefront: public reads (published catalog) and the buyer's own
    /// actions (checkout, confirming receipt, reviews, disputes on their orders). Staff-only operations take a
    /// [`StaffScope`], which this scope cannot become ([`StoreScope::to_staff`] refuses it), so a storefront
    /// handler cannot reach the admin side with it.
    #[must_use]
    pub fn shopper(store_id: StoreId, buyer: Option<AccountId>) -> Self {
        Self { store_id, actor: Actor::Shopper(buyer) }
    }

    /// Whether this is not a shopper's scope, as a `Result`. Not a guard for staff-only operations (they take a
    /// [`StaffScope`], so the compiler makes that check): reads open to everyone use it to decide what to show
    /// (unpublished products and images are visible to staff only).
    pub fn require_staff(&self) -> Result<(), crate::StoreError> {
        self.to_staff().map(|_| ())
    }

    /// The same authority as a [`StaffScope`], or `Forbidden` for a shopper's scope. This is the one place a
    /// plain scope is checked into a staff one (system tasks holding a `StoreScope::system` use it).
    pub fn to_staff(&self) -> Result<StaffScope, crate::StoreError> {
        match self.actor {
            Actor::Shopper(_) => Err(crate::StoreError::Forbidden("only the store's staff may do this")),
            Actor::Account(_) | Actor::System(_) => Ok(StaffScope(self.clone())),
        }
    }

    #[must_use]
    pub fn store_id(&self) -> StoreId {
        self.store_id
    }

    /// The id as bound into queries.
    #[must_use]
    pub fn store_key(&self) -> String {
        self.store_id.to_string()
    }

    #[must_use]
    pub fn actor(&self) -> Actor {
        self.actor
    }
}

/// Authority over one store's data that is never a shopper's: a verified member, an operator, or a named system
/// task. Staff-only operations (order admin, refunds, payouts, ledger reads, catalog edits …) take this type, so a
/// storefront handler holding [`StoreScope::shopper`] has nothing to pass and does not compile; the only
/// conversion from a plain scope, [`StoreScope::to_staff`], refuses a shopper's. It dereferences to the
/// [`StoreScope`] it wraps, so every function open to any scope accepts it too.
///
/// ```
/// use palisade_store::{StaffScope, StoreScope};
/// fn staff_only(_: &StaffScope) {}
/// staff_only(&StaffScope::system(palisade_core::StoreId::new(), "doc"));
/// ```
///
/// A shopper's scope does not compile where a staff scope is required:
///
/// ```compile_fail
/// use palisade_store::{StaffScope, StoreScope};
/// fn staff_only(_: &StaffScope) {}
/// staff_only(&StoreScope::shopper(palisade_core::StoreId::new(), None));
/// ```
#[derive(Debug, Clone)]
pub struct StaffScope(StoreScope);

impl StaffScope {
    /// Staff authority for a system task (CLI commands, jobs, the demo generator); grep for `StaffScope::system`
    /// to review every use.
    #[must_use]
    pub fn system(store_id: StoreId, task: &'static str) -> Self {
        Self(StoreScope::system(store_id, task))
    }

    /// Scope for a store's own member; made by the tenancy layer after checking the membership exists.
    pub(crate) fn member(store_id: StoreId, account_id: AccountId) -> Self {
        Self(StoreScope { store_id, actor: Actor::Account(account_id) })
    }

    /// The plain scope, for functions open to any scope.
    #[must_use]
    pub fn scope(&self) -> &StoreScope {
        &self.0
    }
}

impl std::ops::Deref for StaffScope {
    type Target = StoreScope;

    fn deref(&self) -> &StoreScope {
        &self.0
    }
}

impl AsRef<StoreScope> for StaffScope {
    fn as_ref(&self) -> &StoreScope {
        &self.0
    }
}

impl From<StaffScope> for StoreScope {
    fn from(s: StaffScope) -> Self {
        s.0
    }
}

/// Authority over platform-wide data (the store list, the platform audit chain, schedules).
#[derive(Debug, Clone)]
pub struct PlatformScope {
    actor: Actor,
}

impl PlatformScope {
    /// Scope for a system task acting platform-wide. Grep for `PlatformScope::system` to review every use.
    #[must_use]
    pub fn system(task: &'static str) -> Self {
        Self { actor: Actor::System(task) }
    }

    #[must_use]
    pub fn actor(&self) -> Actor {
        self.actor
    }
}
