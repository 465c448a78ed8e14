//! Products and their variants. Prices are minor units with a currency; the client never sends prices at
//! checkout, they are read from here.

use palisade_core::money::{Currency, Money};
use palisade_core::text::{Slug, display_name};
use palisade_core::time::Timestamp;
use palisade_core::{ProductId, VariantId};
use palisade_registry::names::WebhookTopic;
use palisade_store::{Db, StaffScope, StoreError, StoreScope};
use serde::Serialize;

use crate::error::{CommerceError, Result, stored_id};
use crate::webhooks::events;

/// Where a product is in its life.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    Draft,
    Published,
    Archived,
}

impl ProductStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Draft => "draft",
            ProductStatus::Published => "published",
            ProductStatus::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "draft" => Ok(ProductStatus::Draft),
            "published" => Ok(ProductStatus::Published),
            "archived" => Ok(ProductStatus::Archived),
            other => {
                Err(CommerceError::Invalid(format!("unknown product status `{other}` (draft, published, archived)")))
            }
        }
    }
}

/// A variant to create.
#[derive(Debug, Clone)]
pub struct NewVariant {
    pub sku: String,
    /// e.g. {"size": "M", "colour": "teal"}
    pub options: serde_json::Value,
    pub price: Money,
    pub stock: i64,
}

/// A product to create, with at least one variant.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub slug: Slug,
    pub title: String,
    pub description: String,
    pub status: ProductStatus,
    /// A category of the same store, by id.
    pub category: Option<String>,
    pub variants: Vec<NewVariant>,
}

/// A stored variant.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Variant {
    pub id: VariantId,
    pub sku: String,
    pub options: serde_json::Value,
    pub price: Money,
    pub stock: i64,
}

/// A stored product with its variants.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub id: ProductId,
    pub store_id: String,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub status: ProductStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub variants: Vec<Variant>,
}

/// Longest product description (after cleaning).
pub const MAX_DESCRIPTION: usize = 20_000;

/// A SKU as stored (trimmed; 1–64 letters, digits, '-', '_' or '.'): every path that stores one calls this.
pub fn check_sku(sku: &str) -> Result<String> {
    let sku = sku.trim();
    if sku.is_empty() || sku.len() > 64 || !sku.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(CommerceError::Invalid(format!("SKU `{sku}` must be 1–64 letters, digits, '-', '_' or '.'")));
    }
    Ok(sku.to_owned())
}

/// Creates a product and its variants in one transaction. The store's currency must match every price.
pub async fn create_product(db: &Db, scope: &StaffScope, mut new: NewProduct) -> Result<Product> {
    new.description = crate::rich_text::clean_for_storage(&new.description);
    if let Some(c) = &new.category {
        category_exists(db, scope, c).await?;
    }
    let title = display_name("title", &new.title).map_err(|e| CommerceError::Invalid(e.to_string()))?;
    if new.description.len() > MAX_DESCRIPTION {
        return Err(CommerceError::Invalid("description must be at most 20 000 characters".into()));
    }
    if new.variants.is_empty() || new.variants.len() > 100 {
        return Err(CommerceError::Invalid("a product needs 1 to 100 variants".into()));
    }
    check_prices(&new.variants, palisade_store::tenancy::get_store(db, scope).await?.currency)?;
    if new.status == ProductStatus::Published {
        crate::verification::require_listing_allowed(db, scope).await?;
    }
    let id = ProductId::new();
    let now = db.now();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO products (id, store_id, slug, title, description, status, created_at, updated_at, category_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
    )
    .bind(id.to_string())
    .bind(scope.store_key())
    .bind(new.slug.as_str())
    .bind(&title)
    .bind(&new.description)
    .bind(new.status.as_str())
    .bind(now.0)
    .bind(new.category.as_deref())
    .execute(&mut *tx)
    .await
    .map_err(|e| unique(e, || format!("a product with address `{}` exists in this store", new.slug)))?;
    let mut variants = Vec::with_capacity(new.variants.len());
    for v in new.variants {
        variants.push(insert_variant(&mut tx, scope, id, v, now).await?);
    }
    let target = format!("product:{id}");
    palisade_store::audit::record_store(
        &mut tx,
        db,
        scope,
        palisade_store::audit::NewEvent::new("product.created", &target),
    )
    .await?;
    events::product(&mut tx, db, scope, WebhookTopic::ProductCreated, id).await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(Product {
        id,
        store_id: scope.store_key(),
        slug: new.slug.to_string(),
        title,
        description: new.description,
        status: new.status,
        created_at: now,
        updated_at: now,
        variants,
    })
}

