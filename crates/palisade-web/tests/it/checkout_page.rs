//! The payment page as a buyer meets it (issue #18 item 5): the shop's look, steps cart → details → pay with the
//! current one marked, the chosen options, a signed-in buyer's details filled in, every refusal next to its field
//! in plain words, expiry dates checked as real months to come, and card data never sent back.

use palisade_commerce::address::{AddressFields, ShippingAddress};
use palisade_commerce::{address_book, orders};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Csrf as _, TestApp, add_to_cart, buyer, cart_cookie, guest_payment, listing, owner_of};

/// A card number the test gateway declines as unknown (it passes the Luhn check) and that the page never prints.
const UNKNOWN_CARD: &str = "4000 0566 5566 5556";

/// The store `tea` selling a "Linen apron" (size M, colour Red): its scope and the apron's variant.
async fn apron(app: &TestApp) -> (palisade_store::StaffScope, palisade_core::VariantId) {
    let (_, scope, _) = owner_of(app, "tea").await;
    let p = listing("apron")
        .title("Linen apron")
        .options(json!({"size": "M", "colour": "Red"}))
        .price(2500)
        .stock(20)
        .create(app, &scope)
        .await;
    (scope, p.variants[0].id)
}

/// A new guest's cart holding one of `variant`: its cookie.
async fn guest_with(app: &TestApp, variant: palisade_core::VariantId) -> String {
    cart_cookie(&add_to_cart(app, None, variant, "1").await).unwrap()
}

/// `form` with `field` set to `value`.
fn with<'a>(mut form: Vec<(&'a str, &'a str)>, field: &'a str, value: &'a str) -> Vec<(&'a str, &'a str)> {
    match form.iter_mut().find(|(k, _)| *k == field) {
        Some(f) => f.1 = value,
        None => form.push((field, value)),
    }
    form
}

async fn post(app: &TestApp, cookie: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let res = app.client.post(app.url("/checkout/tea")).csrf(app, cookie).form(form).send().await.unwrap();
    let status = res.status();
    (status, res.text().await.unwrap())
}

/// The `<a …>` of a step, by its text.
fn step<'a>(page: &'a str, name: &str) -> &'a str {
    let steps = page.split("<ol class=\"steps\">").nth(1).unwrap().split("</ol>").next().unwrap();
    steps.split("<li").find(|li| li.contains(&format!(">{name}</a>"))).unwrap()
}

/// The page shows no trace of `card` in any spelling a browser could be sent it in.
fn no_card_in(page: &str, card: &str) {
    let digits: String = card.chars().filter(char::is_ascii_digit).collect();
    for spelt in [card.to_owned(), digits.clone(), digits.get(..8).unwrap().to_owned()] {
        assert!(!page.contains(&spelt), "{spelt} is on the page");
    }
}

#[tokio::test]
async fn the_payment_page_wears_the_shop_look_with_steps_options_and_a_way_back() {
    let app = TestApp::start().await;
    let (_, v) = apron(&app).await;
    let cookie = guest_with(&app, v).await;
    let res = app.client.get(app.url("/checkout/tea")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("href=\"/theme/default/theme.css\""), "the shop's stylesheet");
    assert!(!page.contains("console.css") && !page.contains("/s/tea/theme.css"), "no console look, no merchant css");
    assert!(page.contains("aria-label=\"Checkout steps\""));
    assert!(step(&page, "Cart").contains("href=\"/cart\"") && !step(&page, "Cart").contains("aria-current"));
    assert!(step(&page, "Details").contains("aria-current=\"step\""), "a guest starts with their details");
    assert!(!step(&page, "Pay").contains("aria-current"));
    assert_eq!(page.matches("aria-current=").count(), 1, "one current step");
    assert!(page.contains("<a href=\"/cart\">← Back to your cart</a>"));
    assert!(page.contains("size: M · colour: Red") || page.contains("colour: Red · size: M"), "the options: {page}");
    for field in ["email", "name", "line1", "line2", "city", "postcode", "country", "card_number", "expiry", "cvc"] {
        assert!(page.contains(&format!("<label for=\"f-{field}\">")), "{field} has a label");
        assert!(page.contains(&format!("id=\"f-{field}\" name=\"{field}\"")), "{field}");
    }
    assert!(page.contains("aria-describedby=\"h-expiry\""), "the expiry's hint is tied to it");
    assert!(!page.contains("aria-invalid"), "nothing refused yet");

    // Nothing from this store in the cart: the cart step is the current one.
    let other = app.client.get(app.url("/checkout")).send().await.unwrap().text().await.unwrap();
    assert!(step(&other, "Cart").contains("aria-current=\"step\""));
    assert!(other.contains("Nothing to pay for"));
}

