#![doc = include_str!("../README.md")]

pub mod cert;
pub mod content;
pub mod export;
pub mod phish;
pub mod quiz;
mod rng;

pub use content::{Catalogue, Module, ModuleId};
pub use quiz::{Completion, MemberId};

/// "Now" from the platform's injected clock, as the `jiff` instant this crate computes with (so callers never
/// read the system clock themselves; tests pass a `ManualClock`).
#[must_use]
pub fn now(clock: &dyn palisade_core::Clock) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(clock.now().millis()).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}
