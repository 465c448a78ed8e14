//! `palisade demo`: a believable marketplace to explore. It grows with each capability (catalog, orders …).

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use palisade_core::money::Currency;
use palisade_core::text::{Email, Slug};
use palisade_store::scope::PlatformScope;
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore, Role, StoreSettings};

use super::admin;
use crate::cli::GlobalArgs;
use crate::config;
use crate::runtime::{self, Installation};

/// The operator the demo signs in as.
pub const DEMO_OPERATOR: &str = "ops@palisade.example";
/// Every demo staff account's password (printed by the demo; never use it for real accounts).
pub const DEMO_PASSWORD: &str = "harbour lantern 2026";

struct DemoStore {
    slug: &'static str,
    name: &'static str,
    contact: Option<&'static str>,
    /// (email, display name, role); the first is the owner.
    team: &'static [(&'static str, &'static str, Role)],
}

const STORES: &[DemoStore] = &[
    DemoStore {
        slug: "lion-city-tea",
        name: "Lion City Tea House",
        contact: Some("dpo@lioncitytea.example"),
        team: &[
            ("meilin@lioncitytea.example", "Tan Mei Lin", Role::Owner),
            ("arjun@lioncitytea.example", "Arjun Pillai", Role::Admin),
            ("siti@lioncitytea.example", "Siti Nurhaliza", Role::Staff),
        ],
    },
    DemoStore {
        slug: "kampong-cycles",
        name: "Kampong Cycles",
        contact: Some("security@kampongcycles.example"),
        team: &[
            ("daniel@kampongcycles.example", "Daniel Lim", Role::Owner),
            ("priya@kampongcycles.example", "Priya Menon", Role::Admin),
            ("hafiz@kampongcycles.example", "Hafiz Rahman", Role::Staff),
            ("grace@kampongcycles.example", "Grace Ong", Role::Staff),
        ],
    },
    DemoStore {
        slug: "marina-books",
        name: "Marina Books",
        // No security contact: the matrix shows a merchant duty left undone.
        contact: None,
        team: &[
            ("aisha@marinabooks.example", "Aisha Rahman", Role::Owner),
            ("ben@marinabooks.example", "Ben Koh", Role::Staff),
        ],
    },
];

/// Summary of what the demo created.
#[derive(Debug, Default)]
struct Created {
    stores: usize,
    skipped: usize,
    staff: usize,
    shop: super::demo_shop::Shop,
}

async fn account(db: &palisade_store::Db, email: &str, name: &str) -> anyhow::Result<(tenancy::Account, bool)> {
    let email = Email::parse(email)?;
    if let Some(a) = tenancy::find_account_by_email(db, &email).await.map_err(runtime::explain)? {
        return Ok((a, false));
    }
    let a = tenancy::create_account(db, NewAccount { email, display_name: name.to_owned(), kind: AccountKind::Staff })
        .await
        .map_err(runtime::explain)?;
    Ok((a, true))
}

