//! What buyers see: the marketplace, store and product pages, the cart, the buyer's order pages
//! ([`catalog`]) and the platform's own payment page ([`checkout`]).

pub mod catalog;
pub mod checkout;
mod pay_form;
