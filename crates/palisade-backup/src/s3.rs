//! S3-compatible targets (AWS, MinIO, Ceph, Garage …) through `object_store`'s S3 client.
//!
//! Configuration comes from the standard environment, so no secret is ever written into Palisade's config:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, and for non-AWS services `AWS_ENDPOINT` (plus
//! `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint on a private network).

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::prefix::PrefixStore;

/// Opens `bucket`, rooted at `prefix`.
pub fn open(bucket: &str, prefix: &str) -> Result<Arc<dyn ObjectStore>, String> {
    let s3 = AmazonS3Builder::from_env().with_bucket_name(bucket).build().map_err(|e| e.to_string())?;
    if prefix.is_empty() { Ok(Arc::new(s3)) } else { Ok(Arc::new(PrefixStore::new(s3, prefix))) }
}
