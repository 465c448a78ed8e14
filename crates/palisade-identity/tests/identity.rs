//! Sign-in, second factors and sessions against a real database (SQLite, or PostgreSQL in CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use palisade_core::text::Email;
use palisade_identity::sessions::{self, Client};
use palisade_identity::{Identity, IdentityError, LoginOutcome, StepUp};
use palisade_store::outbox;
use palisade_store::tenancy::{self, Account, AccountKind, NewAccount};
use palisade_store::testing::TestDb;
use secrecy::SecretString;

const PW: &str = "granite pelican umbrella";

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn client(ip: &str) -> Client {
    Client { ip: Some(ip.into()), user_agent: Some("TestBrowser/1.0".into()), device: None }
}

async fn setup() -> (TestDb, palisade_core::ManualClock, Identity, tempfile::TempDir) {
    let (t, clock) = TestDb::manual().await;
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = palisade_store::secrets::load_or_create(&dir.path().join("k")).unwrap();
    let id = Identity::new(t.db.clone(), &key, "Palisade test");
    (t, clock, id, dir)
}

async fn account(t: &TestDb, id: &Identity, email: &str, kind: AccountKind) -> Account {
    let a = tenancy::create_account(
        t,
        NewAccount { email: Email::parse(email).unwrap(), display_name: "Pat".into(), kind },
    )
    .await
    .unwrap();
    id.set_password(&a, pw(PW)).await.unwrap();
    a
}

#[tokio::test]
async fn wrong_password_and_unknown_account_look_the_same() {
    let (t, _c, id, _d) = setup().await;
    account(&t, &id, "pat@example.com", AccountKind::Staff).await;
    assert!(matches!(
        id.login("pat@example.com", pw("wrong wrong wrong"), &client("10.0.0.1")).await.unwrap(),
        LoginOutcome::Refused
    ));
    assert!(matches!(
        id.login("nobody@example.com", pw(PW), &client("10.0.0.1")).await.unwrap(),
        LoginOutcome::Refused
    ));
    assert!(matches!(id.login("not an email", pw(PW), &client("10.0.0.1")).await.unwrap(), LoginOutcome::Refused));
    assert!(matches!(
        id.login("PAT@example.com", pw(PW), &client("10.0.0.1")).await.unwrap(),
        LoginOutcome::SignedIn { .. }
    ));
}

#[tokio::test]
async fn repeated_failures_are_throttled_before_hashing_and_lock_with_an_email() {
    let (t, clock, id, _d) = setup().await;
    account(&t, &id, "pat@example.com", AccountKind::Staff).await;
    for _ in 0..3 {
        assert!(matches!(
            id.login("pat@example.com", pw("nope nope nope"), &client("10.0.0.1")).await.unwrap(),
            LoginOutcome::Refused
        ));
    }
    // The 4th failure blocks the account for 1 s: even the right password is refused without being checked.
    assert!(matches!(
        id.login("pat@example.com", pw("nope nope nope"), &client("10.0.0.2")).await.unwrap(),
        LoginOutcome::Refused
    ));
    assert!(matches!(
        id.login("pat@example.com", pw(PW), &client("10.0.0.3")).await.unwrap(),
        LoginOutcome::Throttled { .. }
    ));
    for _ in 0..6 {
        clock.advance(Duration::from_secs(61));
        id.login("pat@example.com", pw("nope nope nope"), &client("10.0.0.1")).await.unwrap();
    }
    let LoginOutcome::Throttled { until } = id.login("pat@example.com", pw(PW), &client("10.0.0.9")).await.unwrap()
    else {
        panic!("locked")
    };
    assert!(until.0 - t.now().0 > 10 * 60 * 1000, "a lock lasts minutes");
    let mails = outbox::to_address(&t, "pat@example.com").await.unwrap();
    assert!(mails.iter().any(|m| m.subject.contains("paused")), "{mails:?}");
    clock.advance(Duration::from_secs(16 * 60));
    assert!(matches!(
        id.login("pat@example.com", pw(PW), &client("10.0.0.9")).await.unwrap(),
        LoginOutcome::SignedIn { .. }
    ));
}

#[tokio::test]
async fn the_password_policy_applies_when_setting_passwords() {
    let (t, _c, id, _d) = setup().await;
    let a = tenancy::create_account(
        &t,
        NewAccount {
            email: Email::parse("s@example.com").unwrap(),
            display_name: "S".into(),
            kind: AccountKind::Staff,
        },
    )
    .await
    .unwrap();
    assert!(matches!(id.set_password(&a, pw("short")).await, Err(IdentityError::Policy(_))));
    assert!(matches!(id.set_password(&a, pw("password1234")).await, Err(IdentityError::Policy(_))));
    id.set_password(&a, pw(PW)).await.unwrap();
    let (h,): (String,) = sqlx::query_as("SELECT password_hash FROM accounts WHERE id = $1")
        .bind(a.id.to_string())
        .fetch_one(t.pool())
        .await
        .unwrap();
    assert!(h.starts_with("$argon2id$") && !h.contains(PW));
}

