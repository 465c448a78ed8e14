//! The JSON API's plumbing: one declaration per route ([`declarations`]) and the commerce API that buyers'
//! and merchants' programs share ([`commerce`]). The other audiences' JSON routes live beside their pages
//! (account, admin, console) and are routed from [`declarations::api_router`].

pub mod commerce;
pub mod declarations;
