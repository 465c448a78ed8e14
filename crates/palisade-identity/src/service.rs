//! The identity service: passwords, sign-in, second factors.

use palisade_store::db::ExecuteWrite;
use std::sync::Arc;
use std::time::Duration;

use palisade_core::AccountId;
use palisade_core::text::Email;
use palisade_core::time::Timestamp;
use palisade_store::audit::{self, NewEvent};
use palisade_store::secrets::MasterKey;
use palisade_store::tenancy::{self, Account, AccountKind};
use palisade_store::{Db, outbox};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::error::{IdentityError, Result};
use crate::password::{self, Audience};
use crate::sessions::{self, Client, Lifetime, Session};
use crate::throttle;
use crate::{recovery, totp};
use palisade_store::seal::Sealer;

/// How long a sign-in may wait for a free password-hashing slot before answering "busy".
const HASH_QUEUE_WAIT: Duration = Duration::from_secs(3);

/// Sign-in and credential management. Cheap to clone.
#[derive(Clone)]
pub struct Identity {
    db: Db,
    totp_sealer: Arc<Sealer>,
    /// Bounds concurrent argon2 work to the number of cores, so a flood of sign-ins queues instead of starving
    /// every other request of CPU.
    hashing: Arc<Semaphore>,
    /// A lane reserved for attempts from recognised devices, so a flood of strangers cannot starve them.
    trusted_hashing: Arc<Semaphore>,
    devices: Arc<crate::devices::DeviceSigner>,
    links: Arc<crate::links::LinkSigner>,
    csrf: Arc<crate::csrf::CsrfSigner>,
    issuer: String,
    webauthn: Option<Arc<webauthn_rs::Webauthn>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// What a sign-in attempt led to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Signed in; no second factor is set up.
    SignedIn { token: SecretString, session: Session },
    /// Password accepted; the session only allows the second-factor step until it is passed.
    SecondFactor { token: SecretString, session: Session },
    /// Wrong email or password (the two are indistinguishable on purpose).
    Refused,
    /// Too many failures: try again after this instant.
    Throttled { until: Timestamp },
}

/// What a sign-up did. The caller answers both the same way; only the mail differs, and only its recipient
/// reads it.
#[derive(Debug)]
pub enum Registration {
    Created(Account),
    Existing,
}

/// What a password re-entry (step-up) led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepUp {
    /// The session is fresh again.
    Passed,
    /// Wrong password (counted like a failed sign-in).
    Refused,
    /// Too many failures: try again after this instant.
    Throttled { until: Timestamp },
}

/// Which authenticator-app secret is wanted: the one still being set up, or the one in use.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TotpState {
    BeingSetUp,
    Confirmed,
}

/// The throttle keys of one password attempt.
struct ThrottleKeys {
    account: String,
    ip: Option<String>,
    trusted_device: bool,
}

/// A started TOTP enrolment.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub secret_base32: String,
    pub url: String,
}

/// The lifetime of sessions for an account kind.
#[must_use]
pub fn lifetime(kind: AccountKind) -> Lifetime {
    match kind {
        AccountKind::Buyer => sessions::BUYER,
        AccountKind::Staff | AccountKind::Operator => sessions::STAFF,
    }
}

fn audience(kind: AccountKind) -> Audience {
    match kind {
        AccountKind::Buyer => Audience::Buyer,
        AccountKind::Staff | AccountKind::Operator => Audience::Staff,
    }
}

