//! Storefront themes. The default theme ships in `themes/default`; a merchant may override its templates for
//! their own store. Merchant templates are untrusted code, so they run in a locked-down minijinja environment:
//! HTML auto-escaping on for everything (and no `safe` filter to switch it off), a fuel budget and a recursion
//! limit (no template can loop forever or blow the stack), no loader (no file or network access: a template
//! sees only the theme's other templates and the context we pass).
//!
//! A merchant template that fails to render never shows the shopper a 500: the failing version is marked
//! broken with its error (shown in the merchant's admin) and the page renders again with that template's last
//! version that did render, or the default theme's.

use palisade_store::db::ExecuteWrite;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use minijinja::{AutoEscape, Environment, Value};
use palisade_core::money::{Currency, Money};
use palisade_core::time::Timestamp;
use palisade_store::audit::{self, NewEvent};
use palisade_store::{Db, StaffScope, StoreError, StoreScope};
use serde::Serialize;

use crate::error::{CommerceError, Result};
use crate::theme_output::{self, render_capped};

/// The default theme's templates, compiled into the binary.
pub const DEFAULT: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../../themes/default/templates/layout.html")),
    ("macros.html", include_str!("../../../themes/default/templates/macros.html")),
    ("home.html", include_str!("../../../themes/default/templates/home.html")),
    ("search.html", include_str!("../../../themes/default/templates/search.html")),
    ("store.html", include_str!("../../../themes/default/templates/store.html")),
    ("product.html", include_str!("../../../themes/default/templates/product.html")),
    ("cart.html", include_str!("../../../themes/default/templates/cart.html")),
    ("order.html", include_str!("../../../themes/default/templates/order.html")),
    ("orders.html", include_str!("../../../themes/default/templates/orders.html")),
    ("message.html", include_str!("../../../themes/default/templates/message.html")),
];

/// The platform's own parts of every storefront page, never editable and never in a merchant's environment: the
/// document shell around a merchant-rendered body, and the slots (see [`crate::theme_output`]).
pub const PLATFORM: &[(&str, &str)] = &[
    ("shell.html", include_str!("../../../themes/default/templates/shell.html")),
    ("slot_search.html", include_str!("../../../themes/default/templates/slot_search.html")),
    ("slot_buy.html", include_str!("../../../themes/default/templates/slot_buy.html")),
    // The platform's word on the seller above every store page (verified or not, safety rating, report).
    ("trust_bar.html", include_str!("../../../themes/default/templates/trust_bar.html")),
    // The buyer's own pages: sign-in, registration and the account area (they carry the request's token and
    // the account's details, so never a merchant's environment).
    ("login.html", include_str!("../../../themes/default/templates/login.html")),
    ("register.html", include_str!("../../../themes/default/templates/register.html")),
    ("account_tabs.html", include_str!("../../../themes/default/templates/account_tabs.html")),
    ("account_profile.html", include_str!("../../../themes/default/templates/account_profile.html")),
    ("account_addresses.html", include_str!("../../../themes/default/templates/account_addresses.html")),
    ("account_address.html", include_str!("../../../themes/default/templates/account_address.html")),
    ("address_fields.html", include_str!("../../../themes/default/templates/address_fields.html")),
    ("account_security.html", include_str!("../../../themes/default/templates/account_security.html")),
    ("account_data.html", include_str!("../../../themes/default/templates/account_data.html")),
    // Messages with sellers and scam reports.
    ("account_messages.html", include_str!("../../../themes/default/templates/account_messages.html")),
    ("account_thread.html", include_str!("../../../themes/default/templates/account_thread.html")),
    ("account_contact.html", include_str!("../../../themes/default/templates/account_contact.html")),
    ("account_report.html", include_str!("../../../themes/default/templates/account_report.html")),
    ("security_panel.html", SECURITY_PANEL),
    // Two-step verification set-up, recovery codes and re-entering the password, reached from the security tab.
    ("account_reauth.html", include_str!("../../../themes/default/templates/account_reauth.html")),
    ("account_totp_setup.html", include_str!("../../../themes/default/templates/account_totp_setup.html")),
    ("account_recovery_codes.html", include_str!("../../../themes/default/templates/account_recovery_codes.html")),
];

