//! Outbound connections made on a merchant's behalf (their export bucket today; webhooks and store scans later).
//!
//! A merchant chooses where the platform connects, so a check of how the address is *spelled* is not enough:
//! `2130706433`, `127.1`, `0x7f000001` and `[::ffff:127.0.0.1]` are all loopback once a URL parser reads them,
//! and a DNS name can resolve to anything, differently on every lookup. So the guard judges the **addresses
//! actually connected to**: names are resolved by the guard's own resolver, which refuses the whole answer if
//! any address in it is not public; address literals (which the HTTP client connects to without a lookup) are
//! checked on every request and every redirect; proxies from the environment are ignored (a proxy would do the
//! lookup where the guard cannot see it). [`blocked`] is the one list of what "not public" means.
//!
//! The operator's escape hatch ([`OutboundPolicy::allow_private_networks`], from
//! `--exports-allow-private-s3`) is for on-premises storage on a private network; it also permits plain HTTP.
//! Nothing a merchant sends can select it.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
};

/// Why an outbound connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{host} is not a public address ({reason}); the platform connects only to public hosts")]
    NotPublic { host: String, reason: &'static str },
    #[error("{0}")]
    BadUrl(String),
    #[error("cannot resolve {host}: {reason}")]
    Lookup { host: String, reason: String },
}

/// Why `ip` is not a public unicast address, or `None` if it is. IPv4 inside IPv6 (mapped, compatible, NAT64,
/// 6to4) is judged by the IPv4 address it carries; Teredo is refused whole.
#[must_use]
pub fn blocked(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "this network / unspecified"),
        ([10, 0, 0, 0], 8, "private"),
        ([100, 64, 0, 0], 10, "carrier-grade NAT"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local (cloud metadata)"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 0, 0, 0], 24, "IETF protocol assignments"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "6to4 relay"),
        ([192, 168, 0, 0], 16, "private"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved / broadcast"),
    ];
    RANGES.iter().find(|(net, bits, _)| in_v4(ip, *net, *bits)).map(|(_, _, why)| *why)
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, bits: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    let low_v4 = Ipv4Addr::from(u32::try_from(bits & 0xffff_ffff).unwrap_or(0));
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // ::ffff:a.b.c.d (mapped): the IPv4 address is what is reached. ::a.b.c.d (compatible) is deprecated.
    if in_v6(ip, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96) {
        return blocked_v4(low_v4);
    }
    if in_v6(ip, Ipv6Addr::UNSPECIFIED, 96) {
        return Some("IPv4-compatible (deprecated)");
    }
    // NAT64 well-known prefix: a DNS64 resolver on an IPv6-only host answers public IPv4 hosts this way.
    if in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return blocked_v4(low_v4);
    }
    // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if in_v6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        let v4 = Ipv4Addr::from(u32::try_from((bits >> 80) & 0xffff_ffff).unwrap_or(0));
        return blocked_v4(v4);
    }
    const RANGES: &[(Ipv6Addr, u32, &str)] = &[
        (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, "local-use NAT64"),
        (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, "discard-only"),
        // 2001::/23 holds Teredo (2001::/32, whose embedded addresses are obfuscated), benchmarking and ORCHID.
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, "IETF special purpose (Teredo, benchmarking)"),
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, "documentation"),
        (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, "documentation"),
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "unique local (private)"),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
        (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local"),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
    ];
    RANGES.iter().find(|(net, bits, _)| in_v6(ip, *net, *bits)).map(|(_, _, why)| *why)
}

/// A boxed lookup future.
pub type LookupFuture = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// Turns a host name into addresses. The system resolver by default; tests give names fixed answers.
pub trait NameLookup: fmt::Debug + Send + Sync + std::panic::RefUnwindSafe + std::panic::UnwindSafe {
    fn lookup(&self, host: &str) -> LookupFuture;
}

/// The operating system's resolver (through tokio).
#[derive(Debug)]
pub struct SystemLookup;

impl NameLookup for SystemLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.to_owned();
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.map(|a| a.ip()).collect()) })
    }
}

/// Where connections on a merchant's behalf may go. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    allow_private: bool,
    /// Plain HTTP; only with `allow_private` outside this module's tests.
    allow_http: bool,
    /// Exact addresses the operator trusts although they are not public (tests use loopback aliases).
    trusted: Vec<IpAddr>,
    lookup: Arc<dyn NameLookup>,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        OutboundPolicy::public_only()
    }
}

/// Redirects followed at most (S3 answers a wrong region with one).
const MAX_REDIRECTS: usize = 5;

