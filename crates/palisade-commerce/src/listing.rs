//! What shoppers browse: marketplace-wide search (SQLite FTS5 / PostgreSQL full-text) and per-store listings,
//! as product cards, a page at a time. Only published products of active stores appear.

use palisade_core::money::{Currency, Money};
use palisade_core::{ImageId, ProductId};
use palisade_store::{Backend, Db, StoreError, StoreScope};
use serde::Serialize;

use crate::error::{Result, stored_id};

/// Products per page.
pub const PAGE_SIZE: i64 = 24;

/// One product as a listing shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ProductCard))]
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub id: ProductId,
    pub slug: String,
    pub title: String,
    pub store_slug: String,
    pub store_name: String,
    /// The cheapest variant's price.
    pub price: Money,
    pub image_id: Option<ImageId>,
    pub in_stock: bool,
}

/// A page of cards.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SearchPage))]
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub cards: Vec<Card>,
    pub page: i64,
    pub has_next: bool,
}

type CardRow = (String, String, String, String, String, Option<i64>, String, Option<String>, i64);

/// What the storefront lists: published products that can be bought, i.e. have at least one variant (an
/// imported archive can hold a product without one; it has no price to show).
const LISTED: &str = "p.status = 'published' AND EXISTS (SELECT 1 FROM variants lv WHERE lv.product_id = p.id)";

const CARD_SELECT: &str = "SELECT p.id, p.slug, p.title, s.slug, s.name, \
     (SELECT MIN(v.price_minor) FROM variants v WHERE v.product_id = p.id), s.currency, \
     (SELECT i.id FROM product_images i WHERE i.product_id = p.id ORDER BY i.position, i.id LIMIT 1), \
     (SELECT CAST(COALESCE(SUM(v.stock), 0) AS BIGINT) FROM variants v WHERE v.product_id = p.id)";

fn page_of(rows: Vec<CardRow>, page: i64) -> Result<Page> {
    let has_next = rows.len() as i64 > PAGE_SIZE;
    let mut cards = Vec::with_capacity(rows.len());
    for r in rows.into_iter().take(PAGE_SIZE as usize) {
        // Listed products have a variant; should one lose it meanwhile, it drops out rather than fail the page.
        let Some(price) = r.5 else { continue };
        let currency = Currency::parse(&r.6).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        cards.push(Card {
            id: stored_id("product", &r.0)?,
            slug: r.1,
            title: r.2,
            store_slug: r.3,
            store_name: r.4,
            price: Money::new(price, currency),
            image_id: r.7.as_deref().map(|i| stored_id("image", i)).transpose()?,
            in_stock: r.8 > 0,
        });
    }
    Ok(Page { cards, page, has_next })
}

/// The words of a shopper's query, safe to hand to either full-text engine: letters and digits only, at most
/// eight words of at most 40 characters (one-letter fragments such as the `s` of `men's` are dropped).
#[must_use]
pub fn terms(query: &str) -> Vec<String> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(40).collect::<String>().to_lowercase())
        .collect();
    let long: Vec<String> = words.iter().filter(|w| w.chars().count() > 1).cloned().collect();
    let mut out = if long.is_empty() { words } else { long };
    out.truncate(8);
    out
}

/// Marketplace-wide search, best match first; an empty query lists the newest products.
pub async fn search(db: &Db, query: &str, page: i64) -> Result<Page> {
    let page = page.clamp(1, 1000);
    let offset = (page - 1) * PAGE_SIZE;
    let words = terms(query);
    let base = format!("{LISTED} AND s.status = 'active'");
    if words.is_empty() {
        let rows: Vec<CardRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{CARD_SELECT} FROM products p JOIN stores s ON s.id = p.store_id WHERE {base} \
             ORDER BY p.created_at DESC, p.id DESC LIMIT $1 OFFSET $2"
        )))
        .bind(PAGE_SIZE + 1)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
        return page_of(rows, page);
    }
    let rows: Vec<CardRow> = match db.backend() {
        Backend::Sqlite => {
            // Every word must match, as a prefix; words are quoted so nothing is read as FTS5 syntax.
            let expr = words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" ");
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "WITH hits AS (SELECT rowid AS r, rank FROM products_fts WHERE products_fts MATCH $1) \
                 {CARD_SELECT} FROM hits h JOIN products p ON p.rowid = h.r JOIN stores s ON s.id = p.store_id \
                 WHERE {base} ORDER BY h.rank, p.id LIMIT $2 OFFSET $3"
            )))
            .bind(expr)
            .bind(PAGE_SIZE + 1)
            .bind(offset)
            .fetch_all(db.pool())
            .await?
        }
        Backend::Postgres => {
            let expr = words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & ");
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{CARD_SELECT} FROM products p JOIN stores s ON s.id = p.store_id \
                 WHERE {base} AND p.search_vector @@ to_tsquery('english', $1) \
                 ORDER BY ts_rank(p.search_vector, to_tsquery('english', $1)) DESC, p.id \
                 LIMIT $2 OFFSET $3"
            )))
            .bind(expr)
            .bind(PAGE_SIZE + 1)
            .bind(offset)
            .fetch_all(db.pool())
            .await?
        }
    };
    page_of(rows, page)
}

