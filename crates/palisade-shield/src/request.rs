//! What the shield inspects: a request reduced to named fields, each with where it came from.

use std::borrow::Cow;

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

/// One inspected value. Name and value borrow from the request where they appear in it as they are (path,
/// query, headers, cookies, form bodies), so splitting a request allocates little on the hot path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub location: Location,
    pub name: Cow<'a, str>,
    pub value: Cow<'a, str>,
    /// The value arrived URL-encoded (path, query, form body, cookies); JSON and raw bodies did not, so a `%`
    /// there is just a percent sign.
    pub encoded: bool,
    /// The value is the content of an uploaded text file (a multipart part with a file name), not a form field:
    /// it is inspected in full like any other value, but held to [`MAX_FILE_TEXT`] instead of [`MAX_FIELD`], so a
    /// products CSV of a few MiB can reach its route. Naming an ordinary field as a file gains nothing: its whole
    /// value is still inspected (nothing is cut off unseen), and the total of text parts stays capped.
    pub file: bool,
}

impl Field<'_> {
    /// A copy that owns its text.
    #[must_use]
    pub fn into_owned(self) -> Field<'static> {
        Field {
            location: self.location,
            name: Cow::Owned(self.name.into_owned()),
            value: Cow::Owned(self.value.into_owned()),
            encoded: self.encoded,
            file: self.file,
        }
    }
}

/// A request as the shield sees it. Build it with [`Request::new`] and the `header`/`body` methods, or, in a
/// server, with [`Request::borrowed`] and [`Request::push_header`]: the borrowed form points into the server's own
/// request instead of copying its method, path, query and every header into new strings (on the hot path,
/// those copies were most of the firewall's allocations).
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub method: Cow<'a, str>,
    /// The raw path, still percent-encoded.
    pub path: Cow<'a, str>,
    /// The raw query string (without `?`), still percent-encoded.
    pub query: Cow<'a, str>,
    /// Names lower-case.
    pub headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Shared, not copied, with the handler that reads it next.
    pub body: bytes::Bytes,
}

/// Fields at most this long are inspected in full; a longer one is inspected up to here and flagged
/// (`protocol.field-too-long`, enough to block), so padding cannot push a payload out of sight.
pub const MAX_FIELD: usize = 64 * 1024;
/// Bodies are read whole (the web layer has already held them to their route's limit). In a multipart body, file
/// parts are skipped without being converted, and at most [`MAX_PARTS`] parts and [`MAX_MULTIPART_TEXT`] bytes of
/// text parts are read; what lies beyond is reported as a field named [`UNREAD`], which the engine refuses
/// (`protocol.body-unread`) instead of passing it unseen.
pub const MAX_PARTS: usize = 256;
/// See [`MAX_PARTS`].
pub const MAX_MULTIPART_TEXT: usize = 4 * 1024 * 1024;
/// The longest text file (a multipart part with a file name and a text, JSON or XML type) inspected in full
/// rather than flagged `protocol.field-too-long`; the total of text parts is still [`MAX_MULTIPART_TEXT`].
pub const MAX_FILE_TEXT: usize = MAX_MULTIPART_TEXT;
/// The name of the marker field for a body not read to its end.
pub const UNREAD: &str = "(unread)";
/// A header block of a multipart part longer than this is not a header block.
const MAX_PART_HEAD: usize = 8 * 1024;

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
#[must_use]
pub fn prefix(s: &str, max: usize) -> &str {
    let mut cut = max.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.get(..cut).unwrap_or_default()
}

impl Request<'static> {
    #[must_use]
    pub fn new(method: &str, uri: &str) -> Self {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        Self {
            method: Cow::Owned(method.to_owned()),
            path: Cow::Owned(path.to_owned()),
            query: Cow::Owned(query.to_owned()),
            ..Self::default()
        }
    }
}

impl<'a> Request<'a> {
    /// A request whose method, path and query point into the caller's (`uri` is the request target, path and
    /// optional `?query`).
    #[must_use]
    pub fn borrowed(method: &'a str, uri: &'a str) -> Self {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        Self {
            method: Cow::Borrowed(method),
            path: Cow::Borrowed(path),
            query: Cow::Borrowed(query),
            headers: Vec::new(),
            body: bytes::Bytes::new(),
        }
    }

