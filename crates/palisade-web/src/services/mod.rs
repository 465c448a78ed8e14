//! Features the HTML admin and the JSON API both offer, written once: handlers parse their input (form or JSON),
//! call these, and render the outcome their own way (a page or JSON).

pub mod firewall_rules;
pub mod payouts;
