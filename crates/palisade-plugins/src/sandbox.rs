//! Loading a module (checked once) and calling a hook (a fresh instance per call, under fuel and memory caps).

use std::collections::BTreeSet;

use palisade_registry::{DataLevel, Hook, Manifest, Scope, VerifiedRelease};
use wasmi::{
    CompilationMode, Config, EnforcedLimits, Engine, ExternType, FuncType, Linker, Module, Store, StoreLimitsBuilder,
    TrapCode, ValType,
};

use crate::data::{self, Address, Cart, CheckoutVerdict, Product, ShippingInput, ShippingRate};
use crate::error::PluginError;
use crate::host::{self, CallState, Grant, HOST_FUNCS, PluginHost};
use crate::html::UntrustedHtml;

/// WebAssembly page size.
const PAGE: u64 = 64 * 1024;

/// The caps one plugin runs under. [`Limits::default`] is what the platform uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest module accepted at load.
    pub module_bytes: usize,
    /// Fuel for one hook call (instantiation, the hook, and host calls, which are charged too).
    pub fuel: u64,
    /// Largest linear memory, in bytes (a multiple of 64 KiB).
    pub memory_bytes: usize,
    /// Largest hook input the host copies in.
    pub input_bytes: usize,
    /// Largest hook output the host copies out.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            module_bytes: 2 * 1024 * 1024,
            fuel: 5_000_000,
            memory_bytes: 4 * 1024 * 1024,
            input_bytes: 64 * 1024,
            output_bytes: 32 * 1024,
        }
    }
}

/// A checked plugin module, ready to be called at its declared hooks. Holds no per-store state: every call gets
/// a fresh instance, so nothing one store's call leaves in memory or globals is seen by the next.
pub struct Plugin {
    engine: Engine,
    module: Module,
    hooks: BTreeSet<Hook>,
    grant: Grant,
    limits: Limits,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("hooks", &self.hooks).field("grant", &self.grant).finish_non_exhaustive()
    }
}

fn engine() -> Engine {
    let mut c = Config::default();
    c.consume_fuel(true)
        .allow_start_fn(false)
        .compilation_mode(CompilationMode::Eager)
        .enforced_limits(EnforcedLimits::strict())
        .wasm_multi_memory(false)
        .set_max_recursion_depth(1024);
    Engine::new(&c)
}

impl Plugin {
    /// Loads `bytes` as the plugin `manifest` declares, with the manifest's grant and default limits.
    pub fn load(bytes: &[u8], manifest: &Manifest) -> Result<Plugin, PluginError> {
        let hooks = manifest.content.plugin.as_ref().ok_or(PluginError::NotAPlugin)?.hooks.clone();
        Plugin::load_with(bytes, hooks, Grant::from_manifest(manifest), Limits::default())
    }

    /// Loads the plugin of a release whose publisher signature `verify_release` checked: the module is the
    /// package file the manifest names. The way to load at install time, so only signed bytes ever run.
    pub fn from_release(release: &VerifiedRelease) -> Result<Plugin, PluginError> {
        let package = release.package();
        let declared = package.manifest.content.plugin.as_ref().ok_or(PluginError::NotAPlugin)?;
        let file = package
            .files
            .get(&declared.module)
            .ok_or_else(|| PluginError::Malformed("the package does not hold the plugin module".into()))?;
        Plugin::load(&file.bytes, &package.manifest)
    }

    /// Loads with explicit hooks, grant and limits. Checks: size, validity (no start function, no memory64 or
    /// multi-memory), imports only from the `palisade` module with the host's types, exports `memory`,
    /// `alloc(i32) -> i32` and each hook as `(i32, i32) -> i64`, and a declared memory within the cap.
    pub fn load_with(bytes: &[u8], hooks: BTreeSet<Hook>, grant: Grant, limits: Limits) -> Result<Plugin, PluginError> {
        if bytes.len() > limits.module_bytes {
            return Err(PluginError::TooLarge { max: limits.module_bytes });
        }
        let engine = engine();
        let module = Module::new(&engine, bytes).map_err(|e| PluginError::Malformed(e.to_string()))?;
        check_imports(&module)?;
        check_exports(&module, &hooks, &limits)?;
        Ok(Plugin { engine, module, hooks, grant, limits })
    }

