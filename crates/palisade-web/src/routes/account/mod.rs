//! What everyone who signs in shares, buyers and staff alike: sign-in and two-step verification
//! ([`sign_in`]), forgotten passwords ([`password_reset`]), passkeys ([`passkeys`]) and the person's own
//! sessions as JSON ([`sessions_api`]).

pub mod buyer;
pub mod data;
pub mod messages;
pub mod passkeys;
pub mod password_reset;
pub mod sessions_api;
pub mod sign_in;
