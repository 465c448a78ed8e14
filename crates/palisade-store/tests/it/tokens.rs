use std::time::Duration;

use palisade_core::text::Email;
use palisade_store::scope::PlatformScope;
use palisade_store::tenancy::{self, AccountKind, NewAccount};
use palisade_store::testing::TestDb;
use palisade_store::tokens::{self, IssueToken, Refusal, TokenKind};

async fn operator_token(t: &TestDb, expires_in: Option<Duration>) -> (palisade_core::TokenId, String) {
    let op = tenancy::create_account(
        t,
        NewAccount {
            email: Email::parse("op@platform.example").unwrap(),
            display_name: "Op".into(),
            kind: AccountKind::Operator,
        },
    )
    .await
    .unwrap();
    let (info, secret) = tokens::issue(
        t,
        &PlatformScope::system("test"),
        IssueToken {
            kind: TokenKind::Operator,
            account_id: op.id,
            store_id: None,
            name: "cli".into(),
            scopes: vec!["platform:*".into()],
            expires_at: expires_in.map(|d| t.now().plus(d)),
        },
    )
    .await
    .unwrap();
    (info.id, tokens::reveal(&secret).to_owned())
}

#[tokio::test]
async fn a_valid_token_authenticates_and_only_its_hash_is_stored() {
    let (t, _clock) = TestDb::manual().await;
    let (_, secret) = operator_token(&t, Some(Duration::from_secs(3600))).await;
    assert!(secret.starts_with("pal_op_"));
    let principal = tokens::authenticate_operator(&t, &secret, Some("127.0.0.1")).await.unwrap().unwrap();
    assert_eq!(principal.email(), "op@platform.example");
    let (stored,): (String,) = sqlx::query_as("SELECT token_hash FROM api_tokens").fetch_one(t.pool()).await.unwrap();
    assert_ne!(stored, secret);
    assert!(!stored.contains(&secret[7..]));
    let (ip,): (Option<String>,) =
        sqlx::query_as("SELECT last_used_ip FROM api_tokens").fetch_one(t.pool()).await.unwrap();
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn wrong_expired_and_revoked_tokens_are_refused() {
    let (t, clock) = TestDb::manual().await;
    let (id, secret) = operator_token(&t, Some(Duration::from_secs(3600))).await;
    let last = if secret.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &secret[..secret.len() - 1]);
    assert_eq!(tokens::authenticate_operator(&t, &wrong, None).await.unwrap().unwrap_err(), Refusal::Unknown);
    assert_eq!(
        tokens::authenticate_operator(&t, "Bearer nonsense", None).await.unwrap().unwrap_err(),
        Refusal::Malformed
    );
    clock.advance(Duration::from_secs(3601));
    assert_eq!(tokens::authenticate_operator(&t, &secret, None).await.unwrap().unwrap_err(), Refusal::Expired);
    tokens::revoke(&t, &PlatformScope::system("test"), id).await.unwrap();
    assert_eq!(tokens::authenticate_operator(&t, &secret, None).await.unwrap().unwrap_err(), Refusal::Revoked);
}

/// An account's working tokens: expired and revoked ones drop out, another account's never count.
#[tokio::test]
async fn active_tokens_of_lists_only_the_accounts_working_tokens() {
    let (t, clock) = TestDb::manual().await;
    let (short, _) = operator_token(&t, Some(Duration::from_secs(60))).await;
    let op = tenancy::find_account_by_email(&t, &Email::parse("op@platform.example").unwrap()).await.unwrap().unwrap();
    let other = tenancy::create_account(
        &t,
        NewAccount {
            email: Email::parse("other@platform.example").unwrap(),
            display_name: "Other".into(),
            kind: AccountKind::Operator,
        },
    )
    .await
    .unwrap();
    let platform = PlatformScope::system("test");
    let issue = |account, expires_at| {
        tokens::issue(
            &t,
            &platform,
            IssueToken {
                kind: TokenKind::Operator,
                account_id: account,
                store_id: None,
                name: "more".into(),
                scopes: vec!["platform:*".into()],
                expires_at,
            },
        )
    };
    let (long, _) = issue(op.id, Some(t.now().plus(Duration::from_secs(3600)))).await.unwrap();
    issue(other.id, None).await.unwrap();
    let ids = |list: Vec<(palisade_core::TokenId, Option<palisade_core::time::Timestamp>)>| {
        let mut ids: Vec<String> = list.into_iter().map(|(id, _)| id.to_string()).collect();
        ids.sort();
        ids
    };
    let mut both = vec![short.to_string(), long.id.to_string()];
    both.sort();
    assert_eq!(ids(tokens::active_tokens_of(&t, op.id).await.unwrap()), both);
    clock.advance(Duration::from_secs(61));
    assert_eq!(ids(tokens::active_tokens_of(&t, op.id).await.unwrap()), vec![long.id.to_string()], "expired");
    tokens::revoke(&t, &PlatformScope::system("test"), long.id).await.unwrap();
    assert!(tokens::active_tokens_of(&t, op.id).await.unwrap().is_empty(), "revoked");
    let theirs = tokens::active_tokens_of(&t, other.id).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs.first().unwrap().1, None, "no expiry");
}
