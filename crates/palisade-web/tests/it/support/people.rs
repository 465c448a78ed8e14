//! Accounts the tests sign in with: staff members of a store, buyers, and the links invitations mail them.

use palisade_core::AccountId;
use palisade_core::text::Email;
use palisade_store::scope::StoreScope;
use palisade_store::tenancy::{self, AccountKind, NewAccount, Role};
use secrecy::SecretString;

use super::{PW, TestApp, login};

/// An account about to be created: a staff member called "Member" or a buyer called "Buyer", with the password
/// [`PW`] unless the test says [`Person::without_password`].
pub struct Person {
    email: String,
    display_name: String,
    kind: AccountKind,
    password: Option<&'static str>,
}

/// A staff account (no store yet: see [`Person::member_of`]).
pub fn staff(email: &str) -> Person {
    Person::new(email, AccountKind::Staff)
}

/// A buyer's account.
pub fn buyer(email: &str) -> Person {
    Person::new(email, AccountKind::Buyer).named("Buyer")
}

impl Person {
    /// An account of any kind, named "Member" until [`Person::named`] says otherwise.
    pub fn new(email: &str, kind: AccountKind) -> Person {
        Person { email: email.to_owned(), display_name: "Member".into(), kind, password: Some(PW) }
    }

    pub fn named(mut self, display_name: &str) -> Person {
        display_name.clone_into(&mut self.display_name);
        self
    }

    /// Leaves the account without a password: it cannot sign in, only hold tokens or memberships.
    pub fn without_password(mut self) -> Person {
        self.password = None;
        self
    }

    /// The account, with its password set; it belongs to no store.
    pub async fn create(self, app: &TestApp) -> tenancy::Account {
        let account = tenancy::create_account(
            &app.db,
            NewAccount { email: Email::parse(&self.email).unwrap(), display_name: self.display_name, kind: self.kind },
        )
        .await
        .unwrap();
        if let Some(password) = self.password {
            app.identity().set_password(&account, SecretString::from(password.to_owned())).await.unwrap();
        }
        account
    }

    /// The account, a member of the store with `role` and that role's default permissions; not signed in.
    pub async fn member_of(self, app: &TestApp, scope: &StoreScope, role: Role) -> tenancy::Account {
        let account = self.create(app).await;
        tenancy::add_member(&app.db, scope, account.id, role).await.unwrap();
        account
    }

    /// [`Person::member_of`], then signed in with its password: the account and its session cookie.
    pub async fn signed_in_member(self, app: &TestApp, scope: &StoreScope, role: Role) -> (tenancy::Account, String) {
        let account = self.member_of(app, scope, role).await;
        let cookie = login(app, &account.email).await;
        (account, cookie)
    }

    /// [`Person::create`], then signed in with its password: the account and its session cookie.
    pub async fn signed_in(self, app: &TestApp) -> (tenancy::Account, String) {
        let account = self.create(app).await;
        let cookie = login(app, &account.email).await;
        (account, cookie)
    }
}

/// Replaces a member's extra permissions with exactly `keys` (permission keys, e.g. `"refunds"`), as an owner
/// granting them one by one would leave them; the role stays.
pub async fn grant_exactly(app: &TestApp, scope: &StoreScope, account: AccountId, keys: &[&str]) {
    sqlx::query("UPDATE store_members SET permissions = $1 WHERE store_id = $2 AND account_id = $3")
        .bind(serde_json::to_string(keys).unwrap())
        .bind(scope.store_key())
        .bind(account.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
}

/// Ages every session's last password entry by an hour, so actions that need a recent password ask for it again.
pub async fn forget_recent_passwords(app: &TestApp) {
    sqlx::query("UPDATE sessions SET reauth_at = reauth_at - 3600000").execute(app.db.pool()).await.unwrap();
}

/// The path (`/invitations/…`) of the link in the first invitation mailed to `email`.
pub async fn invitation_path(app: &TestApp, email: &str) -> String {
    let mail = palisade_store::outbox::to_address(&app.db, email).await.unwrap().remove(0);
    let link = mail.body.split_whitespace().find(|w| w.contains("/invitations/")).unwrap().to_owned();
    link[link.find("/invitations/").unwrap()..].to_owned()
}
