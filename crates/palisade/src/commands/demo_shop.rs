//! The demo's shop floor: categories, products with pictures drawn at display resolution (a few hundred in the
//! large store, a dozen in the new one) and buyers. The orders, in every state, come from `demo_history`, which
//! replays weeks of trading through them.

use bytes::Bytes;
use indicatif::ProgressBar;
use palisade_commerce::address::{AddressFields, ShippingAddress};
use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_commerce::idempotency::IdempotencyKey;
use palisade_commerce::images;
use palisade_commerce::orders::{self, Checkout, Line};
use palisade_commerce::payments::{self, TestGateway};
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_core::{StoreId, VariantId};
use palisade_store::tenancy::{self, AccountKind, NewAccount};
use palisade_store::{Db, Objects, StaffScope, StoreScope};
use serde_json::json;

use crate::runtime;

/// Buyers the demo creates (password: the demo password).
pub const BUYERS: &[(&str, &str)] = &[
    ("wei.ling@buyer.example", "Wei Ling"),
    ("rahul@buyer.example", "Rahul Nair"),
    ("nurul@buyer.example", "Nurul Huda"),
    ("james@buyer.example", "James Tan"),
    ("mei@buyer.example", "Mei Chen"),
    ("farah@buyer.example", "Farah Aziz"),
    ("kumar@buyer.example", "Kumar Selvam"),
    ("hui.min@buyer.example", "Lee Hui Min"),
    ("zainab@buyer.example", "Zainab Ismail"),
    ("oliver@buyer.example", "Oliver Chua"),
];