impl OutboundPolicy {
    /// Public HTTPS hosts only: the default, and the only choice a merchant's settings can lead to.
    #[must_use]
    pub fn public_only() -> OutboundPolicy {
        OutboundPolicy { allow_private: false, allow_http: false, trusted: Vec::new(), lookup: Arc::new(SystemLookup) }
    }

    /// The operator's escape hatch (`--exports-allow-private-s3`): private addresses and plain HTTP too.
    #[must_use]
    pub fn allow_private_networks() -> OutboundPolicy {
        OutboundPolicy { allow_private: true, allow_http: true, trusted: Vec::new(), lookup: Arc::new(SystemLookup) }
    }

    /// **Test hook**: [`Self::public_only`] that also reaches the exact addresses in `trusted` (a loopback test
    /// receiver) over plain HTTP. Compiled only with the `testing` feature, which only dev-dependencies enable, so
    /// no production configuration can select it; the production binary has no such function.
    #[cfg(feature = "testing")]
    #[must_use]
    pub fn trusting_for_tests(trusted: Vec<IpAddr>) -> OutboundPolicy {
        OutboundPolicy { allow_http: true, trusted, ..OutboundPolicy::public_only() }
    }

    /// The same policy with another resolver (tests; a split-horizon resolver).
    #[must_use]
    pub fn with_lookup(mut self, lookup: Arc<dyn NameLookup>) -> OutboundPolicy {
        self.lookup = lookup;
        self
    }

    #[must_use]
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Checks a URL as the HTTP client will read it (WHATWG parsing: `https://127.1/` is 127.0.0.1): HTTPS, and
    /// an address literal must be public. A name passes here; its addresses are checked when it is resolved.
    pub fn check_url(&self, url: &str) -> Result<(), OutboundError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| OutboundError::BadUrl(format!("{url}: {e}")))?;
        self.check_parsed(&parsed)
    }

    /// [`Self::check_url`], then the addresses a host name resolves to *now*: an early, clear answer before a
    /// client starts (and retries). The connection is still checked again when it is made, because a name may
    /// resolve differently on the next lookup.
    pub async fn check_url_resolved(&self, url: &str) -> Result<(), OutboundError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| OutboundError::BadUrl(format!("{url}: {e}")))?;
        self.check_parsed(&parsed)?;
        if let Some(url::Host::Domain(name)) = parsed.host() {
            self.resolve(name).await?;
        }
        Ok(())
    }

    fn check_parsed(&self, url: &reqwest::Url) -> Result<(), OutboundError> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::BadUrl("a URL with a user name or password is not accepted".into()));
        }
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(OutboundError::BadUrl(format!("`{other}://` is not allowed; use https://"))),
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(url::Host::Domain(_)) => return Ok(()),
            None => return Err(OutboundError::BadUrl("the URL has no host".into())),
        };
        self.check_ip(&ip.to_string(), ip)
    }

    fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), OutboundError> {
        match blocked(ip) {
            Some(reason) if !self.allow_private && !self.trusted.contains(&ip) => {
                Err(OutboundError::NotPublic { host: host.to_owned(), reason })
            }
            _ => Ok(()),
        }
    }

    /// Resolves `host`, refusing the whole answer if any address is not public (an answer mixing a public and a
    /// private address would let the client pick the private one).
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, OutboundError> {
        let addrs = self
            .lookup
            .lookup(host)
            .await
            .map_err(|e| OutboundError::Lookup { host: host.to_owned(), reason: e.to_string() })?;
        if addrs.is_empty() {
            return Err(OutboundError::Lookup { host: host.to_owned(), reason: "no addresses".into() });
        }
        for ip in &addrs {
            self.check_ip(&format!("{host} ({ip})"), *ip)?;
        }
        Ok(addrs)
    }

    /// An HTTP client that obeys the policy: for webhooks and any other request on a merchant's behalf.
    pub fn client(&self) -> Result<GuardedClient, OutboundError> {
        Ok(GuardedClient { policy: self.clone(), client: self.http_client(Redirects::FollowGuarded)? })
    }

    /// A guarded client that never follows a redirect (a 3xx is the answer): for webhook deliveries, where a
    /// redirect would turn a signed POST into something the subscriber did not register.
    pub fn client_without_redirects(&self) -> Result<GuardedClient, OutboundError> {
        Ok(GuardedClient { policy: self.clone(), client: self.http_client(Redirects::Refuse)? })
    }

    /// The reqwest client inside [`GuardedClient`]: names and redirects are guarded, the first URL is not.
    fn http_client(&self, redirects: Redirects) -> Result<reqwest::Client, OutboundError> {
        let redirect_policy = self.clone();
        let redirect = match redirects {
            Redirects::Refuse => reqwest::redirect::Policy::none(),
            Redirects::FollowGuarded => reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error("too many redirects");
                }
                match redirect_policy.check_parsed(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(e),
                }
            }),
        };
        reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(GuardResolver(self.clone())))
            .redirect(redirect)
            .https_only(!self.allow_http)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("palisade/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OutboundError::BadUrl(format!("building the HTTP client: {e}")))
    }

    /// The same guard for `object_store` clients (`AmazonS3Builder::with_http_connector`).
    #[must_use]
    pub fn object_store_connector(&self) -> GuardedConnector {
        GuardedConnector(self.clone())
    }
}