impl Identity {
    #[must_use]
    pub fn new(db: Db, master_key: &MasterKey, issuer: &str) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self {
            db,
            totp_sealer: Arc::new(Sealer::new(master_key.expose(), b"palisade totp v1")),
            hashing: Arc::new(Semaphore::new(cores.saturating_sub(1).max(1))),
            trusted_hashing: Arc::new(Semaphore::new(1)),
            devices: Arc::new(crate::devices::DeviceSigner::new(master_key.expose())),
            links: Arc::new(crate::links::LinkSigner::new(master_key.expose())),
            csrf: Arc::new(crate::csrf::CsrfSigner::new(master_key.expose())),
            issuer: issuer.to_owned(),
            webauthn: None,
        }
    }

    /// Signs links that grant access without an account (a guest's order page).
    #[must_use]
    pub fn links(&self) -> &crate::links::LinkSigner {
        &self.links
    }

    /// Makes and checks the synchronizer tokens of the platform's forms (see [`crate::csrf`]).
    #[must_use]
    pub fn csrf(&self) -> &crate::csrf::CsrfSigner {
        &self.csrf
    }

    #[must_use]
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) async fn hash_blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        self.hash_in(&self.hashing, f).await
    }

    /// Runs password hashing on a blocking thread once `lane` has a free slot (or answers Busy after a wait).
    async fn hash_in<T: Send + 'static>(
        &self,
        lane: &Arc<Semaphore>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let permit = tokio::time::timeout(HASH_QUEUE_WAIT, lane.clone().acquire_owned())
            .await
            .map_err(|_| IdentityError::Busy)?;
        let permit = permit.map_err(|_| IdentityError::Busy)?;
        let out = tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|_| IdentityError::Busy)?;
        Ok(out)
    }

    /// Sets a new password after checking the policy.
    pub async fn set_password(&self, account: &Account, new: SecretString) -> Result<()> {
        let hash = self.checked_hash(account, new).await?;
        sqlx::query("UPDATE accounts SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
            .bind(&hash)
            .bind(self.db.now().0)
            .bind(account.id.to_string())
            .execute(self.db.pool())
            .await
            .map_err(palisade_store::StoreError::from)?;
        let target = format!("account:{}", account.id);
        audit::record_account_now(&self.db, account.id, NewEvent::new("password.changed", &target)).await?;
        Ok(())
    }

    /// The stored form of `new` as `account`'s password, once it passes the password policy for that account.
    pub(crate) async fn checked_hash(&self, account: &Account, new: SecretString) -> Result<String> {
        password::check_policy(&new, audience(account.kind), &[&account.email, &account.display_name])?;
        Ok(self.hash_blocking(move || password::hash(&new)).await??)
    }

    /// Buyer sign-up that does not tell whether the address already has an account: the same work (one password
    /// hash), the same answer and one mail either way — a welcome to a new account, or to the owner of the
    /// existing one a note that someone tried to register with their address (as sign-in's lock mail does).
    /// The caller has checked the password policy. `link_base` is the site's public address.
    pub async fn register_buyer(
        &self,
        email: Email,
        display_name: String,
        password: SecretString,
        link_base: &str,
    ) -> Result<Registration> {
        let hash = self.hash_blocking(move || password::hash(&password)).await??;
        let sign_in = format!("{}/login", link_base.trim_end_matches('/'));
        let created = tenancy::create_account(
            &self.db,
            tenancy::NewAccount { email: email.clone(), display_name, kind: AccountKind::Buyer },
        )
        .await;
        let account = match created {
            Ok(a) => a,
            Err(palisade_store::StoreError::Conflict(_)) => {
                let existing = tenancy::find_account_by_email(&self.db, &email).await?;
                if let Some(a) = existing {
                    let body = format!(
                        "Hello {},\n\nSomeone (perhaps you) just tried to create a new Palisade account with this email \
                         address. You already have an account, so nothing was created and nothing changed.\n\nTo use it, \
                         sign in at {sign_in}. If this was not you, you can ignore this message.\n",
                        a.display_name
                    );
                    outbox::enqueue(
                        &self.db,
                        outbox::NewMail { store_id: None, to: &a.email, subject: "About your Palisade account", body },
                    )
                    .await?;
                    let target = format!("account:{}", a.id);
                    audit::record_account_now(&self.db, a.id, NewEvent::new("account.registration_repeated", &target))
                        .await?;
                }
                return Ok(Registration::Existing);
            }
            Err(e) => return Err(e.into()),
        };
        sqlx::query("UPDATE accounts SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
            .bind(&hash)
            .bind(self.db.now().0)
            .bind(account.id.to_string())
            .execute(self.db.pool())
            .await
            .map_err(palisade_store::StoreError::from)?;
        let body = format!(
            "Hello {},\n\nYour Palisade account is ready. Sign in at {sign_in} with this email address and the \
             password you chose.\n",
            account.display_name
        );
        outbox::enqueue(
            &self.db,
            outbox::NewMail { store_id: None, to: &account.email, subject: "About your Palisade account", body },
        )
        .await?;
        let target = format!("account:{}", account.id);
        audit::record_account_now(&self.db, account.id, NewEvent::new("account.registered", &target)).await?;
        Ok(Registration::Created(account))
    }

    /// A device cookie for the account that just signed in on this browser.
    #[must_use]
    pub fn device_cookie(&self, account: AccountId) -> String {
        self.devices.issue(account)
    }

    /// Signs in with email and password. Throttling is decided before any hashing.
    pub async fn login(&self, email: &str, password: SecretString, client: &Client) -> Result<LoginOutcome> {
        let db = &self.db;
        let account = match Email::parse(email) {
            Ok(e) => tenancy::find_account_by_email(db, &e).await?,
            Err(_) => None,
        };
        let keys = self.throttle_keys(email, account.as_ref(), client);
        if let Some(until) = self.blocked_until(&keys).await? {
            return Ok(LoginOutcome::Throttled { until });
        }
        let ThrottleKeys { account: account_key, ip: ip_key, trusted_device } = keys;

        let stored: Option<String> = match &account {
            Some(a) => {
                sqlx::query_as::<_, (Option<String>,)>("SELECT password_hash FROM accounts WHERE id = $1")
                    .bind(a.id.to_string())
                    .fetch_one(db.pool())
                    .await
                    .map_err(palisade_store::StoreError::from)?
                    .0
            }
            None => None,
        };
        // Unknown accounts cost the same hashing work as known ones: timing says nothing about who exists.
        let to_check = stored.clone().unwrap_or_else(|| password::dummy_hash().to_owned());
        let pw = password.clone();
        let lane = if trusted_device { &self.trusted_hashing } else { &self.hashing };
        let ok = self.hash_in(lane, move || password::verify(&pw, &to_check).unwrap_or(false)).await?;
        let usable = account.as_ref().filter(|a| !a.disabled && stored.is_some());
        let Some(account) = usable.filter(|_| ok) else {
            self.record_failure(&account_key, ip_key.as_deref(), account.as_ref()).await?;
            return Ok(LoginOutcome::Refused);
        };

        throttle::clear(db, &account_key).await?;
        if let Some(stored) = stored.filter(|s| password::needs_rehash(s)) {
            let _ = stored;
            let fresh = self.hash_blocking(move || password::hash(&password)).await??;
            sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
                .bind(fresh)
                .bind(account.id.to_string())
                .execute_write(db)
                .await?;
        }
        sqlx::query("UPDATE accounts SET last_active_at = $1 WHERE id = $2")
            .bind(db.now().0)
            .bind(account.id.to_string())
            .execute_write(db)
            .await?;
        let needs_second = self.has_mfa(account.id).await?;
        let second = if needs_second { sessions::SecondFactor::Pending } else { sessions::SecondFactor::Passed };
        let (token, session) = sessions::create(db, account.id, lifetime(account.kind), client, second).await?;
        let target = format!("account:{}", account.id);
        let details = serde_json::json!({"ip": client.ip, "second_factor_required": needs_second});
        audit::record_account_now(db, account.id, NewEvent::new("login.password_accepted", &target).details(details))
            .await?;
        self.note_device(account, client).await?;
        Ok(if needs_second {
            LoginOutcome::SecondFactor { token, session }
        } else {
            LoginOutcome::SignedIn { token, session }
        })
    }

    /// The throttle keys of a password attempt. A recognised device of this very account is throttled on its own
    /// (a stranger's failures cannot lock its owner out of it), and hashes in the reserved lane.
    fn throttle_keys(&self, email: &str, account: Option<&Account>, client: &Client) -> ThrottleKeys {
        let trusted =
            client.device.as_deref().filter(|c| account.is_some_and(|a| self.devices.verify(c) == Some(a.id)));
        ThrottleKeys {
            account: match trusted {
                Some(cookie) => crate::devices::DeviceSigner::throttle_key(cookie),
                None => throttle::account_key(&self.links, email),
            },
            ip: client.ip.as_deref().map(throttle::ip_key),
            trusted_device: trusted.is_some(),
        }
    }

    /// Until when a password attempt with these keys is refused unchecked, if it is.
    async fn blocked_until(&self, keys: &ThrottleKeys) -> Result<Option<Timestamp>> {
        let mut until = throttle::blocked_until(&self.db, &keys.account).await?;
        if let Some(k) = &keys.ip {
            until = until.max(throttle::blocked_until(&self.db, k).await?);
        }
        Ok(until)
    }

    async fn record_failure(&self, account_key: &str, ip_key: Option<&str>, account: Option<&Account>) -> Result<()> {
        let f = throttle::record_failure(&self.db, account_key, &throttle::ACCOUNT).await?;
        if let Some(k) = ip_key {
            throttle::record_failure(&self.db, k, &throttle::IP).await?;
        }
        if let Some(a) = account {
            let target = format!("account:{}", a.id);
            audit::record_account_now(
                &self.db,
                a.id,
                NewEvent::new("login.failed", &target).details(serde_json::json!({"failures": f.failures})),
            )
            .await?;
            if f.newly_locked {
                let body = format!(
                    "Hello {},\n\nThere were {} failed sign-in attempts on your Palisade account in a short time, so sign-in is \
                     paused until {}. If this was not you, someone may be guessing your password: once you can sign in, \
                     change it and make sure two-step verification is on.\n",
                    a.display_name, f.failures, f.blocked_until
                );
                outbox::enqueue(
                    &self.db,
                    outbox::NewMail {
                        store_id: None,
                        to: &a.email,
                        subject: "Sign-in paused after failed attempts",
                        body,
                    },
                )
                .await?;
                audit::record_account_now(&self.db, a.id, NewEvent::new("login.locked", &target)).await?;
            }
        }
        Ok(())
    }

    /// Remembers the device; a sign-in from a new one sends the account an alert.
    async fn note_device(&self, account: &Account, client: &Client) -> Result<()> {
        let network = client.ip.as_deref().map(network_of).unwrap_or_default();
        let ua = client.user_agent.as_deref().unwrap_or("");
        let fp = hex::encode(Sha256::digest(format!("{ua}\n{network}").as_bytes()));
        let now = self.db.now().0;
        let known: Option<(i64,)> =
            sqlx::query_as("SELECT first_seen_at FROM known_devices WHERE account_id = $1 AND fingerprint = $2")
                .bind(account.id.to_string())
                .bind(&fp)
                .fetch_optional(self.db.pool())
                .await
                .map_err(palisade_store::StoreError::from)?;
        let (seen_before,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM known_devices WHERE account_id = $1")
            .bind(account.id.to_string())
            .fetch_one(self.db.pool())
            .await
            .map_err(palisade_store::StoreError::from)?;
        sqlx::query(
            "INSERT INTO known_devices (account_id, fingerprint, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (account_id, fingerprint) DO UPDATE SET last_seen_at = excluded.last_seen_at",
        )
        .bind(account.id.to_string())
        .bind(&fp)
        .bind(now)
        .execute(self.db.pool())
        .await
        .map_err(palisade_store::StoreError::from)?;
        if known.is_none() && seen_before > 0 {
            let body = format!(
                "Hello {},\n\nYour Palisade account was just signed in to from a new device or network:\n\n  browser: {}\n  \
                 address: {}\n  time: {}\n\nIf this was you, there is nothing to do. If not, sign in, change your password \
                 and use \"Sign out everywhere\" on your account's sessions page.\n",
                account.display_name,
                if ua.is_empty() { "unknown" } else { ua },
                client.ip.as_deref().unwrap_or("unknown"),
                self.db.now()
            );
            outbox::enqueue(
                &self.db,
                outbox::NewMail { store_id: None, to: &account.email, subject: "New sign-in to your account", body },
            )
            .await?;
        }
        Ok(())
    }

    /// True when the account has a second factor: a confirmed authenticator app or a passkey.
    pub async fn has_mfa(&self, account: AccountId) -> Result<bool> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM totp_credentials WHERE account_id = $1 AND confirmed_at IS NOT NULL) \
                  + (SELECT COUNT(*) FROM passkeys WHERE account_id = $1)",
        )
        .bind(account.to_string())
        .fetch_one(self.db.pool())
        .await
        .map_err(palisade_store::StoreError::from)?;
        Ok(n > 0)
    }

    /// When `session` passed a second factor, if it did: the account has MFA (an authenticator app or a passkey)
    /// and the session's `mfa_at` is no earlier than the first factor still set up. A session opened by password
    /// alone before MFA existed also carries `mfa_at` ("nothing more was needed"), so `mfa_at` alone proves nothing;
    /// actions that must be taken in an MFA-verified session (training completions) ask this.
    pub async fn mfa_verified(&self, session: &sessions::Session) -> Result<Option<Timestamp>> {
        let Some(at) = session.mfa_at else { return Ok(None) };
        let (totp, passkey): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT MIN(confirmed_at) FROM totp_credentials WHERE account_id = $1 AND confirmed_at IS NOT NULL), \
                    (SELECT MIN(created_at) FROM passkeys WHERE account_id = $1)",
        )
        .bind(session.account_id.to_string())
        .fetch_one(self.db.pool())
        .await
        .map_err(palisade_store::StoreError::from)?;
        let first = match (totp, passkey) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(first.filter(|f| at.0 >= *f).map(|_| at))
    }

    /// True when a confirmed authenticator app is set up (passkeys aside).
    pub async fn has_totp(&self, account: AccountId) -> Result<bool> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM totp_credentials WHERE account_id = $1 AND confirmed_at IS NOT NULL")
                .bind(account.to_string())
                .fetch_one(self.db.pool())
                .await
                .map_err(palisade_store::StoreError::from)?;
        Ok(n > 0)
    }

    /// Enables passkeys for this installation's public address.
    pub fn with_passkeys(mut self, public_url: &str) -> std::result::Result<Self, String> {
        self.webauthn = Some(Arc::new(crate::passkeys::relying_party(public_url, &self.issuer)?));
        Ok(self)
    }

    /// The relying party, when passkeys are enabled.
    #[must_use]
    pub fn webauthn(&self) -> Option<&webauthn_rs::Webauthn> {
        self.webauthn.as_deref()
    }

    /// Starts (or restarts) TOTP enrolment; the secret is stored sealed and unconfirmed.
    pub async fn begin_totp(&self, account: &Account) -> Result<TotpEnrolment> {
        if self.has_totp(account.id).await? {
            return Err(IdentityError::NotAllowed("an authenticator app is already set up; remove it first"));
        }
        let secret = totp::generate_secret();
        let sealed = self.totp_sealer.seal(&secret, &account.id.to_string());
        sqlx::query(
            "INSERT INTO totp_credentials (account_id, secret_sealed, confirmed_at, last_step, created_at) VALUES ($1, $2, NULL, 0, $3) \
             ON CONFLICT (account_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, confirmed_at = NULL, last_step = 0, \
             created_at = excluded.created_at",
        )
        .bind(account.id.to_string())
        .bind(&sealed)
        .bind(self.db.now().0)
        .execute(self.db.pool())
        .await
        .map_err(palisade_store::StoreError::from)?;
        Ok(TotpEnrolment {
            secret_base32: totp::secret_base32(&secret),
            url: totp::provisioning_url(&secret, &self.issuer, &account.email).unwrap_or_default(),
        })
    }

    async fn totp_secret(&self, account: AccountId, state: TotpState) -> Result<Option<(Vec<u8>, i64)>> {
        let row: Option<(String, Option<i64>, i64)> =
            sqlx::query_as("SELECT secret_sealed, confirmed_at, last_step FROM totp_credentials WHERE account_id = $1")
                .bind(account.to_string())
                .fetch_optional(self.db.pool())
                .await
                .map_err(palisade_store::StoreError::from)?;
        let Some((sealed, confirmed_at, last_step)) = row else { return Ok(None) };
        if confirmed_at.is_some() != (state == TotpState::Confirmed) {
            return Ok(None);
        }
        let secret = self.totp_sealer.open(&sealed, &account.to_string()).map_err(|_| {
            palisade_store::StoreError::Corrupt("a TOTP secret does not open with this master key".into())
        })?;
        Ok(Some((secret, last_step)))
    }

    /// Accepts a step for the account only if it is newer than the last one (atomic, so two concurrent uses of
    /// one code cannot both pass).
    async fn consume_step(&self, account: AccountId, step: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE totp_credentials SET last_step = $1 WHERE account_id = $2 AND last_step < $1")
            .bind(step)
            .bind(account.to_string())
            .execute(self.db.pool())
            .await
            .map_err(palisade_store::StoreError::from)?;
        Ok(done.rows_affected() == 1)
    }

    /// Confirms enrolment with a first code and returns fresh recovery codes (shown once).
    pub async fn confirm_totp(&self, account: &Account, code: &str) -> Result<Vec<String>> {
        let (secret, last) = self
            .totp_secret(account.id, TotpState::BeingSetUp)
            .await?
            .ok_or(IdentityError::NotAllowed("start the set-up first"))?;
        let step = totp::verify(&secret, code, self.db.now(), last).ok_or(IdentityError::InvalidCode)?;
        if !self.consume_step(account.id, step).await? {
            return Err(IdentityError::InvalidCode);
        }
        sqlx::query("UPDATE totp_credentials SET confirmed_at = $1 WHERE account_id = $2")
            .bind(self.db.now().0)
            .bind(account.id.to_string())
            .execute(self.db.pool())
            .await
            .map_err(palisade_store::StoreError::from)?;
        let target = format!("account:{}", account.id);
        audit::record_account_now(&self.db, account.id, NewEvent::new("mfa.totp_enabled", &target)).await?;
        self.new_recovery_codes(account).await
    }

    /// Replaces the account's recovery codes; the old ones stop working.
    pub async fn new_recovery_codes(&self, account: &Account) -> Result<Vec<String>> {
        let codes = recovery::generate();
        let now = self.db.now().0;
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
            .bind(account.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(palisade_store::StoreError::from)?;
        for c in &codes {
            sqlx::query("INSERT INTO recovery_codes (id, account_id, code_hash, created_at) VALUES ($1, $2, $3, $4)")
                .bind(palisade_core::TokenId::new().to_string())
                .bind(account.id.to_string())
                .bind(recovery::hash(c))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(palisade_store::StoreError::from)?;
        }
        tx.commit().await.map_err(palisade_store::StoreError::from)?;
        let target = format!("account:{}", account.id);
        audit::record_account_now(&self.db, account.id, NewEvent::new("mfa.recovery_codes_generated", &target)).await?;
        Ok(codes)
    }

    /// Unused recovery codes left.
    pub async fn recovery_codes_left(&self, account: AccountId) -> Result<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL")
                .bind(account.to_string())
                .fetch_one(self.db.pool())
                .await
                .map_err(palisade_store::StoreError::from)?;
        Ok(n)
    }

    /// Completes sign-in with a TOTP code or a recovery code. Failures count towards the account's throttle.
    pub async fn second_factor(&self, session: &Session, code: &str) -> Result<()> {
        let account = tenancy::get_account(&self.db, session.account_id).await?;
        let key = throttle::account_key(&self.links, &account.email);
        // The client is the one that passed the password (the session's address); its failures count per
        // address too, and the lock mails the owner, as sign-in's do.
        let keys = ThrottleKeys {
            account: key.clone(),
            ip: session.ip.as_deref().map(throttle::ip_key),
            trusted_device: false,
        };
        if self.blocked_until(&keys).await?.is_some() {
            return Err(IdentityError::NotAllowed("too many attempts; wait a few minutes"));
        }
        let target = format!("account:{}", account.id);
        let mut method = None;
        if let Some((secret, last)) = self.totp_secret(account.id, TotpState::Confirmed).await?
            && let Some(step) = totp::verify(&secret, code, self.db.now(), last)
            && self.consume_step(account.id, step).await?
        {
            method = Some("totp");
        }
        if method.is_none() && code.trim().len() >= 10 {
            let used = sqlx::query(
                "UPDATE recovery_codes SET used_at = $1 WHERE account_id = $2 AND code_hash = $3 AND used_at IS NULL",
            )
            .bind(self.db.now().0)
            .bind(account.id.to_string())
            .bind(recovery::hash(code))
            .execute(self.db.pool())
            .await
            .map_err(palisade_store::StoreError::from)?;
            if used.rows_affected() == 1 {
                method = Some("recovery_code");
            }
        }
        match method {
            Some(m) => {
                sessions::mark_mfa(&self.db, session).await?;
                throttle::clear(&self.db, &key).await?;
                audit::record_account_now(
                    &self.db,
                    account.id,
                    NewEvent::new("login.second_factor_passed", &target).details(serde_json::json!({"method": m})),
                )
                .await?;
                Ok(())
            }
            None => {
                self.record_failure(&key, keys.ip.as_deref(), Some(&account)).await?;
                audit::record_account_now(&self.db, account.id, NewEvent::new("login.second_factor_failed", &target))
                    .await?;
                Err(IdentityError::InvalidCode)
            }
        }
    }

    /// Removes the authenticator app (not allowed for operators: their MFA cannot be turned off).
    pub async fn disable_totp(&self, account: &Account) -> Result<()> {
        let passkeys = crate::passkeys::list(&self.db, account.id).await?.len();
        if account.kind == AccountKind::Operator && passkeys == 0 {
            return Err(IdentityError::NotAllowed("platform operators must keep two-step verification"));
        }
        sqlx::query("DELETE FROM totp_credentials WHERE account_id = $1")
            .bind(account.id.to_string())
            .execute(self.db.pool())
            .await
            .map_err(palisade_store::StoreError::from)?;
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
            .bind(account.id.to_string())
            .execute(self.db.pool())
            .await
            .map_err(palisade_store::StoreError::from)?;
        let target = format!("account:{}", account.id);
        audit::record_account_now(&self.db, account.id, NewEvent::new("mfa.totp_disabled", &target)).await?;
        Ok(())
    }

    /// Re-checks the password for a sensitive action and marks the session fresh. A password entry is a password
    /// entry: it is throttled, counted and locked exactly like sign-in (same keys, delays, lock and mail), or a
    /// stolen session would be a free password-guessing oracle.
    pub async fn step_up(&self, session: &Session, password: SecretString, client: &Client) -> Result<StepUp> {
        let account = tenancy::get_account(&self.db, session.account_id).await?;
        let keys = self.throttle_keys(&account.email, Some(&account), client);
        if let Some(until) = self.blocked_until(&keys).await? {
            return Ok(StepUp::Throttled { until });
        }
        let row: (Option<String>,) = sqlx::query_as("SELECT password_hash FROM accounts WHERE id = $1")
            .bind(session.account_id.to_string())
            .fetch_one(self.db.pool())
            .await
            .map_err(palisade_store::StoreError::from)?;
        let stored = row.0.clone();
        let to_check = row.0.unwrap_or_else(|| password::dummy_hash().to_owned());
        let lane = if keys.trusted_device { &self.trusted_hashing } else { &self.hashing };
        let ok = self.hash_in(lane, move || password::verify(&password, &to_check).unwrap_or(false)).await?;
        if !ok || stored.is_none() || account.disabled {
            self.record_failure(&keys.account, keys.ip.as_deref(), Some(&account)).await?;
            let target = format!("account:{}", account.id);
            audit::record_account_now(&self.db, account.id, NewEvent::new("reauth.failed", &target)).await?;
            return Ok(StepUp::Refused);
        }
        throttle::clear(&self.db, &keys.account).await?;
        sessions::mark_reauth(&self.db, session).await?;
        Ok(StepUp::Passed)
    }

    /// The code a software authenticator would show now (tests, and the demo's pre-enrolled operator).
    pub async fn current_code_for_tests(&self, account: AccountId) -> Result<Option<String>> {
        Ok(self.totp_secret(account, TotpState::Confirmed).await?.and_then(|(s, _)| totp::code_at(&s, self.db.now())))
    }
}

/// The /24 (IPv4) or /48 (IPv6) network of an address, so a DHCP renewal is not a "new device".
fn network_of(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => String::new(),
    }
}
