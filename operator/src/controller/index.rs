//! Watch-fed indexes of the generated kinds by namespace. Every object of the kind is
//! indexed, not only the operator's own: the namespace reconciler needs to see a foreign
//! object that carries a generated name, and tenant NetworkPolicies that undo the default
//! deny, without a request of its own. A lookup costs what one namespace holds, whatever the
//! size of the cluster.
//!
//! A watch that restarts (its resource version expired, the API server came back) lists
//! everything again; the index then compares the new listing with what it held and reports
//! every namespace whose objects changed meanwhile, so the drift made while the watch was
//! down is repaired at once instead of at the next resync.
//!
//! The operator's own writes are known before their watch events arrive: a reconcile reads
//! the object as written rather than the version it replaced, and the event echoing the
//! write asks for no reconcile (the writer already knows the result).
//!
//! Objects are held as JSON text and parsed when a reconcile reads them: a parsed object
//! spends an allocation on every map of its spec and `managedFields` (about ten times its
//! text), and the index holds every object of the kind while a reconcile reads one
//! namespace's.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use kube::ResourceExt;
use kube::api::DynamicObject;
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::watch;

use super::trim;
use crate::core::render::ManagedKind;

/// Objects by namespace. A namespace holds a handful of objects of a kind: a list
/// searched by name costs less memory than a map (a B-tree node is some 700 bytes).
type ByNamespace = HashMap<String, Objects>;

/// The objects of one kind in one namespace.
#[derive(Clone, Default)]
struct Objects(Vec<Stored>);

impl Objects {
    #[cfg(test)]
    fn get(&self, name: &str) -> Option<&Stored> {
        self.0.iter().find(|o| &*o.name == name)
    }

    fn insert(&mut self, stored: Stored) {
        match self.0.iter_mut().find(|o| o.name == stored.name) {
            Some(slot) => *slot = stored,
            None => self.0.push(stored),
        }
    }

    fn remove(&mut self, name: &str) {
        self.0.retain(|o| &*o.name != name);
    }

    /// Name and resource version of each object, by name.
    fn versions(&self) -> Vec<(&str, Option<&str>)> {
        let mut versions: Vec<_> = self
            .0
            .iter()
            .map(|o| (&*o.name, o.resource_version.as_deref()))
            .collect();
        versions.sort_unstable();
        versions
    }
}

/// One object as the index keeps it: trimmed, as compact JSON.
#[derive(Clone)]
struct Stored {
    name: Box<str>,
    resource_version: Option<String>,
    json: Box<str>,
}

impl Stored {
    fn new(object: DynamicObject) -> Self {
        let object = trim::generated_object(object);
        Self {
            name: object.name_any().into_boxed_str(),
            resource_version: object.resource_version(),
            json: serde_json::to_string(&object)
                .expect("an object from the API server serializes")
                .into_boxed_str(),
        }
    }

    fn object(&self) -> Arc<DynamicObject> {
        Arc::new(serde_json::from_str(&self.json).expect("the index parses the JSON it wrote"))
    }
}

/// The objects of one kind, and whether the first complete listing arrived.
pub struct KindIndex {
    pub kind: ManagedKind,
    state: RwLock<IndexState>,
    synced: watch::Sender<bool>,
}

impl KindIndex {
    pub fn new(kind: ManagedKind) -> Self {
        Self {
            kind,
            state: RwLock::new(IndexState::default()),
            synced: watch::Sender::new(false),
        }
    }

