//! Sandbox escapes, each refused with its typed error.

use super::*;

fn none() -> Grant {
    grant(&[], DataLevel::None)
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let body = r#"(func (export "product_block") (param $p i32) (param $n i32) (result i64)
        (loop $forever (br $forever)) (unreachable))"#;
    let plugin = block_plugin("", body, none());
    let start = std::time::Instant::now();
    assert_eq!(block(&plugin), Err(PluginError::OutOfFuel));
    // Not a timing test: a generous bound that only an unmetered loop would miss.
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn an_endless_alloc_runs_out_of_fuel_too() {
    let text = r#"(module (memory (export "memory") 1)
        (func (export "alloc") (param i32) (result i32) (loop $l (br $l)) (i32.const 0))
        (func (export "product_block") (param i32 i32) (result i64) (i64.const 0)))"#;
    let plugin = load(&wat::parse_str(text).unwrap(), &[Hook::ProductBlock], none()).unwrap();
    assert_eq!(block(&plugin), Err(PluginError::OutOfFuel));
}

#[test]
fn memory_growth_beyond_the_cap_is_refused() {
    let body = r#"(func (export "product_block") (param $p i32) (param $n i32) (result i64)
        (drop (memory.grow (i32.const 1000))) (call $ret (i32.const 0) (i32.const 0)))"#;
    assert_eq!(block(&block_plugin("", body, none())), Err(PluginError::MemoryLimit));
}

#[test]
fn a_module_declaring_more_memory_than_the_cap_is_refused_at_load() {
    let text = r#"(module (memory (export "memory") 100)
        (func (export "alloc") (param i32) (result i32) (i32.const 0))
        (func (export "product_block") (param i32 i32) (result i64) (i64.const 0)))"#;
    let err = load(&wat::parse_str(text).unwrap(), &[Hook::ProductBlock], none()).unwrap_err();
    assert_eq!(err, PluginError::MemoryLimit);
}

#[test]
fn a_host_call_without_its_scope_is_denied() {
    let plugin =
        block_plugin(&import("product"), &lookup_block("product", "p-a"), grant(&[Scope::Orders], DataLevel::None));
    assert_eq!(block(&plugin), Err(PluginError::ScopeDenied("products")));
    let plugin = block_plugin(
        &import("customer"),
        &lookup_block("customer", "c-a"),
        grant(&[Scope::Products], DataLevel::WithContact),
    );
    assert_eq!(block(&plugin), Err(PluginError::ScopeDenied("customer_data")));
}

#[test]
fn customer_data_scope_at_level_0_is_denied() {
    let plugin = block_plugin(
        &import("customer"),
        &lookup_block("customer", "c-a"),
        grant(&[Scope::CustomerData], DataLevel::None),
    );
    assert!(matches!(block(&plugin), Err(PluginError::ScopeDenied(_))));
}