    /// Adds a header whose name is already lower-case (as HTTP libraries keep them), without copying either part
    /// when they are borrowed.
    pub fn push_header(&mut self, lower_name: &'a str, value: Cow<'a, str>) {
        debug_assert!(!lower_name.bytes().any(|b| b.is_ascii_uppercase()), "header names are lower-case");
        self.headers.push((Cow::Borrowed(lower_name), value));
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((Cow::Owned(name.to_ascii_lowercase()), Cow::Owned(value.to_owned())));
        self
    }

    #[must_use]
    pub fn body(mut self, body: impl Into<bytes::Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of a header (names are stored lower-case).
    #[must_use]
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_ref())
    }

    /// Every field to inspect: the path, query parameters (names and values), headers that carry client data,
    /// cookies, and the body as form fields, JSON leaves (and keys) or, for anything else, as one text value.
    #[must_use]
    pub fn fields(&self) -> Vec<Field<'_>> {
        let mut out = Vec::with_capacity(16);
        out.push(Field {
            location: Location::Path,
            name: "path".into(),
            value: self.path.as_ref().into(),
            encoded: true,
            file: false,
        });
        pairs(&self.query, Location::Query, &mut out);
        self.header_fields(&mut out);
        self.body_fields(&mut out);
        out
    }

    /// Cookies (names and values) and the headers that can carry client text.
    fn header_fields<'b>(&'b self, out: &mut Vec<Field<'b>>) {
        for (name, value) in &self.headers {
            match name.as_ref() {
                "cookie" => {
                    for part in value.split(';') {
                        let (n, v) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
                        out.push(Field {
                            location: Location::Name,
                            name: format!("cookie:{n}").into(),
                            value: n.into(),
                            encoded: true,
                            file: false,
                        });
                        out.push(Field {
                            location: Location::Cookie,
                            name: n.into(),
                            value: v.into(),
                            encoded: true,
                            file: false,
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
                    name: name.as_ref().into(),
                    value: value.as_ref().into(),
                    encoded: false,
                    file: false,
                }),
            }
        }
    }

    /// The body as form fields, JSON leaves (and keys), XML text or, for anything else, one text value.
    fn body_fields<'b>(&'b self, out: &mut Vec<Field<'b>>) {
        if self.body.is_empty() {
            return;
        }
        let ctype = self.header_value("content-type").unwrap_or("").to_ascii_lowercase();
        if ctype.starts_with("multipart/form-data") {
            // The boundary is case-sensitive: take it from the header as sent.
            let raw_ctype = self.header_value("content-type").unwrap_or("");
            multipart_fields(&self.body, raw_ctype, out);
            return;
        }
        let text = String::from_utf8_lossy(&self.body);
        if ctype.starts_with("application/x-www-form-urlencoded") {
            match &text {
                Cow::Borrowed(text) => pairs(text, Location::Body, out),
                Cow::Owned(text) => {
                    let mut owned = Vec::new();
                    pairs(text, Location::Body, &mut owned);
                    out.extend(owned.into_iter().map(|f: Field<'_>| f.into_owned()));
                }
            }
        } else if ctype.contains("json") {
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) => json_fields(&v, "", out, 0),
                Err(_) => out.push(Field {
                    location: Location::Body,
                    name: "body".into(),
                    value: text.clone(),
                    encoded: false,
                    file: false,
                }),
            }
        } else if ctype.contains("xml") {
            xml_fields(&text, out);
        } else {
            out.push(Field {
                location: Location::Body,
                name: "body".into(),
                value: text.clone(),
                encoded: false,
                file: false,
            });
        }
    }
}

fn pairs<'a>(raw: &'a str, location: Location, out: &mut Vec<Field<'a>>) {
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        // Keys are values too: `?1' OR '1'='1` arrives as a name.
        out.push(Field { location: Location::Name, name: name.into(), value: name.into(), encoded: true, file: false });
        out.push(Field { location, name: name.into(), value: value.into(), encoded: true, file: false });
    }
}