/// Every price is in the store's currency, and no price or stock is negative.
fn check_prices(variants: &[NewVariant], store_currency: Currency) -> Result<()> {
    for v in variants {
        if v.price.currency != store_currency {
            return Err(CommerceError::CurrencyMismatch(format!(
                "{} prices in {}, the store sells in {}",
                v.sku,
                v.price.currency.code(),
                store_currency
            )));
        }
        if v.price.minor < 0 || v.stock < 0 {
            return Err(CommerceError::Invalid(format!("{}: price and stock must not be negative", v.sku)));
        }
    }
    Ok(())
}

/// Writes one new variant of `product` inside the caller's transaction.
pub(crate) async fn insert_variant(
    tx: &mut sqlx::AnyConnection,
    scope: &StaffScope,
    product: ProductId,
    v: NewVariant,
    now: Timestamp,
) -> Result<Variant> {
    let sku = check_sku(&v.sku)?;
    let id = VariantId::new();
    sqlx::query(
        "INSERT INTO variants (id, store_id, product_id, sku, options, price_minor, currency, stock, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id.to_string())
    .bind(scope.store_key())
    .bind(product.to_string())
    .bind(&sku)
    .bind(v.options.to_string())
    .bind(v.price.minor)
    .bind(v.price.currency.code())
    .bind(v.stock)
    .bind(now.0)
    .execute(&mut *tx)
    .await
    .map_err(|e| unique(e, || format!("SKU `{sku}` is already used in this store")))?;
    Ok(Variant { id, sku, options: v.options, price: v.price, stock: v.stock })
}

fn unique(e: sqlx::Error, what: impl FnOnce() -> String) -> CommerceError {
    match e {
        sqlx::Error::Database(ref d) if d.is_unique_violation() => CommerceError::Store(StoreError::Conflict(what())),
        other => CommerceError::from(other),
    }
}

type ProductRow = (String, String, String, String, String, String, i64, i64);
type VariantRow = (String, String, String, i64, String, i64);

async fn variants_of(db: &Db, scope: &StoreScope, product: ProductId) -> Result<Vec<Variant>> {
    let rows: Vec<VariantRow> = sqlx::query_as(
        "SELECT id, sku, options, price_minor, currency, stock FROM variants WHERE store_id = $1 AND product_id = $2 ORDER BY sku",
    )
    .bind(scope.store_key())
    .bind(product.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|r| {
            let currency = Currency::parse(&r.4).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(Variant {
                id: stored_id("variant", &r.0)?,
                sku: r.1,
                options: serde_json::from_str(&r.2).unwrap_or_default(),
                price: Money::new(r.3, currency),
                stock: r.5,
            })
        })
        .collect()
}

/// A product row with its variants (read with the row's scope).
async fn product_from(db: &Db, scope: &StoreScope, r: ProductRow) -> Result<Product> {
    let id = stored_id("product", &r.0)?;
    let variants = variants_of(db, scope, id).await?;
    Ok(Product {
        id,
        store_id: r.1,
        slug: r.2,
        title: r.3,
        description: r.4,
        status: ProductStatus::parse(&r.5)?,
        created_at: Timestamp(r.6),
        updated_at: Timestamp(r.7),
        variants,
    })
}

/// One of the scoped store's products: any of them for its staff, a published one for a shopper (a draft's id
/// must not open it on the storefront side).
pub async fn get_product(db: &Db, scope: &StoreScope, id: ProductId) -> Result<Product> {
    let row: Option<ProductRow> = sqlx::query_as(
        "SELECT id, store_id, slug, title, description, status, created_at, updated_at FROM products WHERE store_id = $1 AND id = $2",
    )
    .bind(scope.store_key())
    .bind(id.to_string())
    .fetch_optional(db.pool())
    .await?;
    let row = row.ok_or(CommerceError::Store(StoreError::NotFound("product")))?;
    let product = product_from(db, scope, row).await?;
    if !visible(scope, product.status) {
        return Err(CommerceError::Store(StoreError::NotFound("product")));
    }
    Ok(product)
}

/// One variant of the scoped store as a checkout sees it: its product, SKU, unit price in minor units and currency
/// (`None` when the store has no such variant). For the checkout hooks of installed extensions.
pub async fn variant_line(db: &Db, scope: &StoreScope, id: VariantId) -> Result<Option<(String, String, i64, String)>> {
    let row: Option<(String, String, i64, String)> = sqlx::query_as(
        "SELECT v.product_id, v.sku, v.price_minor, v.currency FROM variants v JOIN products p \
             ON p.id = v.product_id AND p.store_id = v.store_id \
             WHERE v.store_id = $1 AND v.id = $2 AND p.status = 'published'",
    )
    .bind(scope.store_key())
    .bind(id.to_string())
    .fetch_optional(db.pool())
    .await?;
    Ok(row)
}

/// The scoped store's products, newest first, a page at a time (`limit` 1–100).
pub async fn list_products(db: &Db, scope: &StaffScope, limit: i64, offset: i64) -> Result<Vec<Product>> {
    let rows: Vec<ProductRow> = sqlx::query_as(
        "SELECT id, store_id, slug, title, description, status, created_at, updated_at FROM products WHERE store_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(scope.store_key())
    .bind(limit.clamp(1, 100))
    .bind(offset.max(0))
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(product_from(db, scope, r).await?);
    }
    Ok(out)
}

/// Changes a product's status (publish, unpublish, archive), audited. A product without variants (possible after
/// an import) cannot be published: it has nothing to sell; nor can an unverified seller's when the operator
/// requires verification before listing ([`crate::verification::REQUIRED_BEFORE_LISTING`]).
pub async fn set_status(db: &Db, scope: &StaffScope, id: ProductId, status: ProductStatus) -> Result<()> {
    if status == ProductStatus::Published {
        crate::verification::require_listing_allowed(db, scope).await?;
    }
    let mut tx = db.begin_write().await?;
    if status == ProductStatus::Published {
        let hidden: Option<(i64,)> =
            sqlx::query_as("SELECT hidden_by_operator FROM products WHERE store_id = $1 AND id = $2")
                .bind(scope.store_key())
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if hidden.is_some_and(|(h,)| h != 0) {
            return Err(CommerceError::HiddenByOperator);
        }
        let (variants,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM variants WHERE store_id = $1 AND product_id = $2")
                .bind(scope.store_key())
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
        if variants == 0 {
            return Err(CommerceError::Invalid(
                "a product needs at least one variant before it can be published".into(),
            ));
        }
    }
    let done = sqlx::query("UPDATE products SET status = $1, updated_at = $2 WHERE store_id = $3 AND id = $4")
        .bind(status.as_str())
        .bind(db.now().0)
        .bind(scope.store_key())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::Store(StoreError::NotFound("product")));
    }
    let target = format!("product:{id}");
    let details = serde_json::json!({"status": status.as_str()});
    palisade_store::audit::record_store(
        &mut tx,
        db,
        scope,
        palisade_store::audit::NewEvent::new("product.status_changed", &target).details(details),
    )
    .await?;
    events::product(&mut tx, db, scope, WebhookTopic::ProductUpdated, id).await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a variant's stock to an absolute count (a stock take), audited.
pub async fn set_stock(db: &Db, scope: &StaffScope, variant: VariantId, stock: i64) -> Result<()> {
    if stock < 0 {
        return Err(CommerceError::Invalid("stock must not be negative".into()));
    }
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("UPDATE variants SET stock = $1 WHERE store_id = $2 AND id = $3")
        .bind(stock)
        .bind(scope.store_key())
        .bind(variant.to_string())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::Store(StoreError::NotFound("variant")));
    }
    let target = format!("variant:{variant}");
    palisade_store::audit::record_store(
        &mut tx,
        db,
        scope,
        palisade_store::audit::NewEvent::new("stock.set", &target).details(serde_json::json!({"stock": stock})),
    )
    .await?;
    events::stock(&mut tx, db, scope, &[variant]).await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(())
}