struct Catalog {
    slug: &'static str,
    categories: &'static [(&'static str, &'static str)],
    /// (category slug, noun) × adjectives make the product names.
    nouns: &'static [(&'static str, &'static str)],
    adjectives: &'static [&'static str],
    options: (&'static str, &'static [&'static str]),
    price_range: (i64, i64),
    blurb: &'static str,
}

const CATALOGS: &[Catalog] = &[
    Catalog {
        slug: "lion-city-tea",
        categories: &[("green", "Green tea"), ("oolong", "Oolong"), ("black", "Black tea"), ("teaware", "Teaware")],
        nouns: &[
            ("green", "Sencha"),
            ("green", "Dragon Well"),
            ("green", "Genmaicha"),
            ("oolong", "Tieguanyin"),
            ("oolong", "Dong Ding Oolong"),
            ("oolong", "Milk Oolong"),
            ("black", "Assam Breakfast"),
            ("black", "Lapsang Souchong"),
            ("black", "Ceylon Pekoe"),
            ("teaware", "Gaiwan"),
            ("teaware", "Clay Teapot"),
            ("teaware", "Tea Tray"),
        ],
        adjectives: &[
            "Classic",
            "Reserve",
            "Spring Harvest",
            "Highland",
            "Smoked",
            "Organic",
            "First Flush",
            "Autumn Flush",
            "Estate",
            "Aged",
            "Honey",
            "Jasmine",
            "Osmanthus",
            "Rose",
            "Ginger",
            "Pandan",
            "Wild",
            "Single Origin",
            "Charcoal Roasted",
            "Mountain",
            "Imperial",
            "Garden",
            "Monsoon",
            "Heritage",
            "Festive",
        ],
        options: ("size", &["50 g", "100 g", "250 g"]),
        price_range: (850, 6800),
        blurb: "Sourced directly from small growers and packed in Singapore.",
    },
    Catalog {
        slug: "kampong-cycles",
        categories: &[("bikes", "Bicycles"), ("parts", "Parts"), ("gear", "Riding gear"), ("tools", "Tools")],
        nouns: &[
            ("bikes", "Folding Bike"),
            ("bikes", "Gravel Bike"),
            ("bikes", "City Bike"),
            ("parts", "Brake Pads"),
            ("parts", "Chain"),
            ("parts", "Tyre"),
            ("gear", "Helmet"),
            ("gear", "Rain Jacket"),
            ("gear", "Gloves"),
            ("tools", "Multi-tool"),
            ("tools", "Floor Pump"),
            ("tools", "Repair Kit"),
        ],
        adjectives: &["Commuter", "Trail", "Pro", "Lightweight", "Touring", "Night-ride"],
        options: ("size", &["S", "M", "L"]),
        price_range: (1200, 89900),
        blurb: "Tested on the park connectors before it leaves our workshop in Ubi.",
    },
    Catalog {
        slug: "marina-books",
        categories: &[
            ("fiction", "Fiction"),
            ("history", "History"),
            ("children", "Children"),
            ("food", "Food & cooking"),
        ],
        nouns: &[
            ("fiction", "Harbour Lights"),
            ("fiction", "The Monsoon House"),
            ("fiction", "Night Market"),
            ("history", "Straits Settlements"),
            ("history", "A City of Rivers"),
            ("history", "Spice Routes"),
            ("children", "Otter Family"),
            ("children", "Kopi and Kaya"),
            ("children", "The Little Junk"),
            ("food", "Hawker Classics"),
            ("food", "Peranakan Kitchen"),
            ("food", "Kueh at Home"),
        ],
        adjectives: &["Paperback", "Hardcover", "Illustrated", "Collector's", "Annotated", "Pocket"],
        options: ("format", &["Paperback", "Hardcover"]),
        price_range: (1490, 5990),
        blurb: "Picked by our booksellers at the Marina shop; signed copies while they last.",
    },
];

/// Counts of what was made.
#[derive(Debug, Default)]
pub struct Shop {
    pub products: usize,
    pub images: usize,
    pub buyers: usize,
    pub orders: usize,
    pub reviews: usize,
    pub disputes: usize,
    pub payouts: usize,
    pub sign_ins: usize,
    pub firewall_events: usize,
    /// Distinct days with at least one order.
    pub order_days: usize,
    /// The local day of the latest order counted (orders are placed in time order).
    pub last_order_day: Option<i64>,
}

/// Fills one store's catalog with `size` products (at most its names' adjective × noun combinations); returns
/// the variants worth ordering (published, in stock).
pub async fn catalog(
    db: &Db,
    objects: &Objects,
    store: StoreId,
    size: usize,
    bar: &ProgressBar,
    shop: &mut Shop,
) -> anyhow::Result<Vec<VariantId>> {
    let scope = StaffScope::system(store, "demo");
    let store_row = tenancy::get_store(db, &scope).await.map_err(runtime::explain)?;
    let Some(spec) = CATALOGS.iter().find(|c| c.slug == store_row.slug) else { return Ok(Vec::new()) };
    let mut category_ids = std::collections::HashMap::new();
    for (slug, name) in spec.categories {
        let c = catalog::create_category(db, &scope, &Slug::parse(slug)?, name).await?;
        category_ids.insert(*slug, c.id);
    }
    orders::set_flat_shipping(db, &scope, 350).await?;
    orders::set_tagline(db, &scope, spec.blurb).await?;
    let mut pictures = painter(size.min(spec.adjectives.len() * spec.nouns.len()), store_row.slug.len() as u64);
    let mut variants = Vec::new();
    let mut n = 0usize;
    'outer: for adj in spec.adjectives {
        for (cat, noun) in spec.nouns {
            if n >= size {
                break 'outer;
            }
            n += 1;
            let title = format!("{adj} {noun}");
            let slug = Slug::parse(&title.to_lowercase().replace(['\'', ' '], "-").replace("--", "-"))?;
            let span = spec.price_range.1 - spec.price_range.0;
            let base = spec.price_range.0 + ((n as i64 * 7919) % span.max(1)) / 10 * 10;
            let (opt, values) = spec.options;
            let vs = values
                .iter()
                .enumerate()
                .map(|(i, v)| NewVariant {
                    sku: format!("{}-{n:03}-{i}", &spec.slug[..3].to_uppercase()),
                    options: json!({ opt: v }),
                    price: Money::new(base + i as i64 * base / 3 / 10 * 10, Currency::SGD),
                    // Some items sell out, some are nearly gone; the rest last through weeks of orders.
                    stock: match n % 11 {
                        0 => 0,
                        1 => 2,
                        _ => 60 + (n * 37 % 140) as i64,
                    },
                })
                .collect();
            let p = catalog::create_product(
                db,
                &scope,
                NewProduct {
                    slug,
                    title: title.clone(),
                    description: format!(
                        "{title}. {}\n\nShips within two working days. Every order is covered by Palisade buyer protection.",
                        spec.blurb
                    ),
                    // A few drafts, as a real catalog has.
                    status: if n.is_multiple_of(17) { ProductStatus::Draft } else { ProductStatus::Published },
                    category: category_ids.get(cat).cloned(),
                    variants: vs,
                },
            )
            .await?;
            let png = pictures.recv().await.ok_or_else(|| anyhow::anyhow!("the demo's picture painter stopped"))??;
            images::add(db, objects, &scope, p.id, Bytes::from(png), &title).await?;
            shop.products += 1;
            shop.images += 1;
            if p.status == ProductStatus::Published {
                variants.extend(p.variants.iter().filter(|v| v.stock > 2).map(|v| v.id));
            }
            bar.inc(1);
        }
    }
    Ok(variants)
}

