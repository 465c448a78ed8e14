//! The save-time rules, applied to an archive's rows. An import writes settings, rules, templates and catalog
//! text that the admin pages would only have stored after checking them; an archive is edited as easily as a
//! form is filled in, so each row passes the same validator its own save path calls (the validators live with
//! their save paths and are only called from here): theme templates compile and trial-render
//! (`themes::check`), rules parse (`rules::parse`), fraud rules parse within 8 KiB (`fraud::check_rules`), the
//! allow-list parses and admits the importer, WAF mode and paranoia are known values, an "under attack" period
//! and an MFA grace are no longer than a merchant may set, texts are what the editors would have stored. A
//! refusal names the table and the row, before anything is written.

use std::collections::BTreeMap;
use std::net::IpAddr;

use palisade_commerce::{catalog, orders, rich_text, themes};
use palisade_core::text::{Slug, display_name};
use palisade_core::time::Timestamp;
use palisade_core::{ImageId, ProductId, VariantId};
use palisade_store::firewall;
use serde_json::Value;

use crate::error::{BackupError, Result};
use crate::export::{Archive, ArchiveTable};

/// What the save paths' checks need beyond the rows themselves.
#[derive(Debug, Clone, Default)]
pub struct ImportContext {
    /// The importer's address: an allow-list that would shut it out is refused, as on the Security Center form.
    pub client: Option<IpAddr>,
    /// Whether rules may test the country (the platform has a GeoIP database).
    pub country_rules: bool,
    /// The operator imports at the command line (a new store from an archive): there is no merchant address an
    /// allow-list could lock out, so only that check is skipped; the list must still parse. False by default, so
    /// every merchant path keeps the check.
    pub by_operator: bool,
    /// A clone may publish products (the new store passes the listing gate). False by default: a clone whose
    /// caller did not ask the gate lands every product as a draft. An import into an existing store asks the
    /// gate itself and ignores this.
    pub may_publish: bool,
}

/// Longest MFA grace period the Security Center sets.
const MAX_MFA_GRACE_DAYS: i64 = 30;

/// One table's rows, read by column name.
struct Rows {
    name: &'static str,
    table: ArchiveTable,
}

impl Rows {
    fn of(archive: &Archive, name: &'static str) -> Result<Rows> {
        Ok(Rows { name, table: archive.table(name)? })
    }

    fn col(&self, column: &str) -> Result<usize> {
        self.table
            .columns
            .iter()
            .position(|(c, _)| c == column)
            .ok_or_else(|| BackupError::Archive(format!("table {}: no {column} column", self.name)))
    }

    /// Each row with a label naming it (its id, or its position) for refusals.
    fn each(&self) -> impl Iterator<Item = (String, &Vec<Value>)> {
        let id = self.table.columns.iter().position(|(c, _)| c == "id");
        self.table.rows.iter().enumerate().map(move |(i, row)| {
            let label = id.and_then(|j| row.get(j)).and_then(Value::as_str).map_or_else(
                || format!("row {}", i + 1),
                |id| format!("row {}", id.chars().take(40).collect::<String>()),
            );
            (label, row)
        })
    }

    fn refuse(&self, row: &str, why: impl std::fmt::Display) -> BackupError {
        BackupError::Archive(format!("table {}, {row}: {why}", self.name))
    }
}

fn text(row: &[Value], i: usize) -> Option<&str> {
    row.get(i).and_then(Value::as_str)
}

fn int(row: &[Value], i: usize) -> Option<i64> {
    row.get(i).and_then(Value::as_i64)
}

/// Whether the value is an id of type `T` spelled exactly as Palisade writes it. Pages parse the ids they read
/// back, so an archive that planted `"x"` (or an id in braces or capitals) as a product's id would break every
/// page listing it.
fn id_ok<T: std::str::FromStr + ToString>(row: &[Value], i: usize) -> bool {
    text(row, i).is_some_and(|t| t.parse::<T>().is_ok_and(|id| id.to_string() == t))
}

/// Every listed id column of every row of `t` is a well-formed id of type `T`.
fn ids_ok<T: std::str::FromStr + ToString>(t: &Rows, columns: &[&str]) -> Result<()> {
    for column in columns {
        let i = t.col(column)?;
        for (label, row) in t.each() {
            if !id_ok::<T>(row, i) {
                return Err(t.refuse(&label, format!("{column} is not an id Palisade would have written")));
            }
        }
    }
    Ok(())
}

/// Checks every row the import would write into the store (see the module comment). The one checker of every
/// path that writes an archive's rows — replace (through `preview`), clone and the restore test — so no path
/// writes a row another would refuse.
pub fn check(archive: &Archive, store_currency: &str, now: Timestamp, ctx: &ImportContext) -> Result<()> {
    check_commerce(archive)?;
    check_security(archive, now)?;
    check_firewall(archive, now, ctx)?;
    check_rules(archive, ctx)?;
    check_fraud_rules(archive)?;
    check_catalog(archive, store_currency)?;
    check_theme(archive)
}