/// The account's security panel (two-step verification, passkeys, sessions): the one source the platform's own
/// account page includes too.
pub const SECURITY_PANEL: &str = include_str!("../../../themes/default/templates/security_panel.html");

/// The default theme's stylesheet.
pub const DEFAULT_CSS: &str = include_str!("../../../themes/default/assets/theme.css");

/// The templates a merchant may override: the pages of their own store. Marketplace-wide pages (home, search,
/// cart) and the payment page always use platform templates.
pub const EDITABLE: &[&str] = &["layout.html", "macros.html", "store.html", "product.html", STYLESHEET];

/// The theme's own stylesheet: an asset, not a template (never compiled; served at `/s/{store}/theme.css` after
/// the default one). The storefront's CSP keeps it from loading anything from elsewhere.
pub const STYLESHEET: &str = "theme.css";

fn is_template(name: &str) -> bool {
    name != STYLESHEET
}

/// Work one render may do (minijinja fuel units): generous for a real page, a hard stop for a runaway loop.
pub const FUEL: u64 = 200_000;
/// Nesting depth for includes, macros and blocks.
pub const RECURSION_LIMIT: usize = 24;
/// Largest template source.
pub const MAX_SOURCE: usize = 64 * 1024;

/// The `money` filter: `{minor, currency}` → `SGD 12.50` (shared with the platform's own templates).
pub fn money_filter(v: Value) -> String {
    let minor = v.get_attr("minor").ok().and_then(|m| i64::try_from(m).ok());
    let currency = v.get_attr("currency").ok().and_then(|c| c.as_str().and_then(|c| Currency::parse(c).ok()));
    match (minor, currency) {
        (Some(m), Some(c)) => Money::new(m, c).to_string(),
        _ => String::new(),
    }
}

/// The zone a page's times are shown in: its context's `time_zone` (the store's), else UTC.
fn zone_of(state: &minijinja::State<'_, '_>) -> Option<palisade_core::zone::StoreZone> {
    let name = state.lookup("time_zone")?;
    palisade_core::zone::StoreZone::parse(name.as_str()?).ok()
}

/// The `when` filter: an instant (ms) as a local date and time in the page's `time_zone` (UTC without one).
/// Shared with the platform's own templates.
pub fn when_filter(state: &minijinja::State<'_, '_>, ms: i64) -> String {
    match zone_of(state) {
        Some(z) => z.local(Timestamp(ms)),
        None => Timestamp(ms).to_string(),
    }
}

/// The `ago` filter: "today", "3 days ago" … against the page's `now` (ms), in its `time_zone`; a page without
/// `now` shows the local time instead.
pub fn ago_filter(state: &minijinja::State<'_, '_>, ms: i64) -> String {
    let zone = zone_of(state).unwrap_or_default();
    match state.lookup("now").and_then(|n| i64::try_from(n).ok()) {
        Some(now) => zone.ago(Timestamp(ms), Timestamp(now)),
        None => zone.local(Timestamp(ms)),
    }
}

/// A locked-down environment holding `sources`.
pub fn sandbox(sources: &BTreeMap<String, String>) -> std::result::Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.remove_filter("safe");
    env.remove_global("debug");
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.add_filter("money", money_filter);
    env.add_filter("when", when_filter);
    env.add_filter("ago", ago_filter);
    env.add_filter("rich_text", crate::rich_text::filter);
    env.add_function("slot", theme_output::slot_function);
    env.add_filter("stars", |r: f64| {
        let full = r.round().clamp(0.0, 5.0) as usize;
        format!("{}{}", "★".repeat(full), "☆".repeat(5 - full))
    });
    for (name, source) in sources {
        env.add_template_owned(name.clone(), source.clone())?;
    }
    Ok(env)
}

