//! A store's own firewall layers (the merchant's side of "firewall & network"): who may reach the store admin,
//! and whether the storefront is in "under attack" mode. Addresses are validated by the caller (web layer).

use palisade_core::time::Timestamp;

use crate::audit::{self, NewEvent};
use crate::error::Result;
use crate::{Db, StaffScope, StoreScope};

/// The store's firewall settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreFirewall {
    /// CIDRs allowed to reach the store admin; empty means any address.
    pub admin_allowlist: Vec<String>,
    pub attack_mode_until: Option<Timestamp>,
    /// The store's own WAF mode (`off`, `detect`, `block`); `None` follows the platform's.
    pub waf_mode: Option<String>,
    /// The store's own paranoia level (1–4); `None` follows the platform's.
    pub waf_paranoia: Option<u8>,
}

/// WAF modes a store may choose.
pub const WAF_MODES: [&str; 3] = ["off", "detect", "block"];

type Row = (String, Option<i64>, Option<String>, Option<i64>);
const SELECT: &str =
    "SELECT admin_allowlist, attack_mode_until, waf_mode, waf_paranoia FROM store_firewall WHERE store_id = $1";

/// A setting of the store's firewall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Allowlist,
    WafMode,
    WafParanoia,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Allowlist => "admin allow-list",
            Field::WafMode => "firewall mode",
            Field::WafParanoia => "paranoia level",
        }
    }
}

/// The stored row, each field parsed on its own. A field that does not parse is listed in `corrupt` (and left
/// at its default in `fw`, which must then never be used as if it had been read: an unreadable allow-list is not
/// "no allow-list", an unreadable mode is not "the platform's").
fn parse_row(row: Option<Row>) -> (StoreFirewall, Vec<Field>) {
    let mut corrupt = Vec::new();
    let Some((list, until, mode, paranoia)) = row else { return (StoreFirewall::default(), corrupt) };
    let admin_allowlist = serde_json::from_str::<Vec<String>>(&list).unwrap_or_else(|_| {
        corrupt.push(Field::Allowlist);
        Vec::new()
    });
    let waf_mode = match mode {
        Some(m) if !WAF_MODES.contains(&m.as_str()) => {
            corrupt.push(Field::WafMode);
            None
        }
        m => m,
    };
    let waf_paranoia = match paranoia {
        None => None,
        Some(p) => match u8::try_from(p).ok().filter(|p| (1..=4).contains(p)) {
            Some(p) => Some(p),
            None => {
                corrupt.push(Field::WafParanoia);
                None
            }
        },
    };
    (StoreFirewall { admin_allowlist, attack_mode_until: until.map(Timestamp), waf_mode, waf_paranoia }, corrupt)
}

fn unreadable(corrupt: &[Field]) -> crate::StoreError {
    let names: Vec<&str> = corrupt.iter().map(|f| f.name()).collect();
    crate::StoreError::Corrupt(format!("the store's firewall settings cannot be read ({})", names.join(", ")))
}

/// The scoped store's settings (defaults when never set). A stored setting that does not parse is an error
/// ([`crate::StoreError::Corrupt`]), never a default: callers deny on it (fail closed).
pub async fn get(db: &Db, scope: &StoreScope) -> Result<StoreFirewall> {
    let row: Option<Row> = sqlx::query_as(SELECT).bind(scope.store_key()).fetch_optional(db.pool()).await?;
    match parse_row(row) {
        (fw, corrupt) if corrupt.is_empty() => Ok(fw),
        (_, corrupt) => Err(unreadable(&corrupt)),
    }
}