/// Shoppers see published products only; staff see every product of their store.
fn visible(scope: &StoreScope, status: ProductStatus) -> bool {
    scope.require_staff().is_ok() || status == ProductStatus::Published
}

/// A product by its slug (the storefront's address for it).
pub async fn get_by_slug(db: &Db, scope: &StoreScope, slug: &str) -> Result<Product> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM products WHERE store_id = $1 AND slug = $2")
        .bind(scope.store_key())
        .bind(slug)
        .fetch_optional(db.pool())
        .await?;
    let (id,) = row.ok_or(CommerceError::Store(StoreError::NotFound("product")))?;
    let product = get_product(db, scope, stored_id("product", &id)?).await?;
    if !visible(scope, product.status) {
        return Err(CommerceError::Store(StoreError::NotFound("product")));
    }
    Ok(product)
}

/// What a merchant may change on a product after creating it.
#[derive(Debug, Clone)]
pub struct ProductEdit {
    pub title: String,
    pub description: String,
    pub category: Option<String>,
}

/// Edits a product's text and category, audited.
pub async fn update_product(db: &Db, scope: &StaffScope, id: ProductId, mut edit: ProductEdit) -> Result<Product> {
    edit.description = crate::rich_text::clean_for_storage(&edit.description);
    let title = display_name("title", &edit.title).map_err(|e| CommerceError::Invalid(e.to_string()))?;
    if edit.description.len() > MAX_DESCRIPTION {
        return Err(CommerceError::Invalid("description must be at most 20 000 characters".into()));
    }
    if let Some(c) = &edit.category {
        category_exists(db, scope, c).await?;
    }
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE products SET title = $1, description = $2, category_id = $3, updated_at = $4 WHERE store_id = $5 AND id = $6",
    )
    .bind(&title)
    .bind(&edit.description)
    .bind(edit.category.as_deref())
    .bind(db.now().0)
    .bind(scope.store_key())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::Store(StoreError::NotFound("product")));
    }
    let target = format!("product:{id}");
    palisade_store::audit::record_store(
        &mut tx,
        db,
        scope,
        palisade_store::audit::NewEvent::new("product.edited", &target),
    )
    .await?;
    events::product(&mut tx, db, scope, WebhookTopic::ProductUpdated, id).await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    get_product(db, scope, id).await
}

