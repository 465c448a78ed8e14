//! The extension manifest (`palisade-extension.toml` at the root of a package): what an extension is, what it
//! asks for and what it contains. The format is described in the crate's README.
//!
//! Parsing is strict: unknown keys are errors (a misspelt `scopes` must not silently request nothing or be
//! ignored by one version and honoured by the next), every list is bounded and free of duplicates, and every
//! name comes from an allow-list.

use std::collections::BTreeSet;

use semver::{Version, VersionReq};
use serde::Deserialize;

use crate::names::{DataLevel, ExtensionId, Hook, NameError, PackagePath, PublisherHandle, Scope, WebhookTopic};

/// The manifest's file name at the root of a package.
pub const MANIFEST_FILE: &str = "palisade-extension.toml";
/// Largest manifest accepted.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;
/// The only manifest format version this release reads.
pub const MANIFEST_VERSION: i64 = 1;
/// Most webhook topics one extension may subscribe to.
pub const MAX_WEBHOOKS: usize = WebhookTopic::ALL.len();
/// Most redirect URLs an app may list.
pub const MAX_REDIRECT_URLS: usize = 5;
/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 80;
/// Longest version or version requirement, in bytes.
const MAX_VERSION_LEN: usize = 64;

/// Why a manifest was refused. `code()` is stable for API clients; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is larger than {MAX_MANIFEST_BYTES} bytes")]
    TooLarge,
    #[error("the manifest is not valid TOML for this format: {0}")]
    Syntax(String),
    #[error("manifest_version {0} is not supported (this release reads version {MANIFEST_VERSION})")]
    UnsupportedVersion(i64),
    #[error("{field}: {reason}")]
    InvalidName { field: &'static str, reason: NameError },
    #[error("name: {0}")]
    InvalidDisplayName(&'static str),
    #[error("{field}: not a valid version: {reason}")]
    InvalidVersion { field: &'static str, reason: String },
    #[error("version: build metadata (`+…`) is not allowed: two versions differing only in it would compare equal")]
    BuildMetadata,
    #[error("{field}: `{value}` is not one of the allowed values")]
    NotAllowed { field: &'static str, value: String },
    #[error("{field}: `{value}` is listed twice")]
    Duplicate { field: &'static str, value: String },
    #[error("{field}: at most {limit} entries")]
    TooMany { field: &'static str, limit: usize },
    #[error("customer_data_level must be 0, 1 or 2")]
    InvalidDataLevel,
    #[error("the `customer_data` scope needs customer_data_level 1 or 2")]
    CustomerDataNeedsLevel,
    #[error("webhooks: `{topic}` needs the `{scope}` scope")]
    WebhookNeedsScope { topic: &'static str, scope: &'static str },
    #[error("webhooks: subscribing needs an [app] with a webhook_url to deliver to")]
    WebhooksWithoutEndpoint,
    #[error("an extension has at least one of [theme], [plugin] and [app]")]
    NoContent,
    #[error("plugin.hooks: a plugin names at least one hook")]
    NoHooks,
    #[error("plugin.module: the module is a `.wasm` file")]
    ModuleNotWasm,
    #[error("app: an app lists at least one redirect URL")]
    NoRedirectUrls,
    #[error("{field}: {reason}")]
    InvalidUrl { field: &'static str, reason: &'static str },
}

impl ManifestError {
    /// A stable, machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ManifestError::TooLarge => "manifest_too_large",
            ManifestError::Syntax(_) => "manifest_syntax",
            ManifestError::UnsupportedVersion(_) => "manifest_version_unsupported",
            ManifestError::InvalidName { .. } => "manifest_invalid_name",
            ManifestError::InvalidDisplayName(_) => "manifest_invalid_display_name",
            ManifestError::InvalidVersion { .. } => "manifest_invalid_version",
            ManifestError::BuildMetadata => "manifest_build_metadata",
            ManifestError::NotAllowed { .. } => "manifest_value_not_allowed",
            ManifestError::Duplicate { .. } => "manifest_duplicate",
            ManifestError::TooMany { .. } => "manifest_too_many",
            ManifestError::InvalidDataLevel => "manifest_invalid_data_level",
            ManifestError::CustomerDataNeedsLevel => "manifest_customer_data_needs_level",
            ManifestError::WebhookNeedsScope { .. } => "manifest_webhook_needs_scope",
            ManifestError::WebhooksWithoutEndpoint => "manifest_webhooks_without_endpoint",
            ManifestError::NoContent => "manifest_no_content",
            ManifestError::NoHooks => "manifest_no_hooks",
            ManifestError::ModuleNotWasm => "manifest_module_not_wasm",
            ManifestError::NoRedirectUrls => "manifest_no_redirect_urls",
            ManifestError::InvalidUrl { .. } => "manifest_invalid_url",
        }
    }
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub id: ExtensionId,
    /// Shown to merchants; plain text (1–80 characters, no control, bidi or markup characters).
    pub name: String,
    pub publisher: PublisherHandle,
    pub version: Version,
    /// The Palisade versions this release runs on.
    pub palisade: VersionReq,
    pub scopes: BTreeSet<Scope>,
    pub customer_data: DataLevel,
    pub webhooks: BTreeSet<WebhookTopic>,
    pub content: Content,
}

/// What an extension ships: at least one of the three.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub theme: Option<Theme>,
    pub plugin: Option<Plugin>,
    pub app: Option<App>,
}

/// A theme: templates and assets under one directory of the package, rendered in the existing sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub root: PackagePath,
}

/// A WebAssembly plugin and the hooks it is called at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    pub module: PackagePath,
    pub hooks: BTreeSet<Hook>,
}