/// Reads the settings, lets `change` edit them and writes them back with an audit event, all in one write
/// transaction (the row locked on PostgreSQL, the database on SQLite): two changes at once — a merchant's and
/// the automatic attack switch, say — cannot undo each other. `change` returns false to leave the row as it was.
/// `sets` names the fields `change` overwrites: a stored field that does not parse may only be replaced, never
/// carried over as its default (which would quietly turn an unreadable allow-list into none).
async fn modify(
    db: &Db,
    scope: &StoreScope,
    action: &str,
    sets: &[Field],
    change: impl FnOnce(&mut StoreFirewall) -> bool,
) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    // A row to lock, even the first time: two first writers would otherwise both start from the defaults and
    // the second would overwrite the first (rolled back with the rest when nothing changes).
    sqlx::query(
        "INSERT INTO store_firewall (store_id, admin_allowlist, updated_at) VALUES ($1, '[]', $2) \
         ON CONFLICT (store_id) DO NOTHING",
    )
    .bind(scope.store_key())
    .bind(db.now().0)
    .execute(&mut *tx)
    .await?;
    let locked = match db.backend() {
        crate::Backend::Sqlite => SELECT.to_owned(),
        crate::Backend::Postgres => format!("{SELECT} FOR UPDATE"),
    };
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(locked)).bind(scope.store_key()).fetch_optional(&mut *tx).await?;
    let (mut fw, corrupt) = parse_row(row);
    let kept: Vec<Field> = corrupt.into_iter().filter(|f| !sets.contains(f)).collect();
    if !kept.is_empty() {
        return Err(unreadable(&kept));
    }
    if !change(&mut fw) {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO store_firewall (store_id, admin_allowlist, attack_mode_until, waf_mode, waf_paranoia, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (store_id) DO UPDATE SET admin_allowlist = excluded.admin_allowlist, \
         attack_mode_until = excluded.attack_mode_until, waf_mode = excluded.waf_mode, \
         waf_paranoia = excluded.waf_paranoia, updated_at = excluded.updated_at",
    )
    .bind(scope.store_key())
    .bind(serde_json::to_string(&fw.admin_allowlist).map_err(|e| crate::StoreError::Invalid(e.to_string()))?)
    .bind(fw.attack_mode_until.map(|t| t.0))
    .bind(fw.waf_mode.as_deref())
    .bind(fw.waf_paranoia.map(i64::from))
    .bind(db.now().0)
    .execute(&mut *tx)
    .await?;
    let target = format!("store:{}", scope.store_id());
    audit::record_store(&mut tx, db, scope, NewEvent::new(action, &target).details(serde_json::json!(fw))).await?;
    tx.commit().await?;
    Ok(true)
}

/// Most entries an admin allow-list may hold.
pub const MAX_ALLOWLIST: usize = 100;

/// Longest "under attack" period a merchant may set at a time.
pub const MAX_ATTACK_HOURS: u64 = 72;

/// Parses admin allow-list entries (an address or a CIDR each; blank ones skipped), at most [`MAX_ALLOWLIST`]:
/// the one parser for the Security Center form and imported archives.
pub fn parse_allowlist<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Vec<ipnet::IpNet>> {
    let mut nets = Vec::new();
    for entry in entries.into_iter().map(str::trim).filter(|l| !l.is_empty()) {
        let net = match entry.parse::<ipnet::IpNet>() {
            Ok(n) => n,
            Err(_) => entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from).map_err(|_| {
                crate::StoreError::Invalid(format!(
                    "`{}` is not an address or CIDR",
                    entry.chars().take(60).collect::<String>()
                ))
            })?,
        };
        nets.push(net);
    }
    if nets.len() > MAX_ALLOWLIST {
        return Err(crate::StoreError::Invalid(format!("at most {MAX_ALLOWLIST} entries")));
    }
    Ok(nets)
}

/// Refuses an allow-list that would shut out `me` (the address of the person setting it), so nobody locks
/// themselves out by a typo — or by importing an archive made from elsewhere.
pub fn check_admits(nets: &[ipnet::IpNet], me: Option<std::net::IpAddr>) -> Result<()> {
    if !nets.is_empty() && !me.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))) {
        return Err(crate::StoreError::Invalid(format!(
            "your own address ({}) is not on the allow-list: saving it would lock you out",
            me.map_or_else(|| "unknown".to_owned(), |i| i.to_string())
        )));
    }
    Ok(())
}

