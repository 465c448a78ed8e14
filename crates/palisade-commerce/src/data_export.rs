//! The export that answers an access request: one requester's personal data held by one store, as JSON (the
//! record) and CSV (the same facts, one per line, for a spreadsheet).
//!
//! Every query binds the store of the staff scope and the requester (an account id, or the email a request came
//! from), so nothing of another store or another buyer can be in it. What goes in is an allow-list: the orders
//! (number, status, amounts, the email and address given, the card's brand and last four digits, shipping), their
//! items, the buyer's reviews and disputes with this store, and the requests made to it. The fraud score and its
//! reasons are left out on purpose: they describe the store's risk rules, and telling a fraudster which signal
//! fired teaches them what to change (the same reason orders never serialise them for buyers).

use palisade_core::AccountId;
use palisade_store::Db;
use palisade_store::StaffScope;
use serde_json::{Value, json};

use crate::data_requests::DataRequest;
use crate::error::Result;

/// Whose data: a buyer's account, or the address a request came from by email (guest orders carry only that).
#[derive(Debug, Clone)]
pub enum Requester {
    Account(AccountId),
    Email(String),
}

impl Requester {
    /// The condition on `orders o` and the value bound as `$2`.
    fn condition(&self) -> (&'static str, String) {
        match self {
            Requester::Account(id) => ("o.buyer_id = $2", id.to_string()),
            Requester::Email(e) => ("LOWER(o.buyer_email) = LOWER($2)", e.clone()),
        }
    }
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: String,
    number: i64,
    status: String,
    currency: String,
    subtotal_minor: i64,
    shipping_minor: i64,
    total_minor: i64,
    refunded_minor: i64,
    buyer_email: String,
    address: String,
    carrier: Option<String>,
    tracking_no: Option<String>,
    card_brand: Option<String>,
    card_last4: Option<String>,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct DisputeRow {
    order_id: String,
    reason: String,
    buyer_statement: String,
    merchant_response: Option<String>,
    status: String,
    outcome: Option<String>,
    created_at: i64,
}

/// The requester's rows in the store, each query bound to the store and the requester.
struct Rows {
    orders: Vec<OrderRow>,
    items: Vec<(String, String, String, i64, i64)>,
    reviews: Vec<(String, i64, String, i64)>,
    disputes: Vec<DisputeRow>,
}

fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}

async fn load(db: &Db, scope: &StaffScope, who: &Requester) -> Result<Rows> {
    let (cond, key) = who.condition();
    let orders = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT o.id, o.number, o.status, o.currency, o.subtotal_minor, o.shipping_minor, o.total_minor, \
         o.refunded_minor, o.buyer_email, o.address, o.carrier, o.tracking_no, o.card_brand, o.card_last4, o.created_at \
         FROM orders o WHERE o.store_id = $1 AND {cond} ORDER BY o.created_at, o.id"
    )))
    .bind(scope.store_key())
    .bind(&key)
    .fetch_all(db.pool())
    .await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT i.order_id, i.sku, i.title, i.unit_price_minor, i.quantity FROM order_items i \
         JOIN orders o ON o.id = i.order_id AND o.store_id = i.store_id \
         WHERE i.store_id = $1 AND {cond} ORDER BY i.order_id, i.id"
    )))
    .bind(scope.store_key())
    .bind(&key)
    .fetch_all(db.pool())
    .await?;
    let reviews = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT r.order_id, r.rating, r.body, r.created_at FROM reviews r \
         JOIN orders o ON o.id = r.order_id AND o.store_id = r.store_id \
         WHERE r.store_id = $1 AND {cond} ORDER BY r.created_at, r.id"
    )))
    .bind(scope.store_key())
    .bind(&key)
    .fetch_all(db.pool())
    .await?;
    let disputes = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT d.order_id, d.reason, d.buyer_statement, d.merchant_response, d.status, d.outcome, d.created_at \
         FROM disputes d JOIN orders o ON o.id = d.order_id AND o.store_id = d.store_id \
         WHERE d.store_id = $1 AND {cond} ORDER BY d.created_at, d.id"
    )))
    .bind(scope.store_key())
    .bind(&key)
    .fetch_all(db.pool())
    .await?;
    Ok(Rows { orders, items, reviews, disputes })
}