fn check_commerce(archive: &Archive) -> Result<()> {
    let t = Rows::of(archive, "store_commerce")?;
    let (tagline, shipping) = (t.col("tagline")?, t.col("flat_shipping_minor")?);
    let zone = t.col("time_zone").ok();
    for (label, row) in t.each() {
        if let Some(tag) = text(row, tagline) {
            let clean = orders::check_tagline(tag).map_err(|e| t.refuse(&label, e))?;
            if clean != tag {
                return Err(t.refuse(&label, "the tagline has surrounding spaces the settings page would remove"));
            }
        }
        if int(row, shipping).is_some_and(|s| s < 0) {
            return Err(t.refuse(&label, "shipping must not be negative"));
        }
        // Archives made before stores had a time zone have no such column (the store keeps its own).
        if let Some(zone) = zone.and_then(|z| text(row, z)) {
            let parsed = palisade_core::zone::StoreZone::parse(zone).map_err(|e| t.refuse(&label, e))?;
            if parsed.name() != zone {
                return Err(t.refuse(&label, "the time zone is not spelt as the settings page would save it"));
            }
        }
    }
    Ok(())
}

fn check_security(archive: &Archive, now: Timestamp) -> Result<()> {
    let t = Rows::of(archive, "store_security")?;
    let (require, grace) = (t.col("require_staff_mfa")?, t.col("mfa_grace_until")?);
    let latest = now.0.saturating_add(MAX_MFA_GRACE_DAYS * 24 * 3600 * 1000);
    for (label, row) in t.each() {
        if !matches!(int(row, require), Some(0 | 1)) {
            return Err(t.refuse(&label, "require_staff_mfa is not 0 or 1"));
        }
        if int(row, grace).is_some_and(|g| g > latest) {
            return Err(t.refuse(
                &label,
                format!(
                    "the MFA grace period ends after {MAX_MFA_GRACE_DAYS} days from now, longer than a merchant may set"
                ),
            ));
        }
    }
    Ok(())
}

fn check_firewall(archive: &Archive, now: Timestamp, ctx: &ImportContext) -> Result<()> {
    let t = Rows::of(archive, "store_firewall")?;
    let (list, until, mode, paranoia) =
        (t.col("admin_allowlist")?, t.col("attack_mode_until")?, t.col("waf_mode")?, t.col("waf_paranoia")?);
    let latest = now.0.saturating_add(i64::try_from(firewall::MAX_ATTACK_HOURS * 3600 * 1000).unwrap_or(i64::MAX));
    for (label, row) in t.each() {
        let entries: Vec<String> = text(row, list)
            .and_then(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| t.refuse(&label, "admin_allowlist is not a list of addresses"))?;
        let nets = firewall::parse_allowlist(entries.iter().map(String::as_str)).map_err(|e| t.refuse(&label, e))?;
        if !ctx.by_operator {
            firewall::check_admits(&nets, ctx.client).map_err(|e| t.refuse(&label, e))?;
        }
        if int(row, until).is_some_and(|u| u > latest) {
            return Err(t.refuse(
                &label,
                format!("\"under attack\" mode lasts beyond {} hours from now", firewall::MAX_ATTACK_HOURS),
            ));
        }
        firewall::check_waf(text(row, mode), int(row, paranoia)).map_err(|e| t.refuse(&label, e))?;
    }
    Ok(())
}

fn check_rules(archive: &Archive, ctx: &ImportContext) -> Result<()> {
    let t = Rows::of(archive, "store_rules")?;
    let (source, enabled) = (t.col("source")?, t.col("enabled")?);
    for (label, row) in t.each() {
        let src = text(row, source).unwrap_or_default();
        let rule = palisade_shield::rules::parse(src)
            .map_err(|e| t.refuse(&label, format!("the rule does not parse: {e}")))?;
        if rule.source() != src {
            return Err(t.refuse(&label, "the rule is not as the rule editor stores it"));
        }
        if rule.uses_country() && !ctx.country_rules {
            return Err(t.refuse(&label, "country rules are unavailable: the platform has no GeoIP database"));
        }
        if !matches!(int(row, enabled), Some(0 | 1)) {
            return Err(t.refuse(&label, "enabled is not 0 or 1"));
        }
    }
    Ok(())
}

/// The store's fraud rules: the whole text parses with the same parser and within the same size as on the fraud
/// rules page ([`palisade_commerce::fraud::check_rules`]): a rules text the page would refuse never reaches the
/// scorer.
fn check_fraud_rules(archive: &Archive) -> Result<()> {
    let t = Rows::of(archive, "store_fraud_rules")?;
    let rules = t.col("rules")?;
    if t.table.rows.len() > 1 {
        return Err(t.refuse("rows", "a store has one set of fraud rules"));
    }
    for (label, row) in t.each() {
        let text = text(row, rules).ok_or_else(|| t.refuse(&label, "the rules are not text"))?;
        palisade_commerce::fraud::check_rules(text)
            .map_err(|e| t.refuse(&label, format!("the fraud rules are refused: {e}")))?;
    }
    Ok(())
}