/// Refuses anything but the known WAF modes and paranoia levels 1–4, so a typo cannot silently leave the store
/// unprotected.
pub fn check_waf(mode: Option<&str>, paranoia: Option<i64>) -> Result<()> {
    if let Some(m) = mode
        && !WAF_MODES.contains(&m)
    {
        return Err(crate::StoreError::Invalid(format!(
            "firewall mode `{}` is not off, detect or block",
            m.chars().take(40).collect::<String>()
        )));
    }
    if let Some(p) = paranoia
        && !(1..=4).contains(&p)
    {
        return Err(crate::StoreError::Invalid(format!("paranoia level {p} is not between 1 and 4")));
    }
    Ok(())
}

/// Replaces the admin allow-list (already validated CIDRs).
pub async fn set_allowlist(db: &Db, scope: &StaffScope, cidrs: Vec<String>) -> Result<()> {
    modify(db, scope, "firewall.allowlist_set", &[Field::Allowlist], |fw| {
        fw.admin_allowlist = cidrs;
        true
    })
    .await
    .map(drop)
}

/// Turns "under attack" mode on until `until`, or off (`None`).
pub async fn set_attack_mode(db: &Db, scope: &StaffScope, until: Option<Timestamp>) -> Result<()> {
    modify(db, scope, "firewall.attack_mode_set", &[], |fw| {
        fw.attack_mode_until = until;
        true
    })
    .await
    .map(drop)
}

/// Switches the store's attack mode on until `until` unless it is already on for at least that long, and says
/// whether it wrote: the automatic switch must never shorten what a merchant set by hand.
pub async fn extend_attack_mode(db: &Db, scope: &StaffScope, until: Timestamp) -> Result<bool> {
    modify(db, scope, "firewall.attack_mode_set", &[], |fw| {
        if fw.attack_mode_until.is_some_and(|t| t >= until) {
            return false;
        }
        fw.attack_mode_until = Some(until);
        true
    })
    .await
}

/// Sets the store's own WAF mode and paranoia level (`None`: follow the platform's). Refuses anything but the
/// known modes and levels 1–4, so a typo cannot silently leave the store unprotected.
pub async fn set_waf(db: &Db, scope: &StaffScope, mode: Option<&str>, paranoia: Option<u8>) -> Result<()> {
    check_waf(mode, paranoia.map(i64::from))?;
    modify(db, scope, "firewall.waf_mode_set", &[Field::WafMode, Field::WafParanoia], |fw| {
        fw.waf_mode = mode.map(str::to_owned);
        fw.waf_paranoia = paranoia;
        true
    })
    .await
    .map(drop)
}

/// A store that chose its own WAF mode or paranoia level, for the operator's overview.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WafOverride {
    pub store_id: String,
    pub slug: String,
    pub name: String,
    pub waf_mode: Option<String>,
    pub waf_paranoia: Option<i64>,
    pub updated_at: Timestamp,
}

/// Every store whose firewall differs from the platform's (the operator sees who stepped back to detect or off).
pub async fn waf_overrides(db: &Db, _scope: &crate::scope::PlatformScope) -> Result<Vec<WafOverride>> {
    type Row = (String, String, String, Option<String>, Option<i64>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.id, s.slug, s.name, f.waf_mode, f.waf_paranoia, f.updated_at FROM store_firewall f \
         JOIN stores s ON s.id = f.store_id WHERE f.waf_mode IS NOT NULL OR f.waf_paranoia IS NOT NULL ORDER BY s.slug",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(store_id, slug, name, waf_mode, waf_paranoia, at)| WafOverride {
            store_id,
            slug,
            name,
            waf_mode,
            waf_paranoia,
            updated_at: Timestamp(at),
        })
        .collect())
}

