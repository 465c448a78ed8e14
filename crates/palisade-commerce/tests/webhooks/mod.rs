//! Webhook subscriptions and deliveries against a real database, real sockets and the outbound guard.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_commerce::CommerceError;
use palisade_commerce::webhooks::deliveries::{self, DeliveryStatus, Sender};
use palisade_commerce::webhooks::subscriptions::{self, AppWebhooks, NewSubscription};
use palisade_commerce::webhooks::{WebhookKeys, signature};
use palisade_registry::names::{ExtensionId, Scope, WebhookTopic};
use palisade_store::outbound::{LookupFuture, NameLookup, OutboundPolicy, PostLimits};
use palisade_store::scope::{PlatformScope, StaffScope};
use palisade_store::testing::TestDb;
use palisade_store::{Db, StoreError};
use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod receiver_from_docs;

const KEY: [u8; 32] = [9u8; 32];

fn app() -> ExtensionId {
    ExtensionId::parse("com.example.reviews").unwrap()
}

fn loopback() -> OutboundPolicy {
    OutboundPolicy::trusting_for_tests(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])
}

fn sender<'a>(keys: &'a WebhookKeys, policy: &'a OutboundPolicy) -> Sender<'a> {
    Sender { keys, policy, limits: Sender::DEFAULT_LIMITS, batch: 100 }
}

async fn subscribe(
    db: &Db,
    store: &StaffScope,
    url: &str,
    topics: &[WebhookTopic],
    granted: &[Scope],
) -> Result<Vec<NewSubscription>, CommerceError> {
    let ext = app();
    let hooks = AppWebhooks { extension: &ext, url, topics, granted };
    subscriptions::subscribe(db, store, hooks, &WebhookKeys::new(&KEY), &loopback()).await
}

/// One request as a receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> String {
        self.head
            .lines()
            .find_map(|l| {
                l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default()
    }
}

/// A receiver on 127.0.0.1 answering every request with `status` (changeable), recording what it got.
#[derive(Clone)]
struct Receiver {
    port: u16,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    async fn start(status: u16) -> Receiver {
        Self::start_with(status, "content-length: 0\r\n\r\n").await
    }

    /// `extra` is written after the status line's headers (a `location`, or a never-ending body).
    async fn start_with(status: u16, extra: &'static str) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            port: listener.local_addr().unwrap().port(),
            status: Arc::new(AtomicU16::new(status)),
            hits: Arc::default(),
            seen: Arc::default(),
        };
        let me = r.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                me.hits.fetch_add(1, Ordering::SeqCst);
                let me = me.clone();
                tokio::spawn(async move {
                    let Some(seen) = read_request(&mut sock).await else { return };
                    me.seen.lock().unwrap().push(seen);
                    let status = me.status.load(Ordering::SeqCst);
                    if status == 0 {
                        tokio::time::sleep(Duration::from_secs(30)).await; // never answers in time
                        return;
                    }
                    let head = format!("HTTP/1.1 {status} X\r\nconnection: close\r\n{extra}");
                    let _ = sock.write_all(head.as_bytes()).await;
                    if extra.contains("chunked") {
                        let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
                        while sock.write_all(chunk.as_bytes()).await.is_ok() {}
                    }
                });
            }
        });
        r
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn last(&self) -> Seen {
        self.seen.lock().unwrap().last().cloned().unwrap()
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_owned();
            let len: usize = Seen { head: head.clone(), body: vec![] }.header("content-length").parse().unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some(Seen { head, body: buf[end + 4..end + 4 + len].to_vec() });
            }
        }
    }
}

/// Fixed DNS answers, as a name an attacker controls would give.
#[derive(Debug)]
struct FakeDns(IpAddr);

impl NameLookup for FakeDns {
    fn lookup(&self, _host: &str) -> LookupFuture {
        let ip = self.0;
        Box::pin(async move { Ok(vec![ip]) })
    }
}

fn paid() -> serde_json::Value {
    serde_json::json!({"order": {"number": 1001, "total": "12.50", "note": "<script>=cmd()</script>"}})
}

