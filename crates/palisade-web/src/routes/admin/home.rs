//! The store's home dashboard, where its staff land: sales today and over the last 7 days (a small bar chart
//! drawn on the server, with a table as its text alternative), orders to ship, held and available money, and the
//! store's security score with the three merchant controls unmet the longest, each linked to where it is fixed.
//! Each figure is shown only to members holding the permission of the page it summarises.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use palisade_commerce::{figures, ledger};
use palisade_core::matrix::{ControlResult, ControlStatus};
use palisade_core::money::Money;
use palisade_store::permissions::Permission;
use serde_json::json;

use super::merchant::{PageResult, base, clock, page, scope, store_currency};
use crate::http::access::StaffAccess;
use crate::state::AppState;

/// The dashboard route with the permission it needs (`None`: any member of the store).
pub const ROUTES: &[(&str, &str, Option<Permission>)] = &[("GET", "/admin/stores/{store}", None)];

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/admin/stores/{store}", get(dashboard))
}

/// Height of the chart's bars area, in SVG units.
const CHART_HEIGHT: i64 = 120;

/// Where an unmet merchant control is fixed, and the permission that page needs to make the fix (`None`: anyone
/// signed in). Controls only the platform operator can fix have no link; their remediation text says so.
fn fix_for(control: &str, base: &str) -> Option<(String, &'static str, Option<Permission>)> {
    Some(match control {
        "store.exports-scheduled" | "store.restore-tested" => {
            (format!("{base}/backups"), "Backups", Some(Permission::CustomerData))
        }
        "store.disputes-answered" => (format!("{base}/disputes"), "Disputes", Some(Permission::Orders)),
        "store.orders-shipped-in-time" => {
            (format!("{base}/orders?status=paid"), "Orders to ship", Some(Permission::Orders))
        }
        "store.staff-mfa-enforced" | "store.admin-protected" | "store.security-contact" => {
            (format!("{base}/security#settings"), "Security Center settings", Some(Permission::SecuritySettings))
        }
        "store.api-tokens-expire" => {
            (format!("{base}/security#api-tokens"), "Security Center API tokens", Some(Permission::SecuritySettings))
        }
        "store.no-store-wide-allow" => {
            (format!("{base}/security#firewall"), "Security Center firewall", Some(Permission::SecuritySettings))
        }
        "store.no-dormant-staff" => {
            (format!("{base}/security#staff"), "Security Center staff", Some(Permission::StaffManagement))
        }
        "store.owner-can-recover" => ("/account".to_owned(), "Your account (owners: passkey or recovery codes)", None),
        _ => return None,
    })
}

/// The three merchant controls unmet the longest (unknown ones after them), with where each is fixed.
fn top_unmet(results: Vec<&ControlResult>, access: &StaffAccess) -> Vec<serde_json::Value> {
    let mut unmet: Vec<&ControlResult> = results
        .into_iter()
        .filter(|r| matches!(r.status, ControlStatus::Unmet { .. } | ControlStatus::Unknown { .. }))
        .collect();
    unmet.sort_by_key(|r| match &r.status {
        ControlStatus::Unmet { since, .. } => (0, since.map_or(i64::MAX, |t| t.0)),
        _ => (1, 0),
    });
    let base = base(access);
    unmet
        .into_iter()
        .take(3)
        .map(|r| {
            // The Security Center's own table names the exact setting; this one adds the page's name and permission.
            let fix = fix_for(r.control.id, &base).map(|(href, place, needs)| {
                (super::security_tabs::fix_href(&base, r.control.id).unwrap_or(href), place, needs)
            });
            let allowed = fix.as_ref().is_some_and(|(_, _, p)| p.is_none_or(|p| access.membership.can(p)));
            json!({
                "id": r.control.id, "title": r.control.title, "remediation": r.control.remediation,
                "status": r.status.label(),
                "reason": match &r.status { ControlStatus::Unmet { reason, .. } | ControlStatus::Unknown { reason } => reason.as_str(), _ => "" },
                "href": fix.as_ref().filter(|_| allowed).map(|f| f.0.clone()),
                "place": fix.as_ref().map(|f| f.1),
                "needs": fix.as_ref().and_then(|f| f.2).filter(|_| !allowed).map(Permission::title),
            })
        })
        .collect()
}

/// The 7 days as bars: each day's height in proportion to the best day's sales.
fn bars(days: &[figures::DaySales]) -> Vec<serde_json::Value> {
    let max = days.iter().map(|d| d.total.minor).max().unwrap_or(0).max(1);
    days.iter()
        .enumerate()
        .map(|(i, d)| {
            let h = if d.total.minor > 0 { (d.total.minor.saturating_mul(CHART_HEIGHT) / max).max(2) } else { 0 };
            let i = i64::try_from(i).unwrap_or(0);
            // Under the bar only the weekday ("Mon"); the text alternative has the whole date.
            let label = d.label.split(' ').next().unwrap_or_default();
            json!({"x": i * 48 + 8, "y": CHART_HEIGHT - h + 10, "h": h, "label": label, "total": d.total, "orders": d.orders})
        })
        .collect()
}

async fn dashboard(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    let currency = store_currency(&state, &access).await?;
    let mut ctx = serde_json::Map::new();
    ctx.insert("chart_height".into(), json!(CHART_HEIGHT));
    if access.membership.can(Permission::Orders) {
        let (zone, _) = clock(&state, &access).await?;
        let days = figures::sales_by_day(&state.db, scope(&access), currency, &zone, 7).await?;
        let week = days.iter().fold((0i64, 0i64), |(n, t), d| (n + d.orders, t.saturating_add(d.total.minor)));
        let counts = figures::queue_counts(&state.db, scope(&access)).await?;
        ctx.insert(
            "sales".into(),
            json!({
                "today": days.last(), "week_orders": week.0, "week_total": Money::new(week.1, currency),
                "days": days, "bars": bars(&days), "to_ship": counts.to_ship,
            }),
        );
    }
    if access.membership.can(Permission::Payouts) {
        let available = ledger::store_balance(&state.db, scope(&access), currency).await?;
        let held = ledger::escrow_total(&state.db, scope(&access)).await?;
        ctx.insert(
            "money".into(),
            json!({"available": Money::new(available, currency), "held": Money::new(held, currency)}),
        );
    }
    // The merchant's view: evaluators' error texts can name platform internals (as in the Security Center).
    let report = state.registry.evaluate_store(&state.db, &state.facts, scope(&access)).await?.for_merchant();
    let merchant: Vec<&ControlResult> = report.areas.iter().flat_map(|a| a.merchant.iter()).collect();
    let security = json!({"score": report.score, "unmet": report.unmet, "top": top_unmet(merchant, &access)});
    ctx.insert("security".into(), security);
    page(&state, &access, "merchant_home.html", "home", serde_json::Value::Object(ctx)).await
}
