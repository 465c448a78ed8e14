//! The merchant's products as CSV (one row per variant), written with the `csv` crate. Every cell that a
//! spreadsheet would read as a formula is defused first (OWASP "CSV injection"): a cell starting with `=`, `+`,
//! `-`, `@`, a tab or a carriage return gets a leading `'` (and so does a cell that starts with `'` itself, so that
//! reading the file back takes off exactly the quote the export added: see [`undefuse`]).

use palisade_commerce::catalog::{self, Product, ProductStatus};
use palisade_commerce::product_import::{Checked, ImportLine, Refused};
use palisade_core::money::{Currency, Money};
use std::borrow::Cow;

/// The export's header row, in column order.
pub const HEADER: [&str; 6] = ["title", "sku", "option", "price", "stock", "status"];

/// What makes a spreadsheet read a cell as a formula when it starts the cell.
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell` as a spreadsheet may safely open it: a leading `'` before a formula trigger, and before a leading `'`
/// (so `'=x` typed by a merchant comes back as `'=x`, not `=x`).
#[must_use]
pub fn defuse(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_TRIGGERS) || cell.starts_with('\'') {
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

/// Largest CSV file an import accepts.
pub const MAX_FILE: usize = 2 * 1024 * 1024;
/// Most product rows (after the header) in one import.
pub const MAX_ROWS: usize = 5_000;
/// Longest cell, in bytes.
pub const MAX_CELL: usize = 1_000;

/// One good row of an import: what it would create or update (by SKU, in the importing store only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// The row's number as a spreadsheet shows it (the header is row 1).
    pub row: u64,
    pub title: String,
    pub sku: String,
    /// The option cell as written, and as read into the variant's options.
    pub option: String,
    pub options: serde_json::Value,
    pub price: Money,
    pub stock: i64,
    pub status: ProductStatus,
}

/// A row that cannot be imported, with the reason in plain English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub row: u64,
    pub reason: String,
}

/// A file read for an import: its good rows and its refused ones.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub rows: Vec<ImportRow>,
    pub errors: Vec<RowError>,
}

/// Why a whole file is refused (422, except [`FileError::TooLarge`]: 413).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is larger than 2 MiB: split it into smaller files")]
    TooLarge,
    #[error("the file is not UTF-8 text: save it from your spreadsheet as \"CSV UTF-8\"")]
    NotUtf8,
    #[error("the file has more than 5,000 product rows: split it into smaller files")]
    TooManyRows,
    #[error("the file is not a products CSV: {0}")]
    NotCsv(String),
}

/// Column positions, found by header name (any order, any case).
struct Columns {
    title: usize,
    sku: usize,
    option: Option<usize>,
    price: usize,
    stock: usize,
    status: Option<usize>,
    /// How many columns the header names.
    width: usize,
}

impl Columns {
    fn find(header: &csv::StringRecord) -> Result<Columns, FileError> {
        let at = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
        let need = |name: &str| {
            at(name).ok_or_else(|| {
                FileError::NotCsv(format!(
                    "the first row must name the columns; `{name}` is missing (expected {})",
                    HEADER.join(", ")
                ))
            })
        };
        Ok(Columns {
            title: need("title")?,
            sku: need("sku")?,
            option: at("option"),
            price: need("price")?,
            stock: need("stock")?,
            status: at("status"),
            width: header.len(),
        })
    }
}

/// An exported cell read back: the `'` that [`defuse`] put before a formula trigger (or a `'`) is taken off
/// again, so `'-20% sale` comes back as `-20% sale`. What is left is stored as text: a cell that still starts with
/// a formula trigger is never evaluated, and the export defuses it again.
fn undefuse(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_TRIGGERS) || rest.starts_with('\'') => rest,
        _ => cell,
    }
}

/// Most options on one variant, and the longest option name.
const MAX_OPTIONS: usize = 10;

/// The option cell read back into a variant's options: `size: M / colour: teal` (the export's [`option_text`]);
/// empty for none.
fn options_from_text(cell: &str) -> Result<serde_json::Value, String> {
    let mut out = serde_json::Map::new();
    if cell.trim().is_empty() {
        return Ok(serde_json::Value::Object(out));
    }
    for pair in cell.split(" / ") {
        let Some((name, value)) = pair.split_once(':') else {
            return Err(format!("the option `{pair}` is not `name: value` (several are separated by ` / `)"));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || value.is_empty() {
            return Err(format!("the option `{pair}` needs both a name and a value"));
        }
        if out.insert(name.to_owned(), serde_json::Value::String(value.to_owned())).is_some() {
            return Err(format!("the option `{name}` is given twice"));
        }
    }
    if out.len() > MAX_OPTIONS {
        return Err(format!("a variant has at most {MAX_OPTIONS} options"));
    }
    Ok(serde_json::Value::Object(out))
}

/// Reads an uploaded products CSV (the export's columns) for a store selling in `currency`. A file that cannot be
/// read at all is refused whole; otherwise every row is either good or refused with its row number and reason.
pub fn parse(bytes: &[u8], currency: Currency) -> Result<Parsed, FileError> {
    if bytes.len() > MAX_FILE {
        return Err(FileError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| FileError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| FileError::NotCsv(e.to_string()))?.clone();
    let cols = Columns::find(&header)?;
    let mut out = Parsed::default();
    let mut seen: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for (i, record) in reader.records().enumerate() {
        if i >= MAX_ROWS {
            return Err(FileError::TooManyRows);
        }
        let row = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(2);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(RowError { row, reason: format!("the row could not be read as CSV ({e})") });
                continue;
            }
        };
        match read_row(&record, &cols, currency, row) {
            Ok(good) => match seen.get(&good.sku) {
                Some(first) => out.errors.push(RowError {
                    row,
                    reason: format!("SKU `{}` is already on row {first} of this file", good.sku),
                }),
                None => {
                    seen.insert(good.sku.clone(), row);
                    out.rows.push(good);
                }
            },
            Err(reason) => out.errors.push(RowError { row, reason }),
        }
    }
    Ok(out)
}

