//! `palisade admin …`

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use palisade_core::text::{Email, display_name};
use palisade_store::scope::PlatformScope;
use palisade_store::tenancy::{self, AccountKind, NewAccount};
use palisade_store::tokens::{self, IssueToken, TokenKind};
use palisade_store::{Db, audit};

use crate::cli::GlobalArgs;
use crate::{config, runtime};

/// Creates (or reuses) an operator account and issues a token; returns the token text.
pub async fn operator_token(
    db: &Db,
    email: &Email,
    name: &str,
    expires_days: u32,
    token_name: &str,
) -> anyhow::Result<String> {
    let platform = PlatformScope::system("cli");
    let account = match tenancy::find_account_by_email(db, email).await.map_err(runtime::explain)? {
        Some(a) if a.kind == AccountKind::Operator => a,
        Some(a) => bail!("{} already has a {} account; operators need their own address", a.email, a.kind.as_str()),
        None => {
            let a = tenancy::create_account(
                db,
                NewAccount { email: email.clone(), display_name: name.to_owned(), kind: AccountKind::Operator },
            )
            .await
            .map_err(runtime::explain)?;
            let target = format!("account:{}", a.id);
            audit::record_platform_now(
                db,
                &platform,
                audit::NewEvent::new("operator.created", &target).details(serde_json::json!({"email": a.email})),
            )
            .await
            .map_err(runtime::explain)?;
            a
        }
    };
    let expires_at = db.now().plus(Duration::from_secs(u64::from(expires_days) * 24 * 3600));
    let (_info, secret) = tokens::issue(
        db,
        &platform,
        IssueToken {
            kind: TokenKind::Operator,
            account_id: account.id,
            store_id: None,
            name: token_name.to_owned(),
            scopes: vec!["platform:*".into()],
            expires_at: Some(expires_at),
        },
    )
    .await
    .map_err(runtime::explain)?;
    Ok(tokens::reveal(&secret).to_owned())
}

pub async fn create_operator(
    global: &GlobalArgs,
    email: &str,
    name: Option<String>,
    expires_days: u32,
) -> anyhow::Result<ExitCode> {
    let email = Email::parse(email)?;
    let name = display_name("name", name.as_deref().unwrap_or(email.as_str()))?;
    let settings = config::resolve(global, config::ServeFlags::NONE)?;
    let inst = runtime::open(settings, runtime::Schema::Migrate).await?;
    let token = operator_token(&inst.db, &email, &name, expires_days, "created with admin create-operator").await?;
    println!("Operator {email} is ready. Their API token (shown once, store it in a password manager):\n");
    println!("    {token}\n");
    println!(
        "It expires in {expires_days} day(s). Use it as `Authorization: Bearer …` on /api/v1, or paste it at /console/login."
    );
    inst.db.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn set_password(global: &GlobalArgs, email: &str) -> anyhow::Result<ExitCode> {
    let email = Email::parse(email)?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = secrecy::SecretString::from(line.trim_end_matches(['\r', '\n']).to_owned());
    let settings = config::resolve(global, config::ServeFlags::NONE)?;
    let inst = runtime::open(settings, runtime::Schema::Migrate).await?;
    let Some(account) = tenancy::find_account_by_email(&inst.db, &email).await.map_err(runtime::explain)? else {
        bail!("no account with email {email}");
    };
    let identity = palisade_identity::Identity::new(inst.db.clone(), &inst.master_key, "Palisade");
    identity.set_password(&account, password).await?;
    println!("Password set for {} ({}).", account.email, account.kind.as_str());
    if account.kind == AccountKind::Operator {
        println!("Operators must also set up two-step verification: sign in at /login and follow the prompt.");
    }
    inst.db.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn fraud_rules_reviewed(global: &GlobalArgs, by: &str) -> anyhow::Result<ExitCode> {
    let by = display_name("by", by)?;
    let settings = config::resolve(global, config::ServeFlags::NONE)?;
    let inst = runtime::open(settings, runtime::Schema::Migrate).await?;
    let platform = palisade_store::scope::PlatformScope::system("cli");
    palisade_commerce::fraud::record_platform_review(&inst.db, &platform, &by).await?;
    println!(
        "Recorded: the platform fraud rules version {} were reviewed by {by}.",
        palisade_commerce::fraud::platform_rules_version()
    );
    inst.db.close().await;
    Ok(ExitCode::SUCCESS)
}
