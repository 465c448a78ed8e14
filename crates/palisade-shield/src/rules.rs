//! Merchants' custom rules: one line each, `ACTION if CONDITION [and CONDITION …]`.
//!
//! ```text
//! block     if header "user-agent" contains "python-requests"
//! challenge if path starts_with "/s/tea/p/" and not country = "SG"
//! allow     if method = "POST" and path = "/s/tea/webhooks/courier"
//! log       if arg "q" matches "(?i)free\s+money"
//! block     if ip in 203.0.113.0/24
//! ```
//!
//! Actions: `allow` (skip the WAF for the request), `block` (403), `challenge` (the proof-of-work page; a browser
//! that passed it once is let through for an hour, so a form post or API call from a client without a pass is in
//! effect refused: aim challenge rules at page views), `log`.
//! Subjects: `method`, `path`, `query`, `ip`, `country`, `header "name"`, `arg "name"` (query or form field).
//! Operators: `=`, `!=`, `contains`, `starts_with`, `ends_with`, `matches` (a linear-time regex), `in` (CIDR,
//! for `ip`). `not` negates one condition. Strings are double-quoted; `\"` is a quote, `\\` a backslash, and any
//! other backslash is kept as written (so patterns keep their `\s`, `\d`). Matching of
//! `=`/`contains`/… is case-insensitive for headers and methods, exact otherwise.

use std::net::IpAddr;

use serde::Serialize;

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    Allow,
    Block,
    Challenge,
    Log,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    Method,
    Path,
    Query,
    Ip,
    Country,
    Header(String),
    Arg(String),
}

#[derive(Debug, Clone)]
enum Op {
    Eq(String),
    Ne(String),
    Contains(String),
    StartsWith(String),
    EndsWith(String),
    Matches(regex::Regex),
    In(Vec<(IpAddr, u8)>),
}

#[derive(Debug, Clone)]
struct Cond {
    negate: bool,
    subject: Subject,
    op: Op,
}

/// A parsed rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub action: RuleAction,
    conds: Vec<Cond>,
    source: String,
}

/// Why a rule does not parse: the column (1-based) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    pub column: usize,
    pub message: String,
}

/// Longest rule accepted.
pub const MAX_RULE: usize = 2000;
/// Conditions per rule at most.
pub const MAX_CONDS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    Op(String),
}

fn err(column: usize, message: impl Into<String>) -> ParseError {
    ParseError { column, message: message.into() }
}

fn tokenize(src: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&(pos, c)) = chars.get(i) {
        let col = src.get(..pos).map_or(0, |s| s.chars().count()) + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(err(col, "unterminated string")),
                    Some((_, '"')) => {
                        i += 1;
                        break;
                    }
                    Some((_, '\\')) => match chars.get(i + 1) {
                        Some((_, e @ ('"' | '\\'))) => {
                            s.push(*e);
                            i += 2;
                        }
                        // Any other backslash stays, so patterns keep their `\s`, `\d` …
                        Some((_, other)) => {
                            s.push('\\');
                            s.push(*other);
                            i += 2;
                        }
                        None => return Err(err(col, "unterminated string")),
                    },
                    Some((_, ch)) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push((col, Tok::Str(s)));
        } else if c == '=' {
            out.push((col, Tok::Op("=".into())));
            i += 1;
        } else if c == '!' && matches!(chars.get(i + 1), Some((_, '='))) {
            out.push((col, Tok::Op("!=".into())));
            i += 2;
        } else if c.is_ascii_alphanumeric() || "_./:-".contains(c) {
            let mut w = String::new();
            while let Some(&(_, ch)) = chars.get(i) {
                if ch.is_ascii_alphanumeric() || "_./:-".contains(ch) {
                    w.push(ch);
                    i += 1;
                } else {
                    break;
                }
            }
            out.push((col, Tok::Word(w)));
        } else {
            return Err(err(col, format!("unexpected `{c}`")));
        }
    }
    Ok(out)
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = s.split_once('/').unwrap_or((s, ""));
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = if len.is_empty() { max } else { len.parse().ok()? };
    (len <= max).then_some((ip, len))
}

