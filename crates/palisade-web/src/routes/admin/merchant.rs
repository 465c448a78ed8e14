//! The merchant's store admin (HTML): products and stock, images, categories, disputes, payouts, theme and
//! storefront settings. Every route checks its permission on the server; merchant theme templates never render
//! here (admin pages use platform templates only). Orders are in [`super::orders`], the store's home dashboard in
//! [`super::home`].

use crate::http::form::Form;
use crate::http::form::FormRejection;
use crate::http::id_path::IdPath;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductEdit, ProductStatus};
use palisade_commerce::orders;
use palisade_commerce::{disputes, images, ledger, payouts, reviews, themes};
use palisade_core::money::{Currency, Money};
use palisade_core::text::Slug;
use palisade_core::{ProductId, VariantId};
use palisade_store::permissions::Permission;
use palisade_store::tenancy;
use serde::Deserialize;
use serde_json::json;

use crate::http::access::StaffAccess;
use crate::http::{ApiError, PageError};
use crate::routes::admin::security_center::AdminError;
use crate::services;
use crate::services::payouts::Refusal;
use crate::state::AppState;

/// Every store-admin commerce page with the permission it needs (`None`: any member); the permission test
/// walks this list with [`crate::routes::admin::security_center::ROUTES`].
pub const ROUTES: &[(&str, &str, Option<Permission>)] = &[
    ("GET", "/admin/stores/{store}/products", None),
    ("GET", "/admin/stores/{store}/products.csv", Some(Permission::Products)),
    ("POST", "/admin/stores/{store}/products/import", Some(Permission::Products)),
    ("POST", "/admin/stores/{store}/products/import/apply", Some(Permission::Products)),
    ("POST", "/admin/stores/{store}/products", Some(Permission::Products)),
    ("POST", "/admin/stores/{store}/categories", Some(Permission::Products)),
    ("GET", "/admin/stores/{store}/products/{product}", None),
    ("POST", "/admin/stores/{store}/products/{product}", Some(Permission::Products)),
    ("POST", "/admin/stores/{store}/products/{product}/status", Some(Permission::Products)),
    ("POST", "/admin/stores/{store}/products/{product}/images", Some(Permission::Products)),
    ("POST", "/admin/stores/{store}/images/{image}/remove", Some(Permission::Products)),
    ("POST", "/admin/stores/{store}/variants/{variant}", Some(Permission::Products)),
    ("GET", "/admin/stores/{store}/disputes", Some(Permission::Orders)),
    ("POST", "/admin/stores/{store}/disputes/{dispute}/respond", Some(Permission::Orders)),
    ("GET", "/admin/stores/{store}/messages", Some(Permission::Orders)),
    ("GET", "/admin/stores/{store}/messages/{thread}", Some(Permission::Orders)),
    ("POST", "/admin/stores/{store}/messages/{thread}", Some(Permission::Orders)),
    ("GET", "/admin/stores/{store}/payouts", Some(Permission::Payouts)),
    ("POST", "/admin/stores/{store}/payouts", Some(Permission::Payouts)),
    ("GET", "/admin/stores/{store}/theme", Some(Permission::Theme)),
    ("POST", "/admin/stores/{store}/theme", Some(Permission::Theme)),
    ("GET", "/admin/stores/{store}/settings", Some(Permission::Theme)),
    ("POST", "/admin/stores/{store}/settings", Some(Permission::Theme)),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .merge(super::product_import::routes())
        .route("/admin/stores/{store}/products", get(products).post(create_product))
        .route("/admin/stores/{store}/products.csv", get(export_products))
        .route("/admin/stores/{store}/categories", post(create_category))
        .route("/admin/stores/{store}/products/{product}", get(product).post(edit_product))
        .route("/admin/stores/{store}/products/{product}/status", post(product_status))
        .route(
            "/admin/stores/{store}/products/{product}/images",
            post(upload_image).layer(axum::extract::DefaultBodyLimit::max(crate::http::layers::UPLOAD_LIMIT)),
        )
        .route("/admin/stores/{store}/images/{image}/remove", post(remove_image))
        .route("/admin/stores/{store}/variants/{variant}", post(edit_variant))
        .route("/admin/stores/{store}/disputes", get(dispute_list))
        .route("/admin/stores/{store}/disputes/{dispute}/respond", post(respond))
        .route("/admin/stores/{store}/payouts", get(payout_page).post(payout))
        .route("/admin/stores/{store}/theme", get(theme_page).post(save_theme))
        .route("/admin/stores/{store}/settings", get(settings_page).post(save_settings))
}