#[tokio::test]
async fn a_delivery_is_signed_verifiable_and_recorded() {
    let (t, _clock) = TestDb::manual().await;
    let a = super::store(&t.db, "hooks-a").await;
    let rx = Receiver::start(200).await;
    let subs = subscribe(&t.db, &a, &rx.url(), &[WebhookTopic::OrderPaid], &[Scope::Orders]).await.unwrap();
    let secret = subs[0].secret.expose_secret().to_owned();
    assert!(secret.starts_with("pal_whsec_") && secret.len() == 10 + 64);
    assert_eq!(deliveries::emit(&t.db, a.scope(), WebhookTopic::OrderPaid, &paid()).await.unwrap(), 1);
    let keys = WebhookKeys::new(&KEY);
    let policy = loopback();
    let run = deliveries::deliver_due(&t.db, &PlatformScope::system("test"), &sender(&keys, &policy)).await.unwrap();
    assert_eq!((run.delivered, run.retrying, run.gave_up), (1, 0, 0));
    let seen = rx.last();
    let now = t.db.now().0 / 1000;
    signature::verify(&subs[0].secret, &seen.header("palisade-signature"), &seen.body, now).unwrap();
    assert_eq!(seen.header("palisade-topic"), "order.paid");
    assert_eq!(seen.header("palisade-subscription"), subs[0].id.to_string());
    let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body["data"], paid());
    let listed = deliveries::list(&t.db, a.scope(), 10).await.unwrap();
    assert_eq!(listed[0].status, DeliveryStatus::Delivered);
    assert_eq!(listed[0].last_status_code, Some(200));
    assert_eq!(seen.header("palisade-delivery"), listed[0].id.to_string());
    // Nothing in the stored subscription holds the secret in the clear.
    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT secret_sealed FROM webhook_subscriptions").fetch_all(t.db.pool()).await.unwrap();
    assert!(!stored[0].0.contains(&secret) && !stored[0].0.contains(&secret[10..]));
    // Delivered once: a second run sends nothing.
    let again = deliveries::deliver_due(&t.db, &PlatformScope::system("test"), &sender(&keys, &policy)).await.unwrap();
    assert_eq!(again, deliveries::RunReport::default());
    assert_eq!(rx.hits(), 1);
}

#[tokio::test]
async fn a_loopback_receiver_is_refused_in_production_mode() {
    let (t, _clock) = TestDb::manual().await;
    let a = super::store(&t.db, "hooks-prod").await;
    let rx = Receiver::start(200).await;
    // The merchant-facing check: literal private addresses and plain HTTP are refused at subscribe time.
    let prod = OutboundPolicy::public_only();
    let ext = app();
    for url in [format!("https://127.0.0.1:{}/", rx.port), format!("https://2130706433:{}/", rx.port), rx.url()] {
        let hooks =
            AppWebhooks { extension: &ext, url: &url, topics: &[WebhookTopic::OrderPaid], granted: &[Scope::Orders] };
        let err = subscriptions::subscribe(&t.db, &a, hooks, &WebhookKeys::new(&KEY), &prod).await.unwrap_err();
        assert!(matches!(err, CommerceError::Invalid(_)), "{url}: {err:?}");
    }
    // A name that looked public at install resolves to loopback at delivery time (DNS rebinding).
    let url = format!("https://hooks.reviews.example.com:{}/", rx.port);
    let hooks =
        AppWebhooks { extension: &ext, url: &url, topics: &[WebhookTopic::OrderPaid], granted: &[Scope::Orders] };
    subscriptions::subscribe(&t.db, &a, hooks, &WebhookKeys::new(&KEY), &prod).await.unwrap();
    deliveries::emit(&t.db, a.scope(), WebhookTopic::OrderPaid, &paid()).await.unwrap();
    let keys = WebhookKeys::new(&KEY);
    let rebinding = OutboundPolicy::public_only().with_lookup(Arc::new(FakeDns(IpAddr::V4(Ipv4Addr::LOCALHOST))));
    let run = deliveries::deliver_due(&t.db, &PlatformScope::system("test"), &sender(&keys, &rebinding)).await.unwrap();
    assert_eq!(run.retrying, 1);
    assert_eq!(rx.hits(), 0, "nothing reached the loopback receiver");
    let d = &deliveries::list(&t.db, a.scope(), 10).await.unwrap()[0];
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 1));
    let error = d.last_error.clone().unwrap();
    // Staff read why, but not the address the name resolved to (no map of the platform's network).
    assert!(error.contains("refused by the outbound guard") && error.contains("not a public"), "{error}");
    assert!(!error.contains("127.0.0.1") && !error.contains("loopback"), "{error}");
}

