use palisade_core::money::Currency;
use palisade_core::text::{Email, Slug};
use palisade_store::Db;
use palisade_store::scope::{PlatformScope, StoreScope};
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore, Store};

pub async fn staff(db: &Db, email: &str) -> tenancy::Account {
    tenancy::create_account(
        db,
        NewAccount { email: Email::parse(email).unwrap(), display_name: email.into(), kind: AccountKind::Staff },
    )
    .await
    .unwrap()
}

pub async fn store(db: &Db, slug: &str) -> (Store, StoreScope) {
    let owner = staff(db, &format!("owner@{slug}.example")).await;
    tenancy::create_store(
        db,
        &PlatformScope::system("test"),
        NewStore {
            slug: Slug::parse(slug).unwrap(),
            name: slug.to_uppercase(),
            currency: Currency::SGD,
            owner: owner.id,
            security_contact: None,
        },
    )
    .await
    .unwrap()
}