/// A display name the editors would have stored unchanged.
fn name_ok(field: &'static str, value: Option<&str>) -> std::result::Result<(), String> {
    let value = value.unwrap_or_default();
    match display_name(field, value) {
        Ok(clean) if clean == value => Ok(()),
        Ok(_) => Err(format!("{field} has surrounding spaces or control characters")),
        Err(e) => Err(e.to_string()),
    }
}

fn check_catalog(archive: &Archive, store_currency: &str) -> Result<()> {
    let t = Rows::of(archive, "categories")?;
    let (slug, name) = (t.col("slug")?, t.col("name")?);
    for (label, row) in t.each() {
        Slug::parse(text(row, slug).unwrap_or_default()).map_err(|e| t.refuse(&label, e))?;
        name_ok("name", text(row, name)).map_err(|e| t.refuse(&label, e))?;
    }
    let t = Rows::of(archive, "products")?;
    ids_ok::<ProductId>(&t, &["id"])?;
    let (slug, title, description, status) = (t.col("slug")?, t.col("title")?, t.col("description")?, t.col("status")?);
    for (label, row) in t.each() {
        Slug::parse(text(row, slug).unwrap_or_default()).map_err(|e| t.refuse(&label, e))?;
        name_ok("title", text(row, title)).map_err(|e| t.refuse(&label, e))?;
        let d = text(row, description).unwrap_or_default();
        if d.len() > catalog::MAX_DESCRIPTION {
            return Err(t.refuse(&label, "the description is longer than a product's may be"));
        }
        if rich_text::clean_for_storage(d) != d {
            return Err(t.refuse(&label, "the description holds markup the product editor would have removed"));
        }
        catalog::ProductStatus::parse(text(row, status).unwrap_or_default()).map_err(|e| t.refuse(&label, e))?;
    }
    let t = Rows::of(archive, "variants")?;
    ids_ok::<VariantId>(&t, &["id"])?;
    ids_ok::<ProductId>(&t, &["product_id"])?;
    let (sku, options, price, currency, stock) =
        (t.col("sku")?, t.col("options")?, t.col("price_minor")?, t.col("currency")?, t.col("stock")?);
    for (label, row) in t.each() {
        let s = text(row, sku).unwrap_or_default();
        if catalog::check_sku(s).map_err(|e| t.refuse(&label, e))? != s {
            return Err(t.refuse(&label, "the SKU has surrounding spaces"));
        }
        let opts = text(row, options).and_then(|o| serde_json::from_str::<Value>(o).ok());
        if !opts.is_some_and(|o| o.is_object()) {
            return Err(t.refuse(&label, "options are not a JSON object"));
        }
        if text(row, currency) != Some(store_currency) {
            return Err(t.refuse(&label, format!("the price is not in the store's currency ({store_currency})")));
        }
        if int(row, price).is_none_or(|p| p < 0) || int(row, stock).is_none_or(|s| s < 0) {
            return Err(t.refuse(&label, "price and stock must not be negative"));
        }
    }
    let t = Rows::of(archive, "product_images")?;
    ids_ok::<ImageId>(&t, &["id"])?;
    ids_ok::<ProductId>(&t, &["product_id"])?;
    let (alt, position) = (t.col("alt")?, t.col("position")?);
    for (label, row) in t.each() {
        let a = text(row, alt).unwrap_or_default();
        if a.trim() != a || a.chars().count() > 200 || a.chars().any(char::is_control) {
            return Err(t.refuse(&label, "alt text is one trimmed line of at most 200 characters"));
        }
        if int(row, position).is_none_or(|p| p < 0) {
            return Err(t.refuse(&label, "position must not be negative"));
        }
    }
    Ok(())
}

/// Every imported version of every template passes [`themes::check`] against the newest imported versions of
/// the others: the store's theme after the import is the archive's.
fn check_theme(archive: &Archive) -> Result<()> {
    let t = Rows::of(archive, "theme_templates")?;
    let (name, version, source) = (t.col("name")?, t.col("version")?, t.col("source")?);
    let mut newest: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for (_, row) in t.each() {
        let (Some(n), Some(v), Some(s)) = (text(row, name), int(row, version), text(row, source)) else { continue };
        if newest.get(n).is_none_or(|(have, _)| *have < v) {
            newest.insert(n.to_owned(), (v, s.to_owned()));
        }
    }
    let theme: BTreeMap<String, String> = newest.into_iter().map(|(n, (_, s))| (n, s)).collect();
    for (label, row) in t.each() {
        let (Some(n), Some(v), Some(s)) = (text(row, name), int(row, version), text(row, source)) else {
            return Err(t.refuse(&label, "a template without a name, version or source"));
        };
        if v < 1 {
            return Err(t.refuse(&label, "versions start at 1"));
        }
        themes::check(n, s, &theme).map_err(|e| t.refuse(&format!("{label} ({n} version {v})"), e))?;
    }
    Ok(())
}