fn default_sources() -> BTreeMap<String, String> {
    DEFAULT.iter().map(|(n, s)| ((*n).to_owned(), (*s).to_owned())).collect()
}

/// One saved version of a merchant template.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub name: String,
    pub version: i64,
    pub source: String,
    pub good: bool,
    pub error: Option<String>,
    pub error_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

type Row = (String, i64, String, i64, Option<String>, Option<i64>, i64);

fn from_row(r: Row) -> Version {
    Version {
        name: r.0,
        version: r.1,
        source: r.2,
        good: r.3 != 0,
        error: r.4,
        error_at: r.5.map(Timestamp),
        created_at: Timestamp(r.6),
    }
}

/// Every version of the store's templates, newest first: the merchant's theme history (sources, errors), so
/// staff only; the storefront's renderer reads them through [`all_versions`].
pub async fn versions(db: &Db, scope: &StaffScope) -> Result<Vec<Version>> {
    all_versions(db, scope).await
}

/// The merchant versions the storefront renders now, one per template name (as [`choose`] picks them: the newest
/// not known broken, else the newest that rendered before). A scan must read these, not simply the newest: a newest
/// version that fails to render leaves an older one on the pages.
pub async fn in_use(db: &Db, scope: &StaffScope) -> Result<Vec<Version>> {
    let all = all_versions(db, scope).await?;
    Ok(choose(&all).into_values().cloned().collect())
}

async fn all_versions(db: &Db, scope: &StoreScope) -> Result<Vec<Version>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT name, version, source, good, error, error_at, created_at FROM theme_templates WHERE store_id = $1 \
         ORDER BY name, version DESC",
    )
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Saves a new version of one template. Syntax errors are refused here (with the line); errors that only show
/// when rendering are caught by the fallback. Staff only: the type says so, no run-time check to forget.
pub async fn save(db: &Db, scope: &StaffScope, name: &str, source: &str) -> Result<Version> {
    let mut theme = BTreeMap::new();
    for v in latest(&versions(db, scope).await?) {
        theme.insert(v.name.clone(), v.source.clone());
    }
    check(name, source, &theme)?;
    let mut tx = db.begin_write().await?;
    let (next,): (i64,) =
        sqlx::query_as("SELECT COALESCE(MAX(version), 0) + 1 FROM theme_templates WHERE store_id = $1 AND name = $2")
            .bind(scope.store_key())
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
    let now = db.now();
    sqlx::query(
        "INSERT INTO theme_templates (id, store_id, name, version, source, good, created_by, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
    )
    .bind(palisade_core::JobId::new().to_string())
    .bind(scope.store_key())
    .bind(name)
    .bind(next)
    .bind(source)
    .bind(scope.actor().as_audit_text())
    .bind(now.0)
    .execute(&mut *tx)
    .await?;
    let target = format!("theme:{name}");
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("theme.saved", &target).details(serde_json::json!({"version": next})),
    )
    .await?;
    // A saved template is live on the next page: for apps, the theme was published.
    let data = serde_json::json!({"template": name, "version": next});
    crate::webhooks::deliveries::emit_on(
        &mut tx,
        db,
        scope,
        palisade_registry::names::WebhookTopic::ThemePublished,
        &data,
    )
    .await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(Version {
        name: name.to_owned(),
        version: next,
        source: source.to_owned(),
        good: false,
        error: None,
        error_at: None,
        created_at: now,
    })
}

