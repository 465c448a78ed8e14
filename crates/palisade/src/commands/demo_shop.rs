//! The demo's shop floor: categories, 200+ products with generated images, buyers, and orders in every state
//! (paid, shipped, delivered, completed with reviews, refunded in part and in full, disputed), a declined card that
//! leaves no order, and a payout, so a new user sees a marketplace that has been trading for a while.

use bytes::Bytes;
use indicatif::ProgressBar;
use palisade_commerce::address::{AddressFields, ShippingAddress};
use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_commerce::idempotency::IdempotencyKey;
use palisade_commerce::orders::{self, Checkout, Line, Status};
use palisade_commerce::payments::{self, TestGateway};
use palisade_commerce::policy::Policy;
use palisade_commerce::{disputes, images, payouts, reviews};
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
        adjectives: &["Classic", "Reserve", "Spring Harvest", "Highland", "Smoked", "Organic"],
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

/// A small PNG (240×240): a two-colour gradient with a circle, its hues from `seed`, so every product looks
/// different without shipping photos.
pub fn product_image(seed: u64) -> anyhow::Result<Vec<u8>> {
    const W: u32 = 240;
    let hue = |s: u64| -> [u8; 3] {
        let h = (s % 360) as f64;
        let x = 1.0 - ((h / 60.0) % 2.0 - 1.0).abs();
        let (r, g, b) = match (h / 60.0) as u32 {
            0 => (1.0, x, 0.0),
            1 => (x, 1.0, 0.0),
            2 => (0.0, 1.0, x),
            3 => (0.0, x, 1.0),
            4 => (x, 0.0, 1.0),
            _ => (1.0, 0.0, x),
        };
        [(80.0 + r * 150.0) as u8, (80.0 + g * 150.0) as u8, (80.0 + b * 150.0) as u8]
    };
    let (a, b) = (hue(seed.wrapping_mul(47)), hue(seed.wrapping_mul(47).wrapping_add(140)));
    let mut data = Vec::with_capacity((W * W * 3) as usize);
    let r = 40 + (seed % 50) as i64;
    for y in 0..W {
        for x in 0..W {
            let t = f64::from(x + y) / f64::from(2 * W);
            let (dx, dy) = (i64::from(x) - 120, i64::from(y) - 120);
            let inside = dx * dx + dy * dy < r * r;
            for c in 0..3 {
                let (ca, cb) = (f64::from(a.get(c).copied().unwrap_or(0)), f64::from(b.get(c).copied().unwrap_or(0)));
                let v = if inside { 255.0 - (ca * 0.4) } else { ca * (1.0 - t) + cb * t };
                data.push(v as u8);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, W, W);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(&data)?;
    }
    Ok(out)
}

/// Counts of what was made.
#[derive(Debug, Default)]
pub struct Shop {
    pub products: usize,
    pub images: usize,
    pub buyers: usize,
    pub orders: usize,
}

/// How many products each store gets.
pub const PER_STORE: usize = 72;

/// Fills one store's catalog.
pub async fn catalog(
    db: &Db,
    objects: &Objects,
    store: StoreId,
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
    let mut variants = Vec::new();
    let mut n = 0usize;
    'outer: for adj in spec.adjectives {
        for (cat, noun) in spec.nouns {
            if n >= PER_STORE {
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
                    // Some items sell out, some are nearly gone.
                    stock: match n % 11 {
                        0 => 0,
                        1 => 2,
                        _ => 10 + (n % 40) as i64,
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
            let png = product_image(n as u64 * 31 + store_row.slug.len() as u64 * 1000)?;
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

/// (final state, card) for each demo order; the list covers every state the lifecycle has.
const PLAN: &[(&str, &str)] = &[
    ("paid", "4242424242424242"),
    ("paid", "5555555555554444"),
    ("shipped", "4242424242424242"),
    ("shipped", "4242424242424242"),
    ("delivered", "4242424242424242"),
    ("completed", "4242424242424242"),
    ("completed", "5555555555554444"),
    ("completed", "4242424242424242"),
    ("completed", "4242424242424242"),
    ("refunded", "4242424242424242"),
    ("partial", "4242424242424242"),
    ("disputed", "4242424242424242"),
    ("answered", "4242424242424242"),
    // A declined card leaves no order, only an entry in the store's audit log.
    ("declined", "4000000000000002"),
];

/// What the buyers of completed demo orders say.
const REVIEWS: [(i64, &str); 4] = [
    (5, "Arrived quickly and exactly as described. Will buy again."),
    (4, "Good quality; the parcel took a day longer than promised."),
    (5, "Lovely packaging and a handwritten note. Thank you!"),
    (3, "Fine, but smaller than I expected from the photos."),
];

/// The `i`th demo order, paid by `buyer` with `card`; `None` for a declined card, which leaves no order.
async fn place(
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
                line1: &format!("{} Orchard Road", 100 + i),
                line2: &format!("#0{}-1{i}", 2 + i % 7),
                city: "Singapore",
                postcode: &format!("23{i:04}"),
                country: "Singapore",
            })?,
            lines,
            idempotency_key: IdempotencyKey::parse(&format!("demo-{i}"))?,
            card: payments::card(card, "12/30", "123"),
        },
    )
    .await;
    match placed {
        Ok(placed) => Ok(Some(placed)),
        Err(palisade_commerce::CommerceError::PaymentDeclined { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Orders in every state for one store.
pub async fn trade(
    db: &Db,
    store: StoreId,
    variants: &[VariantId],
    buyers: &[tenancy::Account],
    policy: &Policy,
    bar: &ProgressBar,
    shop: &mut Shop,
) -> anyhow::Result<()> {
    let staff = StaffScope::system(store, "demo");
    for (i, (target, card)) in PLAN.iter().enumerate() {
        let Some(buyer) = buyers.get(i % buyers.len().max(1)) else { break };
        let line = |k: usize| variants.get((i * 5 + k * 3) % variants.len().max(1)).cloned();
        let lines: Vec<Line> = [line(0), line(1)]
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(k, v)| Line { variant_id: v, quantity: 1 + (k as i64 + i as i64) % 2 })
            .collect();
        if lines.is_empty() {
            break;
        }
        let Some(placed) = place(db, store, buyer, i, lines, card).await? else { continue };
        shop.orders += 1;
        let (order, access) = (placed.order, placed.access);
        let id = order.id;
        let ship = |n: usize| format!("SG{:09}", 100_000 + n * 7);
        match *target {
            "shipped" => {
                orders::transition(db, &staff, id, Status::Shipped, Some(&ship(i)), policy).await?;
            }
            "delivered" => {
                orders::transition(db, &staff, id, Status::Shipped, Some(&ship(i)), policy).await?;
                orders::transition(db, &staff, id, Status::Delivered, None, policy).await?;
            }
            "completed" => {
                orders::transition(db, &staff, id, Status::Shipped, Some(&ship(i)), policy).await?;
                orders::confirm_received(db, &access, policy).await?;
                if let Some((rating, text)) = REVIEWS.get(i % REVIEWS.len()) {
                    reviews::add(db, &access, *rating, text).await?;
                }
            }
            "refunded" => {
                orders::refund(db, &staff, id, order.total.minor, "out of stock after all; sorry").await?;
            }
            "partial" => {
                orders::transition(db, &staff, id, Status::Shipped, Some(&ship(i)), policy).await?;
                orders::refund(db, &staff, id, order.total.minor / 4, "one item arrived scratched").await?;
            }
            "disputed" | "answered" => {
                orders::transition(db, &staff, id, Status::Shipped, Some(&ship(i)), policy).await?;
                let d = disputes::open(db, &access, "not_received", "The tracking number has not moved for a week.")
                    .await?;
                if *target == "answered" {
                    disputes::respond(
                        db,
                        &staff,
                        d.id,
                        "The courier confirms delivery to the lobby on Tuesday; photo attached to the courier record.",
                    )
                    .await?;
                }
            }
            _ => {}
        }
        bar.inc(1);
    }
    // The store withdrew part of its released balance once.
    let balance = palisade_commerce::ledger::store_balance(db, &staff, Currency::SGD).await?;
    if balance > 1000 {
        payouts::request(db, &staff, Money::new(balance / 2, Currency::SGD)).await?;
    }
    Ok(())
}

/// Everything for one store, with the bar advanced per product and per order.
pub async fn fill(
    db: &Db,
    objects: &Objects,
    store: StoreId,
    buyers: &[tenancy::Account],
    policy: &Policy,
    bar: &ProgressBar,
    shop: &mut Shop,
) -> anyhow::Result<()> {
    let variants = catalog(db, objects, store, bar, shop).await?;
    trade(db, store, &variants, buyers, policy, bar, shop).await
}

/// Steps the progress bar will count per store.
pub const STEPS_PER_STORE: u64 = PER_STORE as u64 + 14;