/// Sets a variant's price (in the store's currency), audited.
pub async fn set_price(db: &Db, scope: &StaffScope, variant: VariantId, price: Money) -> Result<()> {
    if price.minor < 0 {
        return Err(CommerceError::Invalid("price must not be negative".into()));
    }
    let mut tx = db.begin_write().await?;
    let current: Option<(String, String)> =
        sqlx::query_as("SELECT currency, product_id FROM variants WHERE store_id = $1 AND id = $2")
            .bind(scope.store_key())
            .bind(variant.to_string())
            .fetch_optional(&mut *tx)
            .await?;
    let (currency, product) = current.ok_or(CommerceError::Store(StoreError::NotFound("variant")))?;
    if currency != price.currency.code() {
        return Err(CommerceError::CurrencyMismatch(format!("the variant is priced in {currency}")));
    }
    sqlx::query("UPDATE variants SET price_minor = $1 WHERE store_id = $2 AND id = $3")
        .bind(price.minor)
        .bind(scope.store_key())
        .bind(variant.to_string())
        .execute(&mut *tx)
        .await?;
    let target = format!("variant:{variant}");
    palisade_store::audit::record_store(
        &mut tx,
        db,
        scope,
        palisade_store::audit::NewEvent::new("price.set", &target)
            .details(serde_json::json!({"price_minor": price.minor})),
    )
    .await?;
    events::product(&mut tx, db, scope, WebhookTopic::ProductUpdated, stored_id("product", &product)?).await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(())
}

/// A product category of one store.
#[derive(Debug, Clone, Serialize)]
pub struct Category {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub products: i64,
}

/// The category a product of the store is filed under, if any (the product editor; drafts included, hence
/// staff only). A product of another store is not found.
pub async fn product_category(db: &Db, scope: &StaffScope, product: ProductId) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT category_id FROM products WHERE store_id = $1 AND id = $2")
            .bind(scope.store_key())
            .bind(product.to_string())
            .fetch_optional(db.pool())
            .await?;
    let (category,) = row.ok_or(CommerceError::Store(StoreError::NotFound("product")))?;
    Ok(category)
}

async fn category_exists(db: &Db, scope: &StoreScope, id: &str) -> Result<()> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM categories WHERE store_id = $1 AND id = $2")
        .bind(scope.store_key())
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|_| ()).ok_or(CommerceError::Store(StoreError::NotFound("category")))
}