/// Whether a guarded client follows redirects (each one checked) or returns the 3xx answer.
#[derive(Debug, Clone, Copy)]
enum Redirects {
    FollowGuarded,
    Refuse,
}

/// What [`GuardedClient::post_for_status`] may spend on one request.
#[derive(Debug, Clone, Copy)]
pub struct PostLimits {
    /// For the whole exchange: connecting, sending, and reading the capped answer.
    pub timeout: Duration,
    /// Bytes of the answer's body read (then dropped unread); a longer body is cut off, not an error.
    pub max_response_bytes: usize,
}

/// A reqwest client that checks each request's URL, the addresses its names resolve to and every redirect.
#[derive(Debug, Clone)]
pub struct GuardedClient {
    policy: OutboundPolicy,
    client: reqwest::Client,
}

/// Why a guarded request failed: refused by the guard, or failed on the way.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Refused(#[from] OutboundError),
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("no complete answer within the time allowed")]
    TimedOut,
}

impl GuardedClient {
    /// Sends `request` if its URL may be reached (a redirect or name that may not is an error from reqwest).
    pub async fn execute(&self, request: reqwest::Request) -> Result<reqwest::Response, RequestError> {
        self.policy.check_parsed(request.url())?;
        Ok(self.client.execute(request).await?)
    }

    /// POSTs `body` with `headers` to `url` and returns only the answer's status code: the body is read up to
    /// `limits.max_response_bytes` and thrown away (never logged or stored), all within `limits.timeout`.
    /// Used for webhooks, where the subscriber's answer matters only as success or failure.
    pub async fn post_for_status(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
        limits: PostLimits,
    ) -> Result<u16, RequestError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| OutboundError::BadUrl(format!("{url}: {e}")))?;
        let mut request = reqwest::Request::new(reqwest::Method::POST, parsed);
        for (name, value) in headers {
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| OutboundError::BadUrl(format!("header {name} is not a valid value")))?;
            request.headers_mut().insert(*name, value);
        }
        *request.body_mut() = Some(body.into());
        *request.timeout_mut() = Some(limits.timeout);
        let exchange = async {
            let mut response = self.execute(request).await?;
            let status = response.status().as_u16();
            let mut read = 0usize;
            while read < limits.max_response_bytes {
                match response.chunk().await {
                    Ok(Some(chunk)) => read = read.saturating_add(chunk.len()),
                    // The status is the answer; a body cut short or broken does not change it.
                    Ok(None) | Err(_) => break,
                }
            }
            Ok(status)
        };
        match tokio::time::timeout(limits.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(RequestError::TimedOut),
        }
    }
}

/// The guard as reqwest's resolver: every name a guarded client connects to, first request or redirect.
struct GuardResolver(OutboundPolicy);

impl reqwest::dns::Resolve for GuardResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = policy.resolve(&host).await?;
            let addrs: reqwest::dns::Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// An `object_store` HTTP connector whose clients obey an [`OutboundPolicy`].
#[derive(Debug)]
pub struct GuardedConnector(OutboundPolicy);

impl HttpConnector for GuardedConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        let client = self
            .0
            .http_client(Redirects::FollowGuarded)
            .map_err(|e| object_store::Error::Generic { store: "outbound guard", source: Box::new(e) })?;
        Ok(HttpClient::new(GuardedService { policy: self.0.clone(), client }))
    }
}

/// Checks each request's own URL (an address literal is connected to without a lookup) before sending it.
#[derive(Debug)]
struct GuardedService {
    policy: OutboundPolicy,
    client: reqwest::Client,
}

#[async_trait::async_trait]
impl HttpService for GuardedService {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.policy.check_url(&req.uri().to_string()).map_err(|e| HttpError::new(HttpErrorKind::Connect, e))?;
        self.client.call(req).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn refused(url: &str) -> bool {
        OutboundPolicy::public_only().check_url(url).is_err()
    }