pub(super) type PageResult = Result<Response, AdminError>;

pub(super) fn base(access: &StaffAccess) -> String {
    format!("/admin/stores/{}", access.membership.scope.store_id())
}

pub(super) fn scope(access: &StaffAccess) -> &palisade_store::StaffScope {
    &access.membership.scope
}

pub(super) async fn page(
    state: &AppState,
    access: &StaffAccess,
    template: &str,
    section: &str,
    ctx: serde_json::Value,
) -> PageResult {
    let store = tenancy::get_store(&state.db, scope(access)).await?;
    let (zone, now) = clock(state, access).await?;
    let mut full = json!({
        "operator": access.account.email,
        "store": {"id": store.id.to_string(), "slug": store.slug, "name": store.name, "currency": store.currency},
        "base": base(access),
        "section": section,
        "time_zone": zone,
        "now": now,
        "can": Permission::ALL.iter().filter(|p| access.membership.can(**p)).map(|p| p.key()).collect::<Vec<_>>(),
    });
    if let (Some(f), serde_json::Value::Object(c)) = (full.as_object_mut(), ctx) {
        f.extend(c);
    }
    Ok(Html(state.templates.render(template, full)?).into_response())
}

/// The store's time zone and the time now (ms): admin pages show times in the store's zone, as its shop does,
/// and "3 hours ago" against `now` (the `moment` filter), not in UTC.
pub(super) async fn clock(
    state: &AppState,
    access: &StaffAccess,
) -> Result<(palisade_core::zone::StoreZone, i64), AdminError> {
    Ok((orders::time_zone(&state.db, scope(access)).await?, state.db.now().0))
}

pub(super) fn back(to: String) -> PageResult {
    Ok(Redirect::to(&to).into_response())
}

/// Back to `to` after a save, saying what was saved (`code` from [`crate::http::notice`]'s table).
pub(super) fn saved_to(code: &'static str, to: String) -> PageResult {
    back(crate::http::notice::saved(&to, code))
}

pub(super) fn bad_form(e: FormRejection) -> AdminError {
    AdminError::Page(PageError(ApiError::from(e)))
}

pub(super) fn invalid(m: impl Into<String>) -> AdminError {
    AdminError::Page(PageError(ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)))
}

/// Parses an amount typed by a person ("12.50"; "500" in a yen store) with the store currency's minor digits;
/// a refusal is 400 with a stable code (`invalid_amount`, `negative_amount`, `amount_too_large`).
pub(crate) fn parse_amount(text: &str, currency: Currency) -> Result<Money, ApiError> {
    Money::parse(text, currency).map_err(ApiError::from)
}

pub(super) async fn store_currency(state: &AppState, access: &StaffAccess) -> Result<Currency, AdminError> {
    services::payouts::currency(state, scope(access)).await.map_err(|e| AdminError::Page(PageError(e)))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    page: Option<i64>,
    /// A fragment of a title or SKU.
    #[serde(default)]
    q: Option<String>,
    /// `draft`, `published` or `archived`; empty: all.
    #[serde(default)]
    status: Option<String>,
    /// `in_stock`, `low` or `sold_out`; empty: all.
    #[serde(default)]
    stock: Option<String>,
}

impl ListQuery {
    fn to_query(&self) -> Result<catalog::ProductQuery, AdminError> {
        let chosen = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(catalog::ProductQuery {
            text: chosen(&self.q),
            status: chosen(&self.status).map(|s| ProductStatus::parse(&s)).transpose()?,
            stock: chosen(&self.stock).map(|s| catalog::StockFilter::parse(&s)).transpose()?,
        })
    }
}

