//! The edge: what stands between the network and the application, and would stand in front of any web
//! application — the accept loop with its connection limits ([`server`]), path canonicalisation, load shedding,
//! rate limits, the challenge page, merchants' own firewall rules, country lookups and the adapter of the pure
//! `palisade-shield` engine. App plumbing (errors, sessions, access, CSRF tokens, forms) lives in [`crate::http`].

pub mod canonical;
pub mod challenge;
pub mod geoip;
pub mod limits;
pub mod rules;
pub mod server;
pub mod shedding;
pub mod shield;
