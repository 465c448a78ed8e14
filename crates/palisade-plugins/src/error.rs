//! Why a plugin could not be loaded or a hook call produced nothing: one typed error, each with a stable code.

/// A load or hook-call failure. Every guest misbehaviour ends here (never in a panic), so the caller can fall back
/// (no block, no extra rates, checkout allowed or refused by its own policy) and log the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The manifest has no `[plugin]` section.
    #[error("the manifest declares no WebAssembly plugin")]
    NotAPlugin,
    /// The module is bigger than the load cap.
    #[error("the module is larger than {max} bytes")]
    TooLarge { max: usize },
    /// Not valid WebAssembly, a feature the sandbox does not enable, or a start function.
    #[error("the module is not accepted: {0}")]
    Malformed(String),
    /// An import the host does not provide, or with another type: only the `palisade` host module exists.
    #[error("the module imports {module}.{name}, which the host does not provide with that type")]
    ImportRefused { module: String, name: String },
    /// A required export (`memory`, `alloc`, or a declared hook) is missing or has the wrong type.
    #[error("the module does not export `{0}` with the required type")]
    MissingExport(String),
    /// The hook was called although the manifest does not declare it.
    #[error("the plugin does not declare the hook {0}")]
    HookNotDeclared(&'static str),
    /// The call used up its fuel budget.
    #[error("the plugin ran out of fuel")]
    OutOfFuel,
    /// The guest asked for more memory (or table space) than the cap, or declares more than the cap.
    #[error("the plugin went over its memory limit")]
    MemoryLimit,
    /// A host function was called without the scope (or data level) it needs.
    #[error("the plugin called a host function that needs the {0} grant")]
    ScopeDenied(&'static str),
    /// The guest's output is too large, out of bounds, or not in the hook's format.
    #[error("the plugin's output is refused: {0}")]
    BadOutput(&'static str),
    /// The hook input is over the size cap (the caller passed too much).
    #[error("the hook input is refused: {0}")]
    BadInput(&'static str),
    /// The guest trapped (unreachable, out-of-bounds access, bad host-call argument, stack overflow, ...).
    #[error("the plugin trapped: {0}")]
    Trap(String),
}

impl PluginError {
    /// A stable machine-readable code for logs and API errors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::NotAPlugin => "plugin_not_declared",
            PluginError::TooLarge { .. } => "plugin_too_large",
            PluginError::Malformed(_) => "plugin_malformed",
            PluginError::ImportRefused { .. } => "plugin_import_refused",
            PluginError::MissingExport(_) => "plugin_missing_export",
            PluginError::HookNotDeclared(_) => "plugin_hook_not_declared",
            PluginError::OutOfFuel => "plugin_out_of_fuel",
            PluginError::MemoryLimit => "plugin_memory_limit",
            PluginError::ScopeDenied(_) => "plugin_scope_denied",
            PluginError::BadOutput(_) => "plugin_bad_output",
            PluginError::BadInput(_) => "plugin_bad_input",
            PluginError::Trap(_) => "plugin_trap",
        }
    }
}