/// One store's published products, newest first, optionally of one category (by slug).
pub async fn store_page(db: &Db, scope: &StoreScope, category: Option<&str>, page: i64) -> Result<Page> {
    let page = page.clamp(1, 1000);
    let rows: Vec<CardRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{CARD_SELECT} FROM products p JOIN stores s ON s.id = p.store_id \
         WHERE p.store_id = $1 AND {LISTED} \
         AND ($2 = '' OR p.category_id IN (SELECT c.id FROM categories c WHERE c.store_id = $1 AND c.slug = $2)) \
         ORDER BY p.created_at DESC, p.id DESC LIMIT $3 OFFSET $4"
    )))
    .bind(scope.store_key())
    .bind(category.unwrap_or(""))
    .bind(PAGE_SIZE + 1)
    .bind((page - 1) * PAGE_SIZE)
    .fetch_all(db.pool())
    .await?;
    page_of(rows, page)
}

/// A store as the marketplace lists it.
#[derive(Debug, Clone, Serialize)]
pub struct StoreCard {
    pub slug: String,
    pub name: String,
    pub tagline: String,
    pub products: i64,
    pub rating: Option<f64>,
    pub reviews: i64,
}

/// Every active store with its product count and rating.
pub async fn stores(db: &Db) -> Result<Vec<StoreCard>> {
    let rows: Vec<(String, String, Option<String>, i64, i64, i64)> = sqlx::query_as(
        "SELECT s.slug, s.name, (SELECT c.tagline FROM store_commerce c WHERE c.store_id = s.id), \
         (SELECT COUNT(*) FROM products p WHERE p.store_id = s.id AND p.status = 'published' \
          AND EXISTS (SELECT 1 FROM variants lv WHERE lv.product_id = p.id)), \
         (SELECT CAST(COALESCE(SUM(r.rating), 0) AS BIGINT) FROM reviews r WHERE r.store_id = s.id), \
         (SELECT COUNT(*) FROM reviews r WHERE r.store_id = s.id) \
         FROM stores s WHERE s.status = 'active' ORDER BY s.name",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(slug, name, tagline, products, sum, reviews)| StoreCard {
            slug,
            name,
            tagline: tagline.unwrap_or_default(),
            products,
            rating: crate::reviews::average(sum, reviews),
            reviews,
        })
        .collect())
}

/// A store's public face, read in one query for its storefront pages.
#[derive(Debug, Clone, Serialize)]
pub struct Storefront {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub tagline: String,
    pub rating: crate::reviews::Summary,
    pub shipping: Money,
    /// The version of the store's own stylesheet, if it has one.
    pub stylesheet: Option<i64>,
}

/// The scoped store's storefront facts; `None` unless the store exists and is active.
pub async fn storefront(db: &Db, scope: &StoreScope) -> Result<Option<Storefront>> {
    type Row = (String, String, String, String, i64, String, i64, i64, Option<i64>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT s.id, s.slug, s.name, s.currency, COALESCE(c.flat_shipping_minor, 0), COALESCE(c.tagline, ''), \
         (SELECT CAST(COALESCE(SUM(r.rating), 0) AS BIGINT) FROM reviews r WHERE r.store_id = s.id), \
         (SELECT COUNT(*) FROM reviews r WHERE r.store_id = s.id), \
         (SELECT MAX(t.version) FROM theme_templates t WHERE t.store_id = s.id AND t.name = 'theme.css') \
         FROM stores s LEFT JOIN store_commerce c ON c.store_id = s.id WHERE s.id = $1 AND s.status = 'active'",
    )
    .bind(scope.store_key())
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let currency = Currency::parse(&r.3).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Some(Storefront {
        id: r.0,
        slug: r.1,
        name: r.2,
        tagline: r.5,
        rating: crate::reviews::Summary { average: crate::reviews::average(r.6, r.7), count: r.7 },
        shipping: Money::new(r.4, currency),
        stylesheet: r.8,
    }))
}
