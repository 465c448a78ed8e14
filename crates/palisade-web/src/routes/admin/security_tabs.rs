//! The Security Center's pages, one address per tab (server-rendered, no script): overview, staff & access,
//! firewall, backups (`routes::admin::backups`), updates, awareness. Every unmet control of the store's own column
//! links to the exact setting that fixes it ([`FIXES`]); the platform's column is shown beside it, scored apart and
//! without the platform's internals ([`palisade_store::matrix::Report::for_merchant`]).

use axum::extract::State;
use axum::response::{Html, IntoResponse};
use palisade_core::matrix::{Area, ControlStatus};
use palisade_identity::policy;
use palisade_store::permissions::Permission;
use palisade_store::posture::{self, ScorePoint};
use palisade_store::{audit_view, matrix, tenancy};
use serde_json::{Value, json};

use crate::http::access::StaffAccess;
use crate::routes::admin::security_center::AdminError;
use crate::services::{api_tokens, staff};
use crate::state::AppState;

pub(crate) type PageResult = Result<axum::response::Response, AdminError>;

/// Where each of the store's own controls is fixed, relative to `/admin/stores/{store}/` (or absolute): the tab and
/// the anchor of the exact setting. A test checks that every registered store control has one.
pub const FIXES: &[(&str, &str)] = &[
    ("store.staff-mfa-enforced", "security/staff#mfa-policy"),
    ("store.no-dormant-staff", "security/staff#staff"),
    ("store.has-owner", "security/staff#staff"),
    ("store.owner-can-recover", "/account"),
    ("store.api-tokens-expire", "security/staff#api-tokens"),
    ("store.security-contact", "security#contact"),
    ("store.audit-chain-intact", "security#recent-changes"),
    ("store.admin-protected", "security/firewall#allowlist"),
    ("store.no-store-wide-allow", "security/firewall#rules"),
    ("store.exports-scheduled", "backups#schedule"),
    ("store.restore-tested", "backups#exports"),
    ("store.disputes-answered", "disputes"),
    ("store.orders-shipped-in-time", "orders?status=paid"),
    ("store.staff-trained", "security/training"),
    ("store.phishing-simulation-recent", "security/phishing#launch"),
    ("store.risky-orders-reviewed", "orders/review"),
    ("store.data-requests-answered", "data-requests"),
    ("store.scanned-recently", "security/scans"),
    ("store.findings-triaged", "security/scans#findings"),
    ("store.extensions-current", "security/extensions#installed"),
    ("store.extension-advisories", "security/extensions#installed"),
    ("store.messaging-warnings-on", "messages"),
    ("store.verification-current", "verification"),
];

/// The Fix link of a store control, if it has one.
#[must_use]
pub fn fix_href(base: &str, control: &str) -> Option<String> {
    FIXES
        .iter()
        .find(|(id, _)| *id == control)
        .map(|(_, to)| if to.starts_with('/') { (*to).to_owned() } else { format!("{base}/{to}") })
}

/// The page shell every tab shares (store, navigation, permissions), with `ctx` merged in.
pub(crate) async fn render(
    state: &AppState,
    access: &StaffAccess,
    tab: &str,
    template: &str,
    ctx: Value,
) -> PageResult {
    let store = tenancy::get_store(&state.db, &access.membership.scope).await?;
    let base = format!("/admin/stores/{}", store.id);
    let (zone, now) = super::merchant::clock(state, access).await?;
    let mut full = json!({
        "operator": access.account.email,
        "store": store, "base": base, "section": "security", "tab": tab,
        "time_zone": zone, "now": now,
        "grace_until": access.mfa_grace_until,
        "can_settings": access.membership.can(Permission::SecuritySettings),
        "can_staff": access.membership.can(Permission::StaffManagement),
        "can": Permission::ALL.iter().filter(|p| access.membership.can(**p)).map(|p| p.key()).collect::<Vec<_>>(),
    });
    if let (Some(f), Value::Object(c)) = (full.as_object_mut(), ctx) {
        f.extend(c);
    }
    Ok(Html(state.templates.render(template, full)?).into_response())
}

/// The store's side of the matrix as its staff may see it, with a Fix link on every unmet control of its column.
async fn report(state: &AppState, access: &StaffAccess) -> Result<(matrix::Report, Value), AdminError> {
    let scope = &access.membership.scope;
    let report = state.registry.evaluate_store(&state.db, &state.facts, scope).await?.for_merchant();
    let base = format!("/admin/stores/{}", scope.store_id());
    let fixes: serde_json::Map<String, Value> = report
        .unmet_merchant()
        .filter_map(|r| fix_href(&base, r.control.id).map(|h| (r.control.id.to_owned(), Value::String(h))))
        .collect();
    Ok((report, Value::Object(fixes)))
}

/// Overview: the two scores side by side, what to fix, the matrix, the score's history and recent changes.
pub(crate) async fn overview(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    let scope = &access.membership.scope;
    let (report, fixes) = report(&state, &access).await?;
    let todo: Vec<Value> = report
        .unmet_merchant()
        .map(|r| {
            let reason = match &r.status {
                ControlStatus::Unmet { reason, .. } | ControlStatus::Unknown { reason } => reason.as_str(),
                _ => "",
            };
            json!({"id": r.control.id, "title": r.control.title, "reason": reason,
                   "area": r.control.area.title(), "fix": fixes.get(r.control.id)})
        })
        .collect();
    let counted: Vec<&str> = state.registry.merchant_controls().iter().map(|c| c.id).collect();
    let points = posture::score_history(&state.db, scope, &counted, 60).await?;
    let titles = state.registry.controls();
    let history: Vec<Value> = matrix::history_store(&state.db, scope, 15)
        .await?
        .into_iter()
        .map(|t| {
            let title = titles.iter().find(|c| c.id == t.control_id).map_or(t.control_id.as_str(), |c| c.title);
            json!({"at": t.at, "title": title, "from": t.from_state, "to": t.to_state, "reason": t.reason})
        })
        .collect();
    let sees_log =
        access.membership.can(Permission::SecuritySettings) || access.membership.can(Permission::StaffManagement);
    let audit = if sees_log { Some(audit_view::store_named(&state.db, scope, 20).await?) } else { None };
    let pol = policy::get(&state.db, scope).await?;
    let ctx = json!({"report": report, "fixes": fixes, "todo": todo, "chart": chart(&points), "history": history,
                     "audit": audit, "policy": pol});
    render(&state, &access, "overview", "security_center.html", ctx).await
}

