#![doc = include_str!("../README.md")]

pub mod manifest;
pub mod names;

pub use manifest::{App, Content, Manifest, ManifestError, Plugin, Theme};
pub use names::{DataLevel, ExtensionId, Hook, NameError, PackagePath, PublisherHandle, Scope, WebhookTopic};
