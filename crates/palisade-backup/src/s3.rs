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

/// Options a target URL may carry.
pub const OPTIONS: &[&str] = &["endpoint", "region", "allow_http"];

/// Opens `bucket`, rooted at `prefix`, with the platform's credentials from the environment.
pub fn open(bucket: &str, prefix: &str, options: &[(String, String)]) -> Result<Arc<dyn ObjectStore>, String> {
    build(AmazonS3Builder::from_env(), bucket, prefix, options)
}

/// Opens a merchant's bucket with the merchant's own credentials and nothing from the environment (the
/// platform's credentials must never be used on a bucket a merchant names).
pub fn open_with_credentials(
    bucket: &str,
    prefix: &str,
    options: &[(String, String)],
    access_key_id: &str,
    secret_access_key: &str,
) -> Result<Arc<dyn ObjectStore>, String> {
    let builder = AmazonS3Builder::new()
        .with_access_key_id(access_key_id)
        .with_secret_access_key(secret_access_key)
        .with_region("us-east-1");
    build(builder, bucket, prefix, options)
}

/// Refuses endpoints a merchant could use to make the platform reach its own network (SSRF): plain HTTP, and
/// loopback, private and link-local addresses, unless the operator allowed private endpoints (on-premises S3).
pub fn check_merchant_endpoint(options: &[(String, String)], allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    if options.iter().any(|(k, v)| k == "allow_http" && v == "true") {
        return Err("plain-HTTP endpoints are not allowed; use https".into());
    }
    let Some((_, endpoint)) = options.iter().find(|(k, _)| k == "endpoint") else { return Ok(()) };
    let rest = endpoint.strip_prefix("https://").ok_or("the endpoint must be an https:// URL")?;
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = if host_port.starts_with('[') {
        host_port.trim_start_matches('[').split(']').next().unwrap_or_default()
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    let lower = host.to_ascii_lowercase();
    if lower == "localhost"
        || lower.ends_with(".localhost")
        || lower.ends_with(".internal")
        || lower.ends_with(".local")
    {
        return Err(format!("the endpoint host {host} is not public"));
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        let private = match ip {
            std::net::IpAddr::V4(v4) => {
                v4.is_loopback()
                    || v4.is_private()
                    || v4.is_link_local()
                    || v4.is_unspecified()
                    || v4.is_broadcast()
                    || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])
            }
            std::net::IpAddr::V6(v6) => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || (v6.segments()[0] & 0xfe00) == 0xfc00
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        };
        if private {
            return Err(format!("the endpoint address {ip} is not public"));
        }
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
