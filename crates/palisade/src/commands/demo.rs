//! `palisade demo`: a believable marketplace to explore. It grows with each capability (catalog, orders …).

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use palisade_core::money::Currency;
use palisade_core::text::{Email, Slug};
use palisade_core::time::Timestamp;
use palisade_store::scope::PlatformScope;
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore, Role, StoreSettings};
use palisade_store::tokens;

use super::admin;
use crate::cli::GlobalArgs;
use crate::config;
use crate::runtime::{self, Installation};

/// The operator the demo signs in as.
pub const DEMO_OPERATOR: &str = "ops@palisade.example";
/// The merchant the start-up message suggests signing in as, and their store (the first store's owner).
pub const DEMO_MERCHANT: (&str, &str) = ("meilin@lioncitytea.example", "Lion City Tea House");
/// Days a demo operator token stays valid.
const TOKEN_DAYS: u32 = 7;
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

/// How an operator gets into the demo's console.
pub enum ConsoleAccess {
    /// A token made now: printed once, never again.
    Created { token: String, days: u32 },
    /// The demo operator still holds a working token (printed when it was made), valid until this time (`None`:
    /// it does not expire). Nothing new is minted: a restart must not pile up live operator credentials.
    Kept { until: Option<Timestamp> },
}

/// Written by hand so that a `{:?}` in a log line or a panic message can never print the operator token.
impl std::fmt::Debug for ConsoleAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConsoleAccess::Created { days, .. } => {
                f.debug_struct("Created").field("token", &"[redacted]").field("days", days).finish()
            }
            ConsoleAccess::Kept { until } => f.debug_struct("Kept").field("until", until).finish(),
        }
    }
}

/// Creates the demo data if there are no stores yet; makes a 7-day operator token only if the demo operator has
/// no working one.
pub async fn ensure(inst: &Installation) -> anyhow::Result<ConsoleAccess> {
    let stores = tenancy::list_stores(&inst.db, &PlatformScope::system("demo")).await.map_err(runtime::explain)?;
    if stores.is_empty() {
        let c = populate(inst).await?;
        println!(
            "Demo data: {} stores, {} staff, {} products with images, {} buyers, {} orders.",
            c.stores, c.staff, c.shop.products, c.shop.buyers, c.shop.orders
        );
    }
    let email = Email::parse(DEMO_OPERATOR)?;
    let operator = tenancy::find_account_by_email(&inst.db, &email).await.map_err(runtime::explain)?;
    if let Some(operator) = operator.filter(|a| a.kind == AccountKind::Operator && !a.disabled) {
        let live = tokens::active_tokens_of(&inst.db, operator.id).await.map_err(runtime::explain)?;
        if !live.is_empty() {
            // The latest expiry; a token without one outlives them all.
            let until = live.iter().map(|(_, exp)| exp.map_or(i64::MAX, |t| t.0)).max().unwrap_or(i64::MAX);
            return Ok(ConsoleAccess::Kept { until: (until != i64::MAX).then_some(Timestamp(until)) });
        }
    }
    let token = admin::operator_token(&inst.db, &email, "Demo Operator", TOKEN_DAYS, "demo sign-in").await?;
    Ok(ConsoleAccess::Created { token, days: TOKEN_DAYS })
}

pub async fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let settings = config::resolve(global, config::ServeFlags::NONE)?;
    let inst = runtime::open(settings, runtime::Schema::Migrate).await?;
    let c = populate(&inst).await?;
    let token =
        admin::operator_token(&inst.db, &Email::parse(DEMO_OPERATOR)?, "Demo Operator", TOKEN_DAYS, "demo sign-in")
            .await?;
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
    println!("  staff sign-in       e.g. {} / {DEMO_PASSWORD:?} at /login", DEMO_MERCHANT.0);
    println!("  buyer sign-in       e.g. wei.ling@buyer.example / {DEMO_PASSWORD:?}");
    println!(
        "\nStart the server with `palisade serve` and sign in at /console with this token (7 days, shown once):\n\n    {token}\n"
    );
    inst.db.close().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::ConsoleAccess;

    #[test]
    fn debug_output_never_shows_the_operator_token() {
        let access = ConsoleAccess::Created { token: "pal_op_secretsecret".to_owned(), days: 7 };
        let shown = format!("{access:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("days: 7"), "{shown}");
    }
}