    /// `product_block(product) -> html`: the guest's bytes as untrusted HTML (UTF-8, at most the output cap);
    /// show it only through [`UntrustedHtml::sanitised`] or [`UntrustedHtml::escaped`].
    pub fn product_block(&self, host: &dyn PluginHost, product: &Product) -> Result<UntrustedHtml, PluginError> {
        let out = self.call(host, Hook::ProductBlock, &to_json(product)?)?;
        let text = String::from_utf8(out).map_err(|_| PluginError::BadOutput("the block is not UTF-8"))?;
        UntrustedHtml::new(text).map_err(PluginError::BadOutput)
    }

    /// `shipping_rates(cart, address) -> [rate]`. Below data level 2 the address is cut to country, region and
    /// postal code.
    pub fn shipping_rates(
        &self,
        host: &dyn PluginHost,
        cart: &Cart,
        address: &Address,
    ) -> Result<Vec<ShippingRate>, PluginError> {
        let cart_in = self.cart_for_guest(cart);
        let input = ShippingInput { cart: &cart_in, address: address.at_level(self.grant.customer_data) };
        let out = self.call(host, Hook::ShippingRates, &to_json(&input)?)?;
        data::parse_rates(&out, &cart.currency).map_err(PluginError::BadOutput)
    }

    /// `checkout_validate(cart) -> ok | message`.
    pub fn checkout_validate(&self, host: &dyn PluginHost, cart: &Cart) -> Result<CheckoutVerdict, PluginError> {
        let out = self.call(host, Hook::CheckoutValidate, &to_json(&self.cart_for_guest(cart))?)?;
        data::parse_verdict(&out).map_err(PluginError::BadOutput)
    }

    /// The cart as this plugin may see it: the customer id (a personal identifier) only with the
    /// `customer_data` grant at level 1 or 2.
    fn cart_for_guest(&self, cart: &Cart) -> Cart {
        let may_know =
            self.grant.scopes.contains(&Scope::CustomerData) && self.grant.customer_data >= DataLevel::WithoutContact;
        Cart { customer_id: if may_know { cart.customer_id.clone() } else { None }, ..cart.clone() }
    }