/// Draws the pictures of a catalog's `count` products on a blocking thread, in order, a few ahead of the
/// database writes that store them: drawing and writing overlap (most of the demo's time in a debug build). If
/// the receiver goes away early (an error), the painter stops at its next picture.
fn painter(count: usize, store_seed: u64) -> tokio::sync::mpsc::Receiver<anyhow::Result<Vec<u8>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        for n in 1..=count as u64 {
            if tx.blocking_send(super::demo_images::product_image(n * 31 + store_seed * 1000)).is_err() {
                break;
            }
        }
    });
    rx
}

/// Buyer accounts (created once).
pub async fn buyers(
    db: &Db,
    identity: &palisade_identity::Identity,
    password: &str,
    shop: &mut Shop,
) -> anyhow::Result<Vec<tenancy::Account>> {
    let mut out = Vec::new();
    for (email, name) in BUYERS {
        let email = Email::parse(email)?;
        let a = match tenancy::find_account_by_email(db, &email).await.map_err(runtime::explain)? {
            Some(a) => a,
            None => {
                let a = tenancy::create_account(
                    db,
                    NewAccount { email, display_name: (*name).to_owned(), kind: AccountKind::Buyer },
                )
                .await
                .map_err(runtime::explain)?;
                identity.set_password(&a, secrecy::SecretString::from(password.to_owned())).await?;
                shop.buyers += 1;
                a
            }
        };
        out.push(a);
    }
    Ok(out)
}

/// What the buyers of completed demo orders say (mostly content, as real reviews are).
pub const REVIEWS: [(i64, &str); 8] = [
    (5, "Arrived quickly and exactly as described. Will buy again."),
    (4, "Good quality; the parcel took a day longer than promised."),
    (5, "Lovely packaging and a handwritten note. Thank you!"),
    (3, "Fine, but smaller than I expected from the photos."),
    (5, "Second time ordering, just as good as the first."),
    (4, "Does what it says. Delivery was quick."),
    (2, "One item was missing; the shop sent it after I asked."),
    (5, "Bought this as a gift and it went down very well."),
];

/// The `i`th demo order, paid by `buyer` with `card`; `None` for a declined card, which leaves no order, or when
/// an item has sold out meanwhile.
pub async fn place(
    db: &Db,
    store: StoreId,
    buyer: &tenancy::Account,
    i: usize,
    lines: Vec<Line>,
    card: &str,
) -> anyhow::Result<Option<orders::Placed>> {
    let shopper = StoreScope::shopper(store, Some(buyer.id));
    let placed = orders::checkout(
        db,
        &TestGateway,
        &shopper,
        Checkout {
            guest_proof: None,
            email: Email::parse(&buyer.email)?,
            address: ShippingAddress::parse(AddressFields {
                name: &buyer.display_name,
                line1: &format!(
                    "{} {}",
                    1 + i % 300,
                    STREETS.get(i % STREETS.len()).copied().unwrap_or("Orchard Road")
                ),
                line2: &format!("#{:02}-{:02}", 2 + i % 19, 1 + i % 47),
                city: "Singapore",
                postcode: &format!("{:06}", 100_000 + (i * 7919) % 800_000),
                country: "Singapore",
            })?,
            lines,
            idempotency_key: IdempotencyKey::parse(&format!("demo-{i}"))?,
            card: payments::card(card, "12/30", "123"),
            fingerprints: Default::default(),
        },
    )
    .await;
    match placed {
        Ok(placed) => Ok(Some(placed)),
        Err(
            palisade_commerce::CommerceError::PaymentDeclined { .. }
            | palisade_commerce::CommerceError::OutOfStock { .. },
        ) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Streets the demo's buyers live on.
const STREETS: [&str; 6] = [
    "Orchard Road",
    "Tampines Avenue 4",
    "Jurong West Street 52",
    "Toa Payoh Lorong 1",
    "Bedok North Road",
    "Holland Avenue",
];
