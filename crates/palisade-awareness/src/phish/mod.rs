//! Phishing simulation: the bot filter that decides which clicks were human, a seeded replay generator to
//! measure it, and per-store metrics with a cohort comparison.

pub mod classify;
pub mod metrics;
pub mod replay;

pub use classify::{ClickEvent, Confirmation, HitMethod, Reason, Verdict, Visit, classify, first_counted_click};