fn json_fields(v: &serde_json::Value, path: &str, out: &mut Vec<Field<'_>>, depth: usize) {
    if depth > 32 {
        return;
    }
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                out.push(Field {
                    location: Location::Name,
                    name: format!("{path}.{k}").into(),
                    value: k.clone().into(),
                    encoded: false,
                    file: false,
                });
                json_fields(child, &format!("{path}.{k}"), out, depth + 1);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate().take(1000) {
                json_fields(child, &format!("{path}[{i}]"), out, depth + 1);
            }
        }
        serde_json::Value::String(s) => out.push(Field {
            location: Location::Body,
            name: path.to_owned().into(),
            value: s.clone().into(),
            encoded: false,
            file: false,
        }),
        other => out.push(Field {
            location: Location::Body,
            name: path.to_owned().into(),
            value: other.to_string().into(),
            encoded: false,
            file: false,
        }),
    }
}

/// Parts of a multipart body: text parts as values, JSON and XML parts as their leaves (file contents that are
/// not text are skipped without being converted; their names are kept). Line breaks may be CRLF or bare LF, as
/// lenient servers accept both. Works on bytes: a large upload is never copied into a string.
fn multipart_fields(body: &[u8], ctype: &str, out: &mut Vec<Field<'_>>) {
    let Some(boundary) = ctype.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then_some(v.trim())
    }) else {
        out.push(Field {
            location: Location::Body,
            name: "body".into(),
            value: String::from_utf8_lossy(body).into_owned().into(),
            encoded: false,
            file: false,
        });
        return;
    };
    let boundary = boundary.trim_matches('"');
    // RFC 2046: 1 to 70 characters. An empty one would make every `--` a delimiter.
    if boundary.is_empty() || boundary.len() > 70 {
        out.push(unread("a multipart boundary of 1 to 70 characters".to_owned()));
        return;
    }
    let delimiter = format!("--{boundary}");
    // A delimiter counts only at the start of the body or of a line, and ends its line (or closes with `--`), as
    // strict parsers (multer, behind axum) read it; `x--b-- <script>` inside a value is content, not a close.
    let is_delimiter = |at: usize| {
        let line_start = at == 0 || body.get(at - 1) == Some(&b'\n');
        let after = body.get(at + delimiter.len()..).unwrap_or_default();
        let rest =
            after.iter().position(|b| *b != b' ' && *b != b'\t').and_then(|p| after.get(p..)).unwrap_or_default();
        line_start
            && (after.starts_with(b"--") || rest.is_empty() || rest.starts_with(b"\r\n") || rest.starts_with(b"\n"))
    };
    let mut delimiters = memchr::memmem::find_iter(body, delimiter.as_bytes()).filter(|at| is_delimiter(*at));
    let mut text_read = 0usize;
    let mut current = delimiters.next();
    let mut i = 0usize;
    while let Some(start) = current {
        let next = delimiters.next();
        let from = start + delimiter.len();
        let to = next.unwrap_or(body.len());
        let Some(part) = body.get(from..to) else { break };
        if part.starts_with(b"--") {
            break; // the closing delimiter
        }
        if i >= MAX_PARTS {
            out.push(unread(format!("more than {MAX_PARTS} parts")));
            return;
        }
        i += 1;
        current = next;
        // The rest of the delimiter's line, then the part.
        let part = match part.iter().position(|b| *b == b'\n') {
            Some(nl) => part.get(nl + 1..).unwrap_or_default(),
            None => &[],
        };
        let split = head_end(part);
        // A part with no blank line, or a header block that runs on past any real one, would be read differently
        // by different parsers (one carries its headers on into the next part): refused, not skipped.
        let Some((at, sep)) = split.filter(|(at, _)| *at <= MAX_PART_HEAD) else {
            out.push(unread(format!("part {i} has no header block of at most {MAX_PART_HEAD} bytes")));
            return;
        };
        let (Some(head), Some(content)) = (part.get(..at), part.get(at + sep..)) else { continue };
        let PartHead { name, filename, part_type, repeated } = part_head(&String::from_utf8_lossy(head));
        if repeated {
            out.push(unread(format!("part {i} repeats a header or parameter that parsers read differently")));
            return;
        }
        name_fields(&name, filename.as_deref(), out);
        // A file is skipped only when its bytes are a binary format the platform accepts (allow-list of magic
        // numbers: images, compressed and encrypted archives). Anything else is read as text whatever type or file
        // name it declares: a handler reading a field by name gets its value however the part was labelled.
        if filename.is_some() && known_binary(content) {
            continue;
        }
        let content = content.strip_suffix(b"\r\n").or_else(|| content.strip_suffix(b"\n")).unwrap_or(content);
        text_read += content.len();
        if text_read > MAX_MULTIPART_TEXT {
            out.push(unread(format!("more than {MAX_MULTIPART_TEXT} bytes of text parts")));
            return;
        }
        let first = out.len();
        part_value_fields(name, &part_type, String::from_utf8_lossy(content).into_owned(), out);
        // A text file's content (a CSV, a JSON or XML document) is a file's, with its own length limit.
        if filename.is_some() {
            for field in out.iter_mut().skip(first) {
                field.file = true;
            }
        }
    }
}