/// The checks a template must pass before it may be stored, whichever way it arrives (a save, an imported
/// archive): a name merchants may edit, at most [`MAX_SOURCE`], and — for templates — compiling together with
/// `theme` (the store's other templates, name → source; the default theme fills the rest) and a trial render of
/// the store's pages on sample data, which catches what only shows when rendering (unknown filters such as
/// `safe`, bad calls, runaway loops) before shoppers could meet it.
pub fn check(name: &str, source: &str, theme: &BTreeMap<String, String>) -> Result<()> {
    if !EDITABLE.contains(&name) {
        return Err(CommerceError::Invalid(format!(
            "`{name}` is not a template merchants can edit ({})",
            EDITABLE.join(", ")
        )));
    }
    if source.len() > MAX_SOURCE {
        return Err(CommerceError::Invalid(format!("a template is at most {} KiB", MAX_SOURCE / 1024)));
    }
    if !is_template(name) {
        return check_stylesheet(source);
    }
    let mut sources = default_sources();
    for (n, s) in theme.iter().filter(|(n, _)| is_template(n) && EDITABLE.contains(&n.as_str())) {
        sources.insert(n.clone(), s.clone());
    }
    sources.insert(name.to_owned(), source.to_owned());
    let env = sandbox(&sources).map_err(|e| CommerceError::Invalid(format!("{name} does not compile: {e}")))?;
    let sample = sample_context();
    for page in ["store.html", "product.html"] {
        env.get_template(page)
            .and_then(|t| render_capped(&t, Value::from(minijinja::value::Serde(&sample))))
            .map_err(|e| CommerceError::Invalid(format!("{name} fails when {page} renders with sample data: {e:#}")))?;
    }
    Ok(())
}

/// Attributes whose values are the page's secrets or the shopper's: the synchronizer token in the platform's
/// forms (`value`), signed links (`href`, `action`, `src`). A selector that tests them, one prefix at a time,
/// with a background fetched per match, would read them out into the store's own traffic samples.
const SECRET_ATTRIBUTES: [&str; 6] = ["value", "href", "src", "action", "formaction", "content"];

/// The attribute each selector of `folded` (comment-free, whitespace-free, lower-case CSS) reads, with any
/// namespace prefix (`*|value`, `|value`, `svg|href`) removed: the name a browser matches.
fn selected_attributes(folded: &str) -> impl Iterator<Item = &str> {
    folded.split('[').skip(1).map(|segment| {
        let inner = segment.split(']').next().unwrap_or_default();
        // A `|` that is not the start of the `|=` operator ends a namespace prefix.
        let unprefixed = match inner.find('|') {
            Some(bar) if inner.as_bytes().get(bar + 1) != Some(&b'=') => inner.get(bar + 1..).unwrap_or_default(),
            _ => inner,
        };
        let end = unprefixed.find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')).unwrap_or(unprefixed.len());
        unprefixed.get(..end).unwrap_or_default()
    })
}

/// The stylesheet as the browser tokenises it, minus comments: a `/*` inside a quoted string is text, not a
/// comment (a sheet that hid `@layer` between `content: "/*"` and `content: "*/"` passed an earlier, string-blind
/// version of this check). Braces must balance outside strings and comments, so the sheet cannot close the
/// platform's `@scope` block it is served in; an unterminated string or comment is refused.
fn without_comments(css: &str) -> Result<String> {
    let mut plain = String::with_capacity(css.len());
    let mut chars = css.chars().peekable();
    let mut depth: i64 = 0;
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                plain.push(c);
                loop {
                    match chars.next() {
                        Some(q) if q == c => {
                            plain.push(q);
                            break;
                        }
                        Some('\n') | None => {
                            return Err(CommerceError::Invalid("theme.css has an unterminated string".into()));
                        }
                        Some(other) => plain.push(other),
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut closed = false;
                while let Some(x) = chars.next() {
                    if x == '*' && chars.peek() == Some(&'/') {
                        chars.next();
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Err(CommerceError::Invalid("theme.css has an unterminated comment".into()));
                }
                plain.push(' ');
            }
            '{' => {
                depth += 1;
                plain.push(c);
            }
            '}' => {
                depth -= 1;
                if depth < 0 {
                    return Err(CommerceError::Invalid("theme.css closes a brace it never opened".into()));
                }
                plain.push(c);
            }
            _ => plain.push(c),
        }
    }
    if depth != 0 {
        return Err(CommerceError::Invalid("theme.css leaves a brace open".into()));
    }
    Ok(plain)
}