/// An external app: where the merchant is sent to grant it access, and where webhooks are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub redirect_urls: Vec<url::Url>,
    pub webhook_url: Option<url::Url>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    manifest_version: i64,
    id: String,
    name: String,
    publisher: String,
    version: String,
    palisade: String,
    #[serde(default)]
    scopes: Vec<String>,
    customer_data_level: i64,
    #[serde(default)]
    webhooks: Vec<String>,
    theme: Option<RawTheme>,
    plugin: Option<RawPlugin>,
    app: Option<RawApp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    root: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    module: String,
    hooks: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    redirect_urls: Vec<String>,
    webhook_url: Option<String>,
}

impl Manifest {
    /// Parses and validates a manifest's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::Syntax("not UTF-8".to_owned()))?;
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Syntax(e.message().to_owned()))?;
        if raw.manifest_version != MANIFEST_VERSION {
            return Err(ManifestError::UnsupportedVersion(raw.manifest_version));
        }
        let name_err = |field| move |reason| ManifestError::InvalidName { field, reason };
        let scopes = parse_set("scopes", &raw.scopes, Scope::ALL.len(), Scope::parse)?;
        let customer_data = DataLevel::from_number(raw.customer_data_level).ok_or(ManifestError::InvalidDataLevel)?;
        if scopes.contains(&Scope::CustomerData) && customer_data == DataLevel::None {
            return Err(ManifestError::CustomerDataNeedsLevel);
        }
        let webhooks = parse_set("webhooks", &raw.webhooks, MAX_WEBHOOKS, WebhookTopic::parse)?;
        for topic in &webhooks {
            if let Some(scope) = topic.required_scope().filter(|s| !scopes.contains(s)) {
                return Err(ManifestError::WebhookNeedsScope { topic: topic.as_str(), scope: scope.as_str() });
            }
        }
        let content = parse_content(raw.theme, raw.plugin, raw.app)?;
        if !webhooks.is_empty() && content.app.as_ref().is_none_or(|a| a.webhook_url.is_none()) {
            return Err(ManifestError::WebhooksWithoutEndpoint);
        }
        Ok(Manifest {
            id: ExtensionId::parse(&raw.id).map_err(name_err("id"))?,
            name: display_name(&raw.name)?,
            publisher: PublisherHandle::parse(&raw.publisher).map_err(name_err("publisher"))?,
            version: parse_version(&raw.version)?,
            palisade: parse_requirement(&raw.palisade)?,
            scopes,
            customer_data,
            webhooks,
            content,
        })
    }
}

