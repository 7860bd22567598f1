//! The operator's writes of namespaces whose watch events have not arrived yet: reconciles
//! read a namespace as the operator wrote it, and the watch event echoing a write asks for
//! no reconcile.
//!
//! A write's watch event often arrives before the answer to the write: the store then
//! already holds that version, and a write recorded after it would stand until the
//! namespace's next event (for every namespace written, a second and untrimmed copy of
//! it). Such a write is not recorded; what is recorded is trimmed as the store trims. An
//! event that arrives while a write of its namespace is in flight is held until the answer
//! tells whether it is the write's own (same resource version: it asks for nothing) or
//! anything else (it asks for the reconcile then); a write that fails releases what it held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use super::super::trim::CachedNamespace;
use super::InFlight;

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
    /// Writes in flight (no answer yet), with the resource versions of the namespace's
    /// events taken meanwhile.
    in_flight: Mutex<InFlight<String, Option<String>>>,
    /// Asks for a namespace's reconcile: for the events held while a write was in flight.
    trigger: Option<Box<dyn Fn(String) + Send + Sync>>,
}

/// A write of a namespace in flight ([`NamespaceWrites::begin`]): finished with the API
/// server's answer; dropped unfinished (the write failed), it releases the events it held.
pub struct PendingNamespaceWrite<'a> {
    writes: &'a NamespaceWrites,
    name: String,
    finished: bool,
}

impl PendingNamespaceWrite<'_> {
    /// The API server answered the write with `after`.
    pub fn finish(mut self, after: Namespace) {
        self.finished = true;
        self.writes.record(after);
    }
}

impl Drop for PendingNamespaceWrite<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let held = self.writes.end_flight(&self.name);
            if !held.is_empty() {
                self.writes.ask(&self.name);
            }
        }
    }
}

impl NamespaceWrites {
    /// The writes to stand in for `store`'s namespaces; `trigger` asks for a namespace's
    /// reconcile.
    pub fn new(
        store: Store<CachedNamespace>,
        trigger: impl Fn(String) + Send + Sync + 'static,
    ) -> Self {
        Self {
            store: Some(store),
            trigger: Some(Box::new(trigger)),
            ..Self::default()
        }
    }

    /// Taken right before the operator writes the namespace `name`: until the write is
    /// finished (or dropped), the namespace's events are held.
    pub fn begin(&self, name: &str) -> PendingNamespaceWrite<'_> {
        self.flights().begin(name.to_owned());
        PendingNamespaceWrite {
            writes: self,
            name: name.to_owned(),
            finished: false,
        }
    }

    /// The versions of the events held for the write of `name`, no longer in flight.
    fn end_flight(&self, name: &str) -> Vec<Option<String>> {
        self.flights().end(name)
    }

    fn ask(&self, name: &str) {
        if let Some(trigger) = &self.trigger {
            trigger(name.to_owned());
        }
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, InFlight<String, Option<String>>> {
        self.in_flight.lock().expect("namespace writes lock")
    }

    /// The operator wrote the namespace; `after` is what was stored. Not recorded when the
    /// store holds that version or a newer one already (its event came first): the write
    /// would never stand in for it, and no event would settle it. The store is read under
    /// the lock `settled` takes after the store took an event, so an event that arrives
    /// meanwhile settles the recorded write.
    pub fn record(&self, after: Namespace) {
        // Held while the write was in flight: an event at another version is someone else's.
        let held = self.end_flight(&after.name_any());
        if held.iter().any(|v| *v != after.metadata.resource_version) {
            self.ask(&after.name_any());
        }
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

    /// Whether a watch event asks for no reconcile now: it echoes the operator's own write,
    /// or a write of the namespace is in flight (the event is held until its answer tells).
    /// Called before the store takes the event.
    pub fn asks_nothing(&self, event: &CachedNamespace) -> bool {
        let name = event.name_any();
        let echo = self
            .lock()
            .get(&name)
            .is_some_and(|after| after.resource_version() == event.resource_version());
        echo || {
            self.flights()
                .hold(name.as_str(), || event.metadata.resource_version.clone())
        }
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
        let writes = NamespaceWrites::new(writer.as_reader(), |_| {});
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
        assert!(!writes.asks_nothing(&CachedNamespace::from(ns("11"))));
        take(&mut writer, &writes, "11");
        writes.record(ns("11"));
        assert_eq!(writes.len(), 0);
        let seen = writes.view(&writer.as_reader(), "a").unwrap();
        assert_eq!(seen.resource_version().as_deref(), Some("11"));
    }

    #[test]
    fn events_during_a_write_ask_for_a_reconcile_unless_they_are_the_writes_own() {
        let mut writer = Writer::<CachedNamespace>::default();
        writer.apply_watcher_event(&watcher::Event::Apply(CachedNamespace::from(ns("10"))));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let writes = NamespaceWrites::new(writer.as_reader(), {
            let asked = asked.clone();
            move |name| asked.lock().unwrap().push(name)
        });
        let asked = || std::mem::take(&mut *asked.lock().unwrap());
        let event = |version: &str| CachedNamespace::from(ns(version));
        // The write's echo before its answer: held, and nothing asked at the answer.
        let pending = writes.begin("a");
        assert!(writes.asks_nothing(&event("11")));
        take(&mut writer, &writes, "11");
        pending.finish(ns("11"));
        assert_eq!(asked(), Vec::<String>::new());
        // A tenant's change while the write is in flight: asked for at the answer.
        let pending = writes.begin("a");
        for version in ["12", "13"] {
            assert!(writes.asks_nothing(&event(version)));
            take(&mut writer, &writes, version);
        }
        assert_eq!(asked(), Vec::<String>::new());
        pending.finish(ns("13"));
        assert_eq!(asked(), ["a"]);
        // A write that fails releases what it held; one that held nothing asks nothing.
        let pending = writes.begin("a");
        assert!(writes.asks_nothing(&event("14")));
        drop(pending);
        assert_eq!(asked(), ["a"]);
        drop(writes.begin("a"));
        assert_eq!(asked(), Vec::<String>::new());
        // No write in flight: an event that is not an echo asks at once.
        assert!(!writes.asks_nothing(&event("15")));
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
        assert!(writes.asks_nothing(&CachedNamespace::from(ns("11"))));
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
