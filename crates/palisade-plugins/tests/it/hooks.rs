//! Each hook's happy path, loaded from a real manifest.

use super::*;

#[test]
fn product_block_from_manifest_is_sanitised() {
    let manifest = Manifest::parse(MANIFEST.as_bytes()).unwrap();
    let body = format!(
        "{}\n{}",
        constant(
            "product_block",
            r#"<p class="note">Only <b>3</b> left</p><script>alert(document.cookie)</script><img src=x onerror=alert(1)>"#
        ),
        constant("checkout_validate", r#"{"ok":true}"#)
    );
    let plugin = Plugin::load(&module("", &body), &manifest).unwrap();
    let w = world();
    let html = plugin.product_block(&Host { store: "store-a", world: &w }, &product("p-a", "Mug")).unwrap();
    assert!(html.untrusted_raw().contains("<script>"), "the raw output is what the guest wrote");
    assert_eq!(html.sanitised(), r#"<p class="ext-note">Only <b>3</b> left</p>"#);
    assert!(!html.escaped().contains('<'));
}

#[test]
fn product_block_receives_the_product_as_json() {
    let plugin = block_plugin("", &echo("product_block"), grant(&[], DataLevel::None));
    let out = block(&plugin).unwrap();
    assert_eq!(out, serde_json::to_string(&product("p-a", "Alpha mug")).unwrap());
}

#[test]
fn shipping_rates_are_typed_and_in_the_cart_currency() {
    let body =
        constant("shipping_rates", r#"{"rates":[{"code":"express","label":"Express (1 day)","amount_minor":1200}]}"#);
    let plugin = load(&module("", &body), &[Hook::ShippingRates], grant(&[], DataLevel::None)).unwrap();
    let w = world();
    let rates = plugin.shipping_rates(&Host { store: "store-a", world: &w }, &cart(), &address()).unwrap();
    assert_eq!(rates.len(), 1);
    assert_eq!((rates[0].code.as_str(), rates[0].amount_minor, rates[0].currency.as_str()), ("express", 1200, "EUR"));
}

#[test]
fn checkout_validate_accepts_and_refuses() {
    let w = world();
    let host = Host { store: "store-a", world: &w };
    let ok = load(
        &module("", &constant("checkout_validate", r#"{"ok":true}"#)),
        &[Hook::CheckoutValidate],
        grant(&[], DataLevel::None),
    )
    .unwrap();
    assert_eq!(ok.checkout_validate(&host, &cart()).unwrap(), CheckoutVerdict::Accept);
    let no = constant("checkout_validate", r#"{"ok":false,"message":"Minimum order is 50 EUR"}"#);
    let no = load(&module("", &no), &[Hook::CheckoutValidate], grant(&[], DataLevel::None)).unwrap();
    assert_eq!(
        no.checkout_validate(&host, &cart()).unwrap(),
        CheckoutVerdict::Refuse("Minimum order is 50 EUR".into())
    );
}

#[test]
fn a_granted_plugin_reads_its_own_stores_product() {
    let plugin =
        block_plugin(&import("product"), &lookup_block("product", "p-a"), grant(&[Scope::Products], DataLevel::None));
    let out = block(&plugin).unwrap();
    assert!(out.contains("Alpha mug"), "{out}");
}

#[test]
fn memory_growth_within_the_cap_is_fine() {
    let body = r#"(func (export "product_block") (param $p i32) (param $n i32) (result i64)
             (drop (memory.grow (i32.const 10))) (call $ret (i32.const 0) (i32.const 0)))"#;
    assert_eq!(block(&block_plugin("", body, grant(&[], DataLevel::None))).unwrap(), "");
}

#[test]
fn a_plugin_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Plugin>();
}
