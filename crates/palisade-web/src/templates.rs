//! The platform's own page templates, compiled into the binary. Auto-escaping is on for every `.html`
//! template; these templates are trusted (merchant themes get a separate, locked-down environment).

use minijinja::Environment;
use serde::Serialize;

use crate::http::ApiError;

pub(crate) struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub(crate) fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.add_template("base.html", include_str!("../templates/base.html"))?;
        env.add_template("token_login.html", include_str!("../templates/token_login.html"))?;
        env.add_template("verify.html", include_str!("../templates/verify.html"))?;
        env.add_template("forgot.html", include_str!("../templates/forgot.html"))?;
        env.add_template("sell.html", include_str!("../templates/sell.html"))?;
        env.add_template("console_applications.html", include_str!("../templates/console_applications.html"))?;
        env.add_template("console_verifications.html", include_str!("../templates/console_verifications.html"))?;
        env.add_template("merchant_verification.html", include_str!("../templates/merchant_verification.html"))?;
        env.add_template("reset.html", include_str!("../templates/reset.html"))?;
        env.add_template("account.html", include_str!("../templates/account.html"))?;
        env.add_template("security_panel.html", palisade_commerce::themes::SECURITY_PANEL)?;
        env.add_template("totp_setup.html", include_str!("../templates/totp_setup.html"))?;
        env.add_template("recovery_codes.html", include_str!("../templates/recovery_codes.html"))?;
        env.add_template("security_center.html", include_str!("../templates/security_center.html"))?;
        env.add_template("security_base.html", include_str!("../templates/security_base.html"))?;
        env.add_template("security_staff.html", include_str!("../templates/security_staff.html"))?;
        env.add_template("security_firewall.html", include_str!("../templates/security_firewall.html"))?;
        env.add_template("security_area.html", include_str!("../templates/security_area.html"))?;
        env.add_template("merchant_backups.html", include_str!("../templates/merchant_backups.html"))?;
        env.add_template("merchant_backup_preview.html", include_str!("../templates/merchant_backup_preview.html"))?;
        env.add_template("invitation.html", include_str!("../templates/invitation.html"))?;
        env.add_template("digest_unsubscribe.html", include_str!("../templates/digest_unsubscribe.html"))?;
        env.add_template("token_created.html", include_str!("../templates/token_created.html"))?;
        env.add_template("app_credentials.html", include_str!("../templates/app_credentials.html"))?;
        env.add_template("outbox.html", include_str!("../templates/outbox.html"))?;
        env.add_template("retention.html", include_str!("../templates/retention.html"))?;
        env.add_template("admin_home.html", include_str!("../templates/admin_home.html"))?;
        env.add_template("reauth.html", include_str!("../templates/reauth.html"))?;
        env.add_template("console.html", include_str!("../templates/console.html"))?;
        env.add_template("matrix.html", include_str!("../templates/matrix.html"))?;
        env.add_template("merchant_base.html", include_str!("../templates/merchant_base.html"))?;
        env.add_template("merchant_products.html", include_str!("../templates/merchant_products.html"))?;
        env.add_template("merchant_product_import.html", include_str!("../templates/merchant_product_import.html"))?;
        env.add_template(
            "merchant_product_import_done.html",
            include_str!("../templates/merchant_product_import_done.html"),
        )?;
        env.add_template("merchant_product.html", include_str!("../templates/merchant_product.html"))?;
        env.add_template("merchant_orders.html", include_str!("../templates/merchant_orders.html"))?;
        env.add_template("merchant_order.html", include_str!("../templates/merchant_order.html"))?;
        env.add_template("merchant_review.html", include_str!("../templates/merchant_review.html"))?;
        env.add_template("merchant_data_requests.html", include_str!("../templates/merchant_data_requests.html"))?;
        env.add_template("merchant_fraud_rules.html", include_str!("../templates/merchant_fraud_rules.html"))?;
        env.add_template("merchant_refund_confirm.html", include_str!("../templates/merchant_refund_confirm.html"))?;
        env.add_template("merchant_ship_results.html", include_str!("../templates/merchant_ship_results.html"))?;
        env.add_template("merchant_slips.html", include_str!("../templates/merchant_slips.html"))?;
        env.add_template("merchant_home.html", include_str!("../templates/merchant_home.html"))?;
        env.add_template("merchant_disputes.html", include_str!("../templates/merchant_disputes.html"))?;
        env.add_template("merchant_messages.html", include_str!("../templates/merchant_messages.html"))?;
        env.add_template("merchant_thread.html", include_str!("../templates/merchant_thread.html"))?;
        env.add_template("console_reports.html", include_str!("../templates/console_reports.html"))?;
        env.add_template("merchant_payouts.html", include_str!("../templates/merchant_payouts.html"))?;
        env.add_template("merchant_theme.html", include_str!("../templates/merchant_theme.html"))?;
        env.add_template("merchant_settings.html", include_str!("../templates/merchant_settings.html"))?;
        env.add_template("console_disputes.html", include_str!("../templates/console_disputes.html"))?;
        env.add_template("console_payment_page.html", include_str!("../templates/console_payment_page.html"))?;
        env.add_template("console_shield.html", include_str!("../templates/console_shield.html"))?;
        env.add_template("console_updates.html", include_str!("../templates/console_updates.html"))?;
        env.add_template("console_assessment.html", include_str!("../templates/console_assessment.html"))?;
        env.add_template("rule_test.html", include_str!("../templates/rule_test.html"))?;
        env.add_template("pay.html", include_str!("../templates/pay.html"))?;
        env.add_template("macros.html", include_str!("../templates/macros.html"))?;
        env.add_template("security_training.html", include_str!("../templates/security_training.html"))?;
        env.add_template("security_training_module.html", include_str!("../templates/security_training_module.html"))?;
        env.add_template("security_training_result.html", include_str!("../templates/security_training_result.html"))?;
        env.add_template("security_training_team.html", include_str!("../templates/security_training_team.html"))?;
        env.add_template("security_phishing.html", include_str!("../templates/security_phishing.html"))?;
        env.add_template("phishing_landing.html", include_str!("../templates/phishing_landing.html"))?;
        env.add_template("security_scans.html", include_str!("../templates/security_scans.html"))?;
        env.add_template("security_extensions.html", include_str!("../templates/security_extensions.html"))?;
        add_compliance(&mut env)?;
        env.add_template("security_guidelines.html", include_str!("../templates/security_guidelines.html"))?;
        env.add_template("training_mfa_notice.html", include_str!("../templates/training_mfa_notice.html"))?;
        env.add_filter("when", palisade_commerce::themes::when_filter);
        env.add_filter("ago", palisade_commerce::themes::ago_filter);
        env.add_filter("moment", moment_filter);
        env.add_filter("money", palisade_commerce::themes::money_filter);
        // An amount `{minor, currency}` as a plain decimal with the currency's digits for form fields: SGD 1250 →
        // "12.50", JPY 500 → "500" (what `Money::parse` reads back).
        env.add_filter("amount", amount_filter);
        Ok(Self { env })
    }

    /// Renders a page; a failure is a defect in our own templates, logged and answered with a 500. Every page
    /// gets `csrf`, the request's synchronizer token, for its forms (see `http::csrf`), and `signed_in`, whether it
    /// carries an account session (a console opened with a token has none, so account links are not offered there).
    pub(crate) fn render<C: Serialize>(&self, name: &str, ctx: C) -> Result<String, ApiError> {
        let ctx = minijinja::context! {
            csrf => crate::http::csrf::token(),
            signed_in => crate::http::csrf::has_session(),
            saved_notice => crate::http::notice::current(),
            ..minijinja::Value::from(minijinja::value::Serde(&ctx))
        };
        self.env.get_template(name).and_then(|t| t.render(ctx)).map_err(|e| {
            tracing::error!(template = name, error = %e, "platform template failed to render");
            ApiError::internal()
        })
    }
}

