//! Buying: the JSON order API's request, the cart, and the payment form a guest fills in.

use serde::Serialize;
use serde_json::{Value, json};

use super::{Csrf as _, TestApp, VISITOR};

/// The body of `POST /api/v1/stores/{store}/orders`: one line of `quantity` units, a Singapore address and a card.
/// Unless the test sets them: Mei (mei@buyer.example), one unit, the test card that pays.
pub struct OrderRequest {
    variant: Value,
    quantity: i64,
    email: String,
    name: String,
    card: String,
}

/// An [`OrderRequest`] for `variant` (any JSON value: an id, or something that is not one).
pub fn order_request(variant: impl Serialize) -> OrderRequest {
    OrderRequest {
        variant: serde_json::to_value(variant).unwrap(),
        quantity: 1,
        email: "mei@buyer.example".into(),
        name: "Mei".into(),
        card: "4242424242424242".into(),
    }
}

impl OrderRequest {
    pub fn email(mut self, email: &str) -> OrderRequest {
        email.clone_into(&mut self.email);
        self
    }

    /// The name on the delivery address.
    pub fn name(mut self, name: &str) -> OrderRequest {
        name.clone_into(&mut self.name);
        self
    }

    pub fn card(mut self, number: &str) -> OrderRequest {
        number.clone_into(&mut self.card);
        self
    }

    pub fn quantity(mut self, quantity: i64) -> OrderRequest {
        self.quantity = quantity;
        self
    }

    pub fn json(&self) -> Value {
        json!({"email": self.email,
               "address": {"name": self.name, "line1": "1 Road", "city": "SG", "postcode": "1", "country": "SG"},
               "lines": [{"variant_id": self.variant, "quantity": self.quantity}],
               "card": {"number": self.card, "expiry": "12/30", "cvc": "123"}})
    }
}

/// Places (and pays for) an order through the JSON API of the store `slug`, with an idempotency key and, when
/// given, a buyer's session cookie.
pub async fn place_order(
    app: &TestApp,
    slug: &str,
    key: &str,
    body: &Value,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut req =
        app.client.post(app.url(&format!("/api/v1/stores/{slug}/orders"))).header("idempotency-key", key).json(body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// Puts `quantity` of `variant` in the cart of the browser sending `cookie` (a fresh visitor without one).
pub async fn add_to_cart(
    app: &TestApp,
    cookie: Option<&str>,
    variant: impl std::fmt::Display,
    quantity: &str,
) -> reqwest::Response {
    let variant = variant.to_string();
    let req = app.client.post(app.url("/cart/add")).form(&[("variant_id", variant.as_str()), ("quantity", quantity)]);
    req.csrf(app, cookie.unwrap_or(VISITOR)).send().await.unwrap()
}

/// The `palisade_cart` cookie (`name=value`) a response sets, if any.
pub fn cart_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("palisade_cart="))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// The checkout form (`POST /checkout/{store}`) as a guest in Singapore fills it in, paying with `card`.
pub fn guest_payment<'a>(key: &'a str, card: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("idempotency_key", key),
        ("email", "guest@buyer.example"),
        ("name", "Guest Buyer"),
        ("line1", "1 Harbour Road"),
        ("city", "Singapore"),
        ("postcode", "018956"),
        ("country", "Singapore"),
        ("card_number", card),
        ("expiry", "12/30"),
        ("cvc", "123"),
    ]
}
