//! Criterion micro-benchmark of the WAF engine on typical storefront requests (issue: shield, goal p99 < 50 µs),
//! beside the baseline every inspection pays: splitting the request into fields. Tail latency (p99) over the
//! whole benign corpus is `bench/shield.sh`; this measures each request kind precisely.
//! `cargo bench -p palisade-shield --bench inspect`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_shield::{Policy, Request, Shield};

fn browser(req: Request<'static>) -> Request<'static> {
    req.header("host", "market.example")
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36")
        .header("accept", "text/html,application/xhtml+xml")
        .header("accept-language", "en-SG,en;q=0.9")
        .header("cookie", "palisade_session=3f2a9c0d8e7b6a5f4e3d2c1b0a998877; palisade_cart=00998877665544332211")
        .header("referer", "https://market.example/s/lion-city-tea")
}

fn requests() -> Vec<(&'static str, Request<'static>)> {
    vec![
        ("product page", browser(Request::new("GET", "/s/lion-city-tea/p/classic-sencha"))),
        ("search", browser(Request::new("GET", "/s/lion-city-tea/search?q=men%27s+rain+jacket+%28xl%29&page=2"))),
        (
            "add to cart",
            browser(Request::new("POST", "/s/lion-city-tea/cart"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("variant_id=01a21083-b00f-701e-b992-940ca4daceb3&quantity=2&csrf=Zm9vYmFyYmF6cXV4"),
        ),
        (
            "checkout",
            browser(Request::new("POST", "/checkout/lion-city-tea"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    "email=nur%40buyer.example&name=Nur+Aisyah&line1=12+O%27Connell+St.+%2303-01&city=Singapore\
                     &postcode=018956&country=SG&card_number=4242424242424242&expiry=12%2F30&cvc=123",
                ),
        ),
    ]
}

fn inspect(c: &mut Criterion) {
    let shield = Shield::default();
    let policy = Policy::default();
    for (name, req) in requests() {
        c.bench_function(&format!("fields only: {name}"), |b| b.iter(|| black_box(black_box(&req).fields())));
        c.bench_function(&format!("inspect: {name}"), |b| {
            b.iter(|| black_box(shield.inspect(black_box(&req), &policy)));
        });
    }
}

criterion_group!(benches, inspect);
criterion_main!(benches);