/// Binary formats uploads may carry, by their first bytes: PNG, JPEG, GIF, WebP, gzip, zstd, zip, and age
/// (binary and armoured) for backups and store exports. Checked on content, never on a declared type.
pub(crate) fn known_binary(content: &[u8]) -> bool {
    const MAGIC: [&[u8]; 10] = [
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"GIF87a",
        b"GIF89a",
        b"\x1f\x8b",
        b"\x28\xb5\x2f\xfd",
        b"PK\x03\x04",
        b"age-encryption.org/v1\n",
        b"-----BEGIN AGE ENCRYPTED FILE-----",
        b"RIFF",
    ];
    MAGIC.iter().any(|m| content.starts_with(m))
        && (!content.starts_with(b"RIFF") || content.get(8..12) == Some(b"WEBP".as_slice()))
}

/// Where a part's header block ends: the position of the blank line and its length (CRLF or bare LF).
fn head_end(part: &[u8]) -> Option<(usize, usize)> {
    // An empty header block: the blank line comes first.
    let empty = if part.starts_with(b"\r\n") {
        Some((0, 2))
    } else if part.starts_with(b"\n") {
        Some((0, 1))
    } else {
        None
    };
    empty.or_else(|| {
        memchr::memmem::find(part, b"\r\n\r\n")
            .map(|at| (at, 4))
            .into_iter()
            .chain(memchr::memmem::find(part, b"\n\n").map(|at| (at, 2)))
            .min_by_key(|(at, _)| *at)
    })
}

/// What a part's headers say about it.
struct PartHead {
    name: String,
    filename: Option<String>,
    part_type: String,
    /// A header or parameter given twice (`name="a"; name="b"`, two Content-Type lines): parsers disagree on
    /// which one counts (the handler's multipart reader takes the first, a naive one the last).
    repeated: bool,
}

fn part_head(head: &str) -> PartHead {
    let mut name = String::new();
    let mut filename = None;
    let mut part_type = "text/plain".to_owned();
    // Content-Type lines, Content-Disposition lines, `name` and `filename` parameters seen.
    let mut seen = [0u8; 4];
    let mut count = |i: usize| {
        if let Some(n) = seen.get_mut(i) {
            *n = n.saturating_add(1);
        }
    };
    for line in head.lines() {
        let Some((key, rest)) = line.split_once(':') else { continue };
        let key = key.trim().to_ascii_lowercase();
        if key == "content-type" {
            count(0);
            part_type = rest.trim().to_ascii_lowercase();
        } else if key == "content-disposition" {
            count(1);
            for (k, v) in disposition_params(rest) {
                match k.as_str() {
                    "name" => {
                        count(2);
                        name = v;
                    }
                    "filename" => {
                        count(3);
                        filename = Some(v);
                    }
                    _ => {}
                }
            }
        }
    }
    PartHead { name, filename, part_type, repeated: seen.iter().any(|n| *n > 1) }
}

