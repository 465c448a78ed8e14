//! Guest modules written in WAT. Every guest gets the same prelude: a 2-page memory, a bump `alloc`, `$ret`
//! (packs a pointer and a length into the hook's i64 result) and `$contains` (a byte-substring search).

/// Assembles a guest from its imports and the rest of its body.
pub fn module(imports: &str, body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
  {imports}
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 65536))
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (local.get $p))
  (func $ret (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))
  (func $contains (param $h i32) (param $hn i32) (param $nd i32) (param $nn i32) (result i32)
    (local $i i32) (local $j i32)
    (block $done
      (loop $outer
        (br_if $done (i32.gt_s (i32.add (local.get $i) (local.get $nn)) (local.get $hn)))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $inner
            (if (i32.eq (local.get $j) (local.get $nn)) (then (return (i32.const 1))))
            (br_if $mismatch (i32.ne
              (i32.load8_u (i32.add (i32.add (local.get $h) (local.get $i)) (local.get $j)))
              (i32.load8_u (i32.add (local.get $nd) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const 0))
  {body}
)"#
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("bad test WAT: {e}\n{text}"))
}

/// WAT string literal escaping for data segments.
fn lit(s: &str) -> String {
    s.bytes().map(|b| format!("\\{b:02x}")).collect()
}

/// A hook `name` that returns the constant `out` (held below the input area; each hook at its own offset so one
/// guest can have several).
pub fn constant(name: &str, out: &str) -> String {
    let at = if name == "checkout_validate" { 6000 } else { 16 };
    format!(
        r#"(data (i32.const {at}) "{}")
  (func (export "{name}") (param $p i32) (param $n i32) (result i64) (call $ret (i32.const {at}) (i32.const {})))"#,
        lit(out),
        out.len()
    )
}

/// A hook `name` that returns its input unchanged.
pub fn echo(name: &str) -> String {
    format!(
        r#"(func (export "{name}") (param $p i32) (param $n i32) (result i64) (call $ret (local.get $p) (local.get $n)))"#
    )
}

/// `product_block` that asks the host function `func` for the record `id` and returns what it got, or the text
/// `missing` (-1) or `small` (-2).
pub fn lookup_block(func: &str, id: &str) -> String {
    format!(
        r#"(data (i32.const 16) "{}")
  (data (i32.const 512) "missing")
  (data (i32.const 528) "small")
  (func (export "product_block") (param $p i32) (param $n i32) (result i64)
    (local $r i32)
    (local.set $r (call $host (i32.const 16) (i32.const {}) (i32.const 4096) (i32.const 4096)))
    (if (i32.eq (local.get $r) (i32.const -1)) (then (return (call $ret (i32.const 512) (i32.const 7)))))
    (if (i32.eq (local.get $r) (i32.const -2)) (then (return (call $ret (i32.const 528) (i32.const 5)))))
    (call $ret (i32.const 4096) (local.get $r)))"#,
        lit(id),
        id.len()
    )
    .replace("$host", &format!("${func}"))
}

/// The import line for a host lookup function.
pub fn import(func: &str) -> String {
    format!(r#"(import "palisade" "{func}" (func ${func} (param i32 i32 i32 i32) (result i32)))"#)
}

/// `shipping_rates` offering `leak` if its input contains `needle`, else `clean`.
pub fn rates_if_contains(needle: &str) -> String {
    let leak = r#"{"rates":[{"code":"leak","label":"Leak","amount_minor":1}]}"#;
    let clean = r#"{"rates":[{"code":"clean","label":"Clean","amount_minor":1}]}"#;
    format!(
        r#"(data (i32.const 16) "{}")
  (data (i32.const 1024) "{}")
  (data (i32.const 2048) "{}")
  (func (export "shipping_rates") (param $p i32) (param $n i32) (result i64)
    (if (call $contains (local.get $p) (local.get $n) (i32.const 16) (i32.const {}))
      (then (return (call $ret (i32.const 1024) (i32.const {})))))
    (call $ret (i32.const 2048) (i32.const {})))"#,
        lit(needle),
        lit(leak),
        lit(clean),
        needle.len(),
        leak.len(),
        clean.len()
    )
}
