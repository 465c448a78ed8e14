//! Product images: checked by their bytes (PNG, JPEG, GIF or WebP only — never SVG, which can carry script),
//! at most 5 MiB and 8000 px a side, stored content-addressed in object storage and served with the type we
//! detected rather than the one the uploader claimed.

use bytes::Bytes;
use palisade_core::time::Timestamp;
use palisade_core::{ImageId, ProductId};
use palisade_store::audit::{self, NewEvent};
use palisade_store::{Db, Objects, StaffScope, StoreError, StoreScope};
use serde::Serialize;

use crate::error::{CommerceError, Result, stored_id};

/// The largest accepted upload.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// The largest accepted side, in pixels.
pub const MAX_SIDE: usize = 8000;
/// Images per product.
pub const MAX_PER_PRODUCT: i64 = 12;

/// A stored image.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    pub id: ImageId,
    pub product_id: ProductId,
    pub content_type: String,
    pub width: i64,
    pub height: i64,
    pub bytes: i64,
    pub alt: String,
    pub created_at: Timestamp,
}

/// What the bytes are: content type and size. Refuses anything that is not a supported raster image.
pub fn inspect(bytes: &[u8]) -> Result<(&'static str, usize, usize)> {
    if bytes.is_empty() {
        return Err(CommerceError::Invalid("the file is empty".into()));
    }
    if bytes.len() > MAX_BYTES {
        return Err(CommerceError::Invalid(format!("images must be at most {} MiB", MAX_BYTES / 1024 / 1024)));
    }
    let kind = imagesize::image_type(bytes)
        .map_err(|_| CommerceError::Invalid("not an image: upload a PNG, JPEG, GIF or WebP file".into()))?;
    let content_type = match kind {
        imagesize::ImageType::Png => "image/png",
        imagesize::ImageType::Jpeg => "image/jpeg",
        imagesize::ImageType::Gif => "image/gif",
        imagesize::ImageType::Webp => "image/webp",
        _ => return Err(CommerceError::Invalid("unsupported image type: upload PNG, JPEG, GIF or WebP".into())),
    };
    let size =
        imagesize::blob_size(bytes).map_err(|_| CommerceError::Invalid("the image is damaged or truncated".into()))?;
    if size.width == 0 || size.height == 0 || size.width > MAX_SIDE || size.height > MAX_SIDE {
        return Err(CommerceError::Invalid(format!("images must be 1 to {MAX_SIDE} pixels a side")));
    }
    Ok((content_type, size.width, size.height))
}

type Row = (String, String, String, i64, i64, i64, String, i64);
const COLUMNS: &str = "id, product_id, content_type, width, height, bytes, alt, created_at";

fn from_row(r: Row) -> Result<Image> {
    Ok(Image {
        id: stored_id("image", &r.0)?,
        product_id: stored_id("product", &r.1)?,
        content_type: r.2,
        width: r.3,
        height: r.4,
        bytes: r.5,
        alt: r.6,
        created_at: Timestamp(r.7),
    })
}

/// Adds an image to one of the store's products.
pub async fn add(
    db: &Db,
    objects: &Objects,
    scope: &StaffScope,
    product: ProductId,
    bytes: Bytes,
    alt: &str,
) -> Result<Image> {
    let (content_type, width, height) = inspect(&bytes)?;
    let alt = alt.trim();
    if alt.chars().count() > 200 {
        return Err(CommerceError::Invalid("alt text is at most 200 characters".into()));
    }
    // Multipart fields do not pass the form extractor's NUL check; PostgreSQL could not store one.
    if alt.chars().any(char::is_control) {
        return Err(CommerceError::Invalid("alt text is one line without control characters".into()));
    }
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM product_images WHERE store_id = $1 AND product_id = $2")
            .bind(scope.store_key())
            .bind(product.to_string())
            .fetch_one(db.pool())
            .await?;
    if count >= MAX_PER_PRODUCT {
        return Err(CommerceError::Invalid(format!("a product has at most {MAX_PER_PRODUCT} images")));
    }
    // The product must be this store's before anything is written.
    crate::catalog::get_product(db, scope, product).await?;
    let size = bytes.len() as i64;
    // Written before the row: an object without a row is garbage a sweep can remove; a row without its object
    // would be a broken image.
    let key = objects.put_content("images", bytes).await?;
    let id = ImageId::new();
    let now = db.now();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO product_images (id, store_id, product_id, object_key, content_type, width, height, bytes, position, alt, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id.to_string())
    .bind(scope.store_key())
    .bind(product.to_string())
    .bind(&key)
    .bind(content_type)
    .bind(width as i64)
    .bind(height as i64)
    .bind(size)
    .bind(count)
    .bind(alt)
    .bind(now.0)
    .execute(&mut *tx)
    .await?;
    let target = format!("product:{product}");
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("image.added", &target).details(serde_json::json!({"image": id, "bytes": size})),
    )
    .await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(Image {
        id,
        product_id: product,
        content_type: content_type.to_owned(),
        width: width as i64,
        height: height as i64,
        bytes: size,
        alt: alt.to_owned(),
        created_at: now,
    })
}

/// A product's images in display order.
pub async fn list(db: &Db, scope: &StoreScope, product: ProductId) -> Result<Vec<Image>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM product_images WHERE store_id = $1 AND product_id = $2 ORDER BY position, id"
    )))
    .bind(scope.store_key())
    .bind(product.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// A product's first image (its thumbnail in the admin list), if it has any.
pub async fn first_of(db: &Db, scope: &StoreScope, product: ProductId) -> Result<Option<Image>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM product_images WHERE store_id = $1 AND product_id = $2 ORDER BY position, id LIMIT 1"
    )))
    .bind(scope.store_key())
    .bind(product.to_string())
    .fetch_optional(db.pool())
    .await?;
    row.map(from_row).transpose()
}

/// An image's type and bytes for serving. Shoppers get images of published products only.
pub async fn open(db: &Db, objects: &Objects, scope: &StoreScope, id: ImageId) -> Result<(String, Bytes)> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT i.object_key, i.content_type, p.status FROM product_images i JOIN products p ON p.id = i.product_id \
         WHERE i.store_id = $1 AND i.id = $2",
    )
    .bind(scope.store_key())
    .bind(id.to_string())
    .fetch_optional(db.pool())
    .await?;
    let (key, content_type, status) = row.ok_or(CommerceError::Store(StoreError::NotFound("image")))?;
    if status != "published" && scope.require_staff().is_err() {
        return Err(CommerceError::Store(StoreError::NotFound("image")));
    }
    let bytes = objects
        .get(&key)
        .await?
        .ok_or_else(|| CommerceError::Store(StoreError::Corrupt(format!("image {id}: its object {key} is missing"))))?;
    Ok((content_type, bytes))
}

/// Removes an image from its product (the object stays until no image refers to it).
pub async fn remove(db: &Db, scope: &StaffScope, id: ImageId) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("DELETE FROM product_images WHERE store_id = $1 AND id = $2")
        .bind(scope.store_key())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::Store(StoreError::NotFound("image")));
    }
    let target = format!("image:{id}");
    audit::record_store(&mut tx, db, scope, NewEvent::new("image.removed", &target)).await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(())
}
