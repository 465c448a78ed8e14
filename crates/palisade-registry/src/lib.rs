#![doc = include_str!("../README.md")]

pub mod manifest;
pub mod names;
pub mod package;
pub mod signing;

pub use manifest::{App, Content, Manifest, ManifestError, Plugin, Theme};
pub use names::{DataLevel, ExtensionId, Hook, NameError, PackagePath, PublisherHandle, Scope, WebhookTopic};
pub use package::{Package, PackageError, PackageFile, Sha256};
pub use signing::{
    KeyId, PlatformKey, PublisherKey, ReleaseError, SignatureError, VerifiedRelease, VerifyingKey, verify_release,
};
