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

/// Opens `bucket`, rooted at `prefix`.
pub fn open(bucket: &str, prefix: &str, options: &[(String, String)]) -> Result<Arc<dyn ObjectStore>, String> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
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