    /// Every object of this kind in `namespace`, by name.
    pub fn in_namespace(&self, namespace: &str) -> Vec<Arc<DynamicObject>> {
        self.state
            .read()
            .expect("index lock")
            .in_namespace(namespace)
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<DynamicObject>> {
        self.in_namespace(namespace)
            .into_iter()
            .find(|o| o.name_any() == name)
    }

    /// The operator wrote `name` in `namespace` over version `before` (`None`: it did not
    /// exist); `after` is what the API server stored (`None`: deleted).
    pub fn record_write(
        &self,
        namespace: &str,
        name: &str,
        before: Option<String>,
        after: Option<DynamicObject>,
    ) {
        let mut state = self.state.write().expect("index lock");
        state
            .own_writes
            .entry(namespace.to_owned())
            .or_default()
            .insert(
                name.to_owned(),
                OwnWrite {
                    before,
                    after: after.map(Stored::new),
                },
            );
    }

    /// Waits until the first complete listing is indexed.
    pub async fn wait_until_synced(&self) {
        let mut synced = self.synced.subscribe();
        // The sender lives as long as `self`.
        let _ = synced.wait_for(|s| *s).await;
    }

    /// Takes one watch event; returns the namespaces whose objects it changed.
    pub fn apply(&self, event: watcher::Event<DynamicObject>) -> BTreeSet<String> {
        let (changed, synced) = {
            let mut state = self.state.write().expect("index lock");
            let changed = state.apply(event);
            (changed, state.synced)
        };
        if synced {
            self.synced
                .send_if_modified(|s| !std::mem::replace(s, true));
        }
        changed
    }
}

/// A write of the operator whose watch event has not arrived yet.
struct OwnWrite {
    /// The version the write replaced (`None`: the object did not exist).
    before: Option<String>,
    /// What the API server stored (`None`: the operator deleted it).
    after: Option<Stored>,
}

/// The index proper: pure, so its re-list rules are unit-tested.
#[derive(Default)]
struct IndexState {
    objects: ByNamespace,
    /// The operator's writes not seen on the watch yet, by namespace and name.
    own_writes: HashMap<String, HashMap<String, OwnWrite>>,
    /// A listing in progress: filled by `InitApply`, swapped in at `InitDone`.
    relisting: Option<ByNamespace>,
    /// A complete listing has been indexed at least once.
    synced: bool,
}

impl IndexState {
    /// The namespace's objects, with the operator's own writes in place of the versions
    /// they replaced while the watch has not caught up.
    fn in_namespace(&self, namespace: &str) -> Vec<Arc<DynamicObject>> {
        let mut objects: BTreeMap<&str, &Stored> = self
            .objects
            .get(namespace)
            .into_iter()
            .flat_map(|objects| &objects.0)
            .map(|stored| (&*stored.name, stored))
            .collect();
        for (name, write) in self.own_writes.get(namespace).into_iter().flatten() {
            let cached = objects
                .get(name.as_str())
                .and_then(|o| o.resource_version.as_ref());
            if cached == write.before.as_ref() {
                match &write.after {
                    Some(after) => objects.insert(name, after),
                    None => objects.remove(name.as_str()),
                };
            }
        }
        objects.into_values().map(Stored::object).collect()
    }

    /// Whether a watch event of `namespace`/`name` echoes the operator's own write (then it
    /// asks for no reconcile); either way the write is no longer pending.
    fn own_echo(&mut self, namespace: &str, name: &str, event_version: Option<String>) -> bool {
        let Some(writes) = self.own_writes.get_mut(namespace) else {
            return false;
        };
        let Some(write) = writes.remove(name) else {
            return false;
        };
        if writes.is_empty() {
            self.own_writes.remove(namespace);
        }
        match (&write.after, event_version) {
            (Some(after), Some(version)) => after.resource_version == Some(version),
            (None, None) => true,
            _ => false,
        }
    }

    fn apply(&mut self, event: watcher::Event<DynamicObject>) -> BTreeSet<String> {
        let mut changed = BTreeSet::new();
        match event {
            watcher::Event::Apply(object) => {
                if let Some(namespace) = object.namespace() {
                    let own =
                        self.own_echo(&namespace, &object.name_any(), object.resource_version());
                    self.objects
                        .entry(namespace.clone())
                        .or_default()
                        .insert(Stored::new(object));
                    if !own {
                        changed.insert(namespace);
                    }
                }
            }
            watcher::Event::Delete(object) => {
                if let Some(namespace) = object.namespace() {
                    let own = self.own_echo(&namespace, &object.name_any(), None);
                    if let Some(objects) = self.objects.get_mut(&namespace) {
                        objects.remove(&object.name_any());
                        if objects.0.is_empty() {
                            self.objects.remove(&namespace);
                        }
                    }
                    if !own {
                        changed.insert(namespace);
                    }
                }
            }
            watcher::Event::Init => self.relisting = Some(ByNamespace::new()),
            watcher::Event::InitApply(object) => {
                if let (Some(listing), Some(namespace)) =
                    (self.relisting.as_mut(), object.namespace())
                {
                    listing
                        .entry(namespace)
                        .or_default()
                        .insert(Stored::new(object));
                }
            }
            watcher::Event::InitDone => {
                let listing = self.relisting.take().unwrap_or_default();
                // The first listing needs no triggers: the controllers start with a full pass.
                if self.synced {
                    changed = changed_namespaces(&self.objects, &listing);
                }
                self.objects = listing;
                // A fresh listing shows every write made before it.
                self.own_writes.clear();
                self.synced = true;
            }
        }
        changed
    }
}

/// Namespaces whose objects differ between two listings (by name and resource version).
fn changed_namespaces(before: &ByNamespace, after: &ByNamespace) -> BTreeSet<String> {
    fn versions<'a>(listing: &'a ByNamespace, namespace: &str) -> Vec<(&'a str, Option<&'a str>)> {
        listing
            .get(namespace)
            .map(Objects::versions)
            .unwrap_or_default()
    }
    before
        .keys()
        .chain(after.keys())
        .filter(|namespace| versions(before, namespace) != versions(after, namespace))
        .cloned()
        .collect()
}