/// Creates a category (its slug unique in the store).
pub async fn create_category(db: &Db, scope: &StaffScope, slug: &Slug, name: &str) -> Result<Category> {
    let name = display_name("name", name).map_err(|e| CommerceError::Invalid(e.to_string()))?;
    let id = palisade_core::JobId::new().to_string();
    let mut tx = db.begin_write().await?;
    let inserted =
        sqlx::query("INSERT INTO categories (id, store_id, slug, name, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(scope.store_key())
            .bind(slug.as_str())
            .bind(&name)
            .bind(db.now().0)
            .execute(&mut *tx)
            .await;
    match inserted {
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            return Err(CommerceError::Store(StoreError::Conflict(format!(
                "a category `{}` already exists",
                slug.as_str()
            ))));
        }
        other => {
            other?;
        }
    }
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(Category { id, slug: slug.as_str().to_owned(), name, products: 0 })
}

/// The store's categories with how many published products each has.
pub async fn list_categories(db: &Db, scope: &StoreScope) -> Result<Vec<Category>> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT c.id, c.slug, c.name, (SELECT COUNT(*) FROM products p WHERE p.category_id = c.id AND p.status = 'published') \
         FROM categories c WHERE c.store_id = $1 ORDER BY c.name",
    )
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(id, slug, name, products)| Category { id, slug, name, products }).collect())
}

/// Total stock at or under which a product counts as running low (the admin's "low stock" filter).
pub const LOW_STOCK: i64 = 5;

/// The admin product list's stock filter, on the product's total stock over its variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockFilter {
    /// Something left to sell.
    InStock,
    /// 1 to [`LOW_STOCK`] left.
    Low,
    /// Nothing left.
    SoldOut,
}

impl StockFilter {
    /// `in_stock`, `low` or `sold_out`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "in_stock" => Ok(StockFilter::InStock),
            "low" => Ok(StockFilter::Low),
            "sold_out" => Ok(StockFilter::SoldOut),
            other => Err(CommerceError::Invalid(format!("unknown stock filter `{other}` (in_stock, low, sold_out)"))),
        }
    }

    /// The condition on `total` (a fixed SQL fragment: nothing from the request goes into it).
    fn condition(self) -> &'static str {
        match self {
            StockFilter::InStock => "> 0",
            StockFilter::Low => "BETWEEN 1 AND 5",
            StockFilter::SoldOut => "= 0",
        }
    }
}

/// What the merchant's product list is narrowed to; empty: every product.
#[derive(Debug, Clone, Default)]
pub struct ProductQuery {
    /// A fragment of the title or of a variant's SKU, matched literally and case-insensitively.
    pub text: Option<String>,
    pub status: Option<ProductStatus>,
    pub stock: Option<StockFilter>,
}

/// `%fragment%` for LIKE, lower-cased, at most 100 characters, with LIKE's wildcards escaped (`ESCAPE '\'`).
fn like_pattern(text: &str) -> String {
    let escaped: String = text
        .to_lowercase()
        .chars()
        .take(100)
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// The scoped store's products matching `query`, newest first, a page at a time (`limit` 1–100).
pub async fn search_products(
    db: &Db,
    scope: &StaffScope,
    query: &ProductQuery,
    limit: i64,
    offset: i64,
) -> Result<Vec<Product>> {
    let text = query.text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(like_pattern);
    let stock = query.stock.map_or_else(String::new, |s| {
        format!(
            "AND (SELECT COALESCE(SUM(v.stock), 0) FROM variants v WHERE v.store_id = p.store_id AND v.product_id = p.id) {}",
            s.condition()
        )
    });
    let rows: Vec<ProductRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT p.id, p.store_id, p.slug, p.title, p.description, p.status, p.created_at, p.updated_at FROM products p \
         WHERE p.store_id = $1 AND ($2 IS NULL OR p.status = $2) \
         AND ($3 IS NULL OR LOWER(p.title) LIKE $3 ESCAPE '\\' OR EXISTS (SELECT 1 FROM variants s \
              WHERE s.store_id = p.store_id AND s.product_id = p.id AND LOWER(s.sku) LIKE $3 ESCAPE '\\')) {stock} \
         ORDER BY p.created_at DESC, p.id DESC LIMIT $4 OFFSET $5"
    )))
    .bind(scope.store_key())
    .bind(query.status.map(ProductStatus::as_str))
    .bind(text)
    .bind(limit.clamp(1, 100))
    .bind(offset.max(0))
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(product_from(db, scope, r).await?);
    }
    Ok(out)
}

/// Every SKU of the scoped store (an import's preview: a row with one of these updates, any other creates). A SKU
/// of another store is not among them.
pub async fn existing_skus(db: &Db, scope: &StaffScope) -> Result<std::collections::HashSet<String>> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT sku FROM variants WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().map(|(s,)| s).collect())
}
