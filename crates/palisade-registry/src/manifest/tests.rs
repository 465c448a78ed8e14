use super::*;

/// The README's example manifest.
pub(crate) const EXAMPLE: &str = include_str!("../../testdata/palisade-extension.toml");

/// The example with `from` replaced by `to` (the test fails if `from` is not there, so it cannot pass vacuously).
fn with(from: &str, to: &str) -> String {
    assert!(EXAMPLE.contains(from), "{from:?} not in the example");
    EXAMPLE.replacen(from, to, 1)
}

fn code(text: &str) -> &'static str {
    match Manifest::parse(text.as_bytes()) {
        Ok(m) => panic!("accepted: {m:?}"),
        Err(e) => e.code(),
    }
}

#[test]
fn the_example_parses() {
    let m = Manifest::parse(EXAMPLE.as_bytes()).unwrap();
    assert_eq!(m.id.as_str(), "com.example.reviews");
    assert_eq!(m.version, Version::new(1, 2, 0));
    assert!(m.palisade.matches(&Version::new(0, 2, 9)));
    assert!(!m.palisade.matches(&Version::new(0, 3, 0)));
    assert_eq!(m.scopes.len(), 3);
    assert_eq!(m.customer_data, DataLevel::WithoutContact);
    assert!(m.webhooks.contains(&WebhookTopic::OrderPaid));
    let plugin = m.content.plugin.unwrap();
    assert_eq!(plugin.hooks.into_iter().collect::<Vec<_>>(), vec![Hook::ProductBlock, Hook::CheckoutValidate]);
    assert_eq!(m.content.theme.unwrap().root.as_str(), "theme");
    assert_eq!(m.content.app.unwrap().redirect_urls.len(), 1);
}