fn in_cidr(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The rule's tokens, each with its column, as the parser takes them.
type Tokens = std::iter::Peekable<std::vec::IntoIter<(usize, Tok)>>;

/// Parses one rule.
pub fn parse(src: &str) -> Result<Rule, ParseError> {
    if src.len() > MAX_RULE {
        return Err(err(1, format!("a rule is at most {MAX_RULE} characters")));
    }
    let toks = tokenize(src)?;
    let mut it = toks.into_iter().peekable();
    let end = src.chars().count() + 1;
    let action = parse_action(&mut it)?;
    match it.next() {
        Some((_, Tok::Word(w))) if w == "if" => {}
        Some((c, _)) => return Err(err(c, "expected `if` after the action")),
        None => return Err(err(end, "expected `if` after the action")),
    }
    let mut conds = Vec::new();
    loop {
        let (col, cond) = parse_cond(&mut it, end)?;
        conds.push(cond);
        if conds.len() > MAX_CONDS {
            return Err(err(col, format!("at most {MAX_CONDS} conditions")));
        }
        match it.next() {
            None => break,
            Some((_, Tok::Word(w))) if w == "and" => {}
            Some((c, _)) => return Err(err(c, "expected `and` or the end of the rule")),
        }
    }
    Ok(Rule { action, conds, source: src.trim().to_owned() })
}

/// The first word of a rule.
fn parse_action(it: &mut Tokens) -> Result<RuleAction, ParseError> {
    match it.next() {
        Some((_, Tok::Word(w))) => match w.as_str() {
            "allow" => Ok(RuleAction::Allow),
            "block" => Ok(RuleAction::Block),
            "challenge" => Ok(RuleAction::Challenge),
            "log" => Ok(RuleAction::Log),
            _ => Err(err(1, format!("`{w}` is not an action (allow, block, challenge, log)"))),
        },
        Some((c, _)) => Err(err(c, "a rule starts with an action (allow, block, challenge, log)")),
        None => Err(err(1, "empty rule")),
    }
}

/// One condition (`[not] subject operator value`), with the column of its subject. `end` is the column just past
/// the rule, where a missing part is reported.
fn parse_cond(it: &mut Tokens, end: usize) -> Result<(usize, Cond), ParseError> {
    let mut negate = false;
    let (col, first) = it.next().ok_or_else(|| err(end, "expected a condition"))?;
    let mut word = match first {
        Tok::Word(w) => w,
        _ => return Err(err(col, "expected a subject (method, path, query, ip, country, header, arg)")),
    };
    let mut col = col;
    if word == "not" {
        negate = true;
        match it.next() {
            Some((c, Tok::Word(w))) => {
                word = w;
                col = c;
            }
            _ => return Err(err(col, "expected a condition after `not`")),
        }
    }
    let subject = parse_subject(it, &word, col, end)?;
    let op = parse_op(it, &subject, end)?;
    Ok((col, Cond { negate, subject, op }))
}

/// The subject named by `word` (at `col`), with the quoted name a header or argument takes.
fn parse_subject(it: &mut Tokens, word: &str, col: usize, end: usize) -> Result<Subject, ParseError> {
    Ok(match word {
        "method" => Subject::Method,
        "path" => Subject::Path,
        "query" => Subject::Query,
        "ip" => Subject::Ip,
        "country" => Subject::Country,
        "header" | "arg" => {
            let name = match it.next() {
                Some((_, Tok::Str(s))) if !s.is_empty() && s.len() <= 100 => s,
                Some((c, _)) => return Err(err(c, format!("expected the {word}'s name in quotes"))),
                None => return Err(err(end, format!("expected the {word}'s name in quotes"))),
            };
            if word == "header" { Subject::Header(name.to_ascii_lowercase()) } else { Subject::Arg(name) }
        }
        other => {
            return Err(err(
                col,
                format!("`{other}` is not a subject (method, path, query, ip, country, header, arg)"),
            ));
        }
    })
}

/// The operator and its value, which must suit the subject (`in` only for `ip`).
fn parse_op(it: &mut Tokens, subject: &Subject, end: usize) -> Result<Op, ParseError> {
    let (ocol, op) = it.next().ok_or_else(|| err(end, "expected an operator"))?;
    let op_name = match op {
        Tok::Op(o) | Tok::Word(o) => o,
        Tok::Str(_) => return Err(err(ocol, "expected an operator, found a string")),
    };
    let (vcol, value) = it.next().ok_or_else(|| err(end, "expected a value"))?;
    Ok(match (op_name.as_str(), subject, value) {
        ("in", Subject::Ip, Tok::Word(w) | Tok::Str(w)) => {
            let nets: Option<Vec<_>> = w.split(',').map(|p| parse_cidr(p.trim())).collect();
            Op::In(nets.ok_or_else(|| err(vcol, format!("`{w}` is not an address or CIDR")))?)
        }
        ("in", _, _) => return Err(err(ocol, "`in` is for `ip` with a CIDR")),
        (_, _, Tok::Str(s)) => match op_name.as_str() {
            "=" => Op::Eq(s),
            "!=" => Op::Ne(s),
            "contains" => Op::Contains(s),
            "starts_with" => Op::StartsWith(s),
            "ends_with" => Op::EndsWith(s),
            "matches" => Op::Matches(
                regex::RegexBuilder::new(&s)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| err(vcol, format!("bad pattern: {e}")))?,
            ),
            other => {
                return Err(err(
                    ocol,
                    format!("`{other}` is not an operator (=, !=, contains, starts_with, ends_with, matches, in)"),
                ));
            }
        },
        (_, _, _) => return Err(err(vcol, "expected a value in double quotes")),
    })
}

