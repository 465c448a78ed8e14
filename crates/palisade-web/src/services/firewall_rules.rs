//! A store's custom firewall rules: the Security Center's forms and the firewall API add, test-run, enable,
//! disable and delete them through these functions, so both refuse the same rules with the same codes and both
//! drop the node's cached store layer after a change.

use axum::http::StatusCode;
use palisade_shield::rules::Rule;
use palisade_store::StaffScope;
use palisade_store::firewall::StoredRule;

use crate::http::ApiError;
use crate::state::AppState;

/// What to do with an existing rule (the store's own type, under the name the routes know).
pub use palisade_store::firewall::RuleChange as Change;

/// Parses a rule as the merchant typed it; a country rule needs the platform's GeoIP database.
pub fn parse(state: &AppState, source: &str) -> Result<Rule, ApiError> {
    let rule = palisade_shield::rules::parse(source.trim()).map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rule", format!("the rule does not parse: {e}"))
    })?;
    if rule.uses_country() && !state.geoip.available() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "geoip_unavailable",
            "country rules are unavailable: the platform operator has not configured a GeoIP database (--geoip-db)",
        ));
    }
    Ok(rule)
}

/// Adds a rule, disabled until the merchant has test-run and enabled it.
pub async fn add(state: &AppState, scope: &StaffScope, source: &str) -> Result<StoredRule, ApiError> {
    let rule = parse(state, source)?;
    let stored = palisade_store::firewall::add_rule(&state.db, scope, rule.source()).await?;
    state.store_rules.invalidate();
    Ok(stored)
}

/// Enables, disables or deletes a rule of the store.
pub async fn change(state: &AppState, scope: &StaffScope, rule: &str, change: Change) -> Result<(), ApiError> {
    palisade_store::firewall::change_rule(&state.db, scope, rule, change).await?;
    state.store_rules.invalidate();
    Ok(())
}
