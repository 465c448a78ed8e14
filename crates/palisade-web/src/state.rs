//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use palisade_commerce::payments::{PaymentGateway, TestGateway};
use palisade_commerce::themes::Renderer;
use palisade_store::matrix::{NodeFacts, Registry};
use palisade_store::{Db, Objects};

use crate::templates::Templates;

/// HTTP settings from the configuration.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Sent as HSTS and used to mark cookies `Secure`: set when Palisade is reached over TLS
    /// (directly or through a TLS-terminating proxy).
    pub behind_tls: bool,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    /// The address people use to reach Palisade, for links in emails (e.g. https://market.example).
    pub public_url: String,
    /// The web application firewall's mode, paranoia level and exceptions.
    pub shield: crate::edge::shield::ShieldConfig,
    /// Rate limits per client IP and route class, per store; optionally shared through Redis.
    pub limits: crate::edge::limits::LimitsConfig,
    /// Capacity and priority shedding.
    pub shedding: crate::edge::shedding::SheddingConfig,
    /// Storefront requests per second that switch under-attack mode on by themselves (0: never).
    pub auto_attack_rps: u64,
    /// Requests per second to one store's pages that switch that store's under-attack mode on (0: never).
    pub auto_attack_store_rps: u64,
    /// Let merchants deliver exports to S3 endpoints on private addresses or plain HTTP (on-premises storage).
    /// Off by default: a merchant-chosen endpoint must not make the platform reach its own network.
    pub exports_allow_private_s3: bool,
    /// Let installed apps' webhooks go to private addresses and plain HTTP (a development machine's receiver).
    /// Off by default: an app's URL is the publisher's choice and must not make the platform reach its network.
    pub webhooks_allow_private: bool,
    /// The marketplace's business policy (platform fee, buyer-protection window), from the operator's
    /// configuration: every handler that moves an order's money passes it to commerce.
    pub commerce: palisade_commerce::policy::Policy,
    /// The operator's offline advisory feed: OSV files and an optional `releases.json`, read by the console's
    /// updates page (`--advisories-dir`). `None`: the page says none is configured.
    pub advisories_dir: Option<std::path::PathBuf>,
    /// The core version this build reports and checks advisories against (the crate version; tests set others).
    pub core_version: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            behind_tls: false,
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            public_url: "http://127.0.0.1:8080".to_owned(),
            shield: crate::edge::shield::ShieldConfig::default(),
            limits: crate::edge::limits::LimitsConfig::default(),
            shedding: crate::edge::shedding::SheddingConfig::default(),
            auto_attack_rps: crate::edge::challenge::AUTO_THRESHOLD_PER_SEC,
            auto_attack_store_rps: crate::edge::challenge::AUTO_STORE_THRESHOLD_PER_SEC,
            exports_allow_private_s3: false,
            webhooks_allow_private: false,
            commerce: palisade_commerce::policy::Policy::default(),
            advisories_dir: None,
            core_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// Shared application state: one `Arc`, so every middleware layer and handler that takes the state clones one
