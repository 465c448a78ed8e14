//! Stores (tenants), accounts and store membership.
//!
//! Accounts are platform-wide (one person may work for several stores and also buy); membership attaches an
//! account to a store with a role. Every function touching one store's rows takes that store's
//! [`StoreScope`]; platform-wide listings take a [`PlatformScope`].

use palisade_core::text::{Email, Slug};
use palisade_core::time::Timestamp;
use palisade_core::{AccountId, StoreId};
use serde::Serialize;

use crate::audit::{self, NewEvent};
use crate::db::Db;
use crate::error::{Result, StoreError, conflict_on_unique};
use crate::permissions::{self, Permission, Standing, Whom};
use crate::scope::{Actor, PlatformScope, StaffScope, StoreScope};

/// What kind of person an account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Operator,
    Staff,
    Buyer,
}

impl AccountKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Operator => "operator",
            AccountKind::Staff => "staff",
            AccountKind::Buyer => "buyer",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "operator" => Ok(AccountKind::Operator),
            "staff" => Ok(AccountKind::Staff),
            "buyer" => Ok(AccountKind::Buyer),
            other => Err(StoreError::Corrupt(format!("unknown account kind `{other}`"))),
        }
    }
}

/// A member's role in a store. Fine-grained permissions arrive with the identity work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Staff,
}

impl Role {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Staff => "staff",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "staff" => Ok(Role::Staff),
            other => Err(StoreError::Invalid(format!("unknown role `{other}` (owner, admin or staff)"))),
        }
    }
}

/// A stored account.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: AccountId,
    pub email: String,
    pub display_name: String,
    pub kind: AccountKind,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub last_active_at: Option<Timestamp>,
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: Email,
    pub display_name: String,
    pub kind: AccountKind,
}

type AccountRow = (String, String, String, String, i64, i64, Option<i64>);

fn account_from_row(r: AccountRow) -> Result<Account> {
    Ok(Account {
        id: r.0.parse().map_err(|e| StoreError::Corrupt(format!("account id: {e}")))?,
        email: r.1,
        display_name: r.2,
        kind: AccountKind::parse(&r.3)?,
        disabled: r.4 != 0,
        created_at: Timestamp(r.5),
        last_active_at: r.6.map(Timestamp),
    })
}

const ACCOUNT_COLUMNS: &str = "id, email, display_name, kind, disabled, created_at, last_active_at";

/// Creates an account; a second account with the same email (case-insensitive) is a conflict.
pub async fn create_account(db: &Db, new: NewAccount) -> Result<Account> {
    let mut tx = db.begin_write().await?;
    let account = create_account_on(&mut tx, db, new).await?;
    tx.commit().await?;
    Ok(account)
}

/// [`create_account`] inside the caller's transaction (an account created together with what it is for).
pub async fn create_account_on(tx: &mut sqlx::AnyConnection, db: &Db, new: NewAccount) -> Result<Account> {
    let id = AccountId::new();
    let now = db.now();
    sqlx::query(
        "INSERT INTO accounts (id, email, email_key, display_name, kind, disabled, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6)",
    )
    .bind(id.to_string())
    .bind(new.email.as_str())
    .bind(new.email.as_str().to_lowercase())
    .bind(&new.display_name)
    .bind(new.kind.as_str())
    .bind(now.0)
    .execute(&mut *tx)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("an account with email {} already exists", new.email)))?;
    Ok(Account {
        id,
        email: new.email.to_string(),
        display_name: new.display_name,
        kind: new.kind,
        disabled: false,
        created_at: now,
        last_active_at: None,
    })
}

/// Looks an account up by email (case-insensitive).
pub async fn find_account_by_email(db: &Db, email: &Email) -> Result<Option<Account>> {
    let row: Option<AccountRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email_key = $1")))
            .bind(email.as_str().to_lowercase())
            .fetch_optional(db.pool())
            .await?;
    row.map(account_from_row).transpose()
}