    /// The grant this plugin runs with.
    #[must_use]
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// One hook call: a new store (fuel, limits, the host for this store), a new instance, input copied in
    /// through `alloc`, output copied out from the packed `(ptr << 32) | len` the hook returns.
    fn call(&self, host: &dyn PluginHost, hook: Hook, input: &[u8]) -> Result<Vec<u8>, PluginError> {
        if !self.hooks.contains(&hook) {
            return Err(PluginError::HookNotDeclared(hook.as_str()));
        }
        if input.len() > self.limits.input_bytes {
            return Err(PluginError::BadInput("the hook input is over the size cap"));
        }
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .memories(1)
            .tables(1)
            .table_elements(10_000)
            .instances(1)
            .trap_on_grow_failure(true)
            .build();
        let state = CallState { host, grant: &self.grant, limits, host_calls: 0 };
        let mut store = Store::new(&self.engine, state);
        store.limiter(host::limiter);
        store.set_fuel(self.limits.fuel).map_err(map_error)?;
        let mut linker = Linker::<CallState<'_>>::new(&self.engine);
        linker.func_wrap("palisade", "product", host::host_product).map_err(|e| map_error(e.into()))?;
        linker.func_wrap("palisade", "customer", host::host_customer).map_err(|e| map_error(e.into()))?;
        let instance = linker.instantiate_and_start(&mut store, &self.module).map_err(map_error)?;
        let memory = instance.get_memory(&store, "memory").ok_or(PluginError::MissingExport("memory".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&store, "alloc")
            .map_err(|_| PluginError::MissingExport("alloc".into()))?;
        let hook_fn = instance
            .get_typed_func::<(i32, i32), i64>(&store, hook.as_str())
            .map_err(|_| PluginError::MissingExport(hook.as_str().into()))?;
        let len = i32::try_from(input.len()).map_err(|_| PluginError::BadInput("too large"))?;
        let ptr = alloc.call(&mut store, len).map_err(map_error)?;
        let offset = usize::try_from(ptr).map_err(|_| PluginError::BadOutput("alloc returned a negative pointer"))?;
        memory
            .write(&mut store, offset, input)
            .map_err(|_| PluginError::BadOutput("alloc returned memory out of bounds"))?;
        let packed = hook_fn.call(&mut store, (ptr, len)).map_err(map_error)?;
        read_output(&store, memory, packed, self.limits.output_bytes)
    }
}

fn read_output(
    store: &Store<CallState<'_>>,
    memory: wasmi::Memory,
    packed: i64,
    max: usize,
) -> Result<Vec<u8>, PluginError> {
    let bits = packed.cast_unsigned();
    let ptr = usize::try_from(bits >> 32).map_err(|_| PluginError::BadOutput("pointer"))?;
    let len = usize::try_from(bits & 0xffff_ffff).map_err(|_| PluginError::BadOutput("length"))?;
    if len > max {
        return Err(PluginError::BadOutput("the output is over the size cap"));
    }
    let mut out = vec![0u8; len];
    memory.read(store, ptr, &mut out).map_err(|_| PluginError::BadOutput("the output is out of bounds"))?;
    Ok(out)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, PluginError> {
    serde_json::to_vec(v).map_err(|_| PluginError::BadInput("the input does not serialise"))
}

/// Turns a wasmi error into the typed error: host faults first, then the trap codes that mean a cap was hit.
fn map_error(e: wasmi::Error) -> PluginError {
    if let Some(f) = e.downcast_ref::<host::HostFault>() {
        return match f {
            host::HostFault::ScopeDenied(s) => PluginError::ScopeDenied(s),
            host::HostFault::OutOfFuel => PluginError::OutOfFuel,
            host::HostFault::BadArgument(_) => PluginError::Trap(f.to_string()),
        };
    }
    match e.as_trap_code() {
        Some(TrapCode::OutOfFuel) => PluginError::OutOfFuel,
        Some(TrapCode::GrowthOperationLimited) => PluginError::MemoryLimit,
        Some(code) => PluginError::Trap(code.to_string()),
        None if over_limit(&e) => PluginError::MemoryLimit,
        None => PluginError::Trap(e.to_string()),
    }
}

/// A memory or table the limiter refused, when growing or when instantiating (more tables or memories than one,
/// or a declared size over the cap).
fn over_limit(e: &wasmi::Error) -> bool {
    use wasmi::errors::{ErrorKind, InstantiationError as I};
    match e.kind() {
        ErrorKind::Memory(_) | ErrorKind::Table(_) => true,
        ErrorKind::Instantiation(i) => matches!(
            i,
            I::TooManyTables | I::TooManyMemories | I::FailedToInstantiateMemory(_) | I::FailedToInstantiateTable(_)
        ),
        _ => false,
    }
}

fn check_imports(module: &Module) -> Result<(), PluginError> {
    for import in module.imports() {
        let known = HOST_FUNCS.iter().find(|f| f.name == import.name());
        let ok = import.module() == "palisade"
            && match (known, import.ty()) {
                (Some(f), ExternType::Func(ty)) => ty.params() == f.params && ty.results() == f.results,
                _ => false,
            };
        if !ok {
            return Err(PluginError::ImportRefused { module: import.module().into(), name: import.name().into() });
        }
    }
    Ok(())
}

fn check_exports(module: &Module, hooks: &BTreeSet<Hook>, limits: &Limits) -> Result<(), PluginError> {
    match module.get_export("memory") {
        Some(ExternType::Memory(m)) => {
            let cap = u64::try_from(limits.memory_bytes).unwrap_or(u64::MAX);
            if m.minimum().saturating_mul(PAGE) > cap {
                return Err(PluginError::MemoryLimit);
            }
        }
        _ => return Err(PluginError::MissingExport("memory".into())),
    }
    let alloc = FuncType::new([ValType::I32], [ValType::I32]);
    let hook_ty = FuncType::new([ValType::I32, ValType::I32], [ValType::I64]);
    let wants = std::iter::once(("alloc", &alloc)).chain(hooks.iter().map(|h| (h.as_str(), &hook_ty)));
    for (name, ty) in wants {
        match module.get_export(name) {
            Some(ExternType::Func(f)) if f.params() == ty.params() && f.results() == ty.results() => {}
            _ => return Err(PluginError::MissingExport(name.into())),
        }
    }
    Ok(())
}
