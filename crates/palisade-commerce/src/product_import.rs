//! Applying a products import (a CSV checked by the merchant first). The checked file is kept server-side
//! ([`keep`]) under a random id that only its hash identifies in the database; [`apply`] takes it back by that id,
//! for the same store and the same person only, reads it again with the caller's reader (so nothing posted with
//! the apply but the id is trusted), and in one transaction creates and updates the products, records one audit
//! event and deletes the kept file (single use). Rows are matched by SKU **in this store only**.
//!
//! Every row is validated before anything is written (the reader's checks, then the title, the variant's
//! currency and conflicting rows here); a refused row is reported and skipped, the others are written together.
//! A failure while writing rolls the whole import back, and the kept file with it, so it can be applied again.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;

use palisade_core::money::{Currency, Money};
use palisade_core::text::{Slug, display_name};
use palisade_core::{ProductId, VariantId};
use palisade_store::db::ExecuteWrite;
use palisade_store::{Db, StaffScope, StoreError};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::catalog::{NewVariant, ProductStatus};
use crate::error::{CommerceError, Result, stored_id};

/// How long a checked file waits for its apply.
pub const KEEP_FOR_MS: i64 = 60 * 60 * 1000;
/// Checked files one person keeps per store at most; checking another drops the oldest.
pub const MAX_KEPT: usize = 4;

/// The id of a kept file, as the preview's form carries it (64 hex digits, 256 random bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportId(String);

impl ImportId {
    /// An id as posted: anything but 64 hex digits is no id (and finds nothing).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(s.to_ascii_lowercase()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// One good row of a file: the variant it creates or updates (by SKU).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportLine {
    /// The row's number as a spreadsheet shows it (the header is row 1).
    pub row: u64,
    pub title: String,
    pub sku: String,
    /// The variant's options (used when the row creates a product; an update keeps the variant's options).
    pub options: serde_json::Value,
    pub price: Money,
    pub stock: i64,
    pub status: ProductStatus,
}

/// A row that is not imported, with the reason in plain English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub row: u64,
    pub reason: String,
}

/// A file read by the caller's reader: its good rows and its refused ones.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub lines: Vec<ImportLine>,
    pub refused: Vec<Refused>,
}

/// What an apply did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Products created (one per new SKU).
    pub created: usize,
    /// Variants updated (with their product's title and status).
    pub updated: usize,
    /// Rows not imported, in row order.
    pub refused: Vec<Refused>,
}

/// Why the kept file cannot be applied: unknown, expired, already applied, another store's or another person's —
/// one answer for all, so an id reveals nothing.
fn gone() -> CommerceError {
    CommerceError::Store(StoreError::NotFound("import"))
}