/// [`find_account_by_email`] inside the caller's transaction (a decision that must see the account as it is now).
pub async fn find_account_by_email_on(tx: &mut sqlx::AnyConnection, email: &Email) -> Result<Option<Account>> {
    let row: Option<AccountRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email_key = $1")))
            .bind(email.as_str().to_lowercase())
            .fetch_optional(&mut *tx)
            .await?;
    row.map(account_from_row).transpose()
}

/// Looks an account up by id.
pub async fn get_account(db: &Db, id: AccountId) -> Result<Account> {
    let row: Option<AccountRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    row.map(account_from_row).transpose()?.ok_or(StoreError::NotFound("account"))
}

/// Lists operator accounts (platform console).
pub async fn list_operators(db: &Db, _scope: &PlatformScope) -> Result<Vec<Account>> {
    let rows: Vec<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE kind = 'operator' ORDER BY created_at"
    )))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(account_from_row).collect()
}

/// A store's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreStatus {
    Active,
    Suspended,
    Closed,
}

impl StoreStatus {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(StoreStatus::Active),
            "suspended" => Ok(StoreStatus::Suspended),
            "closed" => Ok(StoreStatus::Closed),
            other => Err(StoreError::Corrupt(format!("unknown store status `{other}`"))),
        }
    }
}

/// A stored store.
#[derive(Debug, Clone, Serialize)]
pub struct Store {
    pub id: StoreId,
    pub slug: String,
    pub name: String,
    pub status: StoreStatus,
    /// The store's one currency: prices, orders, balances and payouts are all in it.
    pub currency: palisade_core::money::Currency,
    pub security_contact_email: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

type StoreRow = (String, String, String, String, String, Option<String>, i64, i64);
const STORE_COLUMNS: &str = "id, slug, name, status, currency, security_contact_email, created_at, updated_at";

fn store_from_row(r: StoreRow) -> Result<Store> {
    Ok(Store {
        id: r.0.parse().map_err(|e| StoreError::Corrupt(format!("store id: {e}")))?,
        slug: r.1,
        name: r.2,
        status: StoreStatus::parse(&r.3)?,
        currency: palisade_core::money::Currency::parse(&r.4)
            .map_err(|e| StoreError::Corrupt(format!("store currency: {e}")))?,
        security_contact_email: r.5,
        created_at: Timestamp(r.6),
        updated_at: Timestamp(r.7),
    })
}

/// A store to create, with its first owner.
#[derive(Debug, Clone)]
pub struct NewStore {
    pub slug: Slug,
    pub name: String,
    pub currency: palisade_core::money::Currency,
    pub owner: AccountId,
    pub security_contact: Option<Email>,
}

/// Creates a store and its owner membership in one transaction, audited on both the platform and the new
/// store's chain. Returns the store and a scope for the creator to continue setting it up.
pub async fn create_store(db: &Db, platform: &PlatformScope, new: NewStore) -> Result<(Store, StoreScope)> {
    let owner = get_account(db, new.owner).await?;
    let mut tx = db.begin_write().await?;
    let created = create_store_on(&mut tx, db, platform, new, &owner).await?;
    tx.commit().await?;
    Ok(created)
}

/// [`create_store`] inside the caller's transaction, for an `owner` the caller has read or just created there.
pub async fn create_store_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    platform: &PlatformScope,
    new: NewStore,
    owner: &Account,
) -> Result<(Store, StoreScope)> {
    if owner.id != new.owner {
        return Err(StoreError::Invalid("the owner given is not the store's owner".into()));
    }
    if owner.kind != AccountKind::Staff {
        return Err(StoreError::Invalid(format!(
            "{} is a {} account; store owners must be staff accounts",
            owner.email,
            owner.kind.as_str()
        )));
    }
    let id = StoreId::new();
    let now = db.now();
    sqlx::query(
        "INSERT INTO stores (id, slug, name, status, currency, security_contact_email, created_at, updated_at) \
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $6)",
    )
    .bind(id.to_string())
    .bind(new.slug.as_str())
    .bind(&new.name)
    .bind(new.currency.code())
    .bind(new.security_contact.as_ref().map(Email::as_str))
    .bind(now.0)
    .execute(&mut *tx)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("the store address `{}` is taken", new.slug)))?;
    sqlx::query("INSERT INTO store_members (store_id, account_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
        .bind(id.to_string())
        .bind(owner.id.to_string())
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
    let target = format!("store:{id}");
    audit::record_platform(
        tx,
        db,
        platform,
        NewEvent::new("store.created", &target).details(serde_json::json!({"slug": new.slug.as_str()})),
    )
    .await?;
    let scope = match platform.actor() {
        Actor::Account(a) => StaffScope::member(id, a).into(),
        Actor::System(task) => StoreScope::system(id, task),
        Actor::Shopper(_) => return Err(StoreError::Forbidden("shoppers cannot create stores")),
    };
    audit::record_store(tx, db, &scope, NewEvent::new("store.created", &target)).await?;
    let member_target = format!("account:{}", owner.id);
    audit::record_store(
        tx,
        db,
        &scope,
        NewEvent::new("member.added", &member_target).details(serde_json::json!({"role": "owner"})),
    )
    .await?;
    // A new store appears on the marketplace's pages.
    crate::storefront::touch(tx, &scope).await?;
    let store = Store {
        id,
        slug: new.slug.to_string(),
        name: new.name,
        status: StoreStatus::Active,
        currency: new.currency,
        security_contact_email: new.security_contact.map(String::from),
        created_at: now,
        updated_at: now,
    };
    Ok((store, scope))
}