/// An object's JSON as the diff reads it.
pub fn to_value(object: &DynamicObject) -> Option<Value> {
    serde_json::to_value(object).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(namespace: &str, name: &str, version: &str) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": version},
            "spec": {"hard": {"pods": "1"}},
            "status": {"used": {"pods": "0"}},
        }))
        .unwrap()
    }

    fn names(namespaces: &[&str]) -> BTreeSet<String> {
        namespaces.iter().map(|s| s.to_string()).collect()
    }

    fn list(state: &mut IndexState, objects: Vec<DynamicObject>) -> BTreeSet<String> {
        let mut changed = state.apply(watcher::Event::Init);
        for o in objects {
            changed.extend(state.apply(watcher::Event::InitApply(o)));
        }
        changed.extend(state.apply(watcher::Event::InitDone));
        changed
    }

    #[test]
    fn a_relist_reports_the_namespaces_that_changed_while_the_watch_was_down() {
        let mut state = IndexState::default();
        let first = list(
            &mut state,
            vec![
                object("a", "q", "1"),
                object("b", "q", "2"),
                object("c", "q", "3"),
            ],
        );
        assert_eq!(first, names(&[]), "the first listing triggers nothing");
        assert!(state.synced);
        // Meanwhile: a's object edited, b's deleted, d's created; c untouched.
        let changed = list(
            &mut state,
            vec![
                object("a", "q", "7"),
                object("c", "q", "3"),
                object("d", "q", "8"),
            ],
        );
        assert_eq!(changed, names(&["a", "b", "d"]));
        assert!(!state.objects.contains_key("b"));
        assert_eq!(
            state.objects["a"]
                .get("q")
                .unwrap()
                .resource_version
                .as_deref(),
            Some("7")
        );
    }

    #[test]
    fn watch_events_report_their_namespace_and_statuses_are_dropped() {
        let mut state = IndexState::default();
        list(&mut state, vec![]);
        assert_eq!(
            state.apply(watcher::Event::Apply(object("a", "q", "1"))),
            names(&["a"])
        );
        assert!(
            state.objects["a"]
                .get("q")
                .unwrap()
                .object()
                .data
                .get("status")
                .is_none()
        );
        assert_eq!(
            state.apply(watcher::Event::Delete(object("a", "q", "1"))),
            names(&["a"])
        );
        assert!(state.objects.is_empty());
    }

    #[test]
    fn own_writes_are_read_before_their_events_and_their_echoes_trigger_nothing() {
        let mut state = IndexState::default();
        list(&mut state, vec![object("a", "q", "1")]);
        // The operator updates q (version 1 -> 2) and creates r.
        let update = |state: &mut IndexState, name: &str, before: Option<&str>, after: &str| {
            state.own_writes.entry("a".into()).or_default().insert(
                name.into(),
                OwnWrite {
                    before: before.map(str::to_owned),
                    after: Some(Stored::new(object("a", name, after))),
                },
            );
        };
        update(&mut state, "q", Some("1"), "2");
        update(&mut state, "r", None, "3");
        let versions = |state: &IndexState| {
            state
                .in_namespace("a")
                .iter()
                .map(|o| (o.name_any(), o.resource_version().unwrap()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            versions(&state),
            vec![("q".into(), "2".into()), ("r".into(), "3".into())]
        );
        // The echoes: nothing to reconcile.
        assert_eq!(
            state.apply(watcher::Event::Apply(object("a", "q", "2"))),
            names(&[])
        );
        assert_eq!(
            state.apply(watcher::Event::Apply(object("a", "r", "3"))),
            names(&[])
        );
        assert!(state.own_writes.is_empty());
        // Someone else's change after the operator's write is one.
        update(&mut state, "q", Some("2"), "4");
        assert_eq!(
            state.apply(watcher::Event::Apply(object("a", "q", "5"))),
            names(&["a"])
        );
        assert_eq!(
            versions(&state),
            vec![("q".into(), "5".into()), ("r".into(), "3".into())]
        );
    }

    #[test]
    fn objects_listed_during_a_relist_are_not_visible_before_it_completes() {
        let mut state = IndexState::default();
        list(&mut state, vec![object("a", "q", "1")]);
        state.apply(watcher::Event::Init);
        state.apply(watcher::Event::InitApply(object("a", "q", "2")));
        assert_eq!(
            state.objects["a"]
                .get("q")
                .unwrap()
                .resource_version
                .as_deref(),
            Some("1")
        );
    }
}