/// The stylesheet as served: inside `@scope (.store-theme)`, so its rules reach only the theme's own page (the
/// box the platform draws it in), never the document, the `<body>` or the platform's trust bar beside it.
#[must_use]
pub fn scoped_stylesheet(css: &str) -> String {
    format!("@scope (.store-theme) {{\n{css}\n}}\n")
}

/// The merchant's stylesheet may style anything but must not read the page: no `@import` or `@namespace`, no
/// attribute selector over [`SECRET_ATTRIBUTES`] in any namespace, and no backslash escapes (which would spell
/// those names past this check).
fn check_stylesheet(css: &str) -> Result<()> {
    if css.contains('\\') {
        return Err(CommerceError::Invalid("theme.css may not use backslash escapes".into()));
    }
    let plain = without_comments(css)?;
    let folded: String = plain.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect();
    // `@layer`: the platform's chrome is styled in a cascade layer whose `!important` rules outrank any unlayered
    // rule; a theme declaring layers of its own could join or reorder them. `@scope`: the sheet is served inside
    // the platform's `@scope (.store-theme)` ([`scoped_stylesheet`]). `@font-face`: a face named like the bar's
    // fonts could swap its glyphs.
    for rule in ["@import", "@namespace", "@layer", "@scope", "@font-face"] {
        if folded.contains(rule) {
            return Err(CommerceError::Invalid(format!("theme.css may not use {rule}")));
        }
    }
    if let Some(name) = ["platform-", "store-theme", "verified-seller"].into_iter().find(|n| folded.contains(n)) {
        return Err(CommerceError::Invalid(format!(
            "theme.css may not name the platform's own elements ({name}…): the seller information above the page is not the theme's"
        )));
    }
    if let Some(attr) = selected_attributes(&folded).find(|a| SECRET_ATTRIBUTES.contains(a)) {
        return Err(CommerceError::Invalid(format!(
            "theme.css may not select on the {attr} attribute: it holds the page's security tokens and links"
        )));
    }
    Ok(())
}

/// Context shaped like the storefront's (see themes/default/README.md), for trial renders.
#[must_use]
pub fn sample_context() -> serde_json::Value {
    let price = serde_json::json!({"minor": 1250, "currency": "SGD"});
    let card = serde_json::json!({"id": "p1", "slug": "sample", "title": "Sample product", "store_slug": "sample-store",
        "store_name": "Sample Store", "price": price, "image_id": null, "in_stock": true, "url": "/s/sample-store/p/sample", "image_url": null});
    serde_json::json!({
        "site": {"name": "Palisade Market"}, "shopper": null, "cart_count": 0, "query": "", "flash": null,
        "store": {"id": "s1", "slug": "sample-store", "name": "Sample Store", "tagline": "A sample", "url": "/s/sample-store",
                  "rating": {"average": 4.5, "count": 2}, "shipping": price},
        "categories": [{"id": "c1", "slug": "things", "name": "Things", "products": 1}], "category": "",
        "products": {"cards": [card], "page": 1, "has_next": false, "next_url": null, "prev_url": null},
        "reviews": [{"reviewer": "s***@example.com", "rating": 5, "body": "Great", "created_at": 0}],
        "product": {"id": "p1", "slug": "sample", "title": "Sample product", "description": "A sample.", "url": "/s/sample-store/p/sample",
                    "status": "published", "variants": [{"id": "v1", "sku": "S-1", "options": {"size": "M"}, "price": price, "stock": 3}]},
        "images": [{"id": "i1", "url": "/media/sample-store/i1", "alt": "Sample", "width": 240, "height": 240}],
    })
}

/// The store's own stylesheet (newest version), if it has one that passes today's stylesheet check. A version
/// saved before a rule was added (or written by any other road) is checked again here and not served when it
/// fails: the page then has the default theme's look, and the merchant's saving it again shows why.
pub async fn stylesheet(db: &Db, scope: &StoreScope) -> Result<Option<(i64, String)>> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT version, source FROM theme_templates WHERE store_id = $1 AND name = $2 ORDER BY version DESC LIMIT 1",
    )
    .bind(scope.store_key())
    .bind(STYLESHEET)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.filter(|(version, css)| match check_stylesheet(css) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(store.id = %scope.store_id(), theme.version = version, error = %e, "stored theme.css refused");
            false
        }
    }))
}

