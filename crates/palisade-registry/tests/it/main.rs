//! The registry's black-box tests: packages and their abuse, release signatures, and one test per attack on the
//! signed catalog metadata.

mod metadata;
mod package;
mod scopes;
mod signing;
mod support;
