#![doc = include_str!("../README.md")]

pub mod data;
mod error;
pub mod host;
mod html;
mod sandbox;

pub use data::{Address, Cart, CartLine, CheckoutVerdict, Customer, Product, ShippingRate};
pub use error::PluginError;
pub use host::{Grant, PluginHost};
pub use html::UntrustedHtml;
pub use sandbox::{Limits, Plugin};