/// What a rule is matched against.
#[derive(Debug, Clone, Default)]
pub struct Subjects<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub ip: Option<IpAddr>,
    pub country: Option<&'a str>,
    pub headers: &'a [(String, String)],
    /// Decoded query and form fields.
    pub args: &'a [(String, String)],
}

/// How a subject's text is compared: methods, countries and header values regardless of case (they are
/// case-insensitive on the wire), paths, queries and arguments exactly.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    Insensitive,
    Sensitive,
}

fn text_matches(op: &Op, value: &str, case: Case) -> bool {
    let cmp = |s: &str| -> String { if case == Case::Insensitive { s.to_ascii_lowercase() } else { s.to_owned() } };
    let value = cmp(value);
    match op {
        Op::Eq(s) => value == cmp(s),
        Op::Ne(s) => value != cmp(s),
        Op::Contains(s) => value.contains(&cmp(s)),
        Op::StartsWith(s) => value.starts_with(&cmp(s)),
        Op::EndsWith(s) => value.ends_with(&cmp(s)),
        Op::Matches(re) => re.is_match(&value),
        Op::In(_) => false,
    }
}

impl Rule {
    /// The rule as written.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the rule looks at the client's country (which needs a GeoIP database).
    #[must_use]
    pub fn uses_country(&self) -> bool {
        self.conds.iter().any(|c| c.subject == Subject::Country)
    }

    /// Whether the rule's conditions all hold.
    #[must_use]
    pub fn matches(&self, s: &Subjects<'_>) -> bool {
        self.conds.iter().all(|c| {
            let hit = match &c.subject {
                Subject::Method => text_matches(&c.op, s.method, Case::Insensitive),
                Subject::Path => text_matches(&c.op, s.path, Case::Sensitive),
                Subject::Query => text_matches(&c.op, s.query, Case::Sensitive),
                Subject::Country => s.country.is_some_and(|cc| text_matches(&c.op, cc, Case::Insensitive)),
                Subject::Ip => match (&c.op, s.ip) {
                    (Op::In(nets), Some(ip)) => nets.iter().any(|n| in_cidr(ip, *n)),
                    (op, Some(ip)) => text_matches(op, &ip.to_string(), Case::Sensitive),
                    (_, None) => false,
                },
                Subject::Header(name) => {
                    s.headers.iter().any(|(n, v)| n == name && text_matches(&c.op, v, Case::Insensitive))
                }
                Subject::Arg(name) => s.args.iter().any(|(n, v)| n == name && text_matches(&c.op, v, Case::Sensitive)),
            };
            hit != c.negate
        })
    }

    /// Whether this rule lets a whole area of the store skip the firewall: an `allow` that, for the ordinary
    /// traffic of one method, matches every path of an area (each slice of `areas`, e.g. the storefront's or
    /// the admin's paths) for most shoppers. Judged by evaluating the rule on probe requests (several
    /// addresses, countries and browsers) rather than by its shape, so `allow if method = "GET"`,
    /// `allow if ip in 0.0.0.0/0` or a negated path count as store-wide, while a rule narrowed to one path, a
    /// secret header or an office's addresses does not.
    #[must_use]
    pub fn disables_firewall_for(&self, areas: &[&[&str]]) -> bool {
        if self.action != RuleAction::Allow {
            return false;
        }
        let clients = probe_clients();
        areas.iter().filter(|paths| !paths.is_empty()).any(|paths| {
            ["GET", "POST"].iter().any(|method| {
                let covered = clients
                    .iter()
                    .filter(|(ip, country, headers)| {
                        paths.iter().all(|path| {
                            self.matches(&Subjects {
                                method,
                                path,
                                query: "",
                                ip: Some(*ip),
                                country: Some(country),
                                headers,
                                args: &[],
                            })
                        })
                    })
                    .count();
                covered * 2 >= clients.len()
            })
        })
    }
}