/// pointer (one reference-count increment), not ~30. A profile of `/healthz` under load showed most of the CPU in
/// cloning and dropping a struct of `Arc`s field by field, with the counts bouncing between cores.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler can reach, behind [`AppState`]'s one `Arc`.
#[derive(Clone)]
pub struct Shared {
    pub db: Db,
    pub registry: Arc<Registry>,
    pub facts: Arc<NodeFacts>,
    pub config: Arc<WebConfig>,
    pub identity: palisade_identity::Identity,
    /// Uploaded files (product images).
    pub objects: Objects,
    /// The card processor; the built-in test gateway until a real one is configured.
    pub gateway: Arc<dyn PaymentGateway>,
    pub(crate) templates: Arc<Templates>,
    pub(crate) themes: Arc<Renderer>,
    /// The firewall in front of every route.
    pub shield: crate::edge::shield::ShieldState,
    /// Rate limits (in-process unless [`AppState::with_limiter`] gave a shared one).
    pub limiter: crate::edge::limits::Limiter,
    /// Requests in flight, for load shedding.
    pub inflight: Arc<crate::edge::shedding::Inflight>,
    /// Storefront request rate, for automatic under-attack mode.
    pub rate_watch: Arc<crate::edge::challenge::RateWatch>,
    /// Merchants' custom firewall rules and recent-traffic samples.
    pub store_rules: Arc<crate::edge::rules::StoreRules>,
    /// Country lookups, when the operator gave a GeoIP database.
    pub geoip: Arc<crate::edge::geoip::GeoIp>,
    /// Seals merchants' scheduled-export passphrases (from the master key); `None` disables schedules.
    pub export_sealer: Option<Arc<palisade_store::seal::Sealer>>,
    /// Rendered storefront pages (exact: keyed by the stores' content versions; see `page_cache`).
    pub page_cache: Arc<crate::page_cache::PageCache>,
    /// Installed extensions' plugins, loaded once per release after their checks (see `services::extensions`).
    pub plugins: Arc<crate::services::extensions::PluginCache>,
    /// The card-testing guard on both checkouts (in process: see `services::card_testing`).
    pub card_guard: Arc<crate::services::card_testing::CardGuard>,
    /// Government records for seller verification; the built-in test registry until a real one is configured.
    pub gov_records: Arc<dyn palisade_commerce::verification::GovernmentRecords>,
    /// Seals sellers' verification documents at rest (from the master key); `None` refuses uploads (fail closed).
    pub document_sealer: Option<Arc<palisade_store::seal::Sealer>>,
    /// Writes erasure tombstones into the backup repositories right after an erasure, so a restore into a new
    /// directory re-applies it (`palisade_backup::tombstones`); `None` leaves it to the next snapshot run.
    pub tombstone_journal: Option<Arc<palisade_backup::tombstones::Journal>>,
    /// Seals installed apps' webhook secrets (from the master key; `None`: apps cannot be given webhooks).
    pub webhook_keys: Option<Arc<palisade_commerce::webhooks::WebhookKeys>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("db", &self.db.display_url()).finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state; fails only if a bundled template does not parse (a build defect).
    pub fn new(
        db: Db,
        registry: Registry,
        facts: NodeFacts,
        config: WebConfig,
        identity: palisade_identity::Identity,
        objects: Objects,
    ) -> Result<Self, minijinja::Error> {
        // Install the metrics recorder before the first request is counted.
        let _ = crate::http::metrics::handle();
        let shield = crate::edge::shield::ShieldState::start(db.clone(), config.shield.clone());
        let limiter = crate::edge::limits::Limiter::local(config.limits.clone());
        let db_clock = db.clock().clone();
        Ok(Self(Arc::new(Shared {
            db,
            registry: Arc::new(registry),
            facts: Arc::new(facts),
            config: Arc::new(config),
            identity,
            objects,
            gateway: Arc::new(TestGateway),
            templates: Arc::new(Templates::load()?),
            themes: Arc::new(Renderer::new()?),
            shield,
            limiter,
            inflight: Arc::new(crate::edge::shedding::Inflight::default()),
            rate_watch: Arc::new(crate::edge::challenge::RateWatch::default()),
            store_rules: Arc::new(crate::edge::rules::StoreRules::default()),
            geoip: Arc::new(crate::edge::geoip::GeoIp::default()),
            export_sealer: None,
            page_cache: Arc::new(crate::page_cache::PageCache::new(crate::page_cache::DEFAULT_BYTES)),
            plugins: Arc::default(),
            card_guard: Arc::new(crate::services::card_testing::CardGuard::new(db_clock)),
            gov_records: Arc::new(palisade_commerce::verification::TestRegistry),
            document_sealer: None,
            tombstone_journal: None,
            webhook_keys: None,
        })))
    }

    /// The fields, for the builder methods below (called before the state is shared, so nothing is copied).
    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }

    /// Enables merchants' scheduled exports (their passphrases are sealed with a key from the master key) and
    /// sellers' verification document uploads (sealed with another).
    #[must_use]
    pub fn with_master_key(mut self, master_key: &[u8; 32]) -> Self {
        self.shared_mut().export_sealer = Some(Arc::new(palisade_backup::store_exports::passphrase_sealer(master_key)));
        self.shared_mut().document_sealer =
            Some(Arc::new(palisade_store::seal::Sealer::new(master_key, crate::services::verification::SEAL_PURPOSE)));
        self.shared_mut().webhook_keys = Some(Arc::new(palisade_commerce::webhooks::WebhookKeys::new(master_key)));
        self
    }

    /// Writes erasure tombstones into the backup repositories right after each erasure.
    #[must_use]
    pub fn with_tombstone_journal(mut self, journal: Arc<palisade_backup::tombstones::Journal>) -> Self {
        self.shared_mut().tombstone_journal = Some(journal);
        self
    }

    /// Uses a GeoIP database for country rules.
    #[must_use]
    pub fn with_geoip(mut self, geoip: crate::edge::geoip::GeoIp) -> Self {
        self.shared_mut().geoip = Arc::new(geoip);
        self
    }

    /// Uses `cache` for rendered storefront pages (a zero-sized one turns caching off).
    #[must_use]
    pub fn with_page_cache(mut self, cache: crate::page_cache::PageCache) -> Self {
        self.shared_mut().page_cache = Arc::new(cache);
        self
    }

    /// Uses `records` for seller verification checks.
    #[must_use]
    pub fn with_gov_records(mut self, records: Arc<dyn palisade_commerce::verification::GovernmentRecords>) -> Self {
        self.shared_mut().gov_records = records;
        self
    }

    /// Uses `gateway` as the card processor.
    #[must_use]
    pub fn with_gateway(mut self, gateway: Arc<dyn PaymentGateway>) -> Self {
        self.shared_mut().gateway = gateway;
        self
    }

    /// Uses `limiter` (e.g. one shared through Redis) instead of the in-process one.
    #[must_use]
    pub fn with_limiter(mut self, limiter: crate::edge::limits::Limiter) -> Self {
        self.shared_mut().limiter = limiter;
        self
    }
}