/// Every store, for the platform console.
pub async fn list_stores(db: &Db, _scope: &PlatformScope) -> Result<Vec<Store>> {
    let rows: Vec<StoreRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {STORE_COLUMNS} FROM stores ORDER BY slug")))
            .fetch_all(db.pool())
            .await?;
    rows.into_iter().map(store_from_row).collect()
}

/// The store a path names by id or by slug (the id first, as the routes resolve it), if it exists: a
/// well-formed id alone is not a store.
pub async fn store_id_by_key(db: &Db, key: &str) -> Result<Option<StoreId>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM stores WHERE slug = $1 OR id = $1 ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1",
    )
    .bind(key)
    .fetch_optional(db.pool())
    .await?;
    row.map(|(id,)| id.parse().map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// Resolves a public store address to its id (the storefront's routing; reveals nothing private).
pub async fn store_id_by_slug(db: &Db, slug: &str) -> Result<Option<StoreId>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT id FROM stores WHERE slug = $1").bind(slug).fetch_optional(db.pool()).await?;
    row.map(|(id,)| id.parse().map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// The scoped store's own record.
pub async fn get_store(db: &Db, scope: &StoreScope) -> Result<Store> {
    let row: Option<StoreRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {STORE_COLUMNS} FROM stores WHERE id = $1")))
            .bind(scope.store_key())
            .fetch_optional(db.pool())
            .await?;
    row.map(store_from_row).transpose()?.ok_or(StoreError::NotFound("store"))
}

/// Changes to a store's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct StoreSettings {
    pub name: Option<String>,
    /// `Some(None)` clears the contact.
    pub security_contact: Option<Option<Email>>,
}

/// Updates the scoped store's settings, audited.
pub async fn update_settings(db: &Db, scope: &StoreScope, change: StoreSettings) -> Result<Store> {
    let current = get_store(db, scope).await?;
    let name = change.name.unwrap_or(current.name);
    let contact = match change.security_contact {
        Some(c) => c.map(String::from),
        None => current.security_contact_email,
    };
    let now = db.now();
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("UPDATE stores SET name = $1, security_contact_email = $2, updated_at = $3 WHERE id = $4")
        .bind(&name)
        .bind(&contact)
        .bind(now.0)
        .bind(scope.store_key())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::NotFound("store"));
    }
    let details = serde_json::json!({"name": name, "security_contact_set": contact.is_some()});
    audit::record_store(&mut tx, db, scope, NewEvent::new("store.settings_changed", "store").details(details)).await?;
    crate::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    get_store(db, scope).await
}

