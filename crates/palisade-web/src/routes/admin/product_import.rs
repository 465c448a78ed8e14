//! The products CSV import (issue #18 item 13): the check (`POST …/products/import`, a multipart `file`) shows what
//! each row would do and keeps the checked file server-side for an hour; the apply (`POST …/products/import/apply`,
//! the import's id and the CSRF token, nothing else) reads the kept file again and writes it in one transaction
//! (`palisade_commerce::product_import`). Both need the products permission; permissions are listed with the other
//! store-admin pages in [`super::merchant::ROUTES`].

use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::routing::post;
use palisade_commerce::product_import::{self, ImportId};
use palisade_commerce::{CommerceError, catalog};
use palisade_store::StoreError;
use palisade_store::permissions::Permission;
use serde::Deserialize;
use serde_json::json;

use super::merchant::{PageResult, bad_form, invalid, page, scope, store_currency};
use crate::http::access::StaffAccess;
use crate::http::form::{Form, FormRejection};
use crate::http::{ApiError, PageError};
use crate::routes::admin::security_center::AdminError;
use crate::services::product_csv;
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/stores/{store}/products/import",
            post(import_preview).layer(axum::extract::DefaultBodyLimit::max(product_csv::MAX_FILE + 64 * 1024)),
        )
        .route("/admin/stores/{store}/products/import/apply", post(import_apply))
}

fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> AdminError {
    AdminError::Page(PageError(ApiError::new(status, code, message)))
}

/// An uploaded products CSV checked against the store: what each row would create or update (by SKU, this
/// store's only) and every refused row with its reason. Nothing is written to the catalog; a file with rows to
/// import is kept (for this person, an hour) so that the page's "Import" button applies exactly what was shown.
async fn import_preview(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Multipart, MultipartRejection>,
) -> PageResult {
    access.require(Permission::Products)?;
    let mut form = form.map_err(|e| invalid(format!("send the file as multipart/form-data: {}", e.body_text())))?;
    let mut file = None;
    while let Some(field) =
        form.next_field().await.map_err(|e| invalid(format!("the upload could not be read: {e}")))?
    {
        if field.name() == Some("file") {
            file = Some(field.bytes().await.map_err(|e| invalid(format!("the upload could not be read: {e}")))?);
        }
    }
    let bytes = file.ok_or_else(|| invalid("choose a CSV file"))?;
    let currency = store_currency(&state, &access).await?;
    let parsed = product_csv::parse(&bytes, currency).map_err(|e| {
        let status = match e {
            product_csv::FileError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        refused(status, "invalid_csv", e.to_string())
    })?;
    let existing = catalog::existing_skus(&state.db, scope(&access)).await?;
    let rows: Vec<_> = parsed
        .rows
        .iter()
        .map(|r| {
            json!({"row": r.row, "title": r.title, "sku": r.sku, "option": r.option, "price": r.price,
                   "stock": r.stock, "status": r.status, "update": existing.contains(&r.sku)})
        })
        .collect();
    let errors: Vec<_> = parsed.errors.iter().map(|e| json!({"row": e.row, "reason": e.reason})).collect();
    // `parse` accepted the bytes as UTF-8; the kept copy is that text.
    let import = match (parsed.rows.is_empty(), std::str::from_utf8(&bytes)) {
        (false, Ok(text)) => Some(product_import::keep(&state.db, scope(&access), text).await?.as_str().to_owned()),
        _ => None,
    };
    let ctx = json!({"rows": rows, "errors": errors, "import": import});
    page(&state, &access, "merchant_product_import.html", "products", ctx).await
}

#[derive(Debug, Deserialize)]
struct ApplyForm {
    import: String,
}

/// Applies a checked file by its id: creates and updates in one transaction, then shows what was done and every
/// row that was not, with its reason. Another store's or another person's id, a used or an expired one: 404.
async fn import_apply(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<ApplyForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Products)?;
    let Form(f) = form.map_err(bad_form)?;
    let not_found = || {
        refused(
            StatusCode::NOT_FOUND,
            "import_not_found",
            "This import is no longer available: it was already applied, or it expired (a checked file is kept \
             for one hour). Check the file again to import it.",
        )
    };
    let id = ImportId::parse(f.import.trim()).ok_or_else(not_found)?;
    let report =
        product_import::apply(&state.db, scope(&access), &id, product_csv::check).await.map_err(|e| match e {
            CommerceError::Store(StoreError::NotFound("import")) => not_found(),
            other => AdminError::from(other),
        })?;
    tracing::info!(
        store.id = %scope(&access).store_id(),
        import.created = report.created,
        import.updated = report.updated,
        import.refused = report.refused.len(),
        "products imported"
    );
    let refused: Vec<_> = report.refused.iter().map(|r| json!({"row": r.row, "reason": r.reason})).collect();
    let ctx = json!({"created": report.created, "updated": report.updated, "refused": refused});
    page(&state, &access, "merchant_product_import_done.html", "products", ctx).await
}
