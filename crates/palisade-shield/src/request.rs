//! What the shield inspects: a request reduced to named fields, each with where it came from.

use serde::Serialize;

/// Where a field was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    Path,
    Query,
    Header,
    Cookie,
    Body,
    /// The name of a query, form or JSON field (attacks hide in keys too).
    Name,
}

impl Location {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
            Location::Cookie => "cookie",
            Location::Body => "body",
            Location::Name => "name",
        }
    }
}

/// One inspected value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub location: Location,
    pub name: String,
    pub value: String,
    /// The value arrived URL-encoded (path, query, form body, cookies); JSON and raw bodies did not, so a `%`
    /// there is just a percent sign.
    pub encoded: bool,
}

/// A request as the shield sees it. Build it with [`Request::new`] and the `with_*` methods.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The raw path, still percent-encoded.
    pub path: String,
    /// The raw query string (without `?`), still percent-encoded.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Fields at most this long are inspected in full; longer ones are cut (and flagged as an anomaly).
pub const MAX_FIELD: usize = 64 * 1024;

impl Request {
    #[must_use]
    pub fn new(method: &str, uri: &str) -> Self {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        Self { method: method.to_owned(), path: path.to_owned(), query: query.to_owned(), ..Self::default() }
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of a header (names are stored lower-case).
    #[must_use]
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every field to inspect: the path, query parameters (names and values), headers that carry client data,
    /// cookies, and the body as form fields, JSON leaves (and keys) or, for anything else, as one text value.
    #[must_use]
    pub fn fields(&self) -> Vec<Field> {
        let mut out = Vec::with_capacity(16);
        out.push(Field { location: Location::Path, name: "path".into(), value: self.path.clone(), encoded: true });
        pairs(&self.query, Location::Query, &mut out);
        for (name, value) in &self.headers {
            match name.as_str() {
                "cookie" => {
                    for part in value.split(';') {
                        let (n, v) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
                        out.push(Field {
                            location: Location::Name,
                            name: format!("cookie:{n}"),
                            value: n.to_owned(),
                            encoded: true,
                        });
                        out.push(Field {
                            location: Location::Cookie,
                            name: n.to_owned(),
                            value: v.to_owned(),
                            encoded: true,
                        });
                    }
                }
                // Headers browsers set from fixed vocabularies carry no attacker text worth scanning.
                "host"
                | "accept"
                | "accept-encoding"
                | "accept-language"
                | "connection"
                | "content-length"
                | "cache-control"
                | "upgrade-insecure-requests"
                | "sec-fetch-site"
                | "sec-fetch-mode"
                | "sec-fetch-dest"
                | "sec-fetch-user"
                | "sec-ch-ua"
                | "sec-ch-ua-mobile"
                | "sec-ch-ua-platform"
                | "priority"
                | "pragma"
                | "dnt"
                | "te"
                | "if-none-match"
                | "if-modified-since"
                | "authorization" => {}
                _ => out.push(Field {
                    location: Location::Header,
                    name: name.clone(),
                    value: value.clone(),
                    encoded: false,
                }),
            }
        }
        if !self.body.is_empty() {
            let ctype = self.header_value("content-type").unwrap_or("").to_ascii_lowercase();
            let text = String::from_utf8_lossy(self.body.get(..MAX_FIELD * 4).unwrap_or(&self.body)).into_owned();
            if ctype.starts_with("application/x-www-form-urlencoded") {
                pairs(&text, Location::Body, &mut out);
            } else if ctype.contains("json") {
                match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(v) => json_fields(&v, "", &mut out, 0),
                    Err(_) => {
                        out.push(Field { location: Location::Body, name: "body".into(), value: text, encoded: false })
                    }
                }
            } else if ctype.starts_with("multipart/form-data") {
                multipart_fields(&text, &ctype, &mut out);
            } else {
                out.push(Field { location: Location::Body, name: "body".into(), value: text, encoded: false });
            }
        }
        for f in &mut out {
            if f.value.len() > MAX_FIELD {
                let mut cut = MAX_FIELD;
                while !f.value.is_char_boundary(cut) {
                    cut -= 1;
                }
                f.value.truncate(cut);
            }
        }
        out
    }
}

fn pairs(raw: &str, location: Location, out: &mut Vec<Field>) {
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        // Keys are values too: `?1' OR '1'='1` arrives as a name.
        out.push(Field { location: Location::Name, name: name.to_owned(), value: name.to_owned(), encoded: true });
        out.push(Field { location, name: name.to_owned(), value: value.to_owned(), encoded: true });
    }
}

fn json_fields(v: &serde_json::Value, path: &str, out: &mut Vec<Field>, depth: usize) {
    if depth > 32 {
        return;
    }
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                out.push(Field {
                    location: Location::Name,
                    name: format!("{path}.{k}"),
                    value: k.clone(),
                    encoded: false,
                });
                json_fields(child, &format!("{path}.{k}"), out, depth + 1);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate().take(1000) {
                json_fields(child, &format!("{path}[{i}]"), out, depth + 1);
            }
        }
        serde_json::Value::String(s) => {
            out.push(Field { location: Location::Body, name: path.to_owned(), value: s.clone(), encoded: false })
        }
        other => out.push(Field {
            location: Location::Body,
            name: path.to_owned(),
            value: other.to_string(),
            encoded: false,
        }),
    }
}

/// Text parts of a multipart body (file contents that are not text are skipped; their names are kept).
fn multipart_fields(text: &str, ctype: &str, out: &mut Vec<Field>) {
    let Some(boundary) = ctype.split(';').find_map(|p| p.trim().strip_prefix("boundary=")) else {
        out.push(Field { location: Location::Body, name: "body".into(), value: text.to_owned(), encoded: false });
        return;
    };
    let boundary = boundary.trim_matches('"');
    let delimiter = format!("--{boundary}");
    for part in text.split(delimiter.as_str()).skip(1) {
        let Some((head, body)) = part.split_once("\r\n\r\n").or_else(|| part.split_once("\n\n")) else { continue };
        let name = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| n.trim_matches(|c| c == '"' || c == '\r' || c == '\n').to_owned())
            .unwrap_or_default();
        let filename =
            head.split(';').find_map(|p| p.trim().strip_prefix("filename=")).map(|f| f.trim_matches('"').to_owned());
        if let Some(f) = filename {
            out.push(Field { location: Location::Name, name: format!("{name}.filename"), value: f, encoded: false });
        }
        let is_text =
            !head.to_ascii_lowercase().contains("content-type:") || head.to_ascii_lowercase().contains("text/");
        if is_text {
            let value = body.trim_end_matches("--").trim_end_matches("\r\n").to_owned();
            out.push(Field { location: Location::Body, name, value, encoded: false });
        }
    }
}