/// A store member as shown in the store's staff list.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub account_id: AccountId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub joined_at: Timestamp,
    pub last_active_at: Option<Timestamp>,
    /// Role defaults plus explicit grants.
    pub permissions: Vec<Permission>,
}

type MemberRow = (String, String, String, String, i64, i64, Option<i64>, String);

/// The scoped store's members, owners first.
pub async fn list_members(db: &Db, scope: &StoreScope) -> Result<Vec<Member>> {
    let rows: Vec<MemberRow> = sqlx::query_as(
        "SELECT a.id, a.email, a.display_name, m.role, a.disabled, m.created_at, a.last_active_at, m.permissions \
         FROM store_members m JOIN accounts a ON a.id = m.account_id WHERE m.store_id = $1 \
         ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, a.email",
    )
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|r| {
            let role = Role::parse(&r.3)?;
            Ok(Member {
                account_id: r.0.parse().map_err(|e| StoreError::Corrupt(format!("account id: {e}")))?,
                email: r.1,
                display_name: r.2,
                role,
                disabled: r.4 != 0,
                joined_at: Timestamp(r.5),
                last_active_at: r.6.map(Timestamp),
                permissions: permissions::effective(role, &permissions::parse_stored(&r.7)),
            })
        })
        .collect()
}

/// Adds a staff account to the scoped store.
pub async fn add_member(db: &Db, scope: &StoreScope, account: AccountId, role: Role) -> Result<()> {
    let acct = get_account(db, account).await?;
    if acct.kind != AccountKind::Staff {
        return Err(StoreError::Invalid(format!("{} is not a staff account", acct.email)));
    }
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO store_members (store_id, account_id, role, created_at) VALUES ($1, $2, $3, $4)")
        .bind(scope.store_key())
        .bind(account.to_string())
        .bind(role.as_str())
        .bind(db.now().0)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, || format!("{} is already a member of this store", acct.email)))?;
    let target = format!("account:{account}");
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("member.added", &target).details(serde_json::json!({"role": role.as_str()})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Number of owners of the scoped store, read inside a transaction. On PostgreSQL the owners' rows are locked
/// (`FOR UPDATE`), so two owners demoting or removing each other at once cannot both see "two owners" and
/// leave none: the second waits, then counts again. (SQLite's write transaction already serialises them.)
async fn owner_count(conn: &mut sqlx::AnyConnection, db: &Db, scope: &StoreScope) -> Result<usize> {
    let sql = match db.backend() {
        crate::Backend::Sqlite => "SELECT account_id FROM store_members WHERE store_id = $1 AND role = 'owner'",
        crate::Backend::Postgres => {
            "SELECT account_id FROM store_members WHERE store_id = $1 AND role = 'owner' FOR UPDATE"
        }
    };
    let owners: Vec<(String,)> = sqlx::query_as(sql).bind(scope.store_key()).fetch_all(&mut *conn).await?;
    Ok(owners.len())
}

/// A member's role and explicit grants, read inside the caller's transaction.
async fn member_row(
    conn: &mut sqlx::AnyConnection,
    scope: &StoreScope,
    account: AccountId,
) -> Result<Option<(Role, Vec<Permission>)>> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT role, permissions FROM store_members WHERE store_id = $1 AND account_id = $2")
            .bind(scope.store_key())
            .bind(account.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|(role, grants)| Ok((Role::parse(&role)?, permissions::parse_stored(&grants)))).transpose()
}