/// The newest version of each template (given versions newest first per name).
fn latest(all: &[Version]) -> Vec<&Version> {
    let mut seen = std::collections::HashSet::new();
    all.iter().filter(|v| seen.insert(v.name.clone())).collect()
}

/// Which merchant version (if any) renders each template: the newest not known broken, else the newest that
/// has rendered before; templates with neither use the default theme.
fn choose(all: &[Version]) -> BTreeMap<String, &Version> {
    let mut chosen: BTreeMap<String, &Version> = BTreeMap::new();
    for v in all {
        if chosen.contains_key(&v.name) {
            continue;
        }
        let newest_of_name = all.iter().find(|x| x.name == v.name).map(|x| x.version) == Some(v.version);
        if (newest_of_name && v.error.is_none()) || v.good {
            chosen.insert(v.name.clone(), v);
        }
    }
    chosen
}

struct Compiled {
    env: Environment<'static>,
    /// template name → merchant version in use
    used: HashMap<String, (i64, bool)>,
}

/// The result of rendering a storefront page.
#[derive(Debug)]
pub struct Rendered {
    pub html: String,
    /// Set when a merchant template failed and a fallback was used.
    pub fell_back: bool,
}

/// Renders storefront pages from the default theme or a store's own, with per-store compiled themes cached
/// until the store saves a template (or a node marks one broken).
pub struct Renderer {
    default: Environment<'static>,
    cache: Mutex<HashMap<String, (String, Arc<Compiled>)>>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer").finish_non_exhaustive()
    }
}

impl Renderer {
    /// Compiles the default theme; an error here is a defect in the shipped theme.
    pub fn new() -> std::result::Result<Self, minijinja::Error> {
        let mut sources = default_sources();
        sources.extend(PLATFORM.iter().map(|(n, s)| ((*n).to_owned(), (*s).to_owned())));
        Ok(Self { default: sandbox(&sources)?, cache: Mutex::new(HashMap::new()) })
    }

    fn platform_template(&self, page: &str, ctx: Value) -> Result<String> {
        self.default
            .get_template(page)
            .and_then(|t| render_capped(&t, ctx))
            .map_err(|e| CommerceError::Store(StoreError::Corrupt(format!("default theme, {page}: {e:#}"))))
    }

    /// Fills the slots of a rendered page from the platform's own templates.
    fn fill_slots(&self, html: &str, ctx: &Value) -> Result<String> {
        theme_output::fill_slots(html, |name| {
            if name == "extensions" {
                Ok(theme_output::extension_blocks(ctx))
            } else {
                self.platform_template(&format!("slot_{name}.html"), ctx.clone())
            }
        })
    }

    /// A marketplace page from the default theme (home, search, cart, orders). `csrf` is the synchronizer token
    /// of the request, for the platform's own forms; it reaches only platform templates.
    pub fn render_default<S: Serialize>(&self, page: &str, ctx: &S, csrf: &str) -> Result<String> {
        let ctx = minijinja::context! { csrf => csrf, ..Value::from(minijinja::value::Serde(ctx)) };
        let html = self.platform_template(page, ctx.clone())?;
        self.fill_slots(&html, &ctx)
    }

    /// The trust bar of a store page (empty unless the context has `trust`): rendered from the platform's own
    /// template and handed only to platform templates, so no theme can forge or drop it.
    fn trust_bar(&self, ctx: &Value) -> Result<Value> {
        Ok(Value::from_safe_string(self.platform_template("trust_bar.html", ctx.clone())?))
    }

