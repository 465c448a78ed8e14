#![doc = include_str!("../README.md")]

pub mod client;
pub mod manifest;
pub mod metadata;
pub mod names;
pub mod package;
pub mod signing;

pub use client::{
    ApprovedInstall, Downgrade, InstallError, InstallRequest, InstalledRelease, InstalledState, MetadataError,
    SignedSnapshot, TrustedMetadata,
};
pub use manifest::{App, Content, Manifest, ManifestError, Plugin, Theme};
pub use metadata::{PublishError, Published, Registry, ReleaseIndex, Snapshot, UnsignedSnapshot};
pub use names::{DataLevel, ExtensionId, Hook, NameError, PackagePath, PublisherHandle, Scope, WebhookTopic};
pub use package::{Package, PackageError, PackageFile, Sha256, build as build_package};
pub use signing::{
    KeyId, PlatformKey, PublisherKey, ReleaseError, SignatureError, VerifiedRelease, VerifyingKey, verify_release,
};
