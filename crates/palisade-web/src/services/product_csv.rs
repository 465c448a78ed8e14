//! The merchant's products as CSV (one row per variant), written with the `csv` crate. Every cell that a
//! spreadsheet would read as a formula is defused first (OWASP "CSV injection"): a cell starting with `=`, `+`,
//! `-`, `@`, a tab or a carriage return gets a leading `'`.

use palisade_commerce::catalog::Product;
use std::borrow::Cow;

/// The export's header row, in column order.
pub const HEADER: [&str; 6] = ["title", "sku", "option", "price", "stock", "status"];

/// `cell` as a spreadsheet may safely open it: a leading `'` before a formula trigger.
#[must_use]
pub fn defuse(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A variant's options as one readable cell: `size: M / colour: teal` (empty without options).
fn option_text(options: &serde_json::Value) -> String {
    options
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .unwrap_or_default()
}

/// The products as CSV bytes (UTF-8, a header row, then one row per variant).
pub fn export(products: &[Product]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(HEADER)?;
    for p in products {
        for v in &p.variants {
            let (option, price, stock) = (option_text(&v.options), v.price.plain(), v.stock.to_string());
            let row = [p.title.as_str(), &v.sku, &option, &price, &stock, p.status.as_str()];
            out.write_record(row.iter().map(|c| defuse(c).into_owned()))?;
        }
    }
    out.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_triggers_get_a_quote_and_plain_text_does_not() {
        for bad in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(defuse(bad), format!("'{bad}"));
        }
        for fine in ["Teal mug", "12.50", "", "a=b"] {
            assert_eq!(defuse(fine), fine);
        }
    }
}