#[tokio::test]
async fn a_signed_in_buyer_finds_their_details_filled_in_and_lands_on_pay() {
    let app = TestApp::start().await;
    let (_, scope, _) = owner_of(&app, "tea").await;
    let v = listing("apron").options(json!({"size": "L"})).create(&app, &scope).await.variants[0].id;
    let (mei, cookie) = buyer("mei@buyer.example").named("Mei Tan").signed_in(&app).await;
    add_to_cart(&app, Some(&cookie), v, "1").await;

    // No saved address yet: the email and the profile's name, and the details step is still to do.
    let page = app.client.get(app.url("/checkout/tea")).header("cookie", &cookie).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("value=\"mei@buyer.example\""), "{page}");
    assert!(page.contains("value=\"Mei Tan\""));
    assert!(step(&page, "Details").contains("aria-current=\"step\""));

    let address = ShippingAddress::parse(AddressFields {
        name: "Mei Tan",
        line1: "8 Marina View",
        line2: "#12-01",
        city: "Singapore",
        postcode: "018960",
        country: "Singapore",
    })
    .unwrap();
    address_book::add(&app.db, mei.id, &address).await.unwrap();
    let page = app.client.get(app.url("/checkout/tea")).header("cookie", &cookie).send().await.unwrap();
    let page = page.text().await.unwrap();
    for value in ["8 Marina View", "#12-01", "018960"] {
        assert!(page.contains(&format!("value=\"{value}\"")), "{value} is filled in");
    }
    assert!(step(&page, "Pay").contains("aria-current=\"step\""), "only the card is left to enter");
    assert!(page.contains("size: L"));

    // Another buyer's page shows none of it.
    let (_, ana) = buyer("ana@buyer.example").signed_in(&app).await;
    add_to_cart(&app, Some(&ana), v, "1").await;
    let theirs = app.client.get(app.url("/checkout/tea")).header("cookie", &ana).send().await.unwrap();
    let theirs = theirs.text().await.unwrap();
    assert!(!theirs.contains("Marina") && !theirs.contains("mei@buyer.example"));
}