#[tokio::test]
async fn totp_enrolment_gates_sign_in_and_codes_are_single_use() {
    let (t, clock, id, _d) = setup().await;
    let a = account(&t, &id, "pat@example.com", AccountKind::Staff).await;
    let enrol = id.begin_totp(&a).await.unwrap();
    assert!(enrol.url.starts_with("otpauth://totp/"));
    assert!(!id.has_mfa(a.id).await.unwrap(), "not active until confirmed");
    assert!(matches!(id.confirm_totp(&a, "000000").await, Err(IdentityError::InvalidCode)));
    // Read the code like an authenticator app would, from the secret the person scanned.
    let secret = totp_secret_from_url(&enrol.url);
    let code = palisade_identity::totp::code_at(&secret, t.now()).unwrap();
    let codes = id.confirm_totp(&a, &code).await.unwrap();
    assert_eq!(codes.len(), 10);
    assert!(id.has_mfa(a.id).await.unwrap());

    let LoginOutcome::SecondFactor { session, .. } =
        id.login("pat@example.com", pw(PW), &client("10.0.0.1")).await.unwrap()
    else {
        panic!("second factor required")
    };
    assert!(session.mfa_at.is_none());
    assert!(
        matches!(id.second_factor(&session, &code).await, Err(IdentityError::InvalidCode)),
        "the enrolment code cannot be replayed"
    );
    clock.advance(Duration::from_secs(30));
    let fresh = palisade_identity::totp::code_at(&secret, t.now()).unwrap();
    id.second_factor(&session, &fresh).await.unwrap();
    assert!(matches!(id.second_factor(&session, &fresh).await, Err(IdentityError::InvalidCode)), "used once");

    let LoginOutcome::SecondFactor { session, .. } =
        id.login("pat@example.com", pw(PW), &client("10.0.0.1")).await.unwrap()
    else {
        panic!()
    };
    id.second_factor(&session, &codes[3].to_uppercase()).await.unwrap();
    assert!(
        matches!(id.second_factor(&session, &codes[3]).await, Err(IdentityError::InvalidCode)),
        "recovery codes are single-use"
    );
    assert_eq!(id.recovery_codes_left(a.id).await.unwrap(), 9);
}

fn totp_secret_from_url(url: &str) -> Vec<u8> {
    let b32 = url.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    totp_rs::Secret::Encoded(b32.to_owned()).to_bytes().unwrap()
}

#[tokio::test]
async fn operators_cannot_turn_off_mfa() {
    let (t, _c, id, _d) = setup().await;
    let op = account(&t, &id, "op@platform.example", AccountKind::Operator).await;
    assert!(matches!(id.disable_totp(&op).await, Err(IdentityError::NotAllowed(_))));
    let staff = account(&t, &id, "s@example.com", AccountKind::Staff).await;
    id.disable_totp(&staff).await.unwrap();
}

#[tokio::test]
async fn sessions_expire_idle_and_absolute_and_can_be_revoked() {
    let (t, clock, id, _d) = setup().await;
    let a = account(&t, &id, "pat@example.com", AccountKind::Staff).await;
    let LoginOutcome::SignedIn { token, session } =
        id.login("pat@example.com", pw(PW), &client("10.0.0.1")).await.unwrap()
    else {
        panic!()
    };
    use secrecy::ExposeSecret;
    let tok = token.expose_secret().to_owned();
    assert!(sessions::lookup(&t, &tok, sessions::STAFF).await.unwrap().is_some());
    let (stored,): (String,) = sqlx::query_as("SELECT id_hash FROM sessions").fetch_one(t.pool()).await.unwrap();
    assert_ne!(stored, tok, "only the hash is stored");

    clock.advance(Duration::from_secs(29 * 60));
    assert!(sessions::lookup(&t, &tok, sessions::STAFF).await.unwrap().is_some(), "activity keeps it alive");
    clock.advance(Duration::from_secs(31 * 60));
    assert!(sessions::lookup(&t, &tok, sessions::STAFF).await.unwrap().is_none(), "idle timeout");

    let LoginOutcome::SignedIn { token, .. } = id.login("pat@example.com", pw(PW), &client("10.0.0.1")).await.unwrap()
    else {
        panic!()
    };
    let tok = token.expose_secret().to_owned();
    for _ in 0..25 {
        clock.advance(Duration::from_secs(29 * 60));
        let _ = sessions::lookup(&t, &tok, sessions::STAFF).await.unwrap();
    }
    assert!(sessions::lookup(&t, &tok, sessions::STAFF).await.unwrap().is_none(), "absolute timeout");

    let LoginOutcome::SignedIn { token: t1, session: s1 } =
        id.login("pat@example.com", pw(PW), &client("10.0.0.1")).await.unwrap()
    else {
        panic!()
    };
    let LoginOutcome::SignedIn { token: t2, .. } =
        id.login("pat@example.com", pw(PW), &client("10.0.0.1")).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(sessions::list(&t, a.id).await.unwrap().len(), 2);
    let rotated = sessions::rotate(&t, &s1).await.unwrap();
    assert!(
        sessions::lookup(&t, t1.expose_secret(), sessions::STAFF).await.unwrap().is_none(),
        "old id dead after rotation"
    );
    let s1 = sessions::lookup(&t, rotated.expose_secret(), sessions::STAFF).await.unwrap().unwrap();
    assert_eq!(sessions::revoke_all(&t, a.id, Some(&s1.id)).await.unwrap(), 1);
    assert!(sessions::lookup(&t, t2.expose_secret(), sessions::STAFF).await.unwrap().is_none());
    assert!(sessions::revoke(&t, a.id, &s1.id).await.unwrap());
    assert!(sessions::lookup(&t, rotated.expose_secret(), sessions::STAFF).await.unwrap().is_none());
    let _ = session;
}