fn orders_json(rows: &Rows) -> Vec<Value> {
    rows.orders
        .iter()
        .map(|o| {
            let lines: Vec<Value> = rows
                .items
                .iter()
                .filter(|i| i.0 == o.id)
                .map(|(_, sku, title, unit, qty)| {
                    json!({"sku": sku, "title": title, "unit_price_minor": unit, "quantity": qty})
                })
                .collect();
            json!({
                "number": o.number, "status": o.status, "placed_at": time(o.created_at),
                "currency": o.currency, "subtotal_minor": o.subtotal_minor, "shipping_minor": o.shipping_minor,
                "total_minor": o.total_minor, "refunded_minor": o.refunded_minor,
                "email": o.buyer_email,
                "shipping_address": serde_json::from_str::<Value>(&o.address).unwrap_or(Value::Null),
                "carrier": o.carrier, "tracking_no": o.tracking_no,
                "card": {"brand": o.card_brand, "last4": o.card_last4},
                "items": lines,
            })
        })
        .collect()
}

/// Builds the export of `who`'s data in the scope's store.
pub async fn build(db: &Db, scope: &StaffScope, who: &Requester, request: &DataRequest) -> Result<Value> {
    let rows = load(db, scope, who).await?;
    let number_of = |order: &str| rows.orders.iter().find(|o| o.id == order).map(|o| o.number);
    let reviews: Vec<Value> = rows
        .reviews
        .iter()
        .map(|(order, rating, body, at)| {
            json!({"order_number": number_of(order), "rating": rating, "text": body, "written_at": time(*at)})
        })
        .collect();
    let disputes: Vec<Value> = rows
        .disputes
        .iter()
        .map(|d| {
            json!({"order_number": number_of(&d.order_id), "reason": d.reason, "your_statement": d.buyer_statement,
                   "store_response": d.merchant_response, "status": d.status, "outcome": d.outcome,
                   "opened_at": time(d.created_at)})
        })
        .collect();
    let store = palisade_store::tenancy::get_store(db, scope).await?;
    Ok(json!({
        "format": "palisade.personal-data-export/1",
        "store": {"id": store.id, "name": store.name, "contact": store.security_contact_email},
        "request": {"id": request.id, "kind": request.kind, "channel": request.channel,
                    "received_at": time(request.received_at.0), "details": request.details},
        "generated_at": time(db.now().0),
        "person": {"email": request.buyer_email},
        "orders": orders_json(&rows),
        "reviews": reviews,
        "disputes": disputes,
        "how_used": "Your orders were used to take payment, ship what you bought, handle returns, refunds and \
                     disputes, and keep the records the law requires. Reviews are shown on the store with your \
                     first name only.",
    }))
}

/// The same export as CSV: `section,reference,field,value`, one fact per line (nested values flattened with dotted
/// field names). A value that a spreadsheet would run as a formula is prefixed with `'`.
#[must_use]
pub fn csv(export: &Value) -> String {
    let mut out = String::from("section,reference,field,value\r\n");
    let mut line = |section: &str, reference: &str, field: &str, value: &Value| {
        let text = match value {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        for cell in [section, reference, field, text.as_str()] {
            out.push_str(&cell_text(cell));
            out.push(',');
        }
        out.pop();
        out.push_str("\r\n");
    };
    for section in ["store", "request", "person"] {
        if let Some(Value::Object(m)) = export.get(section) {
            for (k, v) in m {
                line(section, "", k, v);
            }
        }
    }
    for section in ["orders", "reviews", "disputes"] {
        let Some(Value::Array(list)) = export.get(section) else { continue };
        for (n, entry) in list.iter().enumerate() {
            let reference = entry
                .get("number")
                .or_else(|| entry.get("order_number"))
                .map_or_else(|| (n + 1).to_string(), |v| format!("#{v}"));
            let mut flat = Vec::new();
            flatten("", entry, &mut flat);
            for (k, v) in flat {
                line(section, &reference, &k, &v);
            }
        }
    }
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    let join = |k: &str| if prefix.is_empty() { k.to_owned() } else { format!("{prefix}.{k}") };
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&join(k), v, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&join(&(i + 1).to_string()), v, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

fn cell_text(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_owned() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let export = json!({"person": {"email": "a@b.example"}, "reviews": [{"order_number": 1001, "text": "=HYPERLINK(\"x\"), ok"}]});
        let text = csv(&export);
        assert!(text.contains("person,,email,a@b.example\r\n"), "{text}");
        assert!(text.contains("reviews,#1001,text,\"'=HYPERLINK(\"\"x\"\"), ok\"\r\n"), "{text}");
    }
}