async fn products(State(state): State<AppState>, access: StaffAccess, Query(q): Query<ListQuery>) -> PageResult {
    let (pg, offset) = crate::routes::query::page(q.page, 50)?;
    let list = catalog::search_products(&state.db, scope(&access), &q.to_query()?, 50, offset).await?;
    let categories = catalog::list_categories(&state.db, scope(&access)).await?;
    let mut rows = Vec::with_capacity(list.len());
    for p in &list {
        let thumb = images::first_of(&state.db, scope(&access), p.id).await?;
        let mut row = json!(p);
        if let Some(o) = row.as_object_mut() {
            o.insert("thumb".into(), json!(thumb.map(|i| format!("/media/{}/{}", scope(&access).store_id(), i.id))));
        }
        rows.push(row);
    }
    // The filters as typed, for the form and for the paging links (which keep them).
    let keep: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            [("q", &q.q), ("status", &q.status), ("stock", &q.stock)]
                .iter()
                .filter_map(|(k, v)| v.as_deref().filter(|v| !v.trim().is_empty()).map(|v| (*k, v))),
        )
        .finish();
    let filtered = !keep.is_empty();
    page(
        &state,
        &access,
        "merchant_products.html",
        "products",
        json!({"products": rows, "categories": categories, "page": pg, "has_next": list.len() == 50,
               "q": q.q, "status": q.status, "stock": q.stock, "keep": keep, "filtered": filtered,
               "low_stock": catalog::LOW_STOCK}),
    )
    .await
}

/// Every product of the store as CSV, one row per variant (formula cells defused), as a download that no cache
/// keeps.
async fn export_products(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::Products)?;
    let mut all = Vec::new();
    let everything = catalog::ProductQuery::default();
    loop {
        let offset = i64::try_from(all.len()).unwrap_or(i64::MAX);
        let batch = catalog::search_products(&state.db, scope(&access), &everything, 100, offset).await?;
        let done = batch.len() < 100;
        all.extend(batch);
        if done {
            break;
        }
    }
    let bytes = services::product_csv::export(&all).map_err(|e| {
        tracing::error!(store.id = %scope(&access).store_id(), error = %e, "writing the products CSV failed");
        AdminError::Page(PageError(ApiError::internal()))
    })?;
    let name = format!("products-{}.csv", scope(&access).store_id());
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct NewProductForm {
    title: String,
    slug: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    category: String,
    sku: String,
    price: String,
    stock: String,
    #[serde(default)]
    publish: Option<String>,
}

async fn create_product(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<NewProductForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Products)?;
    let Form(f) = form.map_err(bad_form)?;
    let currency = store_currency(&state, &access).await?;
    let slug = Slug::parse(&f.slug).map_err(|e| invalid(e.to_string()))?;
    let price = parse_amount(&f.price, currency).map_err(PageError)?;
    let stock = f.stock.trim().parse::<i64>().map_err(|_| invalid("stock must be a whole number"))?;
    let p = catalog::create_product(
        &state.db,
        scope(&access),
        NewProduct {
            slug,
            title: f.title,
            description: f.description,
            status: if f.publish.is_some() { ProductStatus::Published } else { ProductStatus::Draft },
            category: (!f.category.is_empty()).then_some(f.category),
            variants: vec![NewVariant { sku: f.sku, options: json!({}), price, stock }],
        },
    )
    .await?;
    saved_to("product-created", format!("{}/products/{}", base(&access), p.id))
}

#[derive(Debug, Deserialize)]
struct CategoryForm {
    slug: String,
    name: String,
}

async fn create_category(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<CategoryForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Products)?;
    let Form(f) = form.map_err(bad_form)?;
    let slug = Slug::parse(&f.slug).map_err(|e| invalid(e.to_string()))?;
    catalog::create_category(&state.db, scope(&access), &slug, &f.name).await?;
    saved_to("category", format!("{}/products", base(&access)))
}

async fn product(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, ProductId)>,
) -> PageResult {
    let p = catalog::get_product(&state.db, scope(&access), id).await?;
    let imgs = images::list(&state.db, scope(&access), id).await?;
    let categories = catalog::list_categories(&state.db, scope(&access)).await?;
    let category = catalog::product_category(&state.db, scope(&access), id).await?;
    page(
        &state,
        &access,
        "merchant_product.html",
        "products",
        json!({"product": p, "images": imgs, "categories": categories, "category": category}),
    )
    .await
}

#[derive(Debug, Deserialize)]
struct EditForm {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    category: String,
}