#[tokio::test]
async fn a_new_device_triggers_an_alert_but_a_known_one_does_not() {
    let (t, _c, id, _d) = setup().await;
    account(&t, &id, "pat@example.com", AccountKind::Buyer).await;
    id.login("pat@example.com", pw(PW), &client("10.0.0.1")).await.unwrap();
    id.login("pat@example.com", pw(PW), &client("10.0.0.77")).await.unwrap();
    assert!(outbox::to_address(&t, "pat@example.com").await.unwrap().is_empty(), "first device and same /24 are quiet");
    id.login("pat@example.com", pw(PW), &client("192.168.9.9")).await.unwrap();
    let mails = outbox::to_address(&t, "pat@example.com").await.unwrap();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].subject.contains("New sign-in"));
}

#[tokio::test]
async fn step_up_needs_the_password() {
    let (t, clock, id, _d) = setup().await;
    account(&t, &id, "pat@example.com", AccountKind::Staff).await;
    let LoginOutcome::SignedIn { session, .. } =
        id.login("pat@example.com", pw(PW), &client("10.0.0.1")).await.unwrap()
    else {
        panic!()
    };
    let window = Duration::from_secs(10 * 60);
    assert!(sessions::is_fresh(&session, t.now(), window));
    clock.advance(Duration::from_secs(11 * 60));
    assert!(!sessions::is_fresh(&session, t.now(), window));
    let here = client("10.0.0.1");
    assert_eq!(id.step_up(&session, pw("wrong password here"), &here).await.unwrap(), StepUp::Refused);
    assert_eq!(id.step_up(&session, pw(PW), &here).await.unwrap(), StepUp::Passed);
}

/// Re-entering the password counts like signing in: the same delays, the same lock (and its mail), and a lock
/// from one shuts the other.
#[tokio::test]
async fn step_up_failures_are_throttled_and_lock_the_account() {
    let (t, clock, id, _d) = setup().await;
    account(&t, &id, "pat@example.com", AccountKind::Staff).await;
    let LoginOutcome::SignedIn { session, .. } =
        id.login("pat@example.com", pw(PW), &client("10.0.0.1")).await.unwrap()
    else {
        panic!()
    };
    let here = client("10.0.0.1");
    for _ in 0..4 {
        assert_eq!(id.step_up(&session, pw("guess guess guess"), &here).await.unwrap(), StepUp::Refused);
    }
    // The 4th failure blocks for 1 s: even the right password is not checked.
    assert!(matches!(id.step_up(&session, pw(PW), &here).await.unwrap(), StepUp::Throttled { .. }));
    assert!(matches!(
        id.login("pat@example.com", pw(PW), &client("10.0.0.7")).await.unwrap(),
        LoginOutcome::Throttled { .. }
    ));
    for _ in 0..6 {
        clock.advance(Duration::from_secs(61));
        assert_eq!(id.step_up(&session, pw("guess guess guess"), &here).await.unwrap(), StepUp::Refused);
    }
    clock.advance(Duration::from_secs(61));
    let StepUp::Throttled { until } = id.step_up(&session, pw(PW), &here).await.unwrap() else { panic!("locked") };
    assert!(until.0 - t.now().0 > 10 * 60 * 1000, "a lock lasts minutes");
    let mails = outbox::to_address(&t, "pat@example.com").await.unwrap();
    assert!(mails.iter().any(|m| m.subject.contains("paused")), "{mails:?}");
    assert!(matches!(
        id.login("pat@example.com", pw(PW), &client("10.0.0.8")).await.unwrap(),
        LoginOutcome::Throttled { .. }
    ));
    clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(id.step_up(&session, pw(PW), &here).await.unwrap(), StepUp::Passed);
}