/// Keeps a checked file (the text as uploaded) for an hour for `scope`'s actor and answers its new id. Expired
/// files of the store are deleted here, and the person's oldest beyond [`MAX_KEPT`].
pub async fn keep(db: &Db, scope: &StaffScope, content: &str) -> Result<ImportId> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let id = ImportId(hex::encode(raw));
    let now = db.now().0;
    let actor = scope.actor().as_audit_text();
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM product_imports WHERE store_id = $1 AND expires_at <= $2")
        .bind(scope.store_key())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let kept: Vec<(String,)> = sqlx::query_as(
        "SELECT id_hash FROM product_imports WHERE store_id = $1 AND created_by = $2 ORDER BY created_at DESC, id_hash",
    )
    .bind(scope.store_key())
    .bind(&actor)
    .fetch_all(&mut *tx)
    .await?;
    for (old,) in kept.iter().skip(MAX_KEPT.saturating_sub(1)) {
        sqlx::query("DELETE FROM product_imports WHERE store_id = $1 AND id_hash = $2")
            .bind(scope.store_key())
            .bind(old)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO product_imports (id_hash, store_id, created_by, created_at, expires_at, content) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.hash())
    .bind(scope.store_key())
    .bind(&actor)
    .bind(now)
    .bind(now.saturating_add(KEEP_FOR_MS))
    .bind(content)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Drops a kept file without applying it (the person's own, in this store); unknown ids are ignored.
pub async fn discard(db: &Db, scope: &StaffScope, id: &ImportId) -> Result<()> {
    sqlx::query("DELETE FROM product_imports WHERE id_hash = $1 AND store_id = $2 AND created_by = $3")
        .bind(id.hash())
        .bind(scope.store_key())
        .bind(scope.actor().as_audit_text())
        .execute_write(db)
        .await?;
    Ok(())
}

/// An existing variant of the store, as the import matches it.
struct Known {
    variant: VariantId,
    product: ProductId,
    currency: String,
}

/// Applies the kept file `id` (see the module docs). `read` turns the kept text into rows for the store's
/// currency; its error (the file no longer reads) refuses the whole import. Unknown, expired, used, another
/// store's or another person's ids are all `NotFound("import")`.
pub async fn apply<E: Display>(
    db: &Db,
    scope: &StaffScope,
    id: &ImportId,
    read: impl FnOnce(&str, Currency) -> std::result::Result<Checked, E>,
) -> Result<Report> {
    let currency = palisade_store::tenancy::get_store(db, scope).await?.currency;
    let may_list = crate::verification::require_listing_allowed(db, scope).await;
    let mut tx = db.begin_write().await?;
    // Taken and deleted at once: a concurrent apply of the same id waits for this one and then finds nothing.
    let taken: Option<(String,)> = sqlx::query_as(
        "DELETE FROM product_imports WHERE id_hash = $1 AND store_id = $2 AND created_by = $3 AND expires_at > $4 \
         RETURNING content",
    )
    .bind(id.hash())
    .bind(scope.store_key())
    .bind(scope.actor().as_audit_text())
    .bind(db.now().0)
    .fetch_optional(&mut *tx)
    .await?;
    let (content,) = taken.ok_or_else(gone)?;
    let checked = read(&content, currency)
        .map_err(|e| CommerceError::Invalid(format!("the kept file no longer reads as a products CSV: {e}")))?;
    let known = known_variants(&mut tx, scope).await?;
    let (plan, mut refused) = plan(checked, &known);
    // When the operator requires verification before listing, an import that would publish is refused whole.
    let publishes = plan
        .creates
        .iter()
        .chain(plan.updates.iter().map(|(l, _)| l))
        .any(|l| l.status == crate::catalog::ProductStatus::Published);
    if publishes {
        may_list?;
    }
    let mut slugs = existing_slugs(&mut tx, scope).await?;
    let now = db.now();
    // Every change is in the audit event, as the one-at-a-time edits record theirs: an import must not be a way to
    // change a price and change it back without a trace.
    let mut changes = Vec::with_capacity(plan.creates.len() + plan.updates.len());
    for line in &plan.creates {
        let slug = free_slug(&line.title, &mut slugs)?;
        create_one(&mut tx, scope, line, slug, now).await?;
        changes.push(serde_json::json!({"sku": line.sku, "created": true, "price_minor": line.price.minor,
            "stock": line.stock, "status": line.status.as_str()}));
    }
    for (line, k) in &plan.updates {
        changes.push(update_one(&mut tx, scope, line, k, now).await?);
    }
    refused.sort_by_key(|r| r.row);
    let report = Report { created: plan.creates.len(), updated: plan.updates.len(), refused };
    let details = serde_json::json!({
        "created": report.created, "updated": report.updated, "refused": report.refused.len(), "changes": changes,
    });
    let target = format!("store:{}", scope.store_id());
    palisade_store::audit::record_store(
        &mut tx,
        db,
        scope,
        palisade_store::audit::NewEvent::new("products.imported", &target).details(details),
    )
    .await?;
    if report.created + report.updated > 0 {
        palisade_store::storefront::touch(&mut tx, scope).await?;
    }
    tx.commit().await?;
    Ok(report)
}

/// The rows split into what is written, validated before any write.
struct Plan<'a> {
    creates: Vec<ImportLine>,
    updates: Vec<(ImportLine, &'a Known)>,
}

/// Each good row checked against the store: title, currency, and two rows of one product that disagree on its
/// title or status (the later one is refused, so the product does not end up with whichever came last).
fn plan(checked: Checked, known: &HashMap<String, Known>) -> (Plan<'_>, Vec<Refused>) {
    let mut refused = checked.refused;
    let mut out = Plan { creates: Vec::new(), updates: Vec::new() };
    let mut products: HashMap<ProductId, (u64, String, ProductStatus)> = HashMap::new();
    for mut line in checked.lines {
        // Control characters are dropped from titles; a title of nothing else is missing.
        line.title = match display_name("title", &line.title) {
            Ok(t) if !t.trim().is_empty() => t,
            Ok(_) => {
                refused.push(Refused { row: line.row, reason: "the title is missing".into() });
                continue;
            }
            Err(e) => {
                refused.push(Refused { row: line.row, reason: e.to_string() });
                continue;
            }
        };
        let Some(k) = known.get(&line.sku) else {
            out.creates.push(line);
            continue;
        };
        if k.currency != line.price.currency.code() {
            let reason = format!("SKU `{}` is priced in {}; this row's price is not", line.sku, k.currency);
            refused.push(Refused { row: line.row, reason });
            continue;
        }
        match products.get(&k.product) {
            Some((first, title, status)) if *title != line.title || *status != line.status => {
                let reason = format!(
                    "SKU `{}` belongs to the product of row {first}, which this row gives another title or status",
                    line.sku
                );
                refused.push(Refused { row: line.row, reason });
                continue;
            }
            Some(_) => {}
            None => {
                products.insert(k.product, (line.row, line.title.clone(), line.status));
            }
        }
        out.updates.push((line, k));
    }
    (out, refused)
}

/// The store's variants by SKU, read inside the import's transaction.
async fn known_variants(tx: &mut sqlx::AnyConnection, scope: &StaffScope) -> Result<HashMap<String, Known>> {
    let rows: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT sku, id, product_id, currency FROM variants WHERE store_id = $1")
            .bind(scope.store_key())
            .fetch_all(&mut *tx)
            .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for (sku, variant, product, currency) in rows {
        let k = Known { variant: stored_id("variant", &variant)?, product: stored_id("product", &product)?, currency };
        out.insert(sku, k);
    }
    Ok(out)
}

async fn existing_slugs(tx: &mut sqlx::AnyConnection, scope: &StaffScope) -> Result<HashSet<String>> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT slug FROM products WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_all(&mut *tx)
        .await?;
    Ok(rows.into_iter().map(|(s,)| s).collect())
}