async fn edit_product(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, ProductId)>,
    form: Result<Form<EditForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Products)?;
    let Form(f) = form.map_err(bad_form)?;
    catalog::update_product(
        &state.db,
        scope(&access),
        id,
        ProductEdit {
            title: f.title,
            description: f.description,
            category: (!f.category.is_empty()).then_some(f.category),
        },
    )
    .await?;
    saved_to("product", format!("{}/products/{id}", base(&access)))
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    status: String,
}

async fn product_status(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, ProductId)>,
    form: Result<Form<StatusForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Products)?;
    let Form(f) = form.map_err(bad_form)?;
    let status = ProductStatus::parse(&f.status)?;
    catalog::set_status(&state.db, scope(&access), id, status).await?;
    saved_to("product-status", format!("{}/products/{id}", base(&access)))
}

async fn upload_image(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, ProductId)>,
    form: Result<Multipart, MultipartRejection>,
) -> PageResult {
    access.require(Permission::Products)?;
    let mut form = form.map_err(|e| invalid(format!("send the image as multipart/form-data: {}", e.body_text())))?;
    let mut file = None;
    let mut alt = String::new();
    while let Some(field) =
        form.next_field().await.map_err(|e| invalid(format!("the upload could not be read: {e}")))?
    {
        match field.name() {
            Some("image") => {
                file = Some(field.bytes().await.map_err(|e| invalid(format!("the upload could not be read: {e}")))?)
            }
            Some("alt") => alt = field.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    let bytes = file.ok_or_else(|| invalid("choose an image file"))?;
    images::add(&state.db, &state.objects, scope(&access), id, bytes, &alt).await?;
    saved_to("image-added", format!("{}/products/{id}", base(&access)))
}

async fn remove_image(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, image)): IdPath<(String, palisade_core::ImageId)>,
) -> PageResult {
    access.require(Permission::Products)?;
    images::remove(&state.db, scope(&access), image).await?;
    saved_to("image-removed", format!("{}/products", base(&access)))
}

#[derive(Debug, Deserialize)]
struct VariantForm {
    #[serde(default)]
    price: Option<String>,
    #[serde(default)]
    stock: Option<String>,
    #[serde(default)]
    product: String,
}

async fn edit_variant(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, variant)): IdPath<(String, VariantId)>,
    form: Result<Form<VariantForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Products)?;
    let Form(f) = form.map_err(bad_form)?;
    // Every field is read and checked before anything is written, so a bad stock figure cannot leave a new
    // price saved behind an error.
    let price = match f.price.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(p) => Some(parse_amount(p, store_currency(&state, &access).await?).map_err(PageError)?),
        None => None,
    };
    let stock = match f.stock.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => return Err(invalid("stock must be a whole number, zero or more")),
        },
        None => None,
    };
    if let Some(price) = price {
        catalog::set_price(&state.db, scope(&access), variant, price).await?;
    }
    if let Some(stock) = stock {
        catalog::set_stock(&state.db, scope(&access), variant, stock).await?;
    }
    // The form names the product page to return to; only an id goes into the address (anything else lands on
    // the product list).
    match f.product.trim().parse::<ProductId>() {
        Ok(product) => saved_to("variant", format!("{}/products/{product}", base(&access))),
        Err(_) => back(format!("{}/products", base(&access))),
    }
}

async fn dispute_list(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::Orders)?;
    let list = disputes::list(&state.db, scope(&access)).await?;
    page(&state, &access, "merchant_disputes.html", "disputes", json!({"disputes": list})).await
}

#[derive(Debug, Deserialize)]
struct RespondForm {
    response: String,
}

async fn respond(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, palisade_core::DisputeId)>,
    form: Result<Form<RespondForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Orders)?;
    let Form(f) = form.map_err(bad_form)?;
    disputes::respond(&state.db, scope(&access), id, &f.response).await?;
    saved_to("dispute-answered", format!("{}/disputes", base(&access)))
}

