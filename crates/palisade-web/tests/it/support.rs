//! The test app and the fixtures the tests share: stores with a signed-in owner (here), people
//! ([`people`]), products ([`products`]), orders and carts ([`orders`]) and store tokens ([`store_tokens`]).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use palisade_core::text::Email;
use palisade_identity::csrf::Binding;
use palisade_store::matrix::{NodeFacts, Registry};
use palisade_store::scope::PlatformScope;
use palisade_store::scope::StaffScope;
use palisade_store::tenancy::{self, AccountKind, NewAccount};
use palisade_store::testing::TestDb;
use palisade_store::tokens::{self, IssueToken, TokenKind};
use palisade_store::{controls, secrets};
use palisade_web::{AppState, WebConfig};
use secrecy::SecretString;
use tokio::sync::oneshot;

mod orders;
mod people;
mod products;
mod store_tokens;

pub use orders::{add_to_cart, cart_cookie, guest_payment, order_request, place_order};
pub use people::{Person, buyer, forget_recent_passwords, grant_exactly, invitation_path, staff};
pub use products::{Listing, listing};
pub use store_tokens::store_token_from_page;

/// The origin passkey ceremonies in tests claim (a software authenticator plays the browser).
pub const PASSKEY_ORIGIN: &str = "http://localhost:8080";