/// A storefront address made from a title (`Teal mug (large)` → `teal-mug-large`), not yet used in the store:
/// `-2`, `-3` … is added when it is.
fn free_slug(title: &str, taken: &mut HashSet<String>) -> Result<Slug> {
    let mut base = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            base.push(c);
        } else if !base.is_empty() && !base.ends_with('-') {
            base.push('-');
        }
        if base.len() >= 40 {
            break;
        }
    }
    let mut base = base.trim_end_matches('-').to_owned();
    if !base.starts_with(|c: char| c.is_ascii_lowercase()) {
        base = format!("p-{base}").trim_end_matches('-').to_owned();
    }
    if base.len() < 2 {
        base = "product".to_owned();
    }
    let mut n = 1usize;
    loop {
        let candidate = if n == 1 { base.clone() } else { format!("{base}-{n}") };
        if !taken.contains(&candidate) {
            let slug = Slug::parse(&candidate).map_err(|e| CommerceError::Invalid(e.to_string()))?;
            taken.insert(candidate);
            return Ok(slug);
        }
        n += 1;
    }
}

/// A new product with the row's one variant.
async fn create_one(
    tx: &mut sqlx::AnyConnection,
    scope: &StaffScope,
    line: &ImportLine,
    slug: Slug,
    now: palisade_core::time::Timestamp,
) -> Result<()> {
    let id = ProductId::new();
    sqlx::query(
        "INSERT INTO products (id, store_id, slug, title, description, status, created_at, updated_at, category_id) \
         VALUES ($1, $2, $3, $4, '', $5, $6, $6, NULL)",
    )
    .bind(id.to_string())
    .bind(scope.store_key())
    .bind(slug.as_str())
    .bind(&line.title)
    .bind(line.status.as_str())
    .bind(now.0)
    .execute(&mut *tx)
    .await
    .map_err(|e| match e {
        // Slugs were chosen from the store's slugs read in this transaction: only a product created meanwhile by
        // someone else can take one (the whole import rolls back; applying again picks another).
        sqlx::Error::Database(ref d) if d.is_unique_violation() => CommerceError::ChangedMeanwhile("the catalog"),
        other => CommerceError::from(other),
    })?;
    let variant =
        NewVariant { sku: line.sku.clone(), options: line.options.clone(), price: line.price, stock: line.stock };
    crate::catalog::insert_variant(tx, scope, id, variant, now).await?;
    Ok(())
}