/// A part's name and file name as fields of their own (file names are where uploads hide executables).
fn name_fields(name: &str, filename: Option<&str>, out: &mut Vec<Field<'_>>) {
    // Quotes, `;` and `=` inside a part's name are how parser differentials are built (CRS 920120): one
    // server reads `fi;le` as the name, another as two parameters.
    // Accented letters written as entities (`&auml;`) are the one legitimate `;`.
    let odd = |s: &str| html_escape::decode_html_entities(s).contains(['"', ';', '=', '\\']);
    if odd(name) || filename.is_some_and(odd) {
        out.push(Field {
            location: Location::Name,
            name: "multipart.disposition".into(),
            value: format!("{name} {}", filename.unwrap_or("")).into(),
            encoded: false,
            file: false,
        });
    }
    if let Some(f) = filename {
        out.push(Field {
            location: Location::Name,
            name: format!("{name}.filename").into(),
            value: f.to_owned().into(),
            encoded: false,
            file: false,
        });
    }
}

/// A text part's content: JSON and XML as their leaves, anything else as one value.
fn part_value_fields(name: String, part_type: &str, value: String, out: &mut Vec<Field<'_>>) {
    if part_type.contains("json") {
        match serde_json::from_str::<serde_json::Value>(&value) {
            Ok(v) => json_fields(&v, &name, out, 0),
            Err(_) => out.push(Field {
                location: Location::Body,
                name: name.into(),
                value: value.into(),
                encoded: false,
                file: false,
            }),
        }
    } else if part_type.contains("xml") {
        let mut leaves = Vec::new();
        xml_fields(&value, &mut leaves);
        for leaf in leaves {
            out.push(leaf.into_owned());
        }
    } else {
        out.push(Field {
            location: Location::Body,
            name: name.into(),
            value: value.into(),
            encoded: false,
            file: false,
        });
    }
}

/// The marker for a body not read to its end.
fn unread(why: String) -> Field<'static> {
    Field { location: Location::Body, name: UNREAD.into(), value: why.into(), encoded: false, file: false }
}

/// `form-data; name="a;b"; filename="x"` → (lower-case key, unquoted value), honouring quotes and `\"`.
fn disposition_params(rest: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    // Skip the disposition type (`form-data`).
    for c in chars.by_ref() {
        if c == ';' {
            break;
        }
    }
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.trim().is_empty() {
            break;
        }
        while chars.peek().is_some_and(|c| *c == ' ') {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ';').collect::<String>().trim().to_owned();
        }
        params.push((key.trim().to_ascii_lowercase(), value));
    }
    params
}