    /// Puts a merchant-rendered page into the platform's shell: cleaned body, title text, platform slots and
    /// the trust bar.
    fn finish_merchant<S: Serialize>(&self, raw: &str, ctx: &S, csrf: &str) -> Result<String> {
        let page = theme_output::clean_page(raw);
        let ctx = minijinja::context! { csrf => csrf, ..Value::from(minijinja::value::Serde(ctx)) };
        let shell_ctx = minijinja::context! {
            title => Value::from_safe_string(page.title),
            body => Value::from_safe_string(page.body),
            platform_trust => self.trust_bar(&ctx)?,
            ..ctx.clone()
        };
        let html = self.platform_template("shell.html", shell_ctx)?;
        self.fill_slots(&html, &ctx)
    }

    async fn revision(db: &Db, scope: &StoreScope) -> Result<String> {
        let (n, last, broken): (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(MAX(created_at), 0), CAST(COALESCE(SUM(CASE WHEN error IS NULL THEN 0 ELSE 1 END) * 100000 + SUM(good), 0) AS BIGINT) \
             FROM theme_templates WHERE store_id = $1",
        )
        .bind(scope.store_key())
        .fetch_one(db.pool())
        .await?;
        Ok(format!("{n}:{last}:{broken}"))
    }

    async fn compiled(&self, db: &Db, scope: &StoreScope) -> Result<Option<Arc<Compiled>>> {
        let rev = Self::revision(db, scope).await?;
        if rev.starts_with("0:") {
            return Ok(None);
        }
        let key = scope.store_key();
        if let Ok(cache) = self.cache.lock()
            && let Some((r, c)) = cache.get(&key)
            && *r == rev
        {
            return Ok(Some(c.clone()));
        }
        // Only the names merchants may edit, whatever the table holds (a row written before the import checks).
        let all: Vec<Version> = all_versions(db, scope)
            .await?
            .into_iter()
            .filter(|v| is_template(&v.name) && EDITABLE.contains(&v.name.as_str()))
            .collect();
        let chosen = choose(&all);
        let mut sources = default_sources();
        let mut used = HashMap::new();
        for (name, v) in &chosen {
            sources.insert(name.clone(), v.source.clone());
            used.insert(name.clone(), (v.version, v.good));
        }
        let env = match sandbox(&sources) {
            Ok(env) => env,
            // Saved templates compiled when saved; if the set no longer does, serve the default theme.
            Err(e) => {
                tracing::warn!(store = %key, error = %e, "store theme does not compile; using the default theme");
                return Ok(None);
            }
        };
        let compiled = Arc::new(Compiled { env, used });
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (rev, compiled.clone()));
        }
        Ok(Some(compiled))
    }

    /// A page of one store, from its theme, falling back template by template on errors. What the store's own
    /// templates render is cleaned and put in the platform's shell ([`crate::theme_output`]); the merchant's
    /// templates never see `csrf`.
    pub async fn render_store<S: Serialize>(
        &self,
        db: &Db,
        scope: &StoreScope,
        page: &str,
        ctx: &S,
        csrf: &str,
    ) -> Result<Rendered> {
        let mut fell_back = false;
        for _ in 0..=EDITABLE.len() {
            let Some(theme) = self.compiled(db, scope).await? else { break };
            match theme
                .env
                .get_template(page)
                .and_then(|t| render_capped(&t, Value::from(minijinja::value::Serde(ctx))))
            {
                Ok(raw) => {
                    for (name, (version, good)) in &theme.used {
                        if !good {
                            mark_good(db, scope, name, *version).await?;
                        }
                    }
                    let html = self.finish_merchant(&raw, ctx, csrf)?;
                    return Ok(Rendered { html, fell_back });
                }
                Err(e) => {
                    fell_back = true;
                    let culprit = e.name().map(str::to_owned).unwrap_or_else(|| page.to_owned());
                    let message = format!("{e:#}");
                    tracing::warn!(store = %scope.store_key(), template = %culprit, error = %message, "merchant template failed; falling back");
                    let Some((version, _)) = theme.used.get(&culprit) else {
                        // The failure is not in a merchant template we can blame: render the default theme.
                        break;
                    };
                    mark_broken(db, scope, &culprit, *version, &message).await?;
                }
            }
        }
        let ctx = minijinja::context! { csrf => csrf, ..Value::from(minijinja::value::Serde(ctx)) };
        let ctx = minijinja::context! { platform_trust => self.trust_bar(&ctx)?, ..ctx };
        let html = self.platform_template(page, ctx.clone())?;
        let html = self.fill_slots(&html, &ctx)?;
        Ok(Rendered { html, fell_back })
    }
}

