//! The `palisade` host module: the only functions a guest can import, each checked against the plugin's grant
//! and answered from a [`PluginHost`] bound to one store.

use std::collections::BTreeSet;
use std::fmt;

use palisade_registry::{DataLevel, Manifest, Scope};
use wasmi::{Caller, Extern, Memory, StoreLimits, ValType};

use crate::data::{Customer, Product};

/// The host's data for ONE store, created by the caller per store and per hook call (typically over a
/// `StoreScope`). No host function takes a store id: a guest can only name records by their id, and the host
/// answers from its own store, so another store's data is unreachable by construction.
pub trait PluginHost {
    /// A product of this store by id (`None` if there is none here).
    fn product(&self, id: &str) -> Option<Product>;
    /// A customer of this store by id, whole; the sandbox cuts it to the plugin's data level before the guest
    /// sees it.
    fn customer(&self, id: &str) -> Option<Customer>;
}

/// What the merchant granted: the scopes and the protected customer data level. Usually the manifest's (the
/// install approved them); a caller may pass a narrower grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub scopes: BTreeSet<Scope>,
    pub customer_data: DataLevel,
}

impl Grant {
    /// The grant the manifest asks for.
    #[must_use]
    pub fn from_manifest(m: &Manifest) -> Grant {
        Grant { scopes: m.scopes.clone(), customer_data: m.customer_data }
    }
}

/// Longest record id a guest may pass.
pub const MAX_ID_LEN: usize = 128;
/// Most host calls in one hook call.
pub const MAX_HOST_CALLS: u32 = 64;
/// Fuel charged per host call, plus one per byte copied.
pub const HOST_CALL_FUEL: u64 = 10_000;

/// A host function the guest may import: name, parameters, results.
pub(crate) struct HostFunc {
    pub name: &'static str,
    pub params: &'static [ValType],
    pub results: &'static [ValType],
}

const LOOKUP: &[ValType] = &[ValType::I32, ValType::I32, ValType::I32, ValType::I32];

/// Every function of the `palisade` module. Lookups are `(id_ptr, id_len, out_ptr, out_cap) -> i32`.
pub(crate) const HOST_FUNCS: [HostFunc; 2] = [
    HostFunc { name: "product", params: LOOKUP, results: &[ValType::I32] },
    HostFunc { name: "customer", params: LOOKUP, results: &[ValType::I32] },
];

/// Returned to the guest when the record does not exist in this store.
pub const NOT_FOUND: i32 = -1;
/// Returned to the guest when `out_cap` is too small (nothing is written).
pub const BUFFER_TOO_SMALL: i32 = -2;

/// The per-call state a wasmi store holds.
pub(crate) struct CallState<'h> {
    pub host: &'h dyn PluginHost,
    pub grant: &'h Grant,
    pub limits: StoreLimits,
    pub host_calls: u32,
}

/// Why a host function stopped the guest: becomes the matching [`crate::PluginError`].
#[derive(Debug)]
pub(crate) enum HostFault {
    ScopeDenied(&'static str),
    OutOfFuel,
    BadArgument(&'static str),
}

impl fmt::Display for HostFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostFault::ScopeDenied(s) => write!(f, "host call needs the {s} grant"),
            HostFault::OutOfFuel => f.write_str("out of fuel in a host call"),
            HostFault::BadArgument(s) => write!(f, "bad host-call argument: {s}"),
        }
    }
}

impl wasmi::errors::HostError for HostFault {}

fn fault(f: HostFault) -> wasmi::Error {
    wasmi::Error::host(f)
}

pub(crate) fn limiter<'a>(s: &'a mut CallState<'_>) -> &'a mut dyn wasmi::ResourceLimiter {
    &mut s.limits
}

/// `palisade.product`: needs the `products` scope.
pub(crate) fn host_product(
    mut caller: Caller<'_, CallState<'_>>,
    id_ptr: i32,
    id_len: i32,
    out_ptr: i32,
    out_cap: i32,
) -> Result<i32, wasmi::Error> {
    begin(&mut caller, Scope::Products)?;
    let id = read_id(&caller, id_ptr, id_len)?;
    let found = caller.data().host.product(&id);
    let bytes =
        found.map(|p| serde_json::to_vec(&p)).transpose().map_err(|_| fault(HostFault::BadArgument("product")))?;
    respond(&mut caller, bytes, out_ptr, out_cap)
}

