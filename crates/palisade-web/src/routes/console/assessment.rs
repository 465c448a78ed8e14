//! The console's platform-wide assessment (issue #19 item 6): every store's last scan, its open findings by
//! severity, what it accepted, and how long fixes took — the operator's view of the merchants' side of
//! vulnerability management, next to the platform's own scan control; and every extension advisory with open
//! findings × the stores it affects (open, accepted, disabled by the platform, whether a fix is published).

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use serde_json::json;

use crate::http::PageError;
use crate::http::auth::ConsoleOperator;
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/console/assessment", get(page))
}

/// Width in pixels of the longest bar.
const BAR_WIDTH: i64 = 160;

/// Stores whose last scan is older than this are listed as overdue (the platform control's window).
const OVERDUE_DAYS: i64 = palisade_store::scans::PLATFORM_SCAN_DAYS;

async fn page(State(state): State<AppState>, ConsoleOperator(op): ConsoleOperator) -> Result<Html<String>, PageError> {
    let stores = palisade_store::scans::platform_assessment(&state.db, &op.platform_scope()).await?;
    let exposures = palisade_store::extensions::advisories::exposures(&state.db, &op.platform_scope()).await?;
    let now = state.db.now().0;
    let overdue_before = now - OVERDUE_DAYS * 24 * 3600 * 1000;
    let mut totals = [0i64; 5];
    for s in &stores {
        for (t, n) in totals.iter_mut().zip(s.open) {
            *t += n;
        }
    }
    let never = stores.iter().filter(|s| s.last_scan.is_none()).count();
    let overdue = stores.iter().filter(|s| s.last_scan.is_some_and(|t| t.0 < overdue_before)).count();
    let fixed: i64 = stores.iter().map(|s| s.fixed).sum();
    // One scale for every bar: the store with the most open findings (info aside) fills it.
    let most = stores.iter().map(|s| s.open.iter().take(4).sum::<i64>()).max().unwrap_or(0).max(1);
    let rows: Vec<serde_json::Value> = stores
        .iter()
        .map(|s| {
            let mut x = 0;
            let bar: Vec<[i64; 2]> = s
                .open
                .iter()
                .take(4)
                .map(|n| {
                    let w = n * BAR_WIDTH / most;
                    let seg = [x, w];
                    x += w;
                    seg
                })
                .collect();
            let mut row = serde_json::to_value(s).unwrap_or_default();
            if let Some(o) = row.as_object_mut() {
                o.insert("bar".into(), json!(bar));
                o.insert("total".into(), json!(s.open.iter().take(4).sum::<i64>()));
            }
            row
        })
        .collect();
    let page = state.templates.render(
        "console_assessment.html",
        json!({"operator": op.email(), "is_operator": true, "stores": rows, "totals": totals,
               "never": never, "overdue": overdue, "overdue_before": overdue_before, "fixed": fixed,
               "overdue_days": OVERDUE_DAYS, "exposures": exposures,
               "disable_after": palisade_store::extensions::advisories::DISABLE_AFTER_DAYS}),
    )?;
    Ok(Html(page))
}