/// An address, its country and a browser's headers.
type ProbeClient = (IpAddr, &'static str, Vec<(String, String)>);

/// Ordinary shoppers for [`Rule::disables_firewall_for`]: public addresses of both families in several
/// countries, with the headers browsers send.
fn probe_clients() -> Vec<ProbeClient> {
    const CLIENTS: [(&str, &str, &str); 6] = [
        (
            "198.51.100.23",
            "SG",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
        ),
        ("81.2.69.160", "GB", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
        (
            "175.45.176.9",
            "MY",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        ),
        ("89.160.20.112", "SE", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile"),
        (
            "2001:4860:4860::8888",
            "US",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Safari/605.1.15",
        ),
        ("2400:cb00:2048:1::6810", "AU", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/131.0"),
    ];
    CLIENTS
        .iter()
        .filter_map(|(ip, country, ua)| {
            let headers = vec![
                ("user-agent".to_owned(), (*ua).to_owned()),
                ("accept".to_owned(), "text/html,application/xhtml+xml,*/*;q=0.8".to_owned()),
                ("accept-language".to_owned(), "en-SG,en;q=0.9".to_owned()),
            ];
            Some((ip.parse().ok()?, *country, headers))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subjects<'a>(headers: &'a [(String, String)], args: &'a [(String, String)]) -> Subjects<'a> {
        Subjects {
            method: "GET",
            path: "/s/tea/p/oolong",
            query: "q=1",
            ip: "203.0.113.7".parse().ok(),
            country: Some("SG"),
            headers,
            args,
        }
    }

    #[test]
    fn rules_parse_and_match() {
        let h = vec![("user-agent".to_owned(), "python-requests/2.31".to_owned())];
        let a = vec![("q".to_owned(), "free money".to_owned())];
        let s = subjects(&h, &a);
        let yes = [
            r#"block if header "User-Agent" contains "PYTHON""#,
            r#"challenge if path starts_with "/s/tea/p/" and not country = "MY""#,
            r#"log if arg "q" matches "(?i)free\s+money""#,
            "block if ip in 203.0.113.0/24",
            r#"block if method = "get" and query = "q=1""#,
        ];
        for r in yes {
            let rule = parse(r).unwrap_or_else(|e| panic!("{r}: {e}"));
            assert!(rule.matches(&s), "{r}");
        }
        let no = [r#"block if path = "/s/tea""#, "block if ip in 10.0.0.0/8", r#"allow if not country = "SG""#];
        for r in no {
            assert!(!parse(r).unwrap_or_else(|e| panic!("{r}: {e}")).matches(&s), "{r}");
        }
    }

    #[test]
    fn mistakes_are_explained_with_a_column() {
        for (src, col) in [
            ("delete if path = \"/\"", 1),
            ("block path = \"/\"", 7),
            ("block if colour = \"red\"", 10),
            ("block if path ~ \"x\"", 15),
            ("block if path = \"unterminated", 17),
            ("block if path matches \"(\"", 23),
            ("block if ip in 300.1.1.1", 16),
            ("block if path = \"/a\" or path = \"/b\"", 22),
        ] {
            let e = parse(src).expect_err(src);
            assert_eq!(e.column, col, "{src}: {e}");
        }
    }

    #[test]
    fn a_store_wide_allow_is_recognised() {
        let storefront = ["/s/tea", "/s/tea/p/oolong", "/s/tea/cart", "/s/tea/checkout", "/s/tea/search"];
        let admin = ["/admin/stores/abc", "/admin/stores/abc/products", "/admin/stores/abc/orders"];
        let areas: [&[&str]; 2] = [&storefront, &admin];
        let wide = |src: &str| parse(src).unwrap_or_else(|e| panic!("{src}: {e}")).disables_firewall_for(&areas);
        for src in [
            r#"allow if path starts_with "/s/""#,
            r#"allow if path starts_with "/s/tea""#,
            r#"allow if path matches ".*""#,
            r#"allow if path contains "/""#,
            r#"allow if method = "GET""#,
            r#"allow if ip in 0.0.0.0/0"#,
            r#"allow if ip in "0.0.0.0/0,::/0""#,
            r#"allow if not path = "/s/tea/webhook""#,
            r#"allow if header "user-agent" contains "Mozilla""#,
            r#"allow if path starts_with "/admin/stores/abc""#,
            r#"allow if not header "x-never-sent" = "1""#,
        ] {
            assert!(wide(src), "store-wide: {src}");
        }
        for src in [
            r#"allow if path = "/s/tea/webhook""#,
            r#"allow if method = "POST" and path = "/s/tea/webhook""#,
            r#"allow if path starts_with "/s/tea/p/""#,
            r#"allow if path starts_with "/s/tea/" and ip in 192.0.2.1"#,
            r#"allow if ip in 203.0.113.0/24"#,
            r#"allow if header "x-webhook-secret" = "s3cr3t""#,
            r#"allow if country = "SG""#,
            r#"block if path starts_with "/s/tea""#,
            r#"log if method = "GET""#,
        ] {
            assert!(!wide(src), "narrow: {src}");
        }
    }
}