/// The standing `by` acts with, re-read inside the transaction: a member demoted or removed since their request
/// began acts with what they hold now, and never with more than `by` carries (a token's scopes).
async fn actor_standing(conn: &mut sqlx::AnyConnection, by: &Membership) -> Result<Standing> {
    match by.scope.actor() {
        Actor::Account(id) => {
            let (role, grants) = member_row(conn, &by.scope, id)
                .await?
                .ok_or(StoreError::Forbidden("you are no longer a member of this store"))?;
            let now = Standing::of(role, &grants);
            Ok(Standing {
                // `Role` orders owner first: the larger is the lesser role.
                role: now.role.max(by.role),
                permissions: now.permissions.into_iter().filter(|p| by.can(*p)).collect(),
            })
        }
        Actor::System(_) => Ok(Standing { role: by.role, permissions: by.permissions.clone() }),
        Actor::Shopper(_) => Err(StoreError::Forbidden("only the store's staff may do this")),
    }
}

/// Reads the target's standing and the actor's, and applies the permission algebra
/// ([`permissions::check_change`]) to the change `after` describes. Returns the target's role and grants.
async fn check_member_change(
    conn: &mut sqlx::AnyConnection,
    by: &Membership,
    account: AccountId,
    after: impl FnOnce(Role, &[Permission]) -> Option<Standing>,
) -> Result<(Role, Vec<Permission>)> {
    let actor = actor_standing(conn, by).await?;
    let (role, grants) = member_row(conn, &by.scope, account).await?.ok_or(StoreError::NotFound("store member"))?;
    let before = Standing::of(role, &grants);
    let after = after(role, &grants);
    let whom = if by.scope.actor() == Actor::Account(account) { Whom::Oneself } else { Whom::Another };
    permissions::check_change(&actor, whom, Some(&before), after.as_ref())?;
    Ok((role, grants))
}

/// Changes a member's role, within `by`'s rights (only owners touch owners; see [`permissions::check_change`]);
/// the last owner cannot be demoted.
pub async fn set_role(db: &Db, by: &Membership, account: AccountId, role: Role) -> Result<()> {
    let scope = &by.scope;
    let mut tx = db.begin_write().await?;
    let (old, _) = check_member_change(&mut tx, by, account, |_, grants| Some(Standing::of(role, grants))).await?;
    if old == Role::Owner && role != Role::Owner && owner_count(&mut tx, db, scope).await? <= 1 {
        return Err(StoreError::Conflict("a store must keep at least one owner; make someone else owner first".into()));
    }
    sqlx::query("UPDATE store_members SET role = $1 WHERE store_id = $2 AND account_id = $3")
        .bind(role.as_str())
        .bind(scope.store_key())
        .bind(account.to_string())
        .execute(&mut *tx)
        .await?;
    let target = format!("account:{account}");
    let details = serde_json::json!({"from": old.as_str(), "to": role.as_str()});
    audit::record_store(&mut tx, db, scope, NewEvent::new("member.role_changed", &target).details(details)).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a member, within `by`'s rights (only owners remove owners); the last owner cannot be removed.
pub async fn remove_member(db: &Db, by: &Membership, account: AccountId) -> Result<()> {
    let scope = &by.scope;
    let mut tx = db.begin_write().await?;
    let (old, _) = check_member_change(&mut tx, by, account, |_, _| None).await?;
    if old == Role::Owner && owner_count(&mut tx, db, scope).await? <= 1 {
        return Err(StoreError::Conflict("the last owner cannot be removed; make someone else owner first".into()));
    }
    sqlx::query("DELETE FROM store_members WHERE store_id = $1 AND account_id = $2")
        .bind(scope.store_key())
        .bind(account.to_string())
        .execute(&mut *tx)
        .await?;
    let target = format!("account:{account}");
    audit::record_store(&mut tx, db, scope, NewEvent::new("member.removed", &target)).await?;
    tx.commit().await?;
    Ok(())
}

/// The stores an account belongs to, with a scope for each (what a signed-in staff member may act on).
pub async fn memberships(db: &Db, account: AccountId) -> Result<Vec<(StaffScope, Role)>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT store_id, role FROM store_members WHERE account_id = $1 ORDER BY store_id")
            .bind(account.to_string())
            .fetch_all(db.pool())
            .await?;
    rows.into_iter()
        .map(|(s, r)| {
            let store: StoreId = s.parse().map_err(|e| StoreError::Corrupt(format!("store id: {e}")))?;
            Ok((StaffScope::member(store, account), Role::parse(&r)?))
        })
        .collect()
}