    #[test]
    fn every_spelling_of_a_private_address_is_refused() {
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://127.1/",
            "https://0x7f000001/",
            "https://0177.0.0.1/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:7f00:1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[::]/",
            "https://0.0.0.0/",
            "https://10.1.2.3/",
            "https://172.31.0.1/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://192.0.2.1/",
            "https://198.18.0.1/",
            "https://[64:ff9b::7f00:1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2002:7f00:1::]/",
            "https://[2002:a9fe:a9fe::1]/",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "https://[fc00::1]/",
            "https://[fd12:3456::1]/",
            "https://[fe80::1]/",
            "https://[ff02::1]/",
            "https://[::127.0.0.1]/",
            "https://[2001:db8::1]/",
            "http://s3.amazonaws.com/",
            "ftp://s3.amazonaws.com/",
            "https://user:pw@s3.amazonaws.com/",
        ] {
            assert!(refused(url), "{url} passed");
        }
    }

    /// Fixed answers for names, like a DNS record an attacker controls.
    #[derive(Debug)]
    struct FakeDns(Vec<(&'static str, IpAddr)>);

    impl NameLookup for FakeDns {
        fn lookup(&self, host: &str) -> LookupFuture {
            let found: Vec<IpAddr> = self.0.iter().filter(|(n, _)| *n == host).map(|(_, ip)| *ip).collect();
            Box::pin(async move { Ok(found) })
        }
    }

    /// A server that counts connections and answers each with `response`.
    async fn server(ip: &str, response: String) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 2048];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(response.as_bytes()).await;
            }
        });
        (port, count)
    }

    fn get(url: &str) -> reqwest::Request {
        reqwest::Request::new(reqwest::Method::GET, reqwest::Url::parse(url).unwrap())
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

    #[tokio::test]
    async fn a_name_resolving_to_a_private_address_is_refused_at_connect_time() {
        let (port, hits) = server("127.0.0.1", OK.into()).await;
        let dns = Arc::new(FakeDns(vec![
            ("bucket.example.com", IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ("localhost", IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ]));
        let guarded = OutboundPolicy { allow_http: true, ..OutboundPolicy::public_only() }.with_lookup(dns.clone());
        for url in [
            format!("http://bucket.example.com:{port}/"),
            format!("http://localhost:{port}/"),
            format!("http://127.1:{port}/"),
            format!("http://2130706433:{port}/"),
            format!("http://0x7f000001:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
        ] {
            let err = guarded.client().unwrap().execute(get(&url)).await.unwrap_err();
            assert!(format!("{err:?}").contains("NotPublic"), "{url}: {err:?}");
        }
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing reached the private server");
        // The operator's escape hatch reaches it (the refusals above were the guard, not a dead server).
        let open = OutboundPolicy::allow_private_networks().with_lookup(dns);
        let res = open.client().unwrap().execute(get(&format!("http://bucket.example.com:{port}/"))).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_redirect_to_a_private_address_is_refused() {
        let (inside, hits) = server("127.0.0.1", OK.into()).await;
        let redirector = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        let dns = Arc::new(FakeDns(vec![
            ("redirector.example.com", redirector),
            ("inside.example.com", IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ]));
        for target in [
            format!("http://127.0.0.1:{inside}/"),
            format!("http://2130706433:{inside}/"),
            format!("http://[::ffff:7f00:1]:{inside}/"),
            format!("http://inside.example.com:{inside}/"),
        ] {
            let redirect =
                format!("HTTP/1.1 302 Found\r\nlocation: {target}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let (port, redirects) = server("127.0.0.2", redirect).await;
            // Only the redirector's own address is trusted: it stands in for a public host.
            let policy =
                OutboundPolicy { allow_http: true, trusted: vec![redirector], ..OutboundPolicy::public_only() }
                    .with_lookup(dns.clone());
            let err = policy
                .client()
                .unwrap()
                .execute(get(&format!("http://redirector.example.com:{port}/")))
                .await
                .unwrap_err();
            assert_eq!(redirects.load(std::sync::atomic::Ordering::SeqCst), 1, "{target}: the redirector was reached");
            assert!(format!("{err:?}").contains("NotPublic"), "{target}: {err:?}");
        }
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "no redirect reached the private server");
    }

    #[test]
    fn public_addresses_and_names_pass() {
        for url in [
            "https://s3.eu-central-1.amazonaws.com/",
            "https://52.219.170.1/",
            "https://[2600:1f18::1]/",
            "https://[64:ff9b::34db:aa01]/",
            "https://[2002:34db:aa01::1]/",
            "https://[::ffff:52.219.170.1]/",
        ] {
            assert!(!refused(url), "{url} was refused");
        }
        assert!(OutboundPolicy::allow_private_networks().check_url("http://127.0.0.1:9000/").is_ok());
    }
}
