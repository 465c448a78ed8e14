//! Extension scopes are the store permissions, by name: a new permission must be added to both or neither.

use palisade_registry::Scope;
use palisade_store::permissions::Permission;

#[test]
fn scopes_are_exactly_the_store_permissions() {
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    let permissions: Vec<&str> = Permission::ALL.iter().map(|p| p.key()).collect();
    assert_eq!(scopes, permissions);
}
