//! Phishing simulation in the Security Center (`/admin/stores/{store}/security/phishing`): every member can report
//! a suspicious mail; the owner turns simulations on, launches campaigns from the built-in templates and reads the
//! results beside the platform's cohort. The storage and the owner check are `palisade_store::phishing`'s; the
//! public landing page the mails link to is [`super::phishing_landing`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use palisade_core::AccountId;
use palisade_store::permissions::Permission;
use palisade_store::phishing::{self, Recipients, Reported, Switch};
use palisade_store::tenancy::{self, Role};
use serde::Deserialize;
use serde_json::json;

use crate::http::access::StaffAccess;
use crate::http::form::Form;
use crate::http::{ApiError, notice};
use crate::routes::admin::security_tabs::{PageResult, render};
use crate::state::AppState;

/// At most this many fields in the launch form (one per chosen member, plus a few).
const MAX_FIELDS: usize = phishing::MAX_RECIPIENTS + 8;

fn page_of(access: &StaffAccess) -> String {
    format!("/admin/stores/{}/security/phishing", access.membership.scope.store_id())
}

fn is_owner(access: &StaffAccess) -> bool {
    access.membership.role == Role::Owner
}

fn invalid(m: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)
}

/// The tab: the report form for everyone; for the owner the setting, the launch form, results and reports.
pub(crate) async fn tab(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    tab_with(&state, &access, None, StatusCode::OK).await
}

async fn tab_with(
    state: &AppState,
    access: &StaffAccess,
    reported: Option<Reported>,
    status: StatusCode,
) -> PageResult {
    let scope = &access.membership.scope;
    let settings = phishing::settings(&state.db, scope).await?;
    let owner = if is_owner(access) {
        let members: Vec<_> = tenancy::list_members(&state.db, scope)
            .await?
            .into_iter()
            .filter(|m| !m.disabled)
            .map(|m| json!({"id": m.account_id, "email": m.email, "name": m.display_name}))
            .collect();
        let (own, cohort) = phishing::cohort(&state.db, scope).await?;
        Some(json!({
            "members": members,
            "results": phishing::results(&state.db, scope).await?,
            "own": own,
            "cohort": cohort,
            "min_cohort": palisade_awareness::phish::metrics::MIN_COHORT,
            "reports": phishing::owner_reports(&state.db, scope, 50).await?,
        }))
    } else {
        None
    };
    let ctx = json!({
        "settings": settings, "is_owner": is_owner(access), "owner": owner,
        "templates": phishing::TEMPLATES, "reported": reported,
    });
    let mut res = render(state, access, "phishing", "security_phishing.html", ctx).await?;
    *res.status_mut() = status;
    Ok(res)
}

#[derive(Deserialize)]
pub(crate) struct SettingForm {
    #[serde(default)]
    enabled: Option<String>,
}

/// Turns the simulation on or off (the store layer refuses anyone but the owner).
pub(crate) async fn set_enabled(
    State(state): State<AppState>,
    access: StaffAccess,
    Form(form): Form<SettingForm>,
) -> PageResult {
    access.require(Permission::StaffManagement)?;
    let switch = match form.enabled.as_deref() {
        Some("on" | "1" | "yes") => Switch::On,
        None | Some("0" | "off") => Switch::Off,
        Some(_) => return Err(invalid("enabled is a checkbox").into()),
    };
    phishing::set_enabled(&state.db, &access.membership, switch).await?;
    let code = if switch == Switch::On { "phishing-on" } else { "phishing-off" };
    Ok(Redirect::to(&notice::saved(&page_of(&access), code)).into_response())
}

/// Launches a campaign. Fields: `template` (a built-in template id), `to` = `all` or `chosen`, and `member` (an
/// account id, repeated) when chosen. No field carries mail text: the template's is the only one sent.
pub(crate) async fn launch(State(state): State<AppState>, access: StaffAccess, body: String) -> PageResult {
    access.require(Permission::StaffManagement)?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(&body).map_err(|_| invalid("unreadable form"))?;
    if fields.len() > MAX_FIELDS {
        return Err(invalid("too many fields for one campaign").into());
    }
    let mut template = None;
    let mut to = None;
    let mut chosen = Vec::new();
    for (k, v) in fields {
        match k.as_str() {
            "template" => template = Some(v),
            "to" => to = Some(v),
            "member" => chosen.push(v.parse::<AccountId>().map_err(|_| invalid("unknown recipient"))?),
            "csrf" => {}
            _ => return Err(invalid("unexpected field in the campaign form").into()),
        }
    }
    let template = template.ok_or_else(|| invalid("choose a template"))?;
    let recipients = match to.as_deref() {
        Some("all") | None => Recipients::AllActive,
        Some("chosen") => Recipients::Chosen(chosen),
        Some(_) => return Err(invalid("recipients are `all` or `chosen`").into()),
    };
    phishing::launch(&state.db, &access.membership, &template, recipients, &state.config.public_url).await?;
    Ok(Redirect::to(&notice::saved(&page_of(&access), "phishing-launched")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct ReportForm {
    #[serde(default)]
    link: String,
}

/// "Report phishing": any member pastes a suspicious link or message. Their own simulation link is marked
/// reported and the page says it was a simulation; anything else goes to the owner.
pub(crate) async fn report(
    State(state): State<AppState>,
    access: StaffAccess,
    Form(form): Form<ReportForm>,
) -> PageResult {
    if form.link.chars().count() > 4 * phishing::MAX_EXCERPT {
        return Err(invalid("paste the link only (the text is too long)").into());
    }
    let outcome = phishing::report(&state.db, &access.membership.scope, &form.link).await?;
    match outcome {
        Reported::Simulation => tab_with(&state, &access, Some(outcome), StatusCode::OK).await,
        Reported::ForOwner => Ok(Redirect::to(&notice::saved(&page_of(&access), "phishing-reported")).into_response()),
    }
}
