//! The sandbox against hostile guests: one test per escape the brief names, plus the happy path of each hook.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // Test helpers may panic.

mod guests;

use std::collections::BTreeSet;

use guests::{constant, echo, import, lookup_block, module, rates_if_contains};
use palisade_plugins::{
    Address, Cart, CartLine, CheckoutVerdict, Customer, Grant, Limits, Plugin, PluginError, PluginHost, Product,
};
use palisade_registry::{DataLevel, Hook, Manifest, Scope};

/// Two stores' data; a `Host` sees one of them.
struct World {
    products: Vec<(&'static str, Product)>,
    customers: Vec<(&'static str, Customer)>,
}

struct Host<'a> {
    store: &'static str,
    world: &'a World,
}

impl PluginHost for Host<'_> {
    fn product(&self, id: &str) -> Option<Product> {
        self.world.products.iter().find(|(s, p)| *s == self.store && p.id == id).map(|(_, p)| p.clone())
    }
    fn customer(&self, id: &str) -> Option<Customer> {
        self.world.customers.iter().find(|(s, c)| *s == self.store && c.id == id).map(|(_, c)| c.clone())
    }
}

fn product(id: &str, title: &str) -> Product {
    Product {
        id: id.into(),
        title: title.into(),
        sku: Some("SKU-1".into()),
        price_minor: 1999,
        currency: "EUR".into(),
        available: 3,
    }
}

fn address() -> Address {
    Address {
        name: Some("Ada Lovelace".into()),
        line1: Some("12 Main Street".into()),
        line2: None,
        city: Some("London".into()),
        region: Some("LDN".into()),
        postal_code: Some("NW1 6XE".into()),
        country: "GB".into(),
        phone: Some("+44 20 7946 0000".into()),
    }
}

fn customer(id: &str) -> Customer {
    Customer {
        id: id.into(),
        name: Some("Ada Lovelace".into()),
        email: Some("ada@example.com".into()),
        phone: Some("+44 20 7946 0000".into()),
        address: Some(address()),
        orders_count: 7,
        total_spent_minor: 123_400,
        accepts_marketing: false,
    }
}

fn world() -> World {
    World {
        products: vec![("store-a", product("p-a", "Alpha mug")), ("store-b", product("p-b", "Secret B product"))],
        customers: vec![("store-a", customer("c-a")), ("store-b", customer("c-b"))],
    }
}

fn cart() -> Cart {
    Cart {
        currency: "EUR".into(),
        lines: vec![CartLine { product_id: "p-a".into(), sku: None, quantity: 2, unit_price_minor: 1999 }],
        subtotal_minor: 3998,
        customer_id: Some("c-a".into()),
    }
}

fn grant(scopes: &[Scope], level: DataLevel) -> Grant {
    Grant { scopes: scopes.iter().copied().collect(), customer_data: level }
}

fn hooks(h: &[Hook]) -> BTreeSet<Hook> {
    h.iter().copied().collect()
}

fn load(wasm: &[u8], h: &[Hook], g: Grant) -> Result<Plugin, PluginError> {
    Plugin::load_with(wasm, hooks(h), g, Limits::default())
}

fn block_plugin(imports: &str, body: &str, g: Grant) -> Plugin {
    load(&module(imports, body), &[Hook::ProductBlock], g).unwrap()
}

fn block(p: &Plugin) -> Result<String, PluginError> {
    let w = world();
    let host = Host { store: "store-a", world: &w };
    p.product_block(&host, &product("p-a", "Alpha mug")).map(|h| h.untrusted_raw().to_owned())
}

const MANIFEST: &str = r#"
manifest_version = 1
id = "com.example.blocks"
name = "Blocks"
publisher = "example-labs"
version = "1.0.0"
palisade = ">=0.1"
scopes = ["products"]
customer_data_level = 0

[plugin]
module = "plugin/blocks.wasm"
hooks = ["product_block", "checkout_validate"]
"#;

mod abuse;
mod hooks;
mod release;
