//! "Saved" messages after a form: a handler redirects to `…?saved=<code>`, and the page shown next finds the code's
//! words in a fixed table. Nothing typed into the address bar is ever echoed: a code that is not in the table shows
//! nothing.

/// The saved-message table: code → what the person reads.
const SAVED: &[(&str, &str)] = &[
    ("mfa-policy", "Two-step verification policy saved."),
    ("contact", "Security contact saved."),
    ("digest", "Weekly security digest preference saved."),
    ("allowlist", "Admin IP allow-list saved."),
    ("attack-mode", "“Under attack” mode updated."),
    ("waf", "Firewall mode saved."),
    ("scan-started", "Scan started. It takes a few seconds; this page shows the report when it is done."),
    ("finding-accepted", "Finding accepted until the date you chose."),
    ("extension-installed", "Extension installed. Its release passed every check."),
    ("extension-updated", "Extension updated. The new release passed every check."),
    ("extension-policy", "Update policy saved."),
    ("webhook-redelivered", "The webhook delivery is queued again; it is sent within a minute."),
    ("extension-removed", "Extension removed."),
    ("extension-advisory-accepted", "Advisory accepted until the date you chose. It counts as open again after that."),
    ("rule-added", "Rule added. It stays off until you enable it."),
    ("rule-enabled", "Rule enabled."),
    ("rule-disabled", "Rule disabled."),
    ("rule-deleted", "Rule deleted."),
    ("role", "Role changed."),
    ("grants", "Permissions saved."),
    ("member-removed", "Team member removed."),
    ("invited", "Invitation sent."),
    ("invitation-withdrawn", "Invitation withdrawn."),
    ("token-revoked", "API token revoked."),
    ("product", "Product saved."),
    ("product-created", "Product created."),
    ("product-status", "Product status changed."),
    ("category", "Category added."),
    ("image-added", "Image added."),
    ("image-removed", "Image removed."),
    ("variant", "Variant saved."),
    ("shipped", "Order marked as shipped."),
    ("delivered", "Order marked as delivered."),
    ("refunded", "Refund recorded."),
    ("dispute-answered", "Your answer was sent."),
    ("payout", "Payout requested."),
    ("theme", "Theme saved."),
    ("settings", "Store settings saved."),
    ("export", "Export started. It appears in the list below when it is ready."),
    ("schedule", "Export schedule saved."),
    ("destination", "Delivery bucket saved."),
    ("uploaded", "Archive uploaded."),
    ("restore-test", "Test restore recorded."),
    ("imported", "Archive imported."),
    ("decided", "Decision recorded."),
    ("ban-lifted", "Ban lifted."),
    ("verification-submitted", "Verification submitted. An operator will review it."),
    ("bank-account", "Payout bank account saved."),
    ("document-added", "Document uploaded."),
    ("phishing-on", "Phishing simulation turned on. Launch a campaign when you are ready."),
    ("phishing-off", "Phishing simulation turned off. Past results stay below."),
    ("phishing-launched", "Campaign launched: each recipient was sent their own simulation mail."),
    ("phishing-reported", "Thank you: your report was sent to the store's owner."),
];

/// The message for `code`, if it is one of ours.
#[must_use]
pub fn message(code: &str) -> Option<&'static str> {
    SAVED.iter().find(|(c, _)| *c == code).map(|(_, m)| *m)
}

/// `to` with `saved=<code>` added (before any `#anchor`). `code` must be in the table (checked in tests).
#[must_use]
pub fn saved(to: &str, code: &'static str) -> String {
    let (path, anchor) = to.split_once('#').map_or((to, None), |(p, a)| (p, Some(a)));
    let sep = if path.contains('?') { '&' } else { '?' };
    match anchor {
        Some(a) => format!("{path}{sep}saved={code}#{a}"),
        None => format!("{path}{sep}saved={code}"),
    }
}

/// The saved-message for the page being answered (from its `saved=` query parameter), on the pages of people who
/// run stores or the platform only.
#[must_use]
pub fn current() -> Option<&'static str> {
    let uri = crate::http::error::page_uri()?;
    let path = uri.path();
    if !(path.starts_with("/admin/") || path.starts_with("/console")) {
        return None;
    }
    form_urlencoded::parse(uri.query()?.as_bytes()).find(|(k, _)| k == "saved").and_then(|(_, v)| message(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_saved_keeps_anchors() {
        for (i, (c, _)) in SAVED.iter().enumerate() {
            assert!(SAVED.iter().skip(i + 1).all(|(d, _)| d != c), "{c} twice");
        }
        assert_eq!(saved("/a#b", "waf"), "/a?saved=waf#b");
        assert_eq!(saved("/a?x=1", "waf"), "/a?x=1&saved=waf");
        assert_eq!(message("<script>"), None);
    }
}