/// The compliance views' pages (Security Center → Compliance, console → TSR) and their printable report.
fn add_compliance(env: &mut Environment<'static>) -> Result<(), minijinja::Error> {
    env.add_template("security_compliance.html", include_str!("../templates/security_compliance.html"))?;
    env.add_template("compliance_items.html", include_str!("../templates/compliance_items.html"))?;
    env.add_template("compliance_report.html", include_str!("../templates/compliance_report.html"))?;
    env.add_template("console_tsr.html", include_str!("../templates/console_tsr.html"))
}

/// The `moment` filter (platform pages only): an instant (ms) as a `<time>` element saying how far it is from the
/// page's `now` ("3 hours ago", "in 2 days"), with the exact local time as its title and the instant with its
/// offset as its `datetime`, all in the page's `time_zone` (UTC on pages without one, such as the console's). A
/// page without `now` shows the exact time. The element is ours and every text in it is escaped, so it is marked
/// safe.
fn moment_filter(state: &minijinja::State<'_, '_>, ms: i64) -> minijinja::Value {
    use palisade_core::time::Timestamp;
    use palisade_core::zone::StoreZone;
    let zone = state
        .lookup("time_zone")
        .and_then(|z| z.as_str().and_then(|z| StoreZone::parse(z).ok()))
        .or_else(|| StoreZone::parse("UTC").ok())
        .unwrap_or_default();
    let at = Timestamp(ms);
    let exact = zone.local(at);
    let shown = match state.lookup("now").and_then(|n| i64::try_from(n).ok()) {
        Some(now) => zone.relative(at, Timestamp(now)),
        None => exact.clone(),
    };
    let esc = |t: &str| minijinja::HtmlEscape(t).to_string();
    minijinja::Value::from_safe_string(format!(
        "<time datetime=\"{}\" title=\"{}\">{}</time>",
        esc(&zone.iso(at)),
        esc(&exact),
        esc(&shown)
    ))
}

/// The `amount` filter: `{minor, currency}` → "12.50" (no code); empty for anything else.
fn amount_filter(v: minijinja::Value) -> String {
    use palisade_core::money::{Currency, Money};
    let minor = v.get_attr("minor").ok().and_then(|m| i64::try_from(m).ok());
    let currency = v.get_attr("currency").ok().and_then(|c| c.as_str().and_then(|c| Currency::parse(c).ok()));
    match (minor, currency) {
        (Some(m), Some(c)) => Money::new(m, c).plain(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    /// The blocks that land inside an attribute or the `<title>` element are plain text: markup there shows as text
    /// in the tab or breaks the element (an invitation page once carried a `<script>` in both).
    #[test]
    fn title_and_attribute_blocks_hold_no_markup() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for block in ["{% block title %}", "{% block main_class %}", "{% block page_title %}"] {
                for (_, rest) in text.match_indices(block).map(|(i, _)| text.split_at(i + block.len())) {
                    let body = rest.split("{% endblock %}").next().unwrap_or_default();
                    assert!(!body.contains('<'), "{}: {block} holds markup: {body}", path.display());
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "the templates were read ({checked} blocks)");
    }
}