/// Parses a bounded list of allow-listed names into a set, refusing unknown names and duplicates.
fn parse_set<T: Ord>(
    field: &'static str,
    raw: &[String],
    limit: usize,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<BTreeSet<T>, ManifestError> {
    if raw.len() > limit {
        return Err(ManifestError::TooMany { field, limit });
    }
    let mut set = BTreeSet::new();
    for s in raw {
        let v = parse(s).ok_or_else(|| ManifestError::NotAllowed { field, value: echo(s) })?;
        if !set.insert(v) {
            return Err(ManifestError::Duplicate { field, value: echo(s) });
        }
    }
    Ok(set)
}

/// A refused value as it may be shown back: at most 64 characters, control characters replaced.
fn echo(s: &str) -> String {
    s.chars().take(64).map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect()
}

/// The display name: trimmed, 1–80 characters, starting with a letter or digit (so no spreadsheet formula),
/// without control or bidirectional-override characters (which make a name read as another) or `<`, `>`, `"`,
/// `` ` `` (never needed in a name; refused so a template that forgets to escape is not an XSS).
fn display_name(s: &str) -> Result<String, ManifestError> {
    let s = s.trim();
    let count = s.chars().count();
    if count == 0 || count > MAX_NAME_CHARS {
        return Err(ManifestError::InvalidDisplayName("a name has 1 to 80 characters"));
    }
    if !s.chars().next().is_some_and(char::is_alphanumeric) {
        return Err(ManifestError::InvalidDisplayName("a name starts with a letter or digit"));
    }
    let bidi = |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let markup = |c: char| matches!(c, '<' | '>' | '"' | '`');
    if s.chars().any(|c| c.is_control() || bidi(c) || markup(c) || c == '\u{FEFF}') {
        return Err(ManifestError::InvalidDisplayName(
            "a name has no control, invisible or bidirectional characters and no < > \" `",
        ));
    }
    Ok(s.to_owned())
}

fn parse_version(s: &str) -> Result<Version, ManifestError> {
    if s.len() > MAX_VERSION_LEN {
        return Err(ManifestError::InvalidVersion { field: "version", reason: "too long".to_owned() });
    }
    let v = Version::parse(s).map_err(|e| ManifestError::InvalidVersion { field: "version", reason: e.to_string() })?;
    if v.build.is_empty() { Ok(v) } else { Err(ManifestError::BuildMetadata) }
}

fn parse_requirement(s: &str) -> Result<VersionReq, ManifestError> {
    if s.len() > MAX_VERSION_LEN {
        return Err(ManifestError::InvalidVersion { field: "palisade", reason: "too long".to_owned() });
    }
    VersionReq::parse(s).map_err(|e| ManifestError::InvalidVersion { field: "palisade", reason: e.to_string() })
}

fn parse_content(
    theme: Option<RawTheme>,
    plugin: Option<RawPlugin>,
    app: Option<RawApp>,
) -> Result<Content, ManifestError> {
    let path = |field, s: &str| PackagePath::parse(s).map_err(|reason| ManifestError::InvalidName { field, reason });
    let theme = theme.map(|t| path("theme.root", &t.root).map(|root| Theme { root })).transpose()?;
    let plugin = plugin
        .map(|p| {
            let module = path("plugin.module", &p.module)?;
            if !module.as_str().ends_with(".wasm") {
                return Err(ManifestError::ModuleNotWasm);
            }
            let hooks = parse_set("plugin.hooks", &p.hooks, Hook::ALL.len(), Hook::parse)?;
            if hooks.is_empty() {
                return Err(ManifestError::NoHooks);
            }
            Ok(Plugin { module, hooks })
        })
        .transpose()?;
    let app = app.map(parse_app).transpose()?;
    if theme.is_none() && plugin.is_none() && app.is_none() {
        return Err(ManifestError::NoContent);
    }
    Ok(Content { theme, plugin, app })
}

fn parse_app(raw: RawApp) -> Result<App, ManifestError> {
    if raw.redirect_urls.is_empty() {
        return Err(ManifestError::NoRedirectUrls);
    }
    if raw.redirect_urls.len() > MAX_REDIRECT_URLS {
        return Err(ManifestError::TooMany { field: "app.redirect_urls", limit: MAX_REDIRECT_URLS });
    }
    let mut redirect_urls = Vec::with_capacity(raw.redirect_urls.len());
    for s in &raw.redirect_urls {
        let u = public_https_url("app.redirect_urls", s)?;
        if redirect_urls.contains(&u) {
            return Err(ManifestError::Duplicate { field: "app.redirect_urls", value: echo(s) });
        }
        redirect_urls.push(u);
    }
    let webhook_url = raw.webhook_url.map(|s| public_https_url("app.webhook_url", &s)).transpose()?;
    Ok(App { redirect_urls, webhook_url })
}

/// An `https` URL with a public-looking domain name: no credentials, no fragment, no IP literal, no `localhost`
/// or private-use suffix. This is the early refusal a publisher sees; the outbound-connection guard still checks
/// the *resolved* address on every delivery (a public name can resolve to a private address).
fn public_https_url(field: &'static str, s: &str) -> Result<url::Url, ManifestError> {
    let bad = |reason| ManifestError::InvalidUrl { field, reason };
    if s.len() > MAX_URL_LEN {
        return Err(bad("a URL has at most 2048 characters"));
    }
    let u = url::Url::parse(s).map_err(|_| bad("not a valid absolute URL"))?;
    if u.scheme() != "https" {
        return Err(bad("the URL must use https"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("the URL must not carry credentials"));
    }
    if u.fragment().is_some() {
        return Err(bad("the URL must not have a fragment"));
    }
    let host = match u.host() {
        Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {
            return Err(bad("the URL must name a host, not an IP address"));
        }
        None => return Err(bad("the URL must have a host")),
    };
    let private_suffixes = ["localhost", "local", "internal", "lan", "home.arpa", "intranet", "corp"];
    let last_labels_private = private_suffixes.iter().any(|p| host == *p || host.ends_with(&format!(".{p}")));
    if last_labels_private || !host.contains('.') {
        return Err(bad("the URL's host must be a public domain name"));
    }
    Ok(u)
}

#[cfg(test)]
mod tests;
