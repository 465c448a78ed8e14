//! Store API tokens, created the way a merchant does: on the Security Center page.

use super::{Csrf as _, TestApp};

/// Creates a store token on the tokens page with `form` (an urlencoded body: name, permissions, expiry) and
/// returns its secret, which the page shows once.
pub async fn store_token_from_page(
    app: &TestApp,
    store: impl std::fmt::Display,
    owner_cookie: &str,
    form: &str,
) -> String {
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{store}/tokens")))
        .csrf(app, owner_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the token page answers with the new token");
    let html = res.text().await.unwrap();
    html.split_whitespace()
        .find_map(|w| w.find("pal_st_").map(|i| w[i..].trim_end_matches("</pre>").to_owned()))
        .unwrap()
}