#[test]
fn unknown_and_duplicate_names_are_refused() {
    assert_eq!(code(&with(r#""orders", "#, r#""orders", "root", "#)), "manifest_value_not_allowed");
    assert_eq!(code(&with(r#""orders", "#, r#""Orders", "#)), "manifest_value_not_allowed");
    assert_eq!(code(&with(r#""orders", "#, r#""orders", "orders", "#)), "manifest_duplicate");
    assert_eq!(
        code(&with(r#""order.paid""#, r#""order.paid", "order.deleted_everything""#)),
        "manifest_value_not_allowed"
    );
    assert_eq!(code(&with(r#""product_block""#, r#""admin_panel""#)), "manifest_value_not_allowed");
    assert_eq!(code(&with(r#"hooks = ["product_block", "checkout_validate"]"#, "hooks = []")), "manifest_no_hooks");
    // A misspelt key is an error, not a silently empty list.
    assert_eq!(code(&with("scopes =", "scope =")), "manifest_syntax");
    assert_eq!(code(&with("[theme]", "[theme]\nscript = \"x.js\"")), "manifest_syntax");
    // TOML itself refuses a key given twice (a second `scopes` cannot widen the first).
    assert_eq!(
        code(&with("customer_data_level = 1", "customer_data_level = 1\nscopes = [\"payouts\"]")),
        "manifest_syntax"
    );
}

#[test]
fn ids_versions_and_requirements_are_checked() {
    assert_eq!(code(&with("com.example.reviews", "../../etc/passwd")), "manifest_invalid_name");
    assert_eq!(code(&with("com.example.reviews", "com.example.REVIEWS")), "manifest_invalid_name");
    assert_eq!(code(&with(r#"publisher = "example-labs""#, r#"publisher = "Example Labs""#)), "manifest_invalid_name");
    assert_eq!(code(&with(r#"version = "1.2.0""#, r#"version = "1.2""#)), "manifest_invalid_version");
    assert_eq!(code(&with(r#"version = "1.2.0""#, r#"version = "1.2.0+build.7""#)), "manifest_build_metadata");
    assert_eq!(code(&with(r#"">=0.1, <0.3""#, r#""latest""#)), "manifest_invalid_version");
    assert_eq!(code(&with("manifest_version = 1", "manifest_version = 2")), "manifest_version_unsupported");
    assert_eq!(code(&with("customer_data_level = 1", "customer_data_level = 3")), "manifest_invalid_data_level");
    assert_eq!(code(&with("customer_data_level = 1", "customer_data_level = -1")), "manifest_invalid_data_level");
}

#[test]
fn names_cannot_carry_markup_formulas_or_bidi_tricks() {
    // As written inside the TOML string (so `\u0007` reaches the parser as an escape, not a raw control byte).
    let bad_names = [
        "<img src=x onerror=alert(1)>",
        "=HYPERLINK(\\\"http://x\\\")",
        "Reviews\u{202E}gpj.exe",
        "",
        "   ",
        "a\\u0007b",
    ];
    for bad in bad_names {
        let text = with("Product reviews", bad);
        assert_eq!(code(&text), "manifest_invalid_display_name", "{bad:?}");
    }
    let long = "x".repeat(81);
    assert_eq!(code(&with("Product reviews", &long)), "manifest_invalid_display_name");
    let m = Manifest::parse(with("Product reviews", "  Avis clients — étoiles ").as_bytes()).unwrap();
    assert_eq!(m.name, "Avis clients — étoiles");
}

#[test]
fn scopes_levels_and_webhooks_must_agree() {
    // Customer data with level 0 is a contradiction.
    assert_eq!(code(&with("customer_data_level = 1", "customer_data_level = 0")), "manifest_customer_data_needs_level");
    // A webhook is no side door around the scopes: product events need the products scope.
    assert_eq!(code(&with(r#""products", "#, "")), "manifest_webhook_needs_scope");
    assert_eq!(
        code(&with(r#""order.paid""#, r#""order.paid", "customer.updated", "order.refunded""#)),
        "manifest_webhook_needs_scope"
    );
    // Webhooks need somewhere to go.
    assert_eq!(
        code(&with(r#"webhook_url = "https://reviews.example.com/hooks""#, "")),
        "manifest_webhooks_without_endpoint"
    );
    let too_many = format!("webhooks = [{}]", vec![r#""order.paid""#; MAX_WEBHOOKS + 1].join(", "));
    assert_eq!(code(&with(r#"webhooks = ["order.paid", "product.updated"]"#, &too_many)), "manifest_too_many");
}

#[test]
fn content_paths_are_relative_and_safe() {
    assert_eq!(code(&with(r#"root = "theme""#, r#"root = "../theme""#)), "manifest_invalid_name");
    assert_eq!(code(&with(r#"root = "theme""#, r#"root = "/srv/theme""#)), "manifest_invalid_name");
    assert_eq!(code(&with("plugin/reviews.wasm", "plugin/reviews.js")), "manifest_module_not_wasm");
    assert_eq!(code(&with("plugin/reviews.wasm", "plugin/../../x.wasm")), "manifest_invalid_name");
    let bare = "manifest_version = 1\nid = \"a.b\"\nname = \"X\"\npublisher = \"pp\"\nversion = \"1.0.0\"\n\
                palisade = \"*\"\ncustomer_data_level = 0\n";
    assert_eq!(code(bare), "manifest_no_content");
}

#[test]
fn app_urls_are_public_https() {
    let cb = "https://reviews.example.com/oauth/callback";
    for (bad, _why) in [
        ("http://reviews.example.com/cb", "plain http"),
        ("https://user:pw@reviews.example.com/cb", "credentials"),
        ("https://127.0.0.1/cb", "IP literal"),
        ("https://[::1]/cb", "IPv6 literal"),
        ("https://169.254.169.254/latest/meta-data", "metadata address"),
        ("https://localhost/cb", "localhost"),
        ("https://x.localhost/cb", "localhost subdomain"),
        ("https://db.internal/cb", "private suffix"),
        ("https://intranet/cb", "single label"),
        ("https://reviews.example.com/cb#frag", "fragment"),
        ("javascript:alert(1)", "script"),
        ("//reviews.example.com/cb", "relative"),
    ] {
        assert_eq!(code(&with(cb, bad)), "manifest_invalid_url", "{bad}");
    }
    let long = format!("https://reviews.example.com/{}", "a".repeat(MAX_URL_LEN));
    assert_eq!(code(&with(cb, &long)), "manifest_invalid_url");
    let six = vec![format!("\"{cb}\""); 6].join(", ");
    assert_eq!(code(&with(&format!("\"{cb}\""), &six)), "manifest_too_many");
    let two = format!("\"{cb}\", \"{cb}\"");
    assert_eq!(code(&with(&format!("\"{cb}\""), &two)), "manifest_duplicate");
    assert_eq!(code(&with(&format!("\"{cb}\""), "")), "manifest_no_redirect_urls");
}

#[test]
fn oversized_and_malformed_manifests_are_refused() {
    let big = format!("{EXAMPLE}\n# {}", "x".repeat(MAX_MANIFEST_BYTES));
    assert_eq!(code(&big), "manifest_too_large");
    assert_eq!(Manifest::parse(b"\xff\xfe").unwrap_err().code(), "manifest_syntax");
    assert_eq!(code("id = "), "manifest_syntax");
    // Deeply nested TOML is refused by the parser rather than overflowing the stack.
    let nested = format!("{EXAMPLE}\nx = {}{}", "[".repeat(5000), "]".repeat(5000));
    assert_eq!(code(&nested), "manifest_syntax");
}
