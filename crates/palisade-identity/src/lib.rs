#![doc = include_str!("../README.md")]

pub mod password;
pub mod recovery;
pub mod seal;
pub mod sessions;
pub mod throttle;
pub mod totp;