/// Staff & access: the MFA policy, the team, invitations and API tokens.
pub(crate) async fn staff_tab(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    let scope = &access.membership.scope;
    let can_settings = access.membership.can(Permission::SecuritySettings);
    let can_staff = access.membership.can(Permission::StaffManagement);
    let members = if can_staff { Some(staff::rows(&state, scope).await?) } else { None };
    let invitations = if can_staff { Some(staff::pending(&state, scope).await?) } else { None };
    let tokens = if can_settings { Some(api_tokens::rows(&state, scope).await?) } else { None };
    let pol = policy::get(&state.db, scope).await?;
    let ctx = json!({
        "policy": pol, "staff": members, "invitations": invitations, "api_tokens": tokens, "me": access.account.id,
        "all_permissions": Permission::ALL.iter().map(|p| json!({"key": p.key(), "title": p.title()})).collect::<Vec<_>>(),
    });
    render(&state, &access, "staff", "security_staff.html", ctx).await
}

/// Firewall: admin allow-list, the store's WAF mode, custom rules, attack mode and recent firewall events.
pub(crate) async fn firewall_tab(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    let scope = &access.membership.scope;
    let events =
        crate::edge::shield::shown(palisade_store::shield_events::recent_for_store(&state.db, scope, 10).await?);
    let firewall = palisade_store::firewall::get(&state.db, scope).await?;
    let rules = palisade_store::firewall::rules(&state.db, scope).await?;
    let ctx = json!({
        "shield_events": events, "firewall": firewall, "rules": rules, "geoip": state.geoip.available(),
        "attack_mode": firewall.attack_mode_until.is_some_and(|t| t > state.db.now()),
        "platform_waf": {"mode": state.shield.config.policy.mode.as_str(), "paranoia": state.shield.config.policy.paranoia},
    });
    render(&state, &access, "firewall", "security_firewall.html", ctx).await
}

/// One area of the matrix on its own tab (updates, awareness): both columns, the store's with Fix links.
async fn area_tab(state: &AppState, access: &StaffAccess, tab: &str, areas: &[Area], intro: &str) -> PageResult {
    let (report, fixes) = report(state, access).await?;
    let shown: Vec<&matrix::AreaReport> = report.areas.iter().filter(|a| areas.contains(&a.area)).collect();
    let ctx = json!({"areas": shown, "fixes": fixes, "intro": intro});
    render(state, access, tab, "security_area.html", ctx).await
}

pub(crate) async fn updates_tab(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    let intro = "Keeping the software current and finding weaknesses before attackers do. The platform ships \
                 updates and advisories; your team installs extension and theme updates and fixes what scans find.";
    area_tab(&state, &access, "updates", &[Area::UpdatesPatches, Area::VulnerabilityManagement], intro).await
}

pub(crate) async fn awareness_tab(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    let intro = "People are the first line of defence: phishing and scams start with a message to someone on your \
                 team. The platform publishes guidance and training; your team takes it.";
    area_tab(&state, &access, "awareness", &[Area::SecurityAwareness, Area::TransactionSafety], intro).await
}

/// The score history as an SVG line (600×180, drawn here so the page needs no script) and its text alternative.
fn chart(points: &[ScorePoint]) -> Value {
    const W: i64 = 600;
    const H: i64 = 180;
    const LEFT: i64 = 44;
    const TOP: i64 = 10;
    const PLOT_W: i64 = W - LEFT - 12;
    const PLOT_H: i64 = H - TOP - 30;
    let scored: Vec<(i64, u8)> = points.iter().filter_map(|p| p.score.map(|s| (p.at.0, s))).collect();
    let (first, last) = match (scored.first(), scored.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => return json!({"empty": true, "rows": []}),
    };
    let span = (last - first).max(1);
    let xy = |(at, s): (i64, u8)| (LEFT + (at - first) * PLOT_W / span, TOP + (100 - i64::from(s)) * PLOT_H / 100);
    let coords: Vec<(i64, i64)> = scored.iter().copied().map(xy).collect();
    // A step line: a score holds until the next change.
    let mut line = Vec::new();
    for (i, (x, y)) in coords.iter().enumerate() {
        if let Some((_, prev_y)) = i.checked_sub(1).and_then(|j| coords.get(j)) {
            line.push(format!("{x},{prev_y}"));
        }
        line.push(format!("{x},{y}"));
    }
    let rows: Vec<Value> = points.iter().rev().map(|p| json!({"at": p.at, "score": p.score})).collect();
    json!({
        "empty": false, "width": W, "height": H, "left": LEFT, "top": TOP, "plot_w": PLOT_W, "plot_h": PLOT_H,
        "line": line.join(" "),
        "dots": coords.iter().map(|(x, y)| json!({"x": x, "y": y})).collect::<Vec<_>>(),
        "first_at": first, "last_at": last,
        "first_score": scored.first().map(|p| p.1), "last_score": scored.last().map(|p| p.1),
        "rows": rows,
    })
}