#[tokio::test]
async fn every_refused_field_is_named_beside_it_and_the_card_never_comes_back() {
    let app = TestApp::start().await;
    let (scope, v) = apron(&app).await;
    let cookie = guest_with(&app, v).await;
    let form = guest_payment("k-fields", UNKNOWN_CARD);
    let form = with(with(with(form, "email", "mei at example"), "city", " "), "expiry", "01/20");
    // Markup in a field (mild enough for the firewall to let through) comes back as text.
    let form = with(with(form, "cvc", "98"), "name", "Mei \"Tan\" <b>&</b>");
    let (status, page) = post(&app, &cookie, &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for (field, words) in [
        ("email", "Enter your email address, like name@example.com"),
        ("city", "Enter your town or city"),
        ("expiry", "This card has expired"),
        ("cvc", "The security code is 3 or 4 digits"),
    ] {
        assert!(page.contains(&format!("<p class=\"field-error\" id=\"e-{field}\">")), "{field}: {page}");
        assert!(page.contains(words), "{words}");
        assert!(page.contains(&format!("href=\"#f-{field}\"")), "the summary links to {field}");
        let input = page.split(&format!("id=\"f-{field}\"")).nth(1).unwrap().split('>').next().unwrap();
        assert!(input.contains("aria-invalid=\"true\""), "{field}: {input}");
        assert!(input.contains(&format!("e-{field}\"")), "{field} is described by its error: {input}");
    }
    assert!(page.contains("aria-describedby=\"h-expiry e-expiry\""), "hint and error both");
    assert!(page.contains("Please check 4 things"));
    assert!(page.starts_with("<!doctype html>") && page.contains("<title>Error: Secure checkout"));
    assert!(step(&page, "Details").contains("aria-current=\"step\""), "a details field needs fixing");
    // What was typed stays, escaped; the expiry too; the card number and CVC never.
    assert!(page.contains("value=\"1 Harbour Road\"") && page.contains("value=\"01&#x2f;20\""), "{page}");
    assert!(!page.contains("<b>&</b>") && page.contains("value=\"Mei &quot;Tan&quot; &lt;b&gt;&amp;&lt;&#x2f;b&gt;\""));
    assert!(!page.contains("name=\"cvc\" type=\"text\" value=\"98\""), "the CVC is not filled back in");
    assert!(page.contains("id=\"f-card_number\" name=\"card_number\" type=\"text\" value=\"\""));
    no_card_in(&page, UNKNOWN_CARD);

    // Only the card left wrong: the pay step is the current one; an over-long field is named too.
    let long = "x".repeat(201);
    let form = with(guest_payment("k-fields", "4242 4242 4242 4241"), "line2", &long);
    let (status, page) = post(&app, &cookie, &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("That card number is not right") && page.contains("Shorten the second line"));
    let form = guest_payment("k-fields", "4242 4242 4242 4241");
    let (_, page) = post(&app, &cookie, &form).await;
    assert!(step(&page, "Pay").contains("aria-current=\"step\""));
    no_card_in(&page, "4242 4242 4242 4241");
    assert!(orders::list(&app.db, &scope, None, 10, 0).await.unwrap().is_empty(), "no order");
}

#[tokio::test]
async fn a_card_the_gateway_refuses_is_named_beside_the_card_and_never_echoed() {
    let app = TestApp::start().await;
    let (_, v) = apron(&app).await;
    let cookie = guest_with(&app, v).await;
    let form = with(guest_payment("k-refused", UNKNOWN_CARD), "cvc", "9876");
    let (status, page) = post(&app, &cookie, &form).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert!(page.contains("id=\"e-card_number\"") && page.contains("Your card was declined"), "{page}");
    assert!(step(&page, "Pay").contains("aria-current=\"step\""));
    assert!(!page.contains("value=\"k-refused\""), "a new key for the next card");
    assert!(!page.contains("9876"), "nor the CVC");
    no_card_in(&page, UNKNOWN_CARD);
    // The declined test card too (its number is only in the hint, spaced).
    let (status, page) = post(&app, &cookie, &guest_payment("k-declined", "4000000000000002")).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert!(!page.contains("4000000000000002") && !page.contains("value=\"4000"));

    // A page whose key was tampered with is refused as a whole and given a fresh key.
    let (status, page) = post(&app, &cookie, &guest_payment("bad key", "4242424242424242")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("This payment page has expired") && !page.contains("value=\"bad key\""));
}

#[tokio::test]
async fn expiry_dates_are_real_months_to_come_in_every_usual_spelling() {
    let app = TestApp::start().await;
    let (_, v) = apron(&app).await;
    let cookie = guest_with(&app, v).await;
    for (i, refused) in ["01/20", "0/29", "00/29", "13/29", "13/2029", "1/2", "12/1999"].into_iter().enumerate() {
        let key = format!("k-exp-bad-{i}");
        let (status, page) =
            post(&app, &cookie, &with(guest_payment(&key, "4242424242424242"), "expiry", refused)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(page.contains("id=\"e-expiry\""), "{refused}");
    }
    for (i, accepted) in ["1/29", "01/29", "01/2029", "12 / 2031"].into_iter().enumerate() {
        let cookie = if i == 0 { cookie.clone() } else { guest_with(&app, v).await };
        let key = format!("k-exp-ok-{i}");
        let res = app
            .client
            .post(app.url("/checkout/tea"))
            .csrf(&app, &cookie)
            .form(&with(guest_payment(&key, "4242424242424242"), "expiry", accepted))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{accepted}");
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/orders/"), "{accepted}");
    }
}