/// The row's variant gets its price and stock, its product the row's title and status (this store's rows only).
async fn update_one(
    tx: &mut sqlx::AnyConnection,
    scope: &StaffScope,
    line: &ImportLine,
    k: &Known,
    now: palisade_core::time::Timestamp,
) -> Result<serde_json::Value> {
    if line.price.minor < 0 || line.stock < 0 {
        return Err(CommerceError::Invalid(format!("{}: price and stock must not be negative", line.sku)));
    }
    let before: Option<(i64, i64, String, String)> = sqlx::query_as(
        "SELECT v.price_minor, v.stock, p.status, p.title FROM variants v JOIN products p ON p.id = v.product_id \
         WHERE v.store_id = $1 AND v.id = $2",
    )
    .bind(scope.store_key())
    .bind(k.variant.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let (price, stock, status, title) = before.ok_or(CommerceError::ChangedMeanwhile("a product of the import"))?;
    let change = serde_json::json!({
        "sku": line.sku, "variant": k.variant.to_string(),
        "price_minor": [price, line.price.minor], "stock": [stock, line.stock],
        "status": [status, line.status.as_str()], "title_changed": title != line.title,
    });
    let done = sqlx::query("UPDATE variants SET price_minor = $1, stock = $2 WHERE store_id = $3 AND id = $4")
        .bind(line.price.minor)
        .bind(line.stock)
        .bind(scope.store_key())
        .bind(k.variant.to_string())
        .execute(&mut *tx)
        .await?;
    let product =
        // A listing an operator hid stays unpublished whatever the file says (its other changes apply).
        sqlx::query(
            "UPDATE products SET title = $1, status = CASE WHEN hidden_by_operator = 1 AND $2 = 'published' \
             THEN status ELSE $2 END, updated_at = $3 WHERE store_id = $4 AND id = $5",
        )
            .bind(&line.title)
            .bind(line.status.as_str())
            .bind(now.0)
            .bind(scope.store_key())
            .bind(k.product.to_string())
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() != 1 || product.rows_affected() != 1 {
        return Err(CommerceError::ChangedMeanwhile("a product of the import"));
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_come_from_titles_and_never_collide() {
        let mut taken: HashSet<String> = ["teal-mug".to_owned()].into();
        assert_eq!(free_slug("Teal mug", &mut taken).unwrap().as_str(), "teal-mug-2");
        assert_eq!(free_slug("Teal mug", &mut taken).unwrap().as_str(), "teal-mug-3");
        assert_eq!(free_slug("-20% sale!", &mut taken).unwrap().as_str(), "p-20-sale");
        assert_eq!(free_slug("=1+1", &mut taken).unwrap().as_str(), "p-1-1");
        assert_eq!(free_slug("<script>", &mut taken).unwrap().as_str(), "script");
        assert_eq!(free_slug("茶", &mut taken).unwrap().as_str(), "product");
        assert_eq!(free_slug("茶", &mut taken).unwrap().as_str(), "product-2");
        assert!(free_slug(&"Long title ".repeat(20), &mut taken).unwrap().as_str().len() <= 48);
    }

    #[test]
    fn ids_are_64_hex_digits() {
        assert!(ImportId::parse(&"a".repeat(64)).is_some());
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(65), "../../etc/passwd"] {
            assert!(ImportId::parse(bad).is_none(), "{bad}");
        }
    }
}