#[tokio::test]
async fn failures_back_off_then_give_up_visibly_and_staff_can_resend() {
    let (t, clock) = TestDb::manual().await;
    let a = super::store(&t.db, "hooks-retry").await;
    let rx = Receiver::start(500).await;
    subscribe(&t.db, &a, &rx.url(), &[WebhookTopic::ProductUpdated], &[Scope::Products]).await.unwrap();
    deliveries::emit(&t.db, a.scope(), WebhookTopic::ProductUpdated, &serde_json::json!({"id": "p"})).await.unwrap();
    let keys = WebhookKeys::new(&KEY);
    let policy = loopback();
    let platform = PlatformScope::system("test");
    let mut expected_wait = deliveries::BACKOFF_BASE;
    for attempt in 1..deliveries::MAX_ATTEMPTS {
        let run = deliveries::deliver_due(&t.db, &platform, &sender(&keys, &policy)).await.unwrap();
        assert_eq!(run.retrying, 1, "attempt {attempt}");
        let d = deliveries::list(&t.db, a.scope(), 1).await.unwrap().remove(0);
        assert_eq!((d.attempts, d.last_status_code, d.last_error.as_deref()), (attempt, Some(500), Some("HTTP 500")));
        let wait = Duration::from_millis(u64::try_from(d.next_attempt_at.0 - t.db.now().0).unwrap());
        assert!(wait >= expected_wait / 2 && wait <= expected_wait, "attempt {attempt}: waits {wait:?}");
        // Not due before its time: a run now sends nothing.
        clock.advance(wait - Duration::from_millis(1));
        let early = deliveries::deliver_due(&t.db, &platform, &sender(&keys, &policy)).await.unwrap();
        assert_eq!(early, deliveries::RunReport::default());
        clock.advance(Duration::from_millis(1));
        expected_wait = (expected_wait * 2).min(deliveries::BACKOFF_CAP);
    }
    let run = deliveries::deliver_due(&t.db, &platform, &sender(&keys, &policy)).await.unwrap();
    assert_eq!(run.gave_up, 1);
    assert_eq!(rx.hits(), usize::try_from(deliveries::MAX_ATTEMPTS).unwrap());
    let d = deliveries::list(&t.db, a.scope(), 1).await.unwrap().remove(0);
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Failed, deliveries::MAX_ATTEMPTS));
    clock.advance(Duration::from_secs(86_400));
    assert_eq!(deliveries::deliver_due(&t.db, &platform, &sender(&keys, &policy)).await.unwrap(), Default::default());
    // Staff send it again once the receiver is fixed.
    rx.status.store(204, Ordering::SeqCst);
    deliveries::redeliver(&t.db, &a, d.id).await.unwrap();
    let run = deliveries::deliver_due(&t.db, &platform, &sender(&keys, &policy)).await.unwrap();
    assert_eq!(run.delivered, 1);
    assert_eq!(deliveries::get(&t.db, a.scope(), d.id).await.unwrap().status, DeliveryStatus::Delivered);
    assert!(matches!(deliveries::redeliver(&t.db, &a, d.id).await, Err(CommerceError::Store(StoreError::NotFound(_)))));
}