/// An XML body as the application reads it: text, CDATA, attribute values and the document type declaration
/// (where external entities hide). Element and attribute names are markup, not data, and are not inspected, as
/// in the CRS (`XML:/*`). A body that does not parse is inspected whole.
fn xml_fields(text: &str, out: &mut Vec<Field<'_>>) {
    use quick_xml::events::Event;
    let start = out.len();
    let mut reader = quick_xml::Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    // Text arrives in pieces around entity references (`tea &amp; cake`): joined until the next tag.
    let mut text_buf = String::new();
    let mut depth = 0usize;
    let ok = loop {
        let event = reader.read_event();
        if !matches!(event, Ok(Event::Text(_) | Event::GeneralRef(_))) && !text_buf.is_empty() {
            xml_push(out, start, &path, std::mem::take(&mut text_buf));
        }
        match event {
            Ok(Event::Start(e)) => {
                attribute_fields(&e, &path, out, start);
                depth += 1;
                if depth <= MAX_XML_DEPTH {
                    path.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                }
            }
            Ok(Event::Empty(e)) => attribute_fields(&e, &path, out, start),
            Ok(Event::End(_)) => {
                if depth <= MAX_XML_DEPTH {
                    path.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Ok(Event::Text(t)) => text_buf.push_str(&String::from_utf8_lossy(t.as_ref())),
            Ok(Event::GeneralRef(r)) => {
                let entity = format!("&{};", String::from_utf8_lossy(r.as_ref()));
                text_buf.push_str(&html_escape::decode_html_entities(&entity));
            }
            Ok(Event::CData(t)) => xml_push(out, start, &path, String::from_utf8_lossy(t.as_ref()).into_owned()),
            Ok(Event::DocType(t)) => {
                xml_push(out, start, &["!doctype".to_owned()], String::from_utf8_lossy(t.as_ref()).into_owned());
            }
            Ok(Event::Eof) => break true,
            Ok(_) => {}
            Err(_) => break false,
        }
    };
    if !ok {
        out.truncate(start);
        out.push(Field {
            location: Location::Body,
            name: "body".into(),
            value: text.to_owned().into(),
            encoded: false,
            file: false,
        });
    }
}

/// Element names kept for field names beyond this nesting depth are dropped (values are still inspected).
const MAX_XML_DEPTH: usize = 64;

/// At most this many values from one XML body (a flood of tiny elements would otherwise multiply the work).
const MAX_XML_FIELDS: usize = 1000;

fn xml_push(out: &mut Vec<Field<'_>>, start: usize, path: &[String], value: String) {
    if !value.trim().is_empty() && out.len() - start < MAX_XML_FIELDS {
        out.push(Field {
            location: Location::Body,
            name: format!("xml:/{}", path.join("/")).into(),
            value: value.into(),
            encoded: false,
            file: false,
        });
    }
}

fn attribute_fields(e: &quick_xml::events::BytesStart<'_>, path: &[String], out: &mut Vec<Field<'_>>, start: usize) {
    let element = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    for attr in e.attributes().flatten() {
        let value = String::from_utf8_lossy(&attr.value).into_owned();
        let mut at = path.to_vec();
        at.push(format!("{element}/@{}", String::from_utf8_lossy(attr.key.as_ref())));
        xml_push(out, start, &at, html_escape::decode_html_entities(&value).into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(req: &Request) -> Vec<(String, String)> {
        req.fields()
            .into_iter()
            .filter(|f| !matches!(f.location, Location::Path | Location::Header))
            .map(|f| (f.name.into_owned(), f.value.into_owned()))
            .collect()
    }

    #[test]
    fn multipart_keeps_the_boundary_case_accepts_bare_lf_and_reads_json_parts() {
        let body = "--XyZ\nContent-Disposition: form-data; name=\"note\"\n\nhello\n--XyZ\nContent-Disposition: \
                    form-data; name=\"payload\"\nContent-Type: application/json\n\n{\"k\": \"v\"}\n--XyZ--\n";
        let req = Request::new("POST", "/p").header("content-type", "multipart/form-data; boundary=XyZ").body(body);
        let got = values(&req);
        assert!(got.contains(&("note".into(), "hello".into())), "{got:?}");
        assert!(got.contains(&("payload.k".into(), "v".into())), "{got:?}");
        assert!(got.contains(&("payload.k".into(), "k".into())), "{got:?}");
    }

    #[test]
    fn multipart_names_are_parsed_with_quotes_and_odd_ones_are_reported() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"fi;le\"; filename=\"a.txt\"\r\nContent-Type: \
                    text/plain\r\n\r\nx\r\n--b--\r\n";
        let req = Request::new("POST", "/p").header("content-type", "multipart/form-data; boundary=b").body(body);
        let got = values(&req);
        assert!(got.iter().any(|(n, v)| n == "multipart.disposition" && v == "fi;le a.txt"), "{got:?}");
        assert!(got.contains(&("fi;le.filename".into(), "a.txt".into())), "{got:?}");
        let plain = "--b\r\nContent-Disposition: form-data; name=\"caf&eacute;\"\r\n\r\nx\r\n--b--\r\n";
        let req = Request::new("POST", "/p").header("content-type", "multipart/form-data; boundary=b").body(plain);
        assert!(!values(&req).iter().any(|(n, _)| n == "multipart.disposition"));
    }

    #[test]
    fn xml_bodies_yield_text_and_attribute_values_not_names() {
        let body = "<?xml version=\"1.0\"?><order id=\"7\"><java.lang.Runtime>tea &amp; cake</java.lang.Runtime>\
                    <note><![CDATA[<b>fragile</b>]]></note></order>";
        let req = Request::new("POST", "/p").header("content-type", "application/xml").body(body);
        let got: Vec<String> = values(&req).into_iter().map(|(_, v)| v).collect();
        assert_eq!(got, ["7", "tea & cake", "<b>fragile</b>"]);
        let broken = Request::new("POST", "/p").header("content-type", "text/xml").body("<a><b></a>");
        assert_eq!(values(&broken), [("body".to_owned(), "<a><b></a>".to_owned())]);
    }
}
