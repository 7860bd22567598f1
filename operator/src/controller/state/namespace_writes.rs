//! The operator's writes of namespaces whose watch events have not arrived yet: reconciles
//! read a namespace as the operator wrote it, and the watch event echoing a write asks for
//! no reconcile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::runtime::reflector::Store;

/// The operator's writes of namespaces whose watch events have not arrived yet (see
/// `index` for the generated kinds): reconciles read the namespace as written, and the
/// event echoing a write asks for no reconcile. A write stands in for the cached namespace
/// only while it is newer (by resource version, see `core::resource_version`): an event
/// delivered after it, or a deletion, is never hidden.
#[derive(Default)]
pub struct NamespaceWrites(Mutex<HashMap<String, Arc<Namespace>>>);

impl NamespaceWrites {
    /// The operator wrote the namespace; `after` is what was stored.
    pub fn record(&self, after: Namespace) {
        self.0
            .lock()
            .expect("namespace writes lock")
            .insert(after.name_any(), Arc::new(after));
    }

    /// The namespace as the store holds it now, or the operator's own write while that is
    /// newer. The store is read under the same lock that `settled` takes after the store
    /// took an event, so the two cannot miss each other. `None` when the namespace is gone.
    pub fn view(&self, store: &Store<Namespace>, name: &str) -> Option<Arc<Namespace>> {
        let writes = self.0.lock().expect("namespace writes lock");
        let cached = store.get(&kube::runtime::reflector::ObjectRef::new(name))?;
        Some(match writes.get(name) {
            Some(after) if newer(after, &cached) => after.clone(),
            _ => cached,
        })
    }

    /// Whether a watch event echoes the operator's own write (then it asks for no
    /// reconcile). Called before the store takes the event.
    pub fn echo(&self, event: &Namespace) -> bool {
        let writes = self.0.lock().expect("namespace writes lock");
        writes
            .get(&event.name_any())
            .is_some_and(|after| after.resource_version() == event.resource_version())
    }

    /// The store took a watch event of the namespace: a write it is at least as new as is
    /// no longer needed (an older event, delivered late, leaves it standing).
    pub fn settled(&self, event: &Namespace) {
        let mut writes = self.0.lock().expect("namespace writes lock");
        let name = event.name_any();
        if writes.get(&name).is_some_and(|after| !newer(after, event)) {
            writes.remove(&name);
        }
    }

    /// A fresh listing shows every write made before it.
    pub fn clear(&self) {
        self.0.lock().expect("namespace writes lock").clear();
    }
}

/// Whether `a` is known to be a newer version of the namespace than `b`.
fn newer(a: &Namespace, b: &Namespace) -> bool {
    match (&a.metadata.resource_version, &b.metadata.resource_version) {
        (Some(a), Some(b)) => crate::core::resource_version::newer(a, b),
        _ => false,
    }
}