#[tokio::test]
async fn redirects_slow_and_endless_answers_are_failures_within_the_limits() {
    let (t, _clock) = TestDb::manual().await;
    let a = super::store(&t.db, "hooks-limits").await;
    let target = Receiver::start(200).await;
    let redirect: &'static str =
        Box::leak(format!("location: {}\r\ncontent-length: 0\r\n\r\n", target.url()).into_boxed_str());
    let redirecting = Receiver::start_with(307, redirect).await;
    let silent = Receiver::start(0).await;
    let endless = Receiver::start_with(200, "transfer-encoding: chunked\r\n\r\n").await;
    for (i, rx) in [&redirecting, &silent, &endless].into_iter().enumerate() {
        let topic = [WebhookTopic::OrderPaid, WebhookTopic::OrderCreated, WebhookTopic::OrderFulfilled][i];
        subscribe(&t.db, &a, &rx.url(), &[topic], &[Scope::Orders]).await.unwrap();
        deliveries::emit(&t.db, a.scope(), topic, &paid()).await.unwrap();
    }
    let keys = WebhookKeys::new(&KEY);
    let policy = loopback();
    let quick = Sender {
        limits: PostLimits { timeout: Duration::from_millis(800), max_response_bytes: 4096 },
        ..sender(&keys, &policy)
    };
    let started = std::time::Instant::now();
    let run = deliveries::deliver_due(&t.db, &PlatformScope::system("test"), &quick).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!((run.delivered, run.retrying), (1, 2), "the endless 200 counts: its status is the answer");
    assert_eq!(target.hits(), 0, "the redirect was not followed");
    let all = deliveries::list(&t.db, a.scope(), 10).await.unwrap();
    let by_topic = |topic: &str| all.iter().find(|d| d.topic == topic).unwrap().clone();
    assert_eq!(by_topic("order.paid").last_error.as_deref(), Some("HTTP 307"));
    assert_eq!(by_topic("order.created").last_error.as_deref(), Some("timed out"));
    assert_eq!(by_topic("order.fulfilled").status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn another_stores_deliveries_are_never_listed_sent_or_resent() {
    let (t, _clock) = TestDb::manual().await;
    let a = super::store(&t.db, "hooks-iso-a").await;
    let b = super::store(&t.db, "hooks-iso-b").await;
    let (rx_a, rx_b) = (Receiver::start(500).await, Receiver::start(200).await);
    subscribe(&t.db, &a, &rx_a.url(), &[WebhookTopic::OrderPaid], &[Scope::Orders]).await.unwrap();
    subscribe(&t.db, &b, &rx_b.url(), &[WebhookTopic::OrderPaid], &[Scope::Orders]).await.unwrap();
    assert_eq!(deliveries::emit(&t.db, a.scope(), WebhookTopic::OrderPaid, &paid()).await.unwrap(), 1, "A's only");
    deliveries::emit(&t.db, b.scope(), WebhookTopic::OrderPaid, &paid()).await.unwrap();
    let keys = WebhookKeys::new(&KEY);
    let policy = loopback();
    let run = deliveries::deliver_due_for_store(&t.db, a.scope(), &sender(&keys, &policy)).await.unwrap();
    assert_eq!(run.retrying, 1);
    assert_eq!((rx_a.hits(), rx_b.hits()), (1, 0), "sending for A never sends B's");
    let listed_a = deliveries::list(&t.db, a.scope(), 10).await.unwrap();
    let listed_b = deliveries::list(&t.db, b.scope(), 10).await.unwrap();
    assert_eq!((listed_a.len(), listed_b.len()), (1, 1));
    assert_ne!(listed_a[0].id, listed_b[0].id);
    let b_id = listed_b[0].id;
    assert!(matches!(
        deliveries::get(&t.db, a.scope(), b_id).await,
        Err(CommerceError::Store(StoreError::NotFound(_)))
    ));
    // Make B's delivery failed, then A's staff try to resend it: refused and untouched.
    sqlx::query("UPDATE webhook_deliveries SET status = 'failed' WHERE id = $1")
        .bind(b_id.to_string())
        .execute(t.db.pool())
        .await
        .unwrap();
    assert!(matches!(deliveries::redeliver(&t.db, &a, b_id).await, Err(CommerceError::Store(StoreError::NotFound(_)))));
    assert_eq!(deliveries::get(&t.db, b.scope(), b_id).await.unwrap().status, DeliveryStatus::Failed);
    assert_eq!(subscriptions::list(&t.db, a.scope()).await.unwrap().len(), 1);
    // B's sealed secret copied onto A's subscription does not open there: nothing is signed with it.
    sqlx::query("UPDATE webhook_subscriptions SET secret_sealed = (SELECT secret_sealed FROM webhook_subscriptions WHERE store_id = $1) WHERE store_id = $2")
        .bind(b.scope().store_id().to_string())
        .bind(a.scope().store_id().to_string())
        .execute(t.db.pool())
        .await
        .unwrap();
    _clock.advance(Duration::from_secs(3600));
    deliveries::deliver_due_for_store(&t.db, a.scope(), &sender(&keys, &policy)).await.unwrap();
    assert_eq!(rx_a.hits(), 1, "not sent with a secret that does not open");
    let d = deliveries::get(&t.db, a.scope(), listed_a[0].id).await.unwrap();
    assert_eq!(d.last_error.as_deref(), Some("the subscription secret does not open"));
}

#[tokio::test]
async fn topics_are_limited_to_the_granted_scopes_and_live_subscriptions() {
    let (t, _clock) = TestDb::manual().await;
    let a = super::store(&t.db, "hooks-scopes").await;
    let rx = Receiver::start(200).await;
    let err = subscribe(&t.db, &a, &rx.url(), &[WebhookTopic::CustomerCreated], &[Scope::Orders]).await.unwrap_err();
    assert!(matches!(err, CommerceError::Invalid(_)), "{err:?}");
    assert!(subscriptions::list(&t.db, a.scope()).await.unwrap().is_empty(), "nothing written");
    for bad in ["javascript:alert(1)", "ftp://x.example.com/", &format!("https://x.example.com/{}", "a".repeat(2100))] {
        assert!(subscribe(&t.db, &a, bad, &[WebhookTopic::OrderPaid], &[Scope::Orders]).await.is_err(), "{bad}");
    }
    subscribe(&t.db, &a, &rx.url(), &[WebhookTopic::OrderPaid, WebhookTopic::AppUninstalled], &[Scope::Orders])
        .await
        .unwrap();
    let again = subscribe(&t.db, &a, &rx.url(), &[WebhookTopic::OrderPaid], &[Scope::Orders]).await.unwrap_err();
    assert!(matches!(again, CommerceError::Store(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(
        deliveries::emit(&t.db, a.scope(), WebhookTopic::ProductUpdated, &paid()).await.unwrap(),
        0,
        "not subscribed"
    );
    // The grant is narrowed after install: order events stop; a topic needing no scope still goes.
    sqlx::query("UPDATE webhook_subscriptions SET scopes = 'products'").execute(t.db.pool()).await.unwrap();
    assert_eq!(deliveries::emit(&t.db, a.scope(), WebhookTopic::OrderPaid, &paid()).await.unwrap(), 0);
    assert_eq!(deliveries::emit(&t.db, a.scope(), WebhookTopic::AppUninstalled, &paid()).await.unwrap(), 1);
    let huge = serde_json::json!({"blob": "x".repeat(deliveries::MAX_DATA_BYTES)});
    assert!(matches!(
        deliveries::emit(&t.db, a.scope(), WebhookTopic::AppUninstalled, &huge).await,
        Err(CommerceError::Invalid(_))
    ));
    // Uninstalling ends the subscriptions and fails what was still pending, except the app.uninstalled event
    // itself (the one thing a removed app is still told).
    sqlx::query("UPDATE webhook_subscriptions SET scopes = 'orders'").execute(t.db.pool()).await.unwrap();
    assert_eq!(deliveries::emit(&t.db, a.scope(), WebhookTopic::OrderPaid, &paid()).await.unwrap(), 1);
    assert_eq!(subscriptions::remove_for_extension(&t.db, &a, &app()).await.unwrap(), 2);
    let d = deliveries::list(&t.db, a.scope(), 10).await.unwrap();
    assert_eq!(d.len(), 2, "{d:?}");
    for d in &d {
        let expected = if d.topic == "app.uninstalled" { DeliveryStatus::Pending } else { DeliveryStatus::Failed };
        assert_eq!(d.status, expected, "{d:?}");
    }
    assert_eq!(deliveries::emit(&t.db, a.scope(), WebhookTopic::AppUninstalled, &paid()).await.unwrap(), 0);
    assert_eq!(rx.hits(), 0);
}

#[tokio::test]
async fn two_senders_at_once_send_each_delivery_once() {
    let (t, _clock) = TestDb::manual().await;
    let a = super::store(&t.db, "hooks-race").await;
    let rx = Receiver::start(200).await;
    subscribe(&t.db, &a, &rx.url(), &[WebhookTopic::StockChanged], &[Scope::Products]).await.unwrap();
    for i in 0..5 {
        deliveries::emit(&t.db, a.scope(), WebhookTopic::StockChanged, &serde_json::json!({"n": i})).await.unwrap();
    }
    let keys = WebhookKeys::new(&KEY);
    let policy = loopback();
    let platform = PlatformScope::system("test");
    let s = sender(&keys, &policy);
    let (one, two) =
        tokio::join!(deliveries::deliver_due(&t.db, &platform, &s), deliveries::deliver_due(&t.db, &platform, &s));
    assert_eq!(one.unwrap().delivered + two.unwrap().delivered, 5);
    assert_eq!(rx.hits(), 5, "no delivery was sent twice");
}

/// The topics queued in the store so far, oldest first.
async fn queued(db: &Db, store: &StaffScope) -> Vec<String> {
    let mut d = deliveries::list(db, store.scope(), 100).await.unwrap();
    d.reverse();
    d.into_iter().map(|d| d.topic).collect()
}

/// Every change that is an event queues its topic in its own transaction, with a thin body (ids and amounts,
/// never the buyer's email or address); a change that is refused queues nothing.
#[tokio::test]
async fn each_store_change_queues_its_event_and_a_refused_change_queues_none() {
    use palisade_commerce::orders::{self, Status};
    use palisade_commerce::payments::TestGateway;
    use palisade_commerce::{catalog, themes};

    let t = TestDb::new().await;
    let a = super::store(&t.db, "hooks-events").await;
    let rx = Receiver::start(200).await;
    let granted = [Scope::Orders, Scope::Refunds, Scope::Products, Scope::CustomerData, Scope::Theme];
    subscribe(&t.db, &a, &rx.url(), &WebhookTopic::ALL, &granted).await.unwrap();

    let product = catalog::create_product(&t.db, &a, super::tea("OOL-1", 5)).await.unwrap();
    let variant = product.variants[0].id;
    catalog::set_price(&t.db, &a, variant, super::sgd(1900)).await.unwrap();
    catalog::set_stock(&t.db, &a, variant, 7).await.unwrap();
    assert_eq!(queued(&t.db, &a).await, ["product.created", "product.updated", "stock.changed"]);

    let buyer = super::buyer(&t.db, "b@example.com").await;
    let shopper = palisade_store::StoreScope::shopper(a.scope().store_id(), Some(buyer));
    let placed =
        orders::checkout(&t.db, &TestGateway, &shopper, super::order_request(&variant, 2, "hook-1")).await.unwrap();
    let id = placed.order.id;
    let policy = palisade_commerce::policy::Policy::default();
    orders::transition(&t.db, &a, id, Status::Shipped, Some("SG123"), &policy).await.unwrap();
    orders::refund(&t.db, &a, id, 100, "dent").await.unwrap();
    themes::save(&t.db, &a, "theme.css", "body { color: #222; }").await.unwrap();
    let asker = palisade_core::text::Email::parse("asker@example.com").unwrap();
    let access = palisade_privacy::request::RequestKind::Access;
    palisade_commerce::data_requests::log_email_request(&t.db, &a, &asker, access, "").await.unwrap();
    let topics = queued(&t.db, &a).await;
    assert_eq!(
        topics[3..],
        [
            "order.created",
            "order.paid",
            "order.fulfilled",
            "order.refunded",
            "theme.published",
            "customer.data_requested"
        ],
        "{topics:?}"
    );
    let bodies: Vec<(String,)> = sqlx::query_as("SELECT body FROM webhook_deliveries ORDER BY created_at, id")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    for (body,) in &bodies {
        let personal = ["b@example.com", "Marina", "asker@example.com"];
        assert!(!personal.iter().any(|p| body.contains(p)), "thin: {body}");
    }
    let refunded: serde_json::Value =
        serde_json::from_str(&bodies.iter().find(|(b,)| b.contains("order.refunded")).unwrap().0).unwrap();
    assert_eq!(refunded["data"]["refunded_minor"], 100);
    assert_eq!(refunded["data"]["order_id"], id.to_string());

    // Refused changes (a negative stock, a price in another currency, a ship without tracking): nothing queued.
    let before = queued(&t.db, &a).await.len();
    assert!(catalog::set_stock(&t.db, &a, variant, -1).await.is_err());
    let usd = palisade_core::money::Money::new(100, palisade_core::money::Currency::parse("USD").unwrap());
    assert!(catalog::set_price(&t.db, &a, variant, usd).await.is_err());
    assert!(orders::transition(&t.db, &a, id, Status::Placed, None, &policy).await.is_err());
    assert_eq!(queued(&t.db, &a).await.len(), before);
}
