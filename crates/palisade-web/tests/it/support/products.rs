//! Products put straight into a store's catalogue (not through the admin), for tests about what happens to them.

use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_core::money::{Currency, Money};
use palisade_core::text::Slug;
use palisade_store::StaffScope;
use serde_json::{Value, json};

use super::TestApp;

/// A published product with one variant, described by what the test sets; the rest is plain: title
/// "Item {slug}", no description, SKU "{slug}-1", no options, SGD 10.00, 10 in stock.
pub struct Listing {
    slug: String,
    title: String,
    description: String,
    sku: String,
    options: Value,
    price_minor: i64,
    stock: i64,
}

/// A [`Listing`] under `slug` (also its page's path: `/s/{store}/p/{slug}`).
pub fn listing(slug: &str) -> Listing {
    Listing {
        slug: slug.to_owned(),
        title: format!("Item {slug}"),
        description: String::new(),
        sku: format!("{slug}-1"),
        options: json!({}),
        price_minor: 1000,
        stock: 10,
    }
}

impl Listing {
    pub fn title(mut self, title: &str) -> Listing {
        title.clone_into(&mut self.title);
        self
    }

    pub fn description(mut self, description: &str) -> Listing {
        description.clone_into(&mut self.description);
        self
    }

    pub fn sku(mut self, sku: &str) -> Listing {
        sku.clone_into(&mut self.sku);
        self
    }

    pub fn options(mut self, options: Value) -> Listing {
        self.options = options;
        self
    }

    /// The variant's price in SGD minor units (cents).
    pub fn price(mut self, minor: i64) -> Listing {
        self.price_minor = minor;
        self
    }

    pub fn stock(mut self, stock: i64) -> Listing {
        self.stock = stock;
        self
    }

    /// The product, published in the store of `scope`: it shows in the storefront and can be bought.
    pub async fn create(self, app: &TestApp, scope: &StaffScope) -> catalog::Product {
        catalog::create_product(
            &app.db,
            scope,
            NewProduct {
                slug: Slug::parse(&self.slug).unwrap(),
                title: self.title,
                description: self.description,
                status: ProductStatus::Published,
                category: None,
                variants: vec![NewVariant {
                    sku: self.sku,
                    options: self.options,
                    price: Money::new(self.price_minor, Currency::SGD),
                    stock: self.stock,
                }],
            },
        )
        .await
        .unwrap()
    }
}
