//! `palisade demo`: a believable marketplace to explore. It grows with each capability (catalog, orders …).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use palisade_core::money::Currency;
use palisade_core::text::{Email, Slug};
use palisade_core::time::{ManualClock, Timestamp};
use palisade_store::scope::PlatformScope;
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore, Role, StoreSettings};
use palisade_store::tokens;

use super::admin;
use super::demo_history::{self, DAY};
use super::demo_images;
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
    /// Days since the store opened: the history starts there.
    opened_days_ago: i64,
    products: usize,
    /// Orders on an ordinary weekday once the store is established.
    orders_per_day: f32,
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
        // The large, established store.
        opened_days_ago: 44,
        products: 300,
        orders_per_day: 6.0,
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
        opened_days_ago: 36,
        products: 72,
        orders_per_day: 2.5,
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
        // Opened last week: a small catalog and its first few orders.
        opened_days_ago: 6,
        products: 12,
        orders_per_day: 1.5,
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

/// The demo shop left unverified.
const UNVERIFIED_DEMO_STORE: &str = "marina-books";

/// A valid business UEN for a demo shop, the same on every run (digits from the slug, the check letter found).
fn demo_uen(slug: &str) -> anyhow::Result<palisade_trust::uen::Uen> {
    let n = slug.bytes().fold(0u32, |acc, b| acc.wrapping_mul(31).wrapping_add(u32::from(b))) % 1_000_000;
    // Ends in 1: never one of the test registry's "not found" (…000) or "deregistered" (…999) numbers. Not every
    // 8 digits have a business check letter, so the next numbers are tried.
    (0..100u32)
        .map(|k| format!("53{:05}1", (n + k) % 100_000))
        .find_map(|digits| {
            ('A'..='Z').find_map(|c| palisade_trust::uen::Uen::parse(&format!("{digits}{c}"), 2026).ok())
        })
        .ok_or_else(|| anyhow::anyhow!("no demo UEN near {n}"))
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

/// The seed of the demo's history: the same seed, the same weeks.
const SEED: u64 = 2026;

async fn populate(inst: &Installation) -> anyhow::Result<Created> {
    let objects = palisade_store::Objects::local(&inst.settings.objects_dir).map_err(runtime::explain)?;
    seed(&inst.db, &inst.master_key, &objects, &inst.settings.commerce).await
}

/// Creates what is missing of the demo marketplace, its history ending at `db`'s now.
async fn seed(
    db: &palisade_store::Db,
    master_key: &palisade_store::secrets::MasterKey,
    objects: &palisade_store::Objects,
    policy: &palisade_commerce::policy::Policy,
) -> anyhow::Result<Created> {
    let now = db.now();
    // Everything is written through this clock, moved to the moment each thing happened.
    let clock = ManualClock::new(Timestamp(now.0 - 46 * DAY));
    let db = db.with_clock(Arc::new(clock.clone()));
    let identity = palisade_identity::Identity::new(db.clone(), master_key, "Palisade");
    let steps: u64 = STORES.iter().map(|s| s.team.len() as u64 + 1 + s.products as u64).sum();
    let bar = ProgressBar::new(steps).with_style(
        ProgressStyle::with_template("{spinner} {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut created = Created::default();
    let buyers = super::demo_shop::buyers(&db, &identity, DEMO_PASSWORD, &mut created.shop).await?;
    let (mut traders, mut slugs, mut staff) = (Vec::new(), Vec::new(), Vec::new());
    for spec in STORES {
        bar.set_message(spec.name);
        clock.set(Timestamp(now.0 - spec.opened_days_ago * DAY));
        let Some(trader) = open_store(&db, &identity, objects, spec, &bar, &mut created).await? else { continue };
        traders.push(trader);
        slugs.push(spec.slug.to_owned());
        staff.extend(spec.team.iter().map(|(email, ..)| (traders.len() - 1, *email)));
    }
    bar.set_message("six weeks of trading");
    let world = demo_history::World {
        db: &db,
        clock: &clock,
        identity: &identity,
        traders: &traders,
        slugs: &slugs,
        staff: &staff,
        buyers: &buyers,
        policy,
        bar: &bar,
    };
    demo_history::replay(&world, SEED, now, &mut created.shop).await?;
    bar.set_message("extensions");
    super::demo_extensions::seed(&db, &clock, objects, now, &traders).await?;
    bar.finish_and_clear();
    Ok(created)
}

/// Opens one store at the clock's time: owner, team, catalog. `None` if it is already there.
async fn open_store(
    db: &palisade_store::Db,
    identity: &palisade_identity::Identity,
    objects: &palisade_store::Objects,
    spec: &DemoStore,
    bar: &ProgressBar,
    created: &mut Created,
) -> anyhow::Result<Option<demo_history::Trader>> {
    let opened = db.now();
    if tenancy::store_id_by_slug(db, spec.slug).await.map_err(runtime::explain)?.is_some() {
        created.skipped += 1;
        bar.inc(spec.team.len() as u64 + 1 + spec.products as u64);
        return Ok(None);
    }
    let Some((owner_email, owner_name, _)) = spec.team.first() else { return Ok(None) };
    let (owner, fresh) = account(db, owner_email, owner_name).await?;
    if fresh {
        identity.set_password(&owner, secrecy::SecretString::from(DEMO_PASSWORD.to_owned())).await?;
    }
    let new = NewStore {
        slug: Slug::parse(spec.slug)?,
        name: spec.name.to_owned(),
        currency: Currency::SGD,
        owner: owner.id,
        security_contact: spec.contact.map(Email::parse).transpose()?,
    };
    let (store, scope) =
        tenancy::create_store(db, &PlatformScope::system("demo"), new).await.map_err(runtime::explain)?;
    // Verified sellers (so the storefront shows the badge and payouts run), except the last shop, which shows the
    // verification flow from the start.
    if spec.slug != UNVERIFIED_DEMO_STORE {
        let uen = demo_uen(spec.slug)?;
        let demo = palisade_store::StaffScope::system(store.id, "demo");
        palisade_commerce::verification::verify_for_demo(db, &demo, &uen, spec.name).await?;
    }
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
    bar.set_message(format!("{}: catalog", spec.name));
    let variants = super::demo_shop::catalog(db, objects, store.id, spec.products, bar, &mut created.shop).await?;
    Ok(Some(demo_history::Trader { store: store.id, opened, orders_per_day: spec.orders_per_day, variants }))
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
    println!("  products (images)   {} ({} pictures, {} px)", c.shop.products, c.shop.images, demo_images::SIDE);
    println!("  buyers              {}", c.shop.buyers);
    println!(
        "  orders              {} on {} days (paid, shipped, delivered, completed, refunded, disputed)",
        c.shop.orders, c.shop.order_days
    );
    println!(
        "  history             {} reviews, {} disputes, {} payouts, {} sign-ins, {} firewall events",
        c.shop.reviews, c.shop.disputes, c.shop.payouts, c.shop.sign_ins, c.shop.firewall_events
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
    use palisade_store::testing::TestDb;

    #[test]
    fn debug_output_never_shows_the_operator_token() {
        let access = ConsoleAccess::Created { token: "pal_op_secretsecret".to_owned(), days: 7 };
        let shown = format!("{access:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("days: 7"), "{shown}");
    }

    /// Distinct local days among `times` (ms).
    fn days(times: &[(i64,)]) -> usize {
        let mut d: Vec<i64> = times.iter().map(|(t,)| t.div_euclid(super::DAY)).collect();
        d.sort_unstable();
        d.dedup();
        d.len()
    }

    async fn times(t: &TestDb, sql: &'static str) -> Vec<(i64,)> {
        sqlx::query_as(sql).fetch_all(t.pool()).await.unwrap()
    }

    /// The demo looks like a marketplace that has traded for weeks: orders on most days of six weeks, stores of
    /// three sizes, pictures at display resolution, and reviews, disputes, payouts, sign-ins and firewall events
    /// spread over that time; its audit chains still verify, and a second run adds nothing.
    #[tokio::test]
    async fn demo_history_is_spread_over_weeks_and_stores_differ_in_size() {
        let t = TestDb::new().await;
        let dir = tempfile::tempdir().unwrap();
        let objects = palisade_store::Objects::local(dir.path()).unwrap();
        let key = palisade_store::secrets::load_or_create(&dir.path().join("master.key")).unwrap().0;
        let policy = palisade_commerce::policy::Policy::default();
        let started = std::time::Instant::now();
        let c = super::seed(&t, &key, &objects, &policy).await.unwrap();
        eprintln!("demo seeded in {:?}: {c:?}", started.elapsed());
        let now = t.now().0;

        let orders = times(&t, "SELECT created_at FROM orders").await;
        assert!(days(&orders) >= 28, "orders on {} days", days(&orders));
        assert!(orders.iter().all(|(at,)| *at <= now && *at > now - 46 * super::DAY));
        let oldest = orders.iter().map(|(at,)| *at).min().unwrap();
        assert!(now - oldest > 35 * super::DAY, "history reaches back five weeks and more");

        let sizes: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT s.slug, (SELECT COUNT(*) FROM products p WHERE p.store_id = s.id), \
             (SELECT COUNT(*) FROM orders o WHERE o.store_id = s.id) FROM stores s ORDER BY 2 DESC",
        )
        .fetch_all(t.pool())
        .await
        .unwrap();
        let [(_, big, big_orders), (_, mid, mid_orders), (_, small, small_orders)] = sizes.as_slice() else {
            panic!("{sizes:?}")
        };
        assert!(*big >= 200 && (40..=150).contains(mid) && *small <= 20, "{sizes:?}");
        assert!(big_orders > &(2 * mid_orders) && mid_orders > &(3 * small_orders) && *small_orders > 0, "{sizes:?}");

        let widths: Vec<(i64, i64)> =
            sqlx::query_as("SELECT width, height FROM product_images").fetch_all(t.pool()).await.unwrap();
        assert_eq!(widths.len(), 384);
        assert!(widths.iter().all(|(w, h)| *w >= 800 && *h >= 800), "display resolution");

        for (what, sql, at_least) in [
            ("reviews", "SELECT created_at FROM reviews", 14),
            ("disputes", "SELECT created_at FROM disputes", 1),
            ("payouts", "SELECT created_at FROM payouts", 4),
            ("sign-ins", "SELECT at FROM audit_events WHERE action = 'login.password_accepted'", 14),
            ("firewall events", "SELECT at FROM shield_events", 28),
        ] {
            let rows = times(&t, sql).await;
            assert!(days(&rows) >= at_least, "{what} on {} days", days(&rows));
        }

        let chains = palisade_store::audit::verify_all(&t).await.unwrap();
        assert!(chains.iter().all(|c| c.broken.is_none()), "{chains:?}");

        // The extension catalog: three signed releases, installed by hand (behind) in one shop and kept current in
        // another, and an app for a merchant to install; every release passes the platform's verification (publish
        // ran it).
        let releases = palisade_store::extensions::releases(&t).await.unwrap();
        assert_eq!(releases.len(), 4);
        assert!(releases.iter().any(|r| r.kinds.iter().any(|k| k == "app")), "the demo app is in the catalog");
        let installs: Vec<(String, String)> =
            sqlx::query_as("SELECT version, policy FROM store_extensions ORDER BY installed_at")
                .fetch_all(t.pool())
                .await
                .unwrap();
        assert_eq!(installs, [("1.0.0".to_owned(), "manual".to_owned()), ("1.1.0".to_owned(), "minor".to_owned())]);

        let again = super::seed(&t, &key, &objects, &policy).await.unwrap();
        assert_eq!((again.stores, again.skipped, again.shop.orders), (0, 3, 0));
    }
}