mod passkeys {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;

    use super::*;
    use palisade_identity::passkeys;

    const ORIGIN: &str = "http://localhost:8080";

    #[tokio::test]
    async fn a_software_authenticator_registers_and_signs_in_with_a_passkey() {
        let (t, _c, id, _d) = setup().await;
        let id = id.with_passkeys(ORIGIN).unwrap();
        let rp = id.webauthn().unwrap();
        let a = account(&t, &id, "pat@example.com", AccountKind::Staff).await;
        let mut authenticator = SoftPasskey::new(true);
        let origin = url::Url::parse(ORIGIN).unwrap();

        let (challenge, options) = passkeys::start_registration(rp, &t, &a).await.unwrap();
        let credential = authenticator.do_registration(origin.clone(), options).unwrap();
        let info = passkeys::finish_registration(rp, &t, &a, &challenge, "Laptop", &credential).await.unwrap();
        assert_eq!(info.name, "Laptop");
        assert!(id.has_mfa(a.id).await.unwrap(), "a passkey counts as a second factor");
        assert!(
            passkeys::finish_registration(rp, &t, &a, &challenge, "Again", &credential).await.is_err(),
            "a ceremony's state is single use"
        );

        let LoginOutcome::SecondFactor { session, .. } =
            id.login("pat@example.com", pw(PW), &client("10.0.0.1")).await.unwrap()
        else {
            panic!("the passkey is required as second step")
        };
        let (challenge, options) = passkeys::start_authentication(rp, &t, a.id).await.unwrap();
        let assertion = authenticator.do_authentication(origin.clone(), options).unwrap();
        passkeys::finish_authentication(rp, &t, &session, &challenge, &assertion).await.unwrap();
        assert!(
            passkeys::finish_authentication(rp, &t, &session, &challenge, &assertion).await.is_err(),
            "an assertion cannot be replayed"
        );
        let listed = passkeys::list(&t, a.id).await.unwrap();
        assert!(listed[0].last_used_at.is_some());

        // Another authenticator holds no credential for this account: it cannot answer the challenge.
        let (_, options) = passkeys::start_authentication(rp, &t, a.id).await.unwrap();
        assert!(SoftPasskey::new(true).do_authentication(origin.clone(), options).is_err());

        passkeys::remove(&t, &a, &listed[0].id).await.unwrap();
        assert!(!id.has_mfa(a.id).await.unwrap());
    }

    #[tokio::test]
    async fn ip_addresses_cannot_be_relying_parties() {
        assert!(passkeys::relying_party("http://127.0.0.1:8080", "x").is_err());
        assert!(passkeys::relying_party("https://market.example", "x").is_ok());
    }
}

/// Guessing the second factor is throttled like the password: per account and per address, up to the lock, and
/// the lock mails the account's owner.
#[tokio::test]
async fn second_factor_guesses_lock_the_account_with_a_mail() {
    let (t, clock, id, _d) = setup().await;
    let a = account(&t, &id, "pat@example.com", AccountKind::Staff).await;
    let enrol = id.begin_totp(&a).await.unwrap();
    let secret = totp_secret_from_url(&enrol.url);
    id.confirm_totp(&a, &palisade_identity::totp::code_at(&secret, t.now()).unwrap()).await.unwrap();
    clock.advance(Duration::from_secs(30));
    let LoginOutcome::SecondFactor { session, .. } =
        id.login("pat@example.com", pw(PW), &client("10.0.0.1")).await.unwrap()
    else {
        panic!("second factor required")
    };
    for _ in 0..10 {
        clock.advance(Duration::from_secs(61));
        assert!(matches!(id.second_factor(&session, "000000").await, Err(IdentityError::InvalidCode)));
    }
    let mails = outbox::to_address(&t, "pat@example.com").await.unwrap();
    assert!(mails.iter().any(|m| m.subject.contains("paused")), "{mails:?}");
    let (ip_failures,): (i64,) = sqlx::query_as("SELECT failures FROM login_throttle WHERE key = 'ip:10.0.0.1'")
        .fetch_one(t.pool())
        .await
        .unwrap();
    assert_eq!(ip_failures, 10, "counted per address too");
    let right = palisade_identity::totp::code_at(&secret, t.now()).unwrap();
    assert!(matches!(id.second_factor(&session, &right).await, Err(IdentityError::NotAllowed(_))), "locked");
}