async fn mark_good(db: &Db, scope: &StoreScope, name: &str, version: i64) -> Result<()> {
    sqlx::query(
        "UPDATE theme_templates SET good = 1 WHERE store_id = $1 AND name = $2 AND version = $3 AND error IS NULL",
    )
    .bind(scope.store_key())
    .bind(name)
    .bind(version)
    .execute_write(db)
    .await?;
    Ok(())
}

async fn mark_broken(db: &Db, scope: &StoreScope, name: &str, version: i64, error: &str) -> Result<()> {
    let error: String = error.chars().take(2000).collect();
    // Pages rendered with the broken version are replaced by the fallback's, on every node.
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE theme_templates SET error = $1, error_at = $2, good = 0 WHERE store_id = $3 AND name = $4 AND version = $5")
        .bind(error)
        .bind(db.now().0)
        .bind(scope.store_key())
        .bind(name)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_stylesheet_cannot_read_the_pages_tokens() {
        let none = BTreeMap::new();
        assert!(check(STYLESHEET, "body { background: #fdf6e3; } a[title] { color: red }", &none).is_ok());
        assert!(check(STYLESHEET, "[lang|=en] { color: red } button[type=submit] { color: blue }", &none).is_ok());
        for evil in [
            "input[value^=\"a\"] ~ * { background: url(/s/alpha/leak-a) }",
            "form:has(input[ VALUE *= 'b']) { background: url(/s/alpha/b) }",
            "input[v/* */alue^=a] { color: red }",
            "input[v\\61lue^=a] { color: red }",
            "a[href*=\"sig=\"] { background: url(/s/alpha/x) }",
            "@import url(/s/alpha/other.css);",
            "@layer platform { .x { display: none !important } }",
            "@LAYER a, b;",
            ".platform-trust { display: none !important }",
            "#verified-seller { color: red }",
            "div.Store-Theme > * { position: fixed }",
            "a::after{content:\"/*\"} @layer platform{.platform-trust{display:none!important}} b::after{content:\"*/\"}",
            "} body { margin-top: -90px } a {",
            "a { color: red }}",
            "a { color: red",
            "a::after { content: \"/* open",
            "/* open",
            "@scope (body) { aside { display: none } }",
            "@font-face { font-family: \"Segoe UI\"; src: local(Wingdings) }",
            "form:has(input[*|value^=\"a\"]) { background: url(/s/alpha/a) }",
            "input[|value*=b] { color: red }",
            "@namespace h url(http://www.w3.org/1999/xhtml); input[h|value^=c] { color: red }",
            "a[svg|href*=x] { color: red }",
        ] {
            assert!(check(STYLESHEET, evil, &none).is_err(), "{evil}");
        }
    }

    #[test]
    fn a_template_is_checked_by_name_size_compile_and_trial_render() {
        let none = BTreeMap::new();
        assert!(check("product.html", "<h1>{{ product.title }}</h1>", &none).is_ok());
        assert!(check("cart.html", "<h1>x</h1>", &none).is_err(), "not editable");
        assert!(check("shell.html", "{{ body }}", &none).is_err(), "a platform template");
        assert!(check("product.html", "{% for %}", &none).is_err(), "does not compile");
        assert!(check("product.html", "{{ product.title | safe }}", &none).is_err(), "fails the trial render");
        assert!(check("product.html", &"x".repeat(MAX_SOURCE + 1), &none).is_err(), "too large");
    }
}
