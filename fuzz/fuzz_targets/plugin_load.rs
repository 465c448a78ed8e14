//! WebAssembly plugins on arbitrary bytes: loading never panics, and whatever loads runs each hook under a small
//! fuel budget and returns (a value or a typed error), never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_plugins::{Address, Cart, Customer, Grant, Limits, Plugin, PluginHost, Product};
use palisade_registry::{DataLevel, Hook, Scope};

struct Host;

impl PluginHost for Host {
    fn product(&self, id: &str) -> Option<Product> {
        (id == "p-1").then(product)
    }
    fn customer(&self, _id: &str) -> Option<Customer> {
        None
    }
}

fn product() -> Product {
    Product { id: "p-1".into(), title: "Mug".into(), sku: None, price_minor: 100, currency: "EUR".into(), available: 1 }
}

fuzz_target!(|data: &[u8]| {
    let grant = Grant { scopes: Scope::ALL.into_iter().collect(), customer_data: DataLevel::WithContact };
    let limits = Limits { fuel: 100_000, ..Limits::default() };
    let Ok(plugin) = Plugin::load_with(data, Hook::ALL.into_iter().collect(), grant, limits) else { return };
    let cart = Cart { currency: "EUR".into(), lines: vec![], subtotal_minor: 0, customer_id: Some("c-1".into()) };
    let address = Address {
        name: None,
        line1: None,
        line2: None,
        city: None,
        region: None,
        postal_code: None,
        country: "FR".into(),
        phone: None,
    };
    let _ = plugin.product_block(&Host, &product()).map(|b| b.sanitised());
    let _ = plugin.shipping_rates(&Host, &cart, &address);
    let _ = plugin.checkout_validate(&Host, &cart);
});