/// A verified membership: the scope to act in the store, with the member's role and permissions.
#[derive(Debug, Clone)]
pub struct Membership {
    /// Staff authority: a membership is what makes an account staff of the store.
    pub scope: StaffScope,
    pub role: Role,
    pub permissions: Vec<Permission>,
}

impl Membership {
    #[must_use]
    pub fn can(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }

    /// An owner's authority for a named system task (CLI, jobs, tests) changing a store's members. Grep for
    /// `Membership::system` to review every use.
    #[must_use]
    pub fn system(store: StoreId, task: &'static str) -> Membership {
        Membership { scope: StaffScope::system(store, task), role: Role::Owner, permissions: Permission::ALL.to_vec() }
    }

    /// The role and permissions, for [`permissions::check_change`].
    #[must_use]
    pub fn standing(&self) -> Standing {
        Standing { role: self.role, permissions: self.permissions.clone() }
    }
}

/// The account's membership of one store, if it has one. The identity layer calls this after verifying the
/// account's session; the returned scope is the only way staff act on store data.
pub async fn membership(db: &Db, account: AccountId, store: StoreId) -> Result<Option<Membership>> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT role, permissions FROM store_members WHERE store_id = $1 AND account_id = $2")
            .bind(store.to_string())
            .bind(account.to_string())
            .fetch_optional(db.pool())
            .await?;
    let Some((role, perms)) = row else { return Ok(None) };
    let role = Role::parse(&role)?;
    Ok(Some(Membership {
        scope: StaffScope::member(store, account),
        role,
        permissions: permissions::effective(role, &permissions::parse_stored(&perms)),
    }))
}

/// The membership a store token acts with: its creator's, limited to the token's scopes. `None` when the
/// creator has left the store (their tokens die with their membership).
pub async fn membership_for_token(db: &Db, token: &crate::tokens::StoreToken) -> Result<Option<Membership>> {
    let Some(m) = membership(db, token.created_by, token.store_id).await? else { return Ok(None) };
    let permissions = m.permissions.iter().copied().filter(|p| token.scopes.contains(p)).collect();
    Ok(Some(Membership { permissions, ..m }))
}

/// Replaces a member's explicit grants (on top of the role's defaults), within `by`'s rights (see
/// [`permissions::check_change`]: nobody hands out what they do not hold, payouts and staff management are the
/// owners' to give), audited.
pub async fn set_grants(db: &Db, by: &Membership, account: AccountId, grants: &[Permission]) -> Result<()> {
    let scope = &by.scope;
    let mut grants = grants.to_vec();
    grants.sort();
    grants.dedup();
    let keys: Vec<&str> = grants.iter().map(|p| p.key()).collect();
    let json = serde_json::to_string(&keys).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut tx = db.begin_write().await?;
    check_member_change(&mut tx, by, account, |role, _| Some(Standing::of(role, &grants))).await?;
    let done = sqlx::query("UPDATE store_members SET permissions = $1 WHERE store_id = $2 AND account_id = $3")
        .bind(&json)
        .bind(scope.store_key())
        .bind(account.to_string())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::NotFound("store member"));
    }
    let target = format!("account:{account}");
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("member.permissions_changed", &target).details(serde_json::json!({"grants": keys})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