#[test]
fn at_level_1_a_customer_comes_without_contact_data() {
    let plugin = block_plugin(
        &import("customer"),
        &lookup_block("customer", "c-a"),
        grant(&[Scope::CustomerData], DataLevel::WithoutContact),
    );
    let out = block(&plugin).unwrap();
    assert!(out.contains(r#""orders_count":7"#), "{out}");
    for secret in ["ada@example.com", "Ada Lovelace", "+44", "Main Street", "email", "phone", "address"] {
        assert!(!out.contains(secret), "{secret} leaked at level 1: {out}");
    }
    // The same guest with the level-2 grant does see them: the test can fail.
    let plugin = block_plugin(
        &import("customer"),
        &lookup_block("customer", "c-a"),
        grant(&[Scope::CustomerData], DataLevel::WithContact),
    );
    assert!(block(&plugin).unwrap().contains("ada@example.com"));
}

#[test]
fn below_level_2_the_shipping_address_has_no_street_or_name() {
    let w = world();
    let host = Host { store: "store-a", world: &w };
    for (needle, level, expect) in [
        ("Main Street", DataLevel::WithoutContact, "clean"),
        ("Ada Lovelace", DataLevel::None, "clean"),
        ("+44", DataLevel::WithoutContact, "clean"),
        ("NW1 6XE", DataLevel::None, "leak"),
        ("Main Street", DataLevel::WithContact, "leak"),
    ] {
        let plugin = load(&module("", &rates_if_contains(needle)), &[Hook::ShippingRates], grant(&[], level)).unwrap();
        let rates = plugin.shipping_rates(&host, &cart(), &address()).unwrap();
        assert_eq!(rates[0].code, expect, "{needle} at {level:?}");
    }
}

#[test]
fn the_customer_id_reaches_only_plugins_granted_customer_data() {
    let w = world();
    let host = Host { store: "store-a", world: &w };
    for (g, expect) in [
        (grant(&[Scope::Products, Scope::Orders], DataLevel::None), "clean"),
        (grant(&[Scope::Products], DataLevel::WithContact), "clean"),
        (grant(&[Scope::CustomerData], DataLevel::WithoutContact), "leak"),
    ] {
        let plugin =
            load(&module("", &rates_if_contains(r#""customer_id":"c-a""#)), &[Hook::ShippingRates], g.clone()).unwrap();
        let rates = plugin.shipping_rates(&host, &cart(), &address()).unwrap();
        assert_eq!(rates[0].code, expect, "{g:?}");
    }
}

#[test]
fn another_stores_ids_find_nothing() {
    for id in ["p-b", "store-b/p-b", "store-b:p-b", "../store-b/p-b", r#"{"store":"store-b","id":"p-b"}"#] {
        let plugin =
            block_plugin(&import("product"), &lookup_block("product", id), grant(&[Scope::Products], DataLevel::None));
        assert_eq!(block(&plugin).unwrap(), "missing", "{id}");
    }
    let plugin = block_plugin(
        &import("customer"),
        &lookup_block("customer", "c-b"),
        grant(&[Scope::CustomerData], DataLevel::WithContact),
    );
    assert_eq!(block(&plugin).unwrap(), "missing");
    // The same plugin bound to store B sees B's product: the ids are right, the store is not the guest's to pick.
    let plugin =
        block_plugin(&import("product"), &lookup_block("product", "p-b"), grant(&[Scope::Products], DataLevel::None));
    let w = world();
    let out = plugin.product_block(&Host { store: "store-b", world: &w }, &product("p-b", "x")).unwrap();
    assert!(out.untrusted_raw().contains("Secret B product"));
}

#[test]
fn no_state_survives_between_calls() {
    // A guest that counts its calls in a global: every call is a fresh instance, so one store's call can leave
    // nothing for the next one to read.
    let body = r#"(global $calls (mut i32) (i32.const 48))
        (func (export "product_block") (param $p i32) (param $n i32) (result i64)
          (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
          (i32.store8 (i32.const 0) (global.get $calls))
          (call $ret (i32.const 0) (i32.const 1)))"#;
    let plugin = block_plugin("", body, none());
    assert_eq!(block(&plugin).unwrap(), "1");
    assert_eq!(block(&plugin).unwrap(), "1");
}

#[test]
fn huge_or_out_of_bounds_output_is_bad_output() {
    for packed in ["(i64.const 0x7fffffff)", "(i64.const 0xffff000000000010)", "(i64.const 0x0001ffff00000100)"] {
        let body = format!(r#"(func (export "product_block") (param $p i32) (param $n i32) (result i64) {packed})"#);
        assert!(matches!(block(&block_plugin("", &body, none())), Err(PluginError::BadOutput(_))), "{packed}");
    }
    // Just over the 32 KiB cap, in bounds.
    let body = r#"(func (export "product_block") (param $p i32) (param $n i32) (result i64) (call $ret (i32.const 0) (i32.const 32769)))"#;
    assert_eq!(block(&block_plugin("", body, none())), Err(PluginError::BadOutput("the output is over the size cap")));
}

#[test]
fn malformed_rates_and_verdicts_are_bad_output() {
    let w = world();
    let host = Host { store: "store-a", world: &w };
    let many: Vec<String> = (0..11).map(|i| format!(r#"{{"code":"r{i}","label":"R","amount_minor":1}}"#)).collect();
    let many = format!(r#"{{"rates":[{}]}}"#, many.join(","));
    for out in [
        "not json",
        r#"{"rates":[{"code":"x","label":"X","amount_minor":-5}]}"#,
        r#"{"rates":[{"code":"X Y","label":"X","amount_minor":5}]}"#,
        "{\"rates\":[{\"code\":\"x\",\"label\":\"A\\u202eB\",\"amount_minor\":5}]}",
        r#"{"rates":[{"code":"x","label":"X","amount_minor":5,"currency":"USD"}]}"#,
        r#"{"rates":[{"code":"x","label":"X","amount_minor":5},{"code":"x","label":"X","amount_minor":6}]}"#,
        &many,
    ] {
        let plugin = load(&module("", &constant("shipping_rates", out)), &[Hook::ShippingRates], none()).unwrap();
        assert!(matches!(plugin.shipping_rates(&host, &cart(), &address()), Err(PluginError::BadOutput(_))), "{out}");
    }
    for out in [r#"{"ok":false}"#, r#"{"ok":true,"message":"hi"}"#, r#"{"ok":false,"message":""}"#, "[]"] {
        let plugin = load(&module("", &constant("checkout_validate", out)), &[Hook::CheckoutValidate], none()).unwrap();
        assert!(matches!(plugin.checkout_validate(&host, &cart()), Err(PluginError::BadOutput(_))), "{out}");
    }
    let plugin = load(&module("", &constant("product_block", "\u{0}ok")), &[Hook::ProductBlock], none()).unwrap();
    assert!(block(&plugin).is_ok());
}

#[test]
fn unknown_or_mistyped_imports_are_refused_at_load() {
    for imp in [
        r#"(import "palisade" "http_get" (func (param i32 i32) (result i32)))"#,
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
        r#"(import "env" "product" (func (param i32 i32 i32 i32) (result i32)))"#,
        r#"(import "palisade" "product" (func (param i32 i32) (result i32)))"#,
        r#"(import "palisade" "fuel" (global i32))"#,
    ] {
        let err = load(&module(imp, &echo("product_block")), &[Hook::ProductBlock], none()).unwrap_err();
        assert!(matches!(err, PluginError::ImportRefused { .. }), "{imp}: {err:?}");
        assert_eq!(err.code(), "plugin_import_refused");
    }
}

#[test]
fn malformed_or_oversized_modules_are_refused() {
    for bytes in [&b""[..], b"not wasm at all", b"\0asm\x01\0\0\0\x01\xff\xff", b"\0asm\x02\0\0\0"] {
        assert!(matches!(load(bytes, &[Hook::ProductBlock], none()), Err(PluginError::Malformed(_))));
    }
    let limits = Limits { module_bytes: 64, ..Limits::default() };
    let err = Plugin::load_with(&module("", &echo("product_block")), hooks(&[Hook::ProductBlock]), none(), limits)
        .unwrap_err();
    assert_eq!(err, PluginError::TooLarge { max: 64 });
}

#[test]
fn a_start_function_is_refused_at_load() {
    let body = format!(r#"(func $boot (loop $l (br $l))) (start $boot) {}"#, echo("product_block"));
    assert!(matches!(load(&module("", &body), &[Hook::ProductBlock], none()), Err(PluginError::Malformed(_))));
}

#[test]
fn missing_exports_and_undeclared_hooks_are_refused() {
    let err =
        load(&module("", &echo("product_block")), &[Hook::ProductBlock, Hook::ShippingRates], none()).unwrap_err();
    assert_eq!(err, PluginError::MissingExport("shipping_rates".into()));
    let bad_type = r#"(func (export "product_block") (param i32 i32) (result i32) (i32.const 0))"#;
    assert_eq!(
        load(&module("", bad_type), &[Hook::ProductBlock], none()).unwrap_err(),
        PluginError::MissingExport("product_block".into())
    );
    let plugin = block_plugin("", &echo("product_block"), none());
    let w = world();
    let err = plugin.checkout_validate(&Host { store: "store-a", world: &w }, &cart()).unwrap_err();
    assert_eq!(err, PluginError::HookNotDeclared("checkout_validate"));
    let manifest = MANIFEST.replace(
        "[plugin]\nmodule = \"plugin/blocks.wasm\"\nhooks = [\"product_block\", \"checkout_validate\"]",
        "[app]\nredirect_urls = [\"https://blocks.example.com/cb\"]",
    );
    let m = Manifest::parse(manifest.as_bytes()).unwrap();
    assert_eq!(Plugin::load(&module("", &echo("product_block")), &m).unwrap_err(), PluginError::NotAPlugin);
}

#[test]
fn bad_host_call_arguments_trap() {
    let imp = import("product");
    for call in [
        "(call $product (i32.const 0x7ffffff0) (i32.const 8) (i32.const 4096) (i32.const 64))",
        "(call $product (i32.const 16) (i32.const 0) (i32.const 4096) (i32.const 64))",
        "(call $product (i32.const 16) (i32.const 100000) (i32.const 4096) (i32.const 64))",
        "(call $product (i32.const 16) (i32.const -1) (i32.const 4096) (i32.const 64))",
        "(call $product (i32.const 16) (i32.const 3) (i32.const 0x7ffffff0) (i32.const 4096))",
    ] {
        let body = format!(
            r#"(data (i32.const 16) "p-a")
            (func (export "product_block") (param $p i32) (param $n i32) (result i64) (drop {call}) (i64.const 0))"#
        );
        let out = block(&block_plugin(&imp, &body, grant(&[Scope::Products], DataLevel::None)));
        assert!(matches!(out, Err(PluginError::Trap(_))), "{call}: {out:?}");
    }
}

#[test]
fn a_small_buffer_gets_nothing_and_host_calls_are_capped() {
    let body = r#"(data (i32.const 16) "p-a")
        (func (export "product_block") (param $p i32) (param $n i32) (result i64)
          (if (i32.ne (call $product (i32.const 16) (i32.const 3) (i32.const 4096) (i32.const 4)) (i32.const -2)) (then unreachable))
          (loop $l (drop (call $product (i32.const 16) (i32.const 3) (i32.const 4096) (i32.const 4096))) (br $l))
          (i64.const 0))"#;
    let out = block(&block_plugin(&import("product"), body, grant(&[Scope::Products], DataLevel::None)));
    assert!(matches!(out, Err(PluginError::Trap(ref m)) if m.contains("host calls")), "{out:?}");
}

#[test]
fn host_calls_spend_the_same_fuel() {
    let body = r#"(data (i32.const 16) "p-a")
        (func (export "product_block") (param $p i32) (param $n i32) (result i64)
          (loop $l (drop (call $product (i32.const 16) (i32.const 3) (i32.const 4096) (i32.const 4096))) (br $l))
          (i64.const 0))"#;
    let limits = Limits { fuel: 50_000, ..Limits::default() };
    let plugin = Plugin::load_with(
        &module(&import("product"), body),
        hooks(&[Hook::ProductBlock]),
        grant(&[Scope::Products], DataLevel::None),
        limits,
    )
    .unwrap();
    let w = world();
    let out = plugin.product_block(&Host { store: "store-a", world: &w }, &product("p-a", "x"));
    assert_eq!(out, Err(PluginError::OutOfFuel));
}

#[test]
fn oversized_input_is_refused_before_the_guest_runs() {
    let plugin = block_plugin("", &echo("product_block"), none());
    let w = world();
    let huge = product("p-a", &"x".repeat(70_000));
    let out = plugin.product_block(&Host { store: "store-a", world: &w }, &huge);
    assert!(matches!(out, Err(PluginError::BadInput(_))));
}

#[test]
fn the_sanitiser_lets_no_script_through() {
    let body = constant(
        "product_block",
        r#"<div onclick="x()">a</div><a href="javascript:alert(1)">b</a><style>*{}</style><svg><script>x</script></svg><iframe src="//e.com"></iframe><p style="x">c</p><scr<script>ipt>alert(1)</script>"#,
    );
    let w = world();
    let html = block_plugin("", &body, none())
        .product_block(&Host { store: "store-a", world: &w }, &product("p-a", "x"))
        .unwrap();
    let clean = html.sanitised();
    for bad in ["<script", "onclick", "javascript:", "<style", "<iframe", "<svg", "style=", "<a "] {
        assert!(!clean.to_lowercase().contains(bad), "{bad} in {clean}");
    }
    assert!(clean.contains("<div>a</div>"), "{clean}");
}

#[test]
fn deep_recursion_traps_without_touching_the_native_stack() {
    let body = r#"(func $down (param i32) (result i32) (call $down (i32.add (local.get 0) (i32.const 1))))
        (func (export "product_block") (param $p i32) (param $n i32) (result i64)
          (drop (call $down (i32.const 0))) (i64.const 0))"#;
    assert!(matches!(block(&block_plugin("", body, none())), Err(PluginError::Trap(_))));
}

#[test]
fn table_growth_beyond_the_cap_is_refused() {
    let body = r#"(table $t 1 funcref)
        (func (export "product_block") (param $p i32) (param $n i32) (result i64)
          (drop (table.grow $t (ref.null func) (i32.const 100000))) (call $ret (i32.const 0) (i32.const 0)))"#;
    assert_eq!(block(&block_plugin("", body, none())), Err(PluginError::MemoryLimit));
}

#[test]
fn each_hook_call_has_its_own_budget() {
    // Two hooks of one plugin each get the whole budget, and only it: a loop in one does not starve the other.
    let body = format!(
        r#"{}
        (func (export "product_block") (param $p i32) (param $n i32) (result i64) (loop $l (br $l)) (i64.const 0))"#,
        constant("checkout_validate", r#"{"ok":true}"#)
    );
    let plugin = load(&module("", &body), &[Hook::ProductBlock, Hook::CheckoutValidate], none()).unwrap();
    let w = world();
    let host = Host { store: "store-a", world: &w };
    assert_eq!(block(&plugin), Err(PluginError::OutOfFuel));
    assert_eq!(plugin.checkout_validate(&host, &cart()).unwrap(), CheckoutVerdict::Accept);
}

#[test]
fn mutated_modules_never_panic() {
    // A poor man's fuzzer in the normal suite (fuzz/plugin_load is the real one): flip bytes of a working plugin
    // that uses every feature of the ABI, then load and call whatever still loads, under a small budget.
    let body = format!("{}\n{}", lookup_block("product", "p-a"), constant("checkout_validate", r#"{"ok":true}"#));
    let base = module(&import("product"), &body);
    let w = world();
    let host = Host { store: "store-a", world: &w };
    let g = grant(&[Scope::Products, Scope::CustomerData], DataLevel::WithContact);
    let limits = Limits { fuel: 20_000, ..Limits::default() };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut loaded = 0;
    for _ in 0..1500 {
        let mut bytes = base.clone();
        for _ in 0..1 + next() % 4 {
            let at = usize::try_from(next() % bytes.len() as u64).unwrap();
            bytes[at] = u8::try_from(next() % 256).unwrap();
        }
        let Ok(p) = Plugin::load_with(&bytes, hooks(&[Hook::ProductBlock, Hook::CheckoutValidate]), g.clone(), limits)
        else {
            continue;
        };
        loaded += 1;
        let _ = p.product_block(&host, &product("p-a", "x")).map(|b| b.sanitised());
        let _ = p.checkout_validate(&host, &cart());
    }
    assert!(loaded > 100, "the mutations should leave many modules loadable ({loaded})");
}

#[test]
fn deeply_nested_html_is_refused_before_the_sanitiser() {
    // 6,500 nested <div>s fit in 32 KiB and take the HTML parser seconds (quadratic in depth); past 256 start tags
    // the block is refused, and 256 nested tags clean quickly.
    let w = world();
    let host = Host { store: "store-a", world: &w };
    for open in ["<div>", "<ul><li>", "<blockquote>", "<b><i>", "<x-a>", "<DIV\t>"] {
        let nested = open.repeat(32 * 1024 / open.len());
        let plugin = block_plugin("", &constant("product_block", &nested), none());
        let out = plugin.product_block(&host, &product("p-a", "x"));
        assert_eq!(out, Err(PluginError::BadOutput("the block has more than 256 tags")), "{open}");
    }
    for open in ["<div>", "<ul><li>", "<blockquote>"] {
        let nested = open.repeat(256 / open.matches('<').count());
        let plugin = block_plugin("", &constant("product_block", &nested), none());
        let html = plugin.product_block(&host, &product("p-a", "x")).unwrap();
        let started = std::time::Instant::now();
        let _ = html.sanitised();
        // Not a timing test: milliseconds in fact; only a return of the quadratic blow-up would take this long.
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{open}");
    }
    // Text with `<` that is not a tag does not count.
    let plugin = block_plugin("", &constant("product_block", &"a < b <3 <!-- c --> ".repeat(1000)), none());
    assert!(plugin.product_block(&host, &product("p-a", "x")).is_ok());
}

#[test]
fn features_the_sandbox_does_not_enable_are_refused_at_load() {
    let tail = r#"(func (export "alloc") (param i32) (result i32) (i32.const 0))
        (func (export "product_block") (param i32 i32) (result i64) (i64.const 0))"#;
    for head in [
        r#"(memory (export "memory") 1) (memory 1)"#,
        r#"(memory (export "memory") i64 1)"#,
        r#"(memory (export "memory") 1) (func (drop (v128.const i64x2 0 0)))"#,
    ] {
        let wasm = wat::parse_str(format!("(module {head} {tail})")).unwrap();
        assert!(matches!(load(&wasm, &[Hook::ProductBlock], none()), Err(PluginError::Malformed(_))), "{head}");
    }
}

#[test]
fn a_table_declared_over_the_cap_is_refused_at_instantiation() {
    let body = format!(r#"(table 20000 funcref) {}"#, echo("product_block"));
    assert_eq!(block(&block_plugin("", &body, none())), Err(PluginError::MemoryLimit));
    let body = format!(r#"(table 1 funcref) (table 1 funcref) {}"#, echo("product_block"));
    assert_eq!(block(&block_plugin("", &body, none())), Err(PluginError::MemoryLimit));
}