pub struct TestApp {
    pub addr: SocketAddr,
    pub db: std::sync::Arc<TestDb>,
    pub client: reqwest::Client,
    pub token: String,
    pub objects: palisade_store::Objects,
    identity: palisade_identity::Identity,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(WebConfig::default(), |r, _| r).await
    }

    /// Boots the app; `extend` may add routes (wrapped in the same baseline) for tests of the middleware.
    pub async fn start_with(config: WebConfig, extend: impl FnOnce(Router, &AppState) -> Router) -> TestApp {
        Self::start_adjusted(config, |s| s, extend).await
    }

    /// [`TestApp::start_with`], with the state adjusted as `palisade serve` options do (e.g. `--geoip-db`).
    pub async fn start_adjusted(
        config: WebConfig,
        adjust: impl FnOnce(AppState) -> AppState,
        extend: impl FnOnce(Router, &AppState) -> Router,
    ) -> TestApp {
        let db = std::sync::Arc::new(TestDb::new().await);
        let token = operator_token(&db).await;
        Self::boot(db, token, config, adjust, extend).await
    }

    /// Another node of the same installation: its own state and listener, this node's database.
    pub async fn second_node(&self, config: WebConfig) -> TestApp {
        Self::second_node_adjusted(self, config, |s| s).await
    }

    /// [`TestApp::second_node`], with its state adjusted (e.g. its page cache turned off).
    pub async fn second_node_adjusted(&self, config: WebConfig, adjust: impl FnOnce(AppState) -> AppState) -> TestApp {
        Self::boot(self.db.clone(), self.token.clone(), config, adjust, |r, _| r).await
    }

    async fn boot(
        db: std::sync::Arc<TestDb>,
        token: String,
        config: WebConfig,
        adjust: impl FnOnce(AppState) -> AppState,
        extend: impl FnOnce(Router, &AppState) -> Router,
    ) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("master.key");
        let (master, _) = secrets::load_or_create(&key).unwrap();
        let mut registry = Registry::default();
        controls::register(&mut registry).unwrap();
        palisade_identity::controls::register(&mut registry).unwrap();
        palisade_commerce::controls::register(&mut registry).unwrap();
        palisade_web::edge::shield::register(&mut registry).unwrap();
        palisade_backup::controls::register(&mut registry).unwrap();
        let facts = NodeFacts { data_dir: dir.path().to_path_buf(), master_key_path: key };
        let identity = palisade_identity::Identity::new(db.db.clone(), &master, "Palisade test")
            .with_passkeys(PASSKEY_ORIGIN)
            .unwrap();
        let objects = palisade_store::Objects::local(&dir.path().join("objects")).unwrap();
        let redis = config.limits.redis_url.is_some();
        let limits = config.limits.clone();
        let mut state = AppState::new(db.db.clone(), registry, facts, config, identity.clone(), objects.clone())
            .unwrap()
            .with_master_key(&[9u8; 32]);
        if redis {
            // As `palisade serve --redis-url` does.
            state = state.with_limiter(palisade_web::edge::limits::Limiter::new(limits).await.unwrap());
        }
        let state = adjust(state);
        let app = extend(palisade_web::router(state.clone()), &state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(palisade_web::serve(listener, app, async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        TestApp { addr, db, client, token, objects, identity, _dir: dir, stop: Some(tx), server: Some(server) }
    }

    pub fn identity(&self) -> palisade_identity::Identity {
        self.identity.clone()
    }

    /// The synchronizer token the platform's forms carry for a browser sending `cookie` (a `Cookie` header
    /// value; see [`cookie_with_binding`]).
    pub fn csrf(&self, cookie: &str) -> String {
        let cookie = cookie_with_binding(cookie);
        let get = |name: &str| {
            cookie
                .split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        };
        let signer = self.identity.csrf();
        match get("palisade_session") {
            Some(s) => signer.token(Binding::Session(&s)),
            None => signer.token(Binding::Visitor(&get("palisade_visitor").unwrap_or_default())),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_authed(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(&self.token).send().await.unwrap()
    }

    /// Signs in to the console with the operator token as the sign-in form does; the `Cookie` header value of the
    /// console session it opens.
    pub async fn console_cookie(&self) -> String {
        let res = self
            .client
            .post(self.url("/console/login"))
            .csrf(self, VISITOR)
            .form(&[("token", self.token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "console sign-in");
        let set = res.headers()["set-cookie"].to_str().unwrap();
        set.split(';').next().unwrap().to_owned()
    }

    /// Asks the server to shut down gracefully.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A visitor's pre-session cookie, for forms posted without a session (sign-in, registration, the cart).
pub const VISITOR: &str = "palisade_visitor=0123456789abcdef0123456789abcdef";

/// `cookie`, with [`VISITOR`] added when it holds neither a session nor a pre-session cookie (as a browser that
/// loaded the form would have).
pub fn cookie_with_binding(cookie: &str) -> String {
    if cookie.contains("palisade_session=") || cookie.contains("palisade_visitor=") {
        cookie.to_owned()
    } else if cookie.trim().is_empty() {
        VISITOR.to_owned()
    } else {
        format!("{cookie}; {VISITOR}")
    }
}

/// Sends a form as the platform's own page would: `.csrf(&app, &cookie)` sets the `Cookie` header (plus
/// [`VISITOR`] when it has no session) and the synchronizer token (as the `x-csrf-token` header, which the
/// middleware accepts like the `csrf` form field). Use `VISITOR` as the cookie for requests without a session.
pub trait Csrf {
    fn csrf(self, app: &TestApp, cookie: &str) -> Self;
}

impl Csrf for reqwest::RequestBuilder {
    fn csrf(self, app: &TestApp, cookie: &str) -> Self {
        self.header("cookie", cookie_with_binding(cookie)).header("x-csrf-token", app.csrf(cookie))
    }
}

pub async fn operator_token(db: &TestDb) -> String {
    let op = tenancy::create_account(
        db,
        NewAccount {
            email: Email::parse("op@platform.example").unwrap(),
            display_name: "Op".into(),
            kind: AccountKind::Operator,
        },
    )
    .await
    .unwrap();
    let (_, secret) = tokens::issue(
        db,
        &PlatformScope::system("test"),
        IssueToken {
            kind: TokenKind::Operator,
            account_id: op.id,
            store_id: None,
            name: "test".into(),
            scopes: vec![],
            expires_at: Some(db.now().plus(Duration::from_secs(3600))),
        },
    )
    .await
    .unwrap();
    tokens::reveal(&secret).to_owned()
}

/// A store `slug` (SGD) owned by a new staff account `owner@{slug}.example` that has no password yet.
pub async fn store(db: &TestDb, slug: &str, contact: Option<&str>) -> tenancy::Store {
    let owner = tenancy::create_account(
        db,
        NewAccount {
            email: Email::parse(&format!("owner@{slug}.example")).unwrap(),
            display_name: "Owner".into(),
            kind: AccountKind::Staff,
        },
    )
    .await
    .unwrap();
    tenancy::create_store(
        db,
        &PlatformScope::system("test"),
        tenancy::NewStore {
            slug: palisade_core::text::Slug::parse(slug).unwrap(),
            name: format!("Store {slug}"),
            currency: palisade_core::money::Currency::SGD,
            owner: owner.id,
            security_contact: contact.map(|c| Email::parse(c).unwrap()),
        },
    )
    .await
    .unwrap()
    .0
}

/// The password tests give the accounts they sign in with.
pub const PW: &str = "granite pelican umbrella";

/// A store `slug` whose owner has the password [`PW`] and is signed in: the store, a scope for setting it up
/// directly, and the owner's session cookie.
pub async fn owner_of(app: &TestApp, slug: &str) -> (tenancy::Store, StaffScope, String) {
    let s = store(&app.db, slug, None).await;
    let scope = StaffScope::system(s.id, "test");
    let owner = tenancy::list_members(&app.db, &scope).await.unwrap().remove(0);
    let acct = tenancy::get_account(&app.db, owner.account_id).await.unwrap();
    app.identity().set_password(&acct, SecretString::from(PW.to_owned())).await.unwrap();
    let cookie = login(app, &acct.email).await;
    (s, scope, cookie)
}

pub async fn login(app: &TestApp, email: &str) -> String {
    let res = app
        .client
        .post(app.url("/login"))
        .csrf(app, VISITOR)
        .form(&[("email", email), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{email} signs in");
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("palisade_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// The value of one series in a Prometheus text page (0 when absent). The recorder is the process's, so tests
/// running side by side add to the same series: compare with `>=`.
pub fn metric(page: &str, series: &str) -> f64 {
    page.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
}
