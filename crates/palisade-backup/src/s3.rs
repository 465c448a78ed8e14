//! S3-compatible targets (AWS, MinIO, Ceph, Garage …) through `object_store`'s S3 client.
//!
//! Credentials come from the standard environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, or an instance
//! role), so no secret is ever written into Palisade's config. Where the bucket is (endpoint, region) may be
//! given in the target URL, e.g. `s3://backups/palisade?endpoint=https://minio.internal:9000&region=eu-1`, or
//! in `AWS_ENDPOINT` / `AWS_REGION`; `allow_http=true` permits a plain-HTTP endpoint on a private network.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::prefix::PrefixStore;
use palisade_store::outbound::OutboundPolicy;

/// Options a target URL may carry.
pub const OPTIONS: &[&str] = &["endpoint", "region", "allow_http"];

/// Opens `bucket`, rooted at `prefix`, with the platform's credentials from the environment.
pub fn open(bucket: &str, prefix: &str, options: &[(String, String)]) -> Result<Arc<dyn ObjectStore>, String> {
    build(AmazonS3Builder::from_env(), bucket, prefix, options)
}

/// Opens a merchant's bucket with the merchant's own credentials and nothing from the environment (the
/// platform's credentials must never be used on a bucket a merchant names). Every connection goes through the
/// outbound guard: the endpoint, the addresses its name resolves to at connect time, and every redirect.
pub fn open_with_credentials(
    bucket: &str,
    prefix: &str,
    options: &[(String, String)],
    access_key_id: &str,
    secret_access_key: &str,
    outbound: &OutboundPolicy,
) -> Result<Arc<dyn ObjectStore>, String> {
    check_merchant_endpoint(bucket, options, outbound)?;
    let builder = AmazonS3Builder::new()
        .with_access_key_id(access_key_id)
        .with_secret_access_key(secret_access_key)
        .with_region("us-east-1")
        .with_http_connector(outbound.object_store_connector());
    build(builder, bucket, prefix, options)
}

/// Refuses what a merchant could use to make the platform reach its own network (SSRF) as early as it can be
/// seen: a bucket or region that is not a plain name (they become part of the host name), plain HTTP, and an
/// endpoint whose host — read as the HTTP client reads it — is not public. Names are judged again at connect
/// time by the guard, which is what actually protects; this check gives the merchant an early answer.
pub fn check_merchant_endpoint(
    bucket: &str,
    options: &[(String, String)],
    outbound: &OutboundPolicy,
) -> Result<(), String> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    if !plain(bucket) {
        return Err(format!("`{bucket}` is not an S3 bucket name (lowercase letters, digits, dots and hyphens)"));
    }
    if let Some((_, region)) = options.iter().find(|(k, _)| k == "region")
        && !plain(region)
    {
        return Err(format!("`{region}` is not a region name"));
    }
    if outbound.allows_private() {
        return Ok(());
    }
    if options.iter().any(|(k, v)| k == "allow_http" && v != "false") {
        return Err("plain-HTTP endpoints are not allowed; use https".into());
    }
    let Some((_, endpoint)) = options.iter().find(|(k, _)| k == "endpoint") else { return Ok(()) };
    outbound.check_url(endpoint).map_err(|e| e.to_string())?;
    // Early answers for names that are obviously internal; what they resolve to is judged at connect time.
    let host = endpoint.split_once("://").map_or("", |(_, rest)| rest).split(['/', ':']).next().unwrap_or_default();
    let lower = host.to_ascii_lowercase();
    if ["localhost", ".localhost", ".internal", ".local", ".localdomain"]
        .iter()
        .any(|n| if n.starts_with('.') { lower.ends_with(n) } else { lower == *n })
    {
        return Err(format!("the endpoint host {host} is not public"));
    }
    Ok(())
}

fn build(
    mut builder: AmazonS3Builder,
    bucket: &str,
    prefix: &str,
    options: &[(String, String)],
) -> Result<Arc<dyn ObjectStore>, String> {
    builder = builder.with_bucket_name(bucket);
    for (key, value) in options {
        builder = match key.as_str() {
            "endpoint" => builder.with_endpoint(value),
            "region" => builder.with_region(value),
            "allow_http" => {
                builder.with_config(AmazonS3ConfigKey::Client(object_store::ClientConfigKey::AllowHttp), value)
            }
            other => return Err(format!("unknown S3 option `{other}`")),
        };
    }
    let s3 = builder.build().map_err(|e| e.to_string())?;
    if prefix.is_empty() { Ok(Arc::new(s3)) } else { Ok(Arc::new(PrefixStore::new(s3, prefix))) }
}