/// `palisade.customer`: needs the `customer_data` scope and level 1 or 2; the record is cut to the level.
pub(crate) fn host_customer(
    mut caller: Caller<'_, CallState<'_>>,
    id_ptr: i32,
    id_len: i32,
    out_ptr: i32,
    out_cap: i32,
) -> Result<i32, wasmi::Error> {
    begin(&mut caller, Scope::CustomerData)?;
    let level = caller.data().grant.customer_data;
    if level == DataLevel::None {
        return Err(fault(HostFault::ScopeDenied("customer data level 1")));
    }
    let id = read_id(&caller, id_ptr, id_len)?;
    let found = caller.data().host.customer(&id).and_then(|c| c.at_level(level));
    let bytes =
        found.map(|c| serde_json::to_vec(&c)).transpose().map_err(|_| fault(HostFault::BadArgument("customer")))?;
    respond(&mut caller, bytes, out_ptr, out_cap)
}

/// Scope check, call count and the per-call fuel charge.
fn begin(caller: &mut Caller<'_, CallState<'_>>, scope: Scope) -> Result<(), wasmi::Error> {
    if !caller.data().grant.scopes.contains(&scope) {
        return Err(fault(HostFault::ScopeDenied(scope.as_str())));
    }
    let state = caller.data_mut();
    state.host_calls = state.host_calls.saturating_add(1);
    if state.host_calls > MAX_HOST_CALLS {
        return Err(fault(HostFault::BadArgument("more than 64 host calls in one hook call")));
    }
    charge(caller, HOST_CALL_FUEL)
}

fn charge(caller: &mut Caller<'_, CallState<'_>>, cost: u64) -> Result<(), wasmi::Error> {
    let left = caller.get_fuel()?;
    if left < cost {
        return Err(fault(HostFault::OutOfFuel));
    }
    caller.set_fuel(left - cost)
}

fn memory(caller: &Caller<'_, CallState<'_>>) -> Result<Memory, wasmi::Error> {
    caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| fault(HostFault::BadArgument("no exported memory")))
}

fn read_id(caller: &Caller<'_, CallState<'_>>, ptr: i32, len: i32) -> Result<String, wasmi::Error> {
    let (Ok(ptr), Ok(len)) = (usize::try_from(ptr), usize::try_from(len)) else {
        return Err(fault(HostFault::BadArgument("negative pointer or length")));
    };
    if len == 0 || len > MAX_ID_LEN {
        return Err(fault(HostFault::BadArgument("an id is 1 to 128 bytes")));
    }
    let mut buf = vec![0u8; len];
    memory(caller)?.read(caller, ptr, &mut buf).map_err(|_| fault(HostFault::BadArgument("id out of bounds")))?;
    String::from_utf8(buf).map_err(|_| fault(HostFault::BadArgument("an id is UTF-8")))
}

fn respond(
    caller: &mut Caller<'_, CallState<'_>>,
    bytes: Option<Vec<u8>>,
    out_ptr: i32,
    out_cap: i32,
) -> Result<i32, wasmi::Error> {
    let Some(bytes) = bytes else { return Ok(NOT_FOUND) };
    let (Ok(ptr), Ok(cap)) = (usize::try_from(out_ptr), usize::try_from(out_cap)) else {
        return Err(fault(HostFault::BadArgument("negative pointer or length")));
    };
    if bytes.len() > cap {
        return Ok(BUFFER_TOO_SMALL);
    }
    charge(caller, u64::try_from(bytes.len()).unwrap_or(u64::MAX))?;
    memory(caller)?
        .write(&mut *caller, ptr, &bytes)
        .map_err(|_| fault(HostFault::BadArgument("output buffer out of bounds")))?;
    i32::try_from(bytes.len()).map_err(|_| fault(HostFault::BadArgument("record too large")))
}