/// A stored custom rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredRule {
    pub id: String,
    pub position: i64,
    pub source: String,
    pub enabled: bool,
    pub created_at: Timestamp,
}

/// The store's rules in evaluation order.
pub async fn rules(db: &Db, scope: &StoreScope) -> Result<Vec<StoredRule>> {
    let rows: Vec<(String, i64, String, i64, i64)> = sqlx::query_as(
        "SELECT id, position, source, enabled, created_at FROM store_rules WHERE store_id = $1 ORDER BY position, id",
    )
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, position, source, enabled, at)| StoredRule {
            id,
            position,
            source,
            enabled: enabled != 0,
            created_at: Timestamp(at),
        })
        .collect())
}

/// Adds a rule (already parsed by the caller) at the end, disabled.
pub async fn add_rule(db: &Db, scope: &StaffScope, source: &str) -> Result<StoredRule> {
    let id = palisade_core::JobId::new().to_string();
    let now = db.now();
    let mut tx = db.begin_write().await?;
    let (pos,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(position), 0) + 1 FROM store_rules WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO store_rules (id, store_id, position, source, enabled, created_at) VALUES ($1, $2, $3, $4, 0, $5)",
    )
    .bind(&id)
    .bind(scope.store_key())
    .bind(pos)
    .bind(source)
    .bind(now.0)
    .execute(&mut *tx)
    .await?;
    let target = format!("rule:{id}");
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("firewall.rule_added", &target).details(serde_json::json!({"source": source})),
    )
    .await?;
    tx.commit().await?;
    Ok(StoredRule { id, position: pos, source: source.to_owned(), enabled: false, created_at: now })
}

/// What to do with an existing rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleChange {
    Enable,
    Disable,
    Delete,
}

/// Enables, disables or removes a rule.
pub async fn change_rule(db: &Db, scope: &StaffScope, id: &str, change: RuleChange) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let done = if change == RuleChange::Delete {
        sqlx::query("DELETE FROM store_rules WHERE store_id = $1 AND id = $2")
            .bind(scope.store_key())
            .bind(id)
            .execute(&mut *tx)
            .await?
    } else {
        sqlx::query("UPDATE store_rules SET enabled = $3 WHERE store_id = $1 AND id = $2")
            .bind(scope.store_key())
            .bind(id)
            .bind(i64::from(change == RuleChange::Enable))
            .execute(&mut *tx)
            .await?
    };
    if done.rows_affected() != 1 {
        return Err(crate::StoreError::NotFound("rule"));
    }
    let target = format!("rule:{id}");
    let action = match change {
        RuleChange::Delete => "firewall.rule_deleted",
        RuleChange::Enable => "firewall.rule_enabled",
        RuleChange::Disable => "firewall.rule_disabled",
    };
    audit::record_store(&mut tx, db, scope, NewEvent::new(action, &target)).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_that_does_not_parse_is_reported_not_defaulted() {
        let row = |list: &str, mode: Option<&str>, paranoia: Option<i64>| {
            Some((list.to_owned(), None, mode.map(str::to_owned), paranoia))
        };
        assert_eq!(parse_row(row("[]", Some("block"), Some(2))).1, vec![]);
        assert_eq!(parse_row(row("nope", None, None)).1, vec![Field::Allowlist]);
        assert_eq!(parse_row(row("[1]", None, None)).1, vec![Field::Allowlist]);
        assert_eq!(parse_row(row("[]", Some("blok"), None)).1, vec![Field::WafMode]);
        assert_eq!(parse_row(row("[]", None, Some(9))).1, vec![Field::WafParanoia]);
        assert_eq!(parse_row(row("[]", None, Some(0))).1, vec![Field::WafParanoia]);
        assert_eq!(parse_row(None), (StoreFirewall::default(), vec![]));
    }
}