async fn payout_page(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::Payouts)?;
    let currency = store_currency(&state, &access).await?;
    let balance = ledger::store_balance(&state.db, scope(&access), currency).await?;
    let held = ledger::escrow_total(&state.db, scope(&access)).await?;
    let list = payouts::list(&state.db, scope(&access)).await?;
    let rating = reviews::summary(&state.db, scope(&access)).await?;
    page(&state, &access, "merchant_payouts.html", "payouts", json!({"balance": Money::new(balance, currency), "held": Money::new(held, currency), "payouts": list, "rating": rating, "protection_days": state.config.commerce.protection_days(), "fee_bps": state.config.commerce.platform_fee_bps(), "fee_percent": state.config.commerce.fee_percent_text()})).await
}

#[derive(Debug, Deserialize)]
struct PayoutForm {
    amount: String,
}

async fn payout(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<PayoutForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Payouts)?;
    let Form(f) = form.map_err(bad_form)?;
    // Moving money out needs a person who entered their password in the last few minutes.
    match services::payouts::request(&state, &access, f.amount).await {
        Ok(_) => saved_to("payout", format!("{}/payouts", base(&access))),
        Err(Refusal::NotInteractive | Refusal::StepUpRequired) => {
            back(format!("/account/reauth?next={}/payouts", base(&access)))
        }
        Err(Refusal::Failed(e)) => Err(PageError(e).into()),
    }
}

#[derive(Debug, Deserialize)]
struct ThemeQuery {
    #[serde(default)]
    name: Option<String>,
}

async fn theme_page(State(state): State<AppState>, access: StaffAccess, Query(q): Query<ThemeQuery>) -> PageResult {
    access.require(Permission::Theme)?;
    let name = q.name.filter(|n| themes::EDITABLE.contains(&n.as_str())).unwrap_or_else(|| "product.html".to_owned());
    let all = themes::versions(&state.db, scope(&access)).await?;
    let mine: Vec<_> = all.iter().filter(|v| v.name == name).collect();
    let current = mine.first().map(|v| v.source.clone()).unwrap_or_else(|| {
        themes::DEFAULT.iter().find(|(n, _)| *n == name).map(|(_, s)| (*s).to_owned()).unwrap_or_default()
    });
    let broken: Vec<_> = all.iter().filter(|v| v.error.is_some()).collect();
    page(
        &state,
        &access,
        "merchant_theme.html",
        "theme",
        json!({"name": name, "editable": themes::EDITABLE, "versions": mine, "source": current, "broken": broken}),
    )
    .await
}

#[derive(Debug, Deserialize)]
struct ThemeForm {
    name: String,
    source: String,
}

async fn save_theme(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<ThemeForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Theme)?;
    let Form(f) = form.map_err(bad_form)?;
    themes::save(&state.db, scope(&access), &f.name, &f.source).await?;
    saved_to("theme", format!("{}/theme?name={}", base(&access), f.name))
}

async fn settings_page(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::Theme)?;
    let orders::Settings { flat_shipping_minor: shipping, tagline } =
        orders::settings(&state.db, scope(&access)).await?;
    let currency = store_currency(&state, &access).await?;
    let zone = orders::time_zone(&state.db, scope(&access)).await?;
    page(&state, &access, "merchant_settings.html", "settings", json!({"shipping": Money::new(shipping, currency), "shipping_text": Money::new(shipping, currency).plain(), "tagline": tagline, "time_zone": zone})).await
}

#[derive(Debug, Deserialize)]
struct SettingsForm {
    shipping: String,
    #[serde(default)]
    tagline: String,
    /// An IANA name; absent leaves the store's zone as it is.
    #[serde(default)]
    time_zone: Option<String>,
}

async fn save_settings(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<SettingsForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Theme)?;
    let Form(f) = form.map_err(bad_form)?;
    let currency = store_currency(&state, &access).await?;
    let shipping = parse_amount(&f.shipping, currency).map_err(PageError)?;
    let zone = f.time_zone.as_deref().map(palisade_core::zone::StoreZone::parse).transpose().map_err(|e| {
        PageError(ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid_time_zone", e.to_string()))
    })?;
    // Writes only after all checks: a bad tagline or zone must not leave the new shipping price saved behind an
    // error (the zone is parsed above; the tagline is checked before set_settings writes).
    orders::set_settings(&state.db, scope(&access), shipping.minor, &f.tagline).await?;
    if let Some(zone) = &zone {
        orders::set_time_zone(&state.db, scope(&access), zone).await?;
    }
    saved_to("settings", format!("{}/settings", base(&access)))
}
