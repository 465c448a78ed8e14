//! Progress reporting: the library says what it is doing; the CLI draws bars, jobs stay quiet.

/// Receives progress from long operations. Implementations must be cheap: `advance` is called per chunk.
pub trait Progress: Send + Sync {
    /// A new phase begins; `total` is in `unit` when known.
    fn phase(&self, name: &str, total: Option<u64>, unit: Unit);
    /// `n` more units of the current phase are done.
    fn advance(&self, n: u64);
}

/// What a phase counts, so a display can label it (bytes as bytes, chunks as chunks) or show only that it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Chunks,
    /// Nothing countable (building indexes, waiting for uploads): only that the phase is running.
    Nothing,
}

/// No output (jobs, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _: &str, _: Option<u64>, _: Unit) {}
    fn advance(&self, _: u64) {}
}