async fn populate(inst: &Installation) -> anyhow::Result<Created> {
    let db = &inst.db;
    let identity = palisade_identity::Identity::new(db.clone(), &inst.master_key, "Palisade");
    let platform = PlatformScope::system("demo");
    let objects = palisade_store::Objects::local(&inst.settings.objects_dir).map_err(runtime::explain)?;
    let steps: u64 = STORES.iter().map(|s| s.team.len() as u64 + 1 + super::demo_shop::STEPS_PER_STORE).sum();
    let bar = ProgressBar::new(steps).with_style(
        ProgressStyle::with_template("{spinner} {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut created = Created::default();
    let buyers = super::demo_shop::buyers(db, &identity, DEMO_PASSWORD, &mut created.shop).await?;
    for spec in STORES {
        bar.set_message(spec.name);
        if tenancy::store_id_by_slug(db, spec.slug).await.map_err(runtime::explain)?.is_some() {
            created.skipped += 1;
            bar.inc(spec.team.len() as u64 + 1 + super::demo_shop::STEPS_PER_STORE);
            continue;
        }
        let Some((owner_email, owner_name, _)) = spec.team.first() else { continue };
        let (owner, fresh) = account(db, owner_email, owner_name).await?;
        if fresh {
            identity.set_password(&owner, secrecy::SecretString::from(DEMO_PASSWORD.to_owned())).await?;
        }
        let (store, scope) = tenancy::create_store(
            db,
            &platform,
            NewStore {
                slug: Slug::parse(spec.slug)?,
                name: spec.name.to_owned(),
                currency: Currency::SGD,
                owner: owner.id,
                security_contact: spec.contact.map(Email::parse).transpose()?,
            },
        )
        .await
        .map_err(runtime::explain)?;
        created.stores += 1;
        created.staff += 1;
        bar.inc(1);
        for (email, name, role) in spec.team.iter().skip(1) {
            let (member, fresh) = account(db, email, name).await?;
            if fresh {
                identity.set_password(&member, secrecy::SecretString::from(DEMO_PASSWORD.to_owned())).await?;
            }
            tenancy::add_member(db, &scope, member.id, *role).await.map_err(runtime::explain)?;
            created.staff += 1;
            bar.inc(1);
        }
        // A realistic bit of history: the owner renamed the shop once.
        tenancy::update_settings(db, &scope, StoreSettings { name: Some(spec.name.to_owned()), ..Default::default() })
            .await
            .map_err(runtime::explain)?;
        bar.inc(1);
        bar.set_message(format!("{}: catalog and orders", spec.name));
        let policy = &inst.settings.commerce;
        super::demo_shop::fill(db, &objects, store.id, &buyers, policy, &bar, &mut created.shop).await?;
    }
    bar.finish_and_clear();
    Ok(created)
}

/// Creates the demo data if there are no stores yet, and returns a fresh 7-day operator token.
pub async fn ensure(inst: &Installation) -> anyhow::Result<String> {
    let stores = tenancy::list_stores(&inst.db, &PlatformScope::system("demo")).await.map_err(runtime::explain)?;
    if stores.is_empty() {
        let c = populate(inst).await?;
        println!(
            "Demo data: {} stores, {} staff, {} products with images, {} buyers, {} orders.",
            c.stores, c.staff, c.shop.products, c.shop.buyers, c.shop.orders
        );
    }
    admin::operator_token(&inst.db, &Email::parse(DEMO_OPERATOR)?, "Demo Operator", 7, "demo sign-in").await
}

pub async fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let settings = config::resolve(global, None, false)?;
    let inst = runtime::open(settings, true).await?;
    let c = populate(&inst).await?;
    let token =
        admin::operator_token(&inst.db, &Email::parse(DEMO_OPERATOR)?, "Demo Operator", 7, "demo sign-in").await?;
    println!("Demo marketplace on {}", inst.db.display_url());
    println!("  stores created      {}", c.stores);
    println!("  stores already there {}", c.skipped);
    println!("  staff accounts      {}", c.staff);
    println!("  products (images)   {} ({})", c.shop.products, c.shop.images);
    println!("  buyers              {}", c.shop.buyers);
    println!(
        "  orders              {} (every state: paid, shipped, delivered, completed, refunded, disputed, cancelled)",
        c.shop.orders
    );
    println!("  operator            {DEMO_OPERATOR}");
    println!("  staff sign-in       e.g. meilin@lioncitytea.example / {DEMO_PASSWORD:?} at /login");
    println!("  buyer sign-in       e.g. wei.ling@buyer.example / {DEMO_PASSWORD:?}");
    println!(
        "\nStart the server with `palisade serve` and sign in at /console with this token (7 days, shown once):\n\n    {token}\n"
    );
    inst.db.close().await;
    Ok(ExitCode::SUCCESS)
}