/// The file read for [`palisade_commerce::product_import::apply`], which reads the kept file again with this
/// (nothing posted with the apply but the import's id is used).
pub fn check(text: &str, currency: Currency) -> Result<Checked, FileError> {
    let parsed = parse(text.as_bytes(), currency)?;
    Ok(Checked {
        lines: parsed
            .rows
            .into_iter()
            .map(|r| ImportLine {
                row: r.row,
                title: r.title,
                sku: r.sku,
                options: r.options,
                price: r.price,
                stock: r.stock,
                status: r.status,
            })
            .collect(),
        refused: parsed.errors.into_iter().map(|e| Refused { row: e.row, reason: e.reason }).collect(),
    })
}

/// One data row checked: the good row or the reason it is refused.
fn read_row(record: &csv::StringRecord, cols: &Columns, currency: Currency, row: u64) -> Result<ImportRow, String> {
    if record.len() != cols.width {
        return Err(format!("the row has {} cells; the first row names {}", record.len(), cols.width));
    }
    if let Some(long) = record.iter().find(|c| c.len() > MAX_CELL) {
        return Err(format!(
            "a cell is longer than {MAX_CELL} characters (starts `{}`)",
            long.chars().take(20).collect::<String>()
        ));
    }
    let cell = |i: usize| record.get(i).map(|c| undefuse(c.trim())).unwrap_or_default();
    let title = cell(cols.title);
    if title.is_empty() {
        return Err("the title is missing".into());
    }
    let sku = catalog::check_sku(cell(cols.sku)).map_err(|e| e.to_string())?;
    let price = Money::parse(cell(cols.price), currency)
        .map_err(|e| format!("the price `{}` is not an amount in {} ({e})", cell(cols.price), currency.code()))?;
    let stock = match cell(cols.stock).parse::<i64>() {
        Ok(n) if n >= 0 => n,
        Ok(_) => return Err("the stock must not be negative".into()),
        Err(_) => return Err(format!("the stock `{}` is not a whole number", cell(cols.stock))),
    };
    let status = match cols.status.map(cell).filter(|s| !s.is_empty()) {
        None => ProductStatus::Draft,
        Some(s) => ProductStatus::parse(&s.to_ascii_lowercase())
            .map_err(|_| format!("the status `{s}` is not one of draft, published, archived"))?,
    };
    let option = cols.option.map(cell).unwrap_or_default();
    let options = options_from_text(option)?;
    Ok(ImportRow { row, title: title.to_owned(), sku, option: option.to_owned(), options, price, stock, status })
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

    #[test]
    fn an_exported_formula_cell_reads_back_as_typed_and_other_quotes_stay() {
        assert_eq!(undefuse(&defuse("=SUM(A1)")), "=SUM(A1)");
        assert_eq!(undefuse("'quoted'"), "'quoted'");
        for typed in ["-20% sale", "'=x", "''", "'quoted'", "=1+1", "@home", "plain", ""] {
            assert_eq!(undefuse(&defuse(typed)), typed, "{typed}");
        }
        let file = "title,sku,price,stock\n'=SUM(A1),S-1,1.00,2\n";
        let parsed = parse(file.as_bytes(), Currency::parse("SGD").unwrap()).unwrap();
        assert_eq!(parsed.rows[0].title, "=SUM(A1)");
    }

    #[test]
    fn option_cells_read_back_into_options() {
        assert_eq!(options_from_text("").unwrap(), serde_json::json!({}));
        assert_eq!(
            options_from_text("size: M / colour: teal").unwrap(),
            serde_json::json!({"size": "M", "colour": "teal"})
        );
        let options = serde_json::json!({"size": "M", "colour": "teal", "fit": "a: b"});
        assert_eq!(options_from_text(&option_text(&options)).unwrap(), options);
        for bad in ["large", "size:", ": M", "size: M / size: L"] {
            assert!(options_from_text(bad).is_err(), "{bad}");
        }
    }
}
