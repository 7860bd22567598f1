//! The operator's writes of namespaces whose watch events have not arrived yet: reconciles
//! read a namespace as the operator wrote it, and the watch event echoing a write asks for
//! no reconcile.
//!
//! A write's watch event often arrives before the answer to the write: the store then
//! already holds that version, and a write recorded after it would stand until the
//! namespace's next event (for every namespace written, a second and untrimmed copy of
//! it). Such a write is not recorded; what is recorded is trimmed as the store trims.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use super::super::trim::CachedNamespace;

/// The operator's writes of namespaces whose watch events have not arrived yet (see
/// `index` for the generated kinds): reconciles read the namespace as written, and the
/// event echoing a write asks for no reconcile. A write stands in for the cached namespace
/// only while it is newer (by resource version, see `core::resource_version`): an event
/// delivered after it, or a deletion, is never hidden.
#[derive(Default)]
pub struct NamespaceWrites {
    writes: Mutex<HashMap<String, Arc<CachedNamespace>>>,
    /// The namespace watch's store (`None`: every write is recorded).
    store: Option<Store<CachedNamespace>>,
}

impl NamespaceWrites {
    /// The writes to stand in for `store`'s namespaces.
    pub fn new(store: Store<CachedNamespace>) -> Self {
        Self {
            writes: Mutex::default(),
            store: Some(store),
        }
    }

    /// The operator wrote the namespace; `after` is what was stored. Not recorded when the
    /// store holds that version or a newer one already (its event came first): the write
    /// would never stand in for it, and no event would settle it. The store is read under
    /// the lock `settled` takes after the store took an event, so an event that arrives
    /// meanwhile settles the recorded write.
    pub fn record(&self, after: Namespace) {
        let after = CachedNamespace::from(after);
        let mut writes = self.lock();
        let name = after.name_any();
        if let Some(store) = &self.store
            && let Some(cached) = store.get(&ObjectRef::new(&name))
            && !newer(&after, &cached)
        {
            // An earlier write of ours the store caught up with is settled too.
            if writes.get(&name).is_some_and(|w| !newer(w, &cached)) {
                writes.remove(&name);
            }
            return;
        }
        writes.insert(name, Arc::new(after));
    }

    /// Writes recorded and not settled yet.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CachedNamespace>>> {
        self.writes.lock().expect("namespace writes lock")
    }

    /// The namespace as the store holds it now, or the operator's own write while that is
    /// newer. The store is read under the same lock that `settled` takes after the store
    /// took an event, so the two cannot miss each other. `None` when the namespace is gone.
    pub fn view(&self, store: &Store<CachedNamespace>, name: &str) -> Option<Arc<CachedNamespace>> {
        let writes = self.lock();
        let cached = store.get(&kube::runtime::reflector::ObjectRef::new(name))?;
        Some(match writes.get(name) {
            Some(after) if newer(after, &cached) => after.clone(),
            _ => cached,
        })
    }

    /// Whether a watch event echoes the operator's own write (then it asks for no
    /// reconcile). Called before the store takes the event.
    pub fn echo(&self, event: &CachedNamespace) -> bool {
        let writes = self.lock();
        writes
            .get(&event.name_any())
            .is_some_and(|after| after.resource_version() == event.resource_version())
    }

    /// The store took a watch event of the namespace: a write it is at least as new as is
    /// no longer needed (an older event, delivered late, leaves it standing).
    pub fn settled(&self, event: &CachedNamespace) {
        let mut writes = self.lock();
        let name = event.name_any();
        if writes.get(&name).is_some_and(|after| !newer(after, event)) {
            writes.remove(&name);
        }
    }

    /// A fresh listing shows every write made before it.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// Whether `a` is known to be a newer version of the namespace than `b`.
fn newer(a: &CachedNamespace, b: &CachedNamespace) -> bool {
    match (&a.metadata.resource_version, &b.metadata.resource_version) {
        (Some(a), Some(b)) => crate::core::resource_version::newer(a, b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher;
    use serde_json::json;

    fn ns(version: &str) -> Namespace {
        serde_json::from_value(json!({
            "metadata": {
                "name": "a", "resourceVersion": version,
                "labels": { "pod-security.kubernetes.io/enforce": "restricted" },
                "annotations": { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
            },
            "spec": { "finalizers": ["kubernetes"] },
            "status": { "phase": "Active" },
        }))
        .unwrap()
    }

    /// The store and the writes as the namespace watch feeds them: the store takes the
    /// event, then `settled` runs.
    fn watched(version: &str) -> (Writer<CachedNamespace>, NamespaceWrites) {
        let mut writer = Writer::<CachedNamespace>::default();
        writer.apply_watcher_event(&watcher::Event::Apply(CachedNamespace::from(ns(version))));
        let writes = NamespaceWrites::new(writer.as_reader());
        (writer, writes)
    }

    fn take(writer: &mut Writer<CachedNamespace>, writes: &NamespaceWrites, version: &str) {
        let event = CachedNamespace::from(ns(version));
        writer.apply_watcher_event(&watcher::Event::Apply(event.clone()));
        writes.settled(&event);
    }

    #[test]
    fn a_write_whose_event_came_first_is_not_kept() {
        let (mut writer, writes) = watched("10");
        // The echo of the write (version 11) arrives before the answer to the write.
        assert!(!writes.echo(&CachedNamespace::from(ns("11"))));
        take(&mut writer, &writes, "11");
        writes.record(ns("11"));
        assert_eq!(writes.len(), 0);
        let seen = writes.view(&writer.as_reader(), "a").unwrap();
        assert_eq!(seen.resource_version().as_deref(), Some("11"));
    }

    #[test]
    fn a_write_stands_in_until_its_event_and_is_kept_trimmed() {
        let (mut writer, writes) = watched("10");
        writes.record(ns("11"));
        assert_eq!(writes.len(), 1);
        let seen = writes.view(&writer.as_reader(), "a").unwrap();
        assert_eq!(seen.resource_version().as_deref(), Some("11"));
        // Kept as the store keeps namespaces.
        assert_eq!(*seen, CachedNamespace::from(ns("11")));
        assert!(writes.echo(&CachedNamespace::from(ns("11"))));
        take(&mut writer, &writes, "11");
        assert_eq!(writes.len(), 0);
    }

    #[test]
    fn a_store_past_an_earlier_write_settles_it_when_the_next_is_not_kept() {
        let (mut writer, writes) = watched("10");
        writes.record(ns("11"));
        // The store takes version 12 (someone else's change) before the answer to the
        // operator's next write, which stored 12: neither write is kept.
        writer.apply_watcher_event(&watcher::Event::Apply(CachedNamespace::from(ns("12"))));
        writes.record(ns("12"));
        assert_eq!(writes.len(), 0);
    }

    #[test]
    fn without_a_store_every_write_is_kept() {
        let writes = NamespaceWrites::default();
        writes.record(ns("11"));
        assert_eq!(writes.len(), 1);
    }
}
