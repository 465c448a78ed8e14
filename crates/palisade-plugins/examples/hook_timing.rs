//! How long one hook call takes (fresh store and instance, input copied in, one host call, output copied out).
//! A timing program, not a benchmark: run it on a quiet machine, in release, to read the numbers.
//!
//! ```sh
//! cargo run --release -p palisade-plugins --example hook_timing [calls]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // A program for people, not a service.

use std::time::{Duration, Instant};

use palisade_plugins::{Customer, Grant, Limits, Plugin, PluginHost, Product};
use palisade_registry::{DataLevel, Hook, Scope};

const GUEST: &str = r#"(module
  (import "palisade" "product" (func $product (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 8192))
  (data (i32.const 16) "p-1")
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n))) (local.get $p))
  ;; Counts the quotes in its input (a little work per byte), asks the host for a product and returns it.
  (func (export "product_block") (param $p i32) (param $n i32) (result i64)
    (local $i i32) (local $q i32) (local $r i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (if (i32.eq (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 34))
        (then (local.set $q (i32.add (local.get $q) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.set $r (call $product (i32.const 16) (i32.const 3) (i32.const 4096) (i32.const 4096)))
    (i64.or (i64.shl (i64.const 4096) (i64.const 32)) (i64.extend_i32_u (local.get $r)))))"#;

struct Host(Product);

impl PluginHost for Host {
    fn product(&self, id: &str) -> Option<Product> {
        (id == self.0.id).then(|| self.0.clone())
    }
    fn customer(&self, _id: &str) -> Option<Customer> {
        None
    }
}

fn main() {
    let calls: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let wasm = wat::parse_str(GUEST).unwrap();
    let grant = Grant { scopes: [Scope::Products].into(), customer_data: DataLevel::None };
    let started = Instant::now();
    let plugin = Plugin::load_with(&wasm, [Hook::ProductBlock].into(), grant, Limits::default()).unwrap();
    println!("load (validate + compile): {:?}", started.elapsed());
    let product = Product {
        id: "p-1".into(),
        title: "A mug with a rather long title to copy in".into(),
        sku: Some("MUG-1".into()),
        price_minor: 1999,
        currency: "EUR".into(),
        available: 12,
    };
    let mut times: Vec<Duration> = Vec::with_capacity(calls);
    for _ in 0..calls {
        let host = Host(product.clone());
        let t = Instant::now();
        let block = plugin.product_block(&host, &product).unwrap();
        times.push(t.elapsed());
        assert!(block.untrusted_raw().contains("MUG-1"));
    }
    report("product_block calls", &mut times);

    // The worst a guest can cost: loop until the default fuel budget is gone.
    let spin = GUEST.replace("(local.set $r (call", "(loop $spin (br $spin)) (local.set $r (call");
    let grant = Grant { scopes: [Scope::Products].into(), customer_data: DataLevel::None };
    let spinner =
        Plugin::load_with(&wat::parse_str(spin).unwrap(), [Hook::ProductBlock].into(), grant, Limits::default())
            .unwrap();
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..calls.div_ceil(100).max(5) {
        let t = Instant::now();
        let out = spinner.product_block(&Host(product.clone()), &product);
        times.push(t.elapsed());
        assert!(out.is_err());
    }
    report("calls spending the whole fuel budget", &mut times);
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let pick = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{} {what}: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        times.len(),
        pick(0.5),
        pick(0.9),
        pick(0.99),
        pick(1.0)
    );
}
