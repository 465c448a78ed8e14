//! What a store's staff use: the store's home dashboard ([`home`]), the store admin ([`merchant`], [`orders`]),
//! the Security Center ([`security_center`], [`backups`]) and the same features as JSON for scripts
//! ([`staff_api`], [`firewall_api`]). Every route checks its permission on the server.

pub mod backups;
pub mod firewall_api;
pub mod home;
pub mod merchant;
pub mod orders;
pub mod security_center;
pub mod staff_api;
