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
//! write asks for no reconcile (the writer already knows the result). What the operator
//! remembers of a write can only stand in for an event the watch has not delivered yet,
//! never hide one that arrived first: a watch delivers a kind's events in resource version
//! order, and resource versions of one resource compare (Kubernetes 1.35, KEP-5504), so a
//! write is shown only while its resource version is newer than every event the index took
//! (a tenant who deletes the object after the write deletes it at a newer version). An
//! event that changes only what the index drops (`trim::generated_object`: the status and
//! its writers, such as the quota controller's usage) asks for no reconcile. A write
//! that began before a re-list completed is not compared with the new listing at all.
//! A write's event often arrives before the write's answer: an event of an object the
//! operator is writing is held until the answer tells whether it is the write's own (same
//! resource version: it asks for nothing) or anything else (it asks for the reconcile it
//! would have asked for, then); a write that fails or is abandoned releases what it held.
//!
//! Objects are held as JSON text and parsed when a reconcile reads them: a parsed object
//! spends an allocation on every map of its spec and `managedFields` (about ten times its
//! text), and the index holds every object of the kind while a reconcile reads one
//! namespace's. What differs from object to object (name, uid, resource version) is kept
//! apart, and the rest of the text (labels, ownerReferences, `managedFields`, spec; see
//! `trim::generated_object` for what is dropped) is shared by every object with the same
//! text: a profile's objects are alike in every namespace it governs, so 10,000 namespaces
//! hold a handful of texts, not 50,000.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use kube::ResourceExt;
use kube::api::DynamicObject;
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::watch;

use super::state::InFlight;
use super::trim;
use crate::core::render::ManagedKind;
use crate::core::resource_version;

/// Objects by namespace. A namespace holds a handful of objects of a kind: a list
/// searched by name costs less memory than a map (a B-tree node is some 700 bytes).
type ByNamespace = HashMap<String, Objects>;

/// The objects of one kind in one namespace.
#[derive(Clone, Default)]
struct Objects(Vec<Stored>);

impl Objects {
    fn find(&self, name: &str) -> Option<&Stored> {
        self.0.iter().find(|o| &*o.name == name)
    }

    #[cfg(test)]
    fn get(&self, name: &str) -> Option<&Stored> {
        self.find(name)
    }

    fn insert(&mut self, stored: Stored) {
        match self.0.iter_mut().find(|o| o.name == stored.name) {
            Some(slot) => *slot = stored,
            None => {
                self.0.push(stored);
                // A push grows the list to 4, 8...: with one quota or three policies per
                // namespace most of that stays empty, in every namespace.
                self.0.shrink_to_fit();
            }
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

/// One object as the index keeps it: trimmed, its name, uid and resource version apart,
/// the rest as compact JSON shared with every object of the same text ([`Texts`]).
#[derive(Clone)]
struct Stored {
    name: Arc<str>,
    resource_version: Option<Box<str>>,
    uid: Option<Box<str>>,
    body: Arc<str>,
}

impl Stored {
    fn new(object: DynamicObject, texts: &mut Texts) -> Self {
        let mut object = trim::generated_object(object);
        let metadata = &mut object.metadata;
        let name = texts.get(metadata.name.as_deref().unwrap_or_default());
        let resource_version = metadata.resource_version.take().map(String::into_boxed_str);
        let uid = metadata.uid.take().map(String::into_boxed_str);
        // The namespace is the index's key; the name is kept apart.
        metadata.name = None;
        metadata.namespace = None;
        let body =
            serde_json::to_string(&object).expect("an object from the API server serializes");
        Self {
            name,
            resource_version,
            uid,
            body: texts.get(&body),
        }
    }

    /// The object in `namespace` as a reconcile reads it.
    fn object(&self, namespace: &str) -> Arc<DynamicObject> {
        let mut object: DynamicObject =
            serde_json::from_str(&self.body).expect("the index parses the JSON it wrote");
        let metadata = &mut object.metadata;
        metadata.name = Some(self.name.to_string());
        metadata.namespace = Some(namespace.to_owned());
        metadata.uid = self.uid.as_deref().map(str::to_owned);
        metadata.resource_version = self.resource_version.as_deref().map(str::to_owned);
        Arc::new(object)
    }

    fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }

    /// Whether `other` reads as this object (the same object, the same kept text; the
    /// resource version aside).
    fn reads_as(&self, other: &Stored) -> bool {
        self.uid == other.uid && self.body == other.body
    }
}

/// Every distinct text the index holds (object bodies and names), once: an object keeps a
/// reference to it. Texts no object refers to any more are dropped whenever the set has
/// doubled since the last time that was done, so it stays within twice what is in use.
#[derive(Default)]
struct Texts {
    set: HashSet<Arc<str>>,
    /// The set's size after the last removal of unused texts.
    kept: usize,
}

impl Texts {
    /// Texts below this many are never swept: sweeping costs a pass over the set.
    const SWEEP_FLOOR: usize = 1024;

    fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.set.get(text) {
            return shared.clone();
        }
        if self.set.len() >= 2 * self.kept.max(Self::SWEEP_FLOOR) {
            self.set.retain(|t| Arc::strong_count(t) > 1);
            self.kept = self.set.len();
        }
        let shared: Arc<str> = Arc::from(text);
        self.set.insert(shared.clone());
        shared
    }
}

/// The objects of one kind, and whether the first complete listing arrived.
pub struct KindIndex {
    pub kind: ManagedKind,
    state: RwLock<IndexState>,
    synced: watch::Sender<bool>,
    /// Asks for a namespace's reconcile: for the events held while a write was in flight.
    trigger: Box<dyn Fn(String) + Send + Sync>,
}

/// One of the operator's writes in flight ([`KindIndex::begin_write`]): finished with the
/// API server's answer ([`PendingWrite::finish`]); dropped unfinished (the write failed, or
/// it was not made), it releases the events it held.
pub struct PendingWrite<'a> {
    index: &'a KindIndex,
    token: WriteToken,
    namespace: String,
    name: String,
    finished: bool,
}

impl PendingWrite<'_> {
    /// The API server answered the write with `written`.
    pub fn finish(mut self, written: Written) {
        self.finished = true;
        self.index
            .record_write(self.token, &self.namespace, &self.name, written);
    }
}

impl Drop for PendingWrite<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let held = self
                .index
                .state
                .write()
                .expect("index lock")
                .end_flight(&self.namespace, &self.name);
            if !held.is_empty() {
                (self.index.trigger)(self.namespace.clone());
            }
        }
    }
}

/// Taken before a write ([`KindIndex::write_token`]) and handed back with its result: the
/// listing the write began under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteToken {
    listing: u64,
}

/// What an own write left on the API server.
pub enum Written {
    /// The object as stored.
    Stored(Box<DynamicObject>),
    /// Deleted: the object with this uid (the delete was conditional on it).
    Deleted { uid: String },
}

impl KindIndex {
    /// An empty index of `kind`; `trigger` asks for a namespace's reconcile.
    pub fn new(kind: ManagedKind, trigger: impl Fn(String) + Send + Sync + 'static) -> Self {
        Self {
            kind,
            state: RwLock::new(IndexState::default()),
            synced: watch::Sender::new(false),
            trigger: Box::new(trigger),
        }
    }

    /// Every object of this kind in `namespace`, by name.
    pub fn in_namespace(&self, namespace: &str) -> Vec<Arc<DynamicObject>> {
        self.state
            .read()
            .expect("index lock")
            .in_namespace(namespace)
    }

    /// The object `name` in `namespace`, as [`KindIndex::in_namespace`] shows it: only
    /// that one is parsed.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<DynamicObject>> {
        let state = self.state.read().expect("index lock");
        state
            .visible(namespace)
            .get(name)
            .map(|stored| stored.object(namespace))
    }

    /// Taken right before the operator writes `name` in `namespace`: until the write is
    /// finished (or dropped), the object's events are held.
    pub fn begin_write(&self, namespace: &str, name: &str) -> PendingWrite<'_> {
        let mut state = self.state.write().expect("index lock");
        state.begin_flight(namespace, name);
        PendingWrite {
            index: self,
            token: WriteToken {
                listing: state.listings,
            },
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            finished: false,
        }
    }

    /// The operator wrote `name` in `namespace`; `written` is what the API server answered.
    /// An event held meanwhile that is not the write's own asks for the reconcile now.
    fn record_write(&self, token: WriteToken, namespace: &str, name: &str, written: Written) {
        let foreign = self
            .state
            .write()
            .expect("index lock")
            .record_write(token, namespace, name, written);
        if foreign {
            (self.trigger)(namespace.to_owned());
        }
    }

    /// Takes one watch event and asks for the reconciles it calls for.
    pub fn take(&self, event: watcher::Event<DynamicObject>) {
        for namespace in self.apply(event) {
            (self.trigger)(namespace);
        }
    }

    /// Waits until the first complete listing is indexed.
    pub async fn wait_until_synced(&self) {
        let mut synced = self.synced.subscribe();
        // The sender lives as long as `self`.
        let _ = synced.wait_for(|s| *s).await;
    }

    /// Takes one watch event; returns the namespaces whose objects it changed.
    fn apply(&self, event: watcher::Event<DynamicObject>) -> BTreeSet<String> {
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
enum OwnWrite {
    /// What the API server stored, at a version newer than any event taken when recorded.
    Stored(Stored),
    /// The object with this uid deleted (another object of the name is someone else's).
    Deleted { uid: String },
}

/// An event of an object taken while the operator's write of it was in flight.
#[derive(Debug, PartialEq, Eq)]
enum Held {
    /// Created or updated, at this resource version.
    Applied(Option<String>),
    /// Deleted: the object of this uid.
    Deleted(Option<String>),
}

impl Held {
    /// Whether this event is the write's own (the write answered `written`).
    fn echoes(&self, written: &Written) -> bool {
        match (self, written) {
            (Held::Applied(Some(version)), Written::Stored(object)) => {
                object.metadata.resource_version.as_deref() == Some(version.as_str())
            }
            (Held::Deleted(Some(uid)), Written::Deleted { uid: written }) => uid == written,
            _ => false,
        }
    }
}

/// The index proper: pure, so its re-list rules and its handling of own writes are
/// unit-tested (and model-checked against a simulated API server, `model` below).
#[derive(Default)]
struct IndexState {
    objects: ByNamespace,
    /// The operator's writes not seen on the watch yet, by namespace and name.
    own_writes: HashMap<String, HashMap<String, OwnWrite>>,
    /// The operator's writes in flight (no answer yet), by namespace and name, with the
    /// events of the object taken meanwhile (they ask for no reconcile until the answer).
    in_flight: InFlight<(String, String), Held>,
    /// A listing in progress: filled by `InitApply`, swapped in at `InitDone`.
    relisting: Option<ByNamespace>,
    /// A complete listing has been indexed at least once.
    synced: bool,
    /// Completed listings so far: a write begun under an earlier one is not recorded.
    listings: u64,
    /// The newest resource version of every event and listed object taken.
    newest: Option<String>,
    /// The texts the objects share.
    texts: Texts,
}

impl IndexState {
    /// The namespace's objects, with the operator's own writes that the watch has not
    /// delivered yet in place of what they replaced.
    fn in_namespace(&self, namespace: &str) -> Vec<Arc<DynamicObject>> {
        self.visible(namespace)
            .into_values()
            .map(|stored| stored.object(namespace))
            .collect()
    }

    /// The namespace's objects as [`IndexState::in_namespace`] shows them, by name, not
    /// parsed.
    fn visible(&self, namespace: &str) -> BTreeMap<&str, &Stored> {
        let mut objects: BTreeMap<&str, &Stored> = self
            .objects
            .get(namespace)
            .into_iter()
            .flat_map(|objects| &objects.0)
            .map(|stored| (&*stored.name, stored))
            .collect();
        for (name, write) in self.own_writes.get(namespace).into_iter().flatten() {
            match write {
                OwnWrite::Stored(after) => {
                    if self.undelivered(after.resource_version.as_deref()) {
                        objects.insert(name, after);
                    }
                }
                OwnWrite::Deleted { uid } => {
                    if objects
                        .get(name.as_str())
                        .is_some_and(|cached| cached.uid() == Some(uid.as_str()))
                    {
                        objects.remove(name.as_str());
                    }
                }
            }
        }
        objects
    }

    /// Whether `version` is newer than every event taken: the watch has not delivered it.
    /// Unknown versions are treated as delivered (the cache is then read as it is).
    fn undelivered(&self, version: Option<&str>) -> bool {
        match (version, &self.newest) {
            (Some(version), Some(newest)) => resource_version::newer(version, newest),
            (Some(version), None) => resource_version::compare(version, version).is_some(),
            (None, _) => false,
        }
    }

    fn begin_flight(&mut self, namespace: &str, name: &str) {
        self.in_flight
            .begin((namespace.to_owned(), name.to_owned()));
    }

    /// The events held for the write of `namespace`/`name`, which is no longer in flight.
    fn end_flight(&mut self, namespace: &str, name: &str) -> Vec<Held> {
        if self.in_flight.is_empty() {
            return Vec::new();
        }
        self.in_flight.end(&(namespace.to_owned(), name.to_owned()))
    }

    /// Holds an event of `namespace`/`object` while the operator's write of it is in
    /// flight: whether it was held.
    fn hold(&mut self, namespace: &str, object: &DynamicObject, deletion: bool) -> bool {
        // The key is built only while some write is in flight.
        if self.in_flight.is_empty() {
            return false;
        }
        self.in_flight
            .hold(&(namespace.to_owned(), object.name_any()), || {
                if deletion {
                    Held::Deleted(object.metadata.uid.clone())
                } else {
                    Held::Applied(object.metadata.resource_version.clone())
                }
            })
    }

    /// Records the answer to a write; whether an event held while it was in flight was not
    /// the write's own (it asks for a reconcile now).
    fn record_write(
        &mut self,
        token: WriteToken,
        namespace: &str,
        name: &str,
        written: Written,
    ) -> bool {
        let foreign = self
            .end_flight(namespace, name)
            .iter()
            .any(|held| !held.echoes(&written));
        self.record_answer(token, namespace, name, written);
        foreign
    }

    fn record_answer(&mut self, token: WriteToken, namespace: &str, name: &str, written: Written) {
        // A listing completed meanwhile may or may not show the write: it is not compared.
        if token.listing != self.listings {
            return;
        }
        let write = match written {
            Written::Stored(object) => {
                // Its event is here already (and maybe newer ones): nothing to remember.
                if !self.undelivered(object.metadata.resource_version.as_deref()) {
                    self.forget_write(namespace, name);
                    return;
                }
                OwnWrite::Stored(Stored::new(*object, &mut self.texts))
            }
            Written::Deleted { uid } => {
                // Its event is here already (the object is gone, or another one took the
                // name): nothing to hide.
                let hides = self
                    .objects
                    .get(namespace)
                    .and_then(|o| o.find(name))
                    .is_some_and(|cached| cached.uid() == Some(uid.as_str()));
                if !hides {
                    self.forget_write(namespace, name);
                    return;
                }
                OwnWrite::Deleted { uid }
            }
        };
        self.own_writes
            .entry(namespace.to_owned())
            .or_default()
            .insert(name.to_owned(), write);
    }

    fn forget_write(&mut self, namespace: &str, name: &str) -> Option<OwnWrite> {
        let writes = self.own_writes.get_mut(namespace)?;
        let write = writes.remove(name);
        if writes.is_empty() {
            self.own_writes.remove(namespace);
        }
        write
    }

    /// Takes the event of `namespace`/`name` at `version` (`None`: a deletion) into account
    /// for the operator's pending write there: whether it echoes that write (then it asks
    /// for no reconcile), and for an update the write as recorded (an object's content at a
    /// resource version is the same in the write's answer and in its watch event, so the
    /// recorded text stands for the event's without trimming and serializing it again).
    /// The write is forgotten once the event is at least as new.
    fn own_echo(
        &mut self,
        namespace: &str,
        object: &DynamicObject,
        deletion: bool,
    ) -> (bool, Option<Stored>) {
        let name = object.name_any();
        let name = name.as_str();
        let version = object.metadata.resource_version.as_deref();
        let event_uid = object.metadata.uid.as_deref();
        let Some(write) = self
            .own_writes
            .get(namespace)
            .and_then(|writes| writes.get(name))
        else {
            return (false, None);
        };
        let (echo, settled) = match write {
            OwnWrite::Stored(after) => {
                let written = after.resource_version.as_deref();
                let echo = !deletion && version.is_some() && written == version;
                // An older event (a change from before the write) leaves the write standing.
                let older = match (version, written) {
                    (Some(v), Some(w)) => resource_version::newer(w, v),
                    _ => false,
                };
                (echo, !older)
            }
            // The deletion's own event names the deleted object's uid; an event of another
            // object of the name (an older one's deletion, a new one) is someone else's. An
            // update of the deleted object delivered late leaves it deleted.
            OwnWrite::Deleted { uid } => {
                let same = event_uid == Some(uid.as_str());
                (deletion && same, !same || deletion)
            }
        };
        // An echo is always settled (its version is the write's).
        let recorded = match settled.then(|| self.forget_write(namespace, name)) {
            Some(Some(OwnWrite::Stored(stored))) if echo => Some(stored),
            _ => None,
        };
        (echo, recorded)
    }

    fn take_version(&mut self, version: Option<&str>) {
        if let Some(version) = version
            && resource_version::compare(version, version).is_some()
        {
            let newest = match &self.newest {
                Some(newest) => resource_version::max(newest, version).to_owned(),
                None => version.to_owned(),
            };
            self.newest = Some(newest);
        }
    }

    fn apply(&mut self, event: watcher::Event<DynamicObject>) -> BTreeSet<String> {
        let mut changed = BTreeSet::new();
        match event {
            watcher::Event::Apply(object) => {
                if let Some(namespace) = object.namespace() {
                    let version = object.resource_version();
                    self.take_version(version.as_deref());
                    let (own, recorded) = self.own_echo(&namespace, &object, false);
                    let held = !own && self.hold(&namespace, &object, false);
                    let stored = match recorded {
                        Some(stored) => stored,
                        None => Stored::new(object, &mut self.texts),
                    };
                    let objects = self.objects.entry(namespace.clone()).or_default();
                    // A change of what the index drops (a status written by a controller,
                    // such as the quota's usage) leaves what a reconcile reads as it was.
                    let unchanged = objects
                        .find(&stored.name)
                        .is_some_and(|before| before.reads_as(&stored));
                    objects.insert(stored);
                    if !own && !held && !unchanged {
                        changed.insert(namespace);
                    }
                }
            }
            watcher::Event::Delete(object) => {
                if let Some(namespace) = object.namespace() {
                    // A deletion's event carries the version of the deletion.
                    let version = object.resource_version();
                    self.take_version(version.as_deref());
                    let (own, _) = self.own_echo(&namespace, &object, true);
                    let held = !own && self.hold(&namespace, &object, true);
                    if let Some(objects) = self.objects.get_mut(&namespace) {
                        objects.remove(&object.name_any());
                        if objects.0.is_empty() {
                            self.objects.remove(&namespace);
                        }
                    }
                    if !own && !held {
                        changed.insert(namespace);
                    }
                }
            }
            watcher::Event::Init => self.relisting = Some(ByNamespace::new()),
            watcher::Event::InitApply(object) => {
                self.take_version(object.resource_version().as_deref());
                if let (Some(listing), Some(namespace)) =
                    (self.relisting.as_mut(), object.namespace())
                {
                    listing
                        .entry(namespace)
                        .or_default()
                        .insert(Stored::new(object, &mut self.texts));
                }
            }
            watcher::Event::InitDone => {
                let listing = self.relisting.take().unwrap_or_default();
                // The first listing needs no triggers: the controllers start with a full pass.
                if self.synced {
                    changed = changed_namespaces(&self.objects, &listing);
                }
                self.objects = listing;
                // A fresh listing shows every write made before it, and writes still in
                // flight are not compared with it.
                self.own_writes.clear();
                self.listings += 1;
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

    /// An index whose reconcile requests are recorded.
    fn asking() -> (KindIndex, Arc<std::sync::Mutex<Vec<String>>>) {
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let index = KindIndex::new(ManagedKind::ResourceQuota, {
            let asked = asked.clone();
            move |namespace| asked.lock().unwrap().push(namespace)
        });
        (index, asked)
    }

    #[test]
    fn events_during_a_write_ask_for_a_reconcile_unless_they_are_the_writes_own() {
        let (index, asked) = asking();
        let asked = || std::mem::take(&mut *asked.lock().unwrap());
        index.take(watcher::Event::Init);
        index.take(watcher::Event::InitApply(object("a", "q", "1")));
        index.take(watcher::Event::InitDone);
        let stored = |version: &str| Written::Stored(Box::new(object("a", "q", version)));
        // The write's echo before its answer: nothing asked, then or at the answer.
        let pending = index.begin_write("a", "q");
        index.take(watcher::Event::Apply(object("a", "q", "2")));
        pending.finish(stored("2"));
        assert_eq!(asked(), Vec::<String>::new());
        // A tenant's change (before the write, or after it) while the write is in flight:
        // asked for once the answer is here.
        for (events, own) in [(["3", "4"], "4"), (["5", "6"], "5")] {
            let pending = index.begin_write("a", "q");
            for version in events {
                index.take(watcher::Event::Apply(object("a", "q", version)));
            }
            assert_eq!(asked(), Vec::<String>::new(), "held while in flight");
            pending.finish(stored(own));
            assert_eq!(asked(), ["a"]);
        }
        // Other objects and namespaces ask at once.
        let pending = index.begin_write("a", "q");
        index.take(watcher::Event::Apply(object("a", "r", "7")));
        index.take(watcher::Event::Apply(object("b", "q", "7")));
        assert_eq!(asked(), ["a", "b"]);
        // A write that fails releases what it held; one that held nothing asks nothing.
        index.take(watcher::Event::Apply(object("a", "q", "8")));
        drop(pending);
        assert_eq!(asked(), ["a"]);
        drop(index.begin_write("a", "q"));
        assert_eq!(asked(), Vec::<String>::new());
        // Deletions: the operator's own (by uid) asks nothing, another object's does.
        let with_uid = |version: &str, uid: &str| {
            let mut o = object("a", "q", version);
            o.metadata.uid = Some(uid.to_owned());
            o
        };
        index.take(watcher::Event::Apply(with_uid("9", "u1")));
        asked();
        let pending = index.begin_write("a", "q");
        index.take(watcher::Event::Delete(with_uid("10", "u1")));
        pending.finish(Written::Deleted { uid: "u1".into() });
        assert_eq!(asked(), Vec::<String>::new());
        index.take(watcher::Event::Apply(with_uid("11", "u2")));
        asked();
        let pending = index.begin_write("a", "q");
        index.take(watcher::Event::Delete(with_uid("12", "u2")));
        pending.finish(Written::Deleted { uid: "u1".into() });
        assert_eq!(asked(), ["a"]);
        assert!(index.state.read().unwrap().in_flight.is_empty());
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
                .object("a")
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

    /// The echo of an own write is not trimmed and serialized again: the index keeps what
    /// it recorded of the write (at one resource version an object has one content; here
    /// the event is made to differ only to tell which of the two the index kept).
    #[test]
    fn an_echo_keeps_what_was_recorded_of_its_write() {
        let mut state = IndexState::default();
        list(&mut state, vec![object("a", "q", "1")]);
        let with_pods = |version: &str, pods: &str| {
            let mut object = object("a", "q", version);
            object.data["spec"]["hard"]["pods"] = serde_json::json!(pods);
            object
        };
        let write = |state: &mut IndexState, object: DynamicObject| {
            let token = WriteToken {
                listing: state.listings,
            };
            state.record_write(token, "a", "q", Written::Stored(Box::new(object)));
        };
        let pods = |state: &IndexState| {
            let kept = state.objects["a"].get("q").unwrap().object("a");
            (
                kept.data["spec"]["hard"]["pods"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                kept.resource_version().unwrap(),
            )
        };
        write(&mut state, with_pods("2", "7"));
        assert_eq!(
            state.apply(watcher::Event::Apply(with_pods("2", "8"))),
            names(&[])
        );
        assert_eq!(pods(&state), ("7".into(), "2".into()));
        // An event at another version is taken from the event.
        write(&mut state, with_pods("4", "7"));
        assert_eq!(
            state.apply(watcher::Event::Apply(with_pods("5", "9"))),
            names(&["a"])
        );
        assert_eq!(pods(&state), ("9".into(), "5".into()));
    }

    #[test]
    fn own_writes_are_read_before_their_events_and_their_echoes_trigger_nothing() {
        let mut state = IndexState::default();
        list(&mut state, vec![object("a", "q", "1")]);
        // The operator updates q (version 1 -> 2) and creates r.
        let write = |state: &mut IndexState, name: &str, version: &str| {
            let token = WriteToken {
                listing: state.listings,
            };
            state.record_write(
                token,
                "a",
                name,
                Written::Stored(Box::new(object("a", name, version))),
            );
        };
        write(&mut state, "q", "2");
        write(&mut state, "r", "3");
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
        // What an echo leaves in the index is what its event gives.
        let event = object("a", "q", "2");
        let from_event = Stored::new(event, &mut Texts::default()).object("a");
        assert_eq!(
            serde_json::to_value(state.objects["a"].get("q").unwrap().object("a").as_ref())
                .unwrap(),
            serde_json::to_value(from_event.as_ref()).unwrap()
        );
        // Someone else's change after the operator's write is one; a controller's write
        // of the status alone is not (the index keeps no status).
        write(&mut state, "q", "4");
        let mut edited = object("a", "q", "5");
        edited.data["spec"]["hard"]["pods"] = json!("2");
        assert_eq!(
            state.apply(watcher::Event::Apply(edited.clone())),
            names(&["a"])
        );
        edited.metadata.resource_version = Some("6".into());
        edited.data["status"]["used"]["pods"] = json!("1");
        assert_eq!(state.apply(watcher::Event::Apply(edited)), names(&[]));
        assert_eq!(
            versions(&state),
            vec![("q".into(), "6".into()), ("r".into(), "3".into())]
        );
    }

    /// The race a tenant won before: the operator creates q, the tenant deletes it, both
    /// events arrive before the create's response is recorded. The index must show q gone.
    #[test]
    fn a_write_recorded_after_a_later_deletion_arrived_shows_nothing() {
        let mut state = IndexState::default();
        list(&mut state, vec![]);
        let token = WriteToken {
            listing: state.listings,
        };
        assert_eq!(
            state.apply(watcher::Event::Apply(object("a", "q", "7"))),
            names(&["a"])
        );
        assert_eq!(
            state.apply(watcher::Event::Delete(object("a", "q", "8"))),
            names(&["a"])
        );
        state.record_write(
            token,
            "a",
            "q",
            Written::Stored(Box::new(object("a", "q", "7"))),
        );
        assert!(state.in_namespace("a").is_empty());
        assert!(state.own_writes.is_empty(), "nothing left to remember");
    }

    /// A write in flight while the watch re-listed is not compared with the new listing,
    /// which may or may not show it.
    #[test]
    fn a_write_begun_before_a_relist_is_not_recorded() {
        let mut state = IndexState::default();
        list(&mut state, vec![object("a", "other", "3")]);
        let token = WriteToken {
            listing: state.listings,
        };
        list(&mut state, vec![object("a", "other", "3")]);
        state.record_write(
            token,
            "a",
            "q",
            Written::Stored(Box::new(object("a", "q", "5"))),
        );
        assert_eq!(state.in_namespace("a").len(), 1);
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

#[cfg(test)]
mod model {
    //! The index against a model of the API server: own writes, foreign writes and deletes,
    //! watch events delivered late and in order, write responses recorded late, re-lists.
    //! After every step the index shows only what the server had since the newest event
    //! delivered; once everything is delivered and recorded it shows what the server has,
    //! and every change of a tenant asked for a reconcile.
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use std::collections::VecDeque;

    const NAMES: [&str; 2] = ["p", "q"];

    #[derive(Clone, Debug)]
    enum Step {
        OwnApply(usize),
        OwnDelete(usize),
        ForeignApply(usize),
        ForeignDelete(usize),
        /// A controller writes the status of the object (its usage): nothing a reconcile
        /// reads changes.
        StatusWrite(usize),
        Deliver,
        Record(usize),
        Relist,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            1 => (0..NAMES.len()).prop_map(Step::OwnApply),
            1 => (0..NAMES.len()).prop_map(Step::OwnDelete),
            1 => (0..NAMES.len()).prop_map(Step::ForeignApply),
            1 => (0..NAMES.len()).prop_map(Step::ForeignDelete),
            1 => (0..NAMES.len()).prop_map(Step::StatusWrite),
            3 => Just(Step::Deliver),
            2 => (0..4usize).prop_map(Step::Record),
            1 => Just(Step::Relist),
        ]
    }

    /// One state of a name on the server: who wrote it and the uid of the object.
    impl Live {
        fn at(&self, name: &str, version: u64) -> DynamicObject {
            object(
                name,
                version,
                &self.writer,
                self.uid,
                self.content,
                self.status,
            )
        }
    }

    #[derive(Clone, Debug, PartialEq)]
    struct Live {
        writer: String,
        uid: u64,
        /// The version of the write that set the spec.
        content: u64,
        /// The version of the last status write, if any.
        status: Option<u64>,
    }

    /// `name` at `version` as `writer` left it: its spec names the version of that write
    /// (every write changes what a reconcile reads), and a status written at `status`.
    fn object(
        name: &str,
        version: u64,
        writer: &str,
        uid: u64,
        content: u64,
        status: Option<u64>,
    ) -> DynamicObject {
        let mut o = json!({
            "apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": version.to_string(),
                         "uid": uid.to_string(), "labels": {"writer": writer}},
            "spec": {"hard": {"pods": content.to_string()}},
        });
        if let Some(status) = status {
            o["status"] = json!({"used": {"pods": status.to_string()}});
        }
        serde_json::from_value(o).unwrap()
    }

    /// A response to one of the operator's writes, not recorded in the index yet.
    struct Response<'a> {
        pending: PendingWrite<'a>,
        written: Written,
    }

    /// The API server: every name's history, and the events its watch has not delivered.
    #[derive(Default)]
    struct Server {
        version: u64,
        /// Per name: (version, the state from then on; `None`: deleted), oldest first.
        history: BTreeMap<&'static str, Vec<(u64, Option<Live>)>>,
        queue: VecDeque<watcher::Event<DynamicObject>>,
        /// Newest version the index took an event (or listing) of.
        delivered: u64,
    }

    impl Server {
        fn now(&self, name: &str) -> Option<(u64, Live)> {
            let (version, live) = self.history.get(name)?.last()?;
            live.clone().map(|l| (*version, l))
        }

        /// Creates or updates `name` as `writer`.
        fn write(&mut self, name: &'static str, writer: &str) -> DynamicObject {
            self.version += 1;
            let v = self.version;
            let before = self.now(name).map(|(_, live)| live);
            let live = Live {
                writer: writer.to_owned(),
                uid: before.as_ref().map_or(v, |l| l.uid),
                content: v,
                status: before.and_then(|l| l.status),
            };
            let o = live.at(name, v);
            self.history.entry(name).or_default().push((v, Some(live)));
            self.queue.push_back(watcher::Event::Apply(o.clone()));
            o
        }

        /// A controller writes `name`'s status (if it exists).
        fn write_status(&mut self, name: &'static str) {
            let Some((_, mut live)) = self.now(name) else {
                return;
            };
            self.version += 1;
            let v = self.version;
            live.status = Some(v);
            let o = live.at(name, v);
            self.history.entry(name).or_default().push((v, Some(live)));
            self.queue.push_back(watcher::Event::Apply(o));
        }

        /// Deletes `name` (if it exists) as `deleter`: the deleted object's uid.
        fn delete(&mut self, name: &'static str, deleter: &str) -> Option<u64> {
            let (_, live) = self.now(name)?;
            self.version += 1;
            let v = self.version;
            self.history.entry(name).or_default().push((v, None));
            // A delete event carries the deleted object, at the deletion's version.
            self.queue.push_back(watcher::Event::Delete(object(
                name,
                v,
                deleter,
                live.uid,
                live.content,
                live.status,
            )));
            Some(live.uid)
        }

        /// Whether the index's view of `name` is a state the server had at some version
        /// between the newest delivered one and now.
        fn possible(&self, name: &str, view: &Option<(u64, String)>) -> bool {
            let history = self.history.get(name).cloned().unwrap_or_default();
            let at = |t: u64| {
                history
                    .iter()
                    .rev()
                    .find(|(v, _)| *v <= t)
                    .and_then(|(v, live)| live.clone().map(|l| (*v, l.writer)))
            };
            (self.delivered..=self.version).any(|t| at(t) == *view)
        }
    }

    fn view(index: &KindIndex, name: &str) -> Option<(u64, String)> {
        let one = index.get("ns", name);
        // `get` shows what `in_namespace` shows of the name.
        let listed = index
            .in_namespace("ns")
            .into_iter()
            .find(|o| o.name_any() == name);
        assert_eq!(
            one.as_ref()
                .map(|o| serde_json::to_value(o.as_ref()).unwrap()),
            listed.map(|o| serde_json::to_value(o.as_ref()).unwrap())
        );
        one.map(|o| {
            (
                o.resource_version().unwrap().parse().unwrap(),
                o.labels()["writer"].clone(),
            )
        })
    }

    fn version_of(event: &watcher::Event<DynamicObject>) -> u64 {
        match event {
            watcher::Event::Apply(o) | watcher::Event::Delete(o) => {
                o.resource_version().unwrap().parse().unwrap()
            }
            _ => 0,
        }
    }

    /// Whether the event is a tenant's change (a status write is not: it leaves the
    /// object's writer as it was, so only its version tells it apart).
    fn tenants(event: &watcher::Event<DynamicObject>) -> bool {
        match event {
            watcher::Event::Delete(o) => o.labels()["writer"] == "tenant",
            watcher::Event::Apply(o) => {
                let version = o.resource_version().unwrap();
                o.labels()["writer"] == "tenant"
                    && o.data["spec"]["hard"]["pods"].as_str() == Some(version.as_str())
            }
            _ => false,
        }
    }

    /// Reconciles asked for of namespace "ns" so far.
    type Asked = Arc<std::sync::atomic::AtomicUsize>;

    fn asked(count: &Asked) -> usize {
        count.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Delivers the next event; whether a tenant's change is still owed a reconcile.
    fn deliver(index: &KindIndex, count: &Asked, server: &mut Server, owed: bool) -> bool {
        let Some(event) = server.queue.pop_front() else {
            return owed;
        };
        let tenants = tenants(&event);
        server.delivered = version_of(&event);
        let before = asked(count);
        index.take(event);
        (owed || tenants) && asked(count) == before
    }

    /// A re-list: the queue is dropped, the server listed; whether it asked for a reconcile.
    fn relist(index: &KindIndex, count: &Asked, server: &mut Server) -> bool {
        server.queue.clear();
        let before = asked(count);
        index.take(watcher::Event::Init);
        for name in NAMES {
            if let Some((v, live)) = server.now(name) {
                index.take(watcher::Event::InitApply(live.at(name, v)));
            }
        }
        server.delivered = server.version;
        index.take(watcher::Event::InitDone);
        asked(count) > before
    }

    fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
        let count = Asked::default();
        let index = KindIndex::new(ManagedKind::ResourceQuota, {
            let count = count.clone();
            move |namespace| {
                assert_eq!(namespace, "ns");
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let mut server = Server::default();
        let mut responses: Vec<Response> = Vec::new();
        // A tenant's change was delivered and no reconcile asked for since.
        let mut owed = false;
        relist(&index, &count, &mut server);
        for step in steps {
            // A write that ends (answered, or not made) may ask for the reconcile.
            let before = asked(&count);
            match step {
                Step::OwnApply(i) => {
                    let name = NAMES[i];
                    let pending = index.begin_write("ns", name);
                    let written = Written::Stored(Box::new(server.write(name, "operator")));
                    responses.push(Response { pending, written });
                }
                Step::OwnDelete(i) => {
                    // The operator deletes what its index shows, on condition of its uid.
                    let name = NAMES[i];
                    let Some(live) = index.get("ns", name) else {
                        continue;
                    };
                    let uid = live.metadata.uid.clone().unwrap();
                    let pending = index.begin_write("ns", name);
                    if server.now(name).map(|(_, l)| l.uid.to_string()) == Some(uid.clone()) {
                        server.delete(name, "operator");
                        responses.push(Response {
                            pending,
                            written: Written::Deleted { uid },
                        });
                    }
                    // Else 404 or 409: nothing deleted, nothing recorded.
                }
                Step::ForeignApply(i) => {
                    server.write(NAMES[i], "tenant");
                }
                Step::ForeignDelete(i) => {
                    server.delete(NAMES[i], "tenant");
                }
                Step::StatusWrite(i) => server.write_status(NAMES[i]),
                Step::Deliver => owed = deliver(&index, &count, &mut server, owed),
                Step::Record(i) => {
                    if !responses.is_empty() {
                        let r = responses.remove(i % responses.len());
                        r.pending.finish(r.written);
                    }
                }
                Step::Relist => {
                    if relist(&index, &count, &mut server) {
                        owed = false;
                    }
                }
            }
            if !matches!(step, Step::Deliver | Step::Relist) && asked(&count) > before {
                owed = false;
            }
            for name in NAMES {
                let seen = view(&index, name);
                prop_assert!(
                    server.possible(name, &seen),
                    "{name}: the index shows {seen:?}, the server had {:?} since version {}",
                    server.history.get(name),
                    server.delivered
                );
            }
        }
        // Quiescence: every event delivered, every response recorded (an event held while
        // a write was in flight asks for its reconcile when the write is answered).
        while !server.queue.is_empty() {
            owed = deliver(&index, &count, &mut server, owed);
        }
        let before = asked(&count);
        for r in responses.drain(..) {
            r.pending.finish(r.written);
        }
        if asked(&count) > before {
            owed = false;
        }
        prop_assert!(!owed, "a tenant's change asked for no reconcile");
        for name in NAMES {
            let expected = server.now(name).map(|(v, live)| (v, live.writer));
            prop_assert_eq!(view(&index, name), expected, "{} after quiescence", name);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]
        #[test]
        fn the_index_never_shows_what_the_server_no_longer_has(
            steps in proptest::collection::vec(step(), 1..40)
        ) {
            run(steps)?;
        }
    }
}

#[cfg(test)]
mod trimmed {
    //! What the index keeps of an object reads as the object did: for generated live objects
    //! (each object `examples/bsi-strict.yaml` renders, as the operator's apply left it, then
    //! edited by other managers, with a status and its writer, timestamps, several own
    //! entries, and a leftover object of the operator's), the plan on the objects read back
    //! from the index equals the plan on the objects as the API server sent them.
    use super::*;
    use crate::core::api::Mode;
    use crate::core::labels::FIELD_MANAGER;
    use crate::core::plan::plan;
    use crate::core::render::render;
    use crate::test_support::fields_of;
    use k8s_openapi::api::core::v1::Namespace;
    use proptest::prelude::*;
    use serde_json::json;

    const NAMESPACE: &str = "team-a";
    const EDITORS: [&str; 2] = ["kubectl-edit", "helm"];
    const TIMES: [&str; 3] = [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:01Z",
        "2026-06-01T12:00:00Z",
    ];

    fn fields_for(path: &[String]) -> Value {
        path.iter()
            .rev()
            .fold(json!({}), |inner, key| json!({ format!("f:{key}"): inner }))
    }

    fn entry(manager: &str, operation: &str, time: &str, fields: Value) -> Value {
        json!({ "manager": manager, "operation": operation, "apiVersion": "v1",
                "time": time, "fieldsType": "FieldsV1", "fieldsV1": fields })
    }

    /// Every map path of `value` (lists end a path).
    fn map_paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if let Value::Object(map) = value {
            for (k, v) in map {
                prefix.push(k.clone());
                out.push(prefix.clone());
                map_paths(v, prefix, out);
                prefix.pop();
            }
        }
    }

    /// An edit by another manager: the path (picked among the spec's map paths by index),
    /// and what it does there.
    #[derive(Clone, Debug)]
    enum Edit {
        Set(usize, Value),
        Remove(usize),
        Add(usize, &'static str, Value),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let value = prop_oneof![
            Just(json!("99")),
            Just(json!("500m")),
            Just(json!({"matchLabels": {"app": "x"}})),
            Just(json!([{"port": 53, "endPort": 60}])),
            (1i64..100).prop_map(Value::from),
        ];
        prop_oneof![
            (any::<usize>(), value.clone()).prop_map(|(i, v)| Edit::Set(i, v)),
            any::<usize>().prop_map(Edit::Remove),
            (
                any::<usize>(),
                prop::sample::select(&["scopes", "extra", "pods"][..]),
                value
            )
                .prop_map(|(i, k, v)| Edit::Add(i, k, v)),
        ]
    }

    #[derive(Clone, Debug)]
    struct Live {
        /// Which rendered object, by index.
        object: usize,
        /// Each edit, its time and its manager, by index.
        edits: Vec<(Edit, usize, usize)>,
        own_time: usize,
        /// An own `Update` entry as well (the operator's removal of added fields).
        own_update: bool,
        status: bool,
        version: u32,
    }

    fn live() -> impl Strategy<Value = Live> {
        (
            any::<usize>(),
            prop::collection::vec((edit(), 0..TIMES.len(), 0..EDITORS.len()), 0..4),
            0..TIMES.len(),
            any::<bool>(),
            any::<bool>(),
            1u32..1_000_000,
        )
            .prop_map(
                |(object, edits, own_time, own_update, status, version)| Live {
                    object,
                    edits,
                    own_time,
                    own_update,
                    status,
                    version,
                },
            )
    }

    /// The object as the API server would send it.
    fn as_sent(body: &Value, live: &Live, uid: &str) -> DynamicObject {
        let mut object = body.clone();
        let mut owned = body.clone();
        for key in ["apiVersion", "kind"] {
            owned.as_object_mut().unwrap().remove(key);
        }
        owned["metadata"].as_object_mut().unwrap().remove("name");
        owned["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("namespace");
        let mut entries = vec![entry(
            FIELD_MANAGER,
            "Apply",
            TIMES[live.own_time],
            fields_of(&owned),
        )];
        if live.own_update {
            entries.push(entry(
                FIELD_MANAGER,
                "Update",
                TIMES[2],
                json!({"f:metadata": {"f:annotations": {}}}),
            ));
        }
        for (edit, time, editor) in &live.edits {
            let mut paths = Vec::new();
            map_paths(&object["spec"], &mut vec!["spec".to_owned()], &mut paths);
            if paths.is_empty() {
                continue;
            }
            let pick = |i: &usize| paths[i % paths.len()].clone();
            let (path, value) = match edit {
                Edit::Set(i, v) => (pick(i), Some(v.clone())),
                Edit::Remove(i) => (pick(i), None),
                Edit::Add(i, key, v) => {
                    let mut path = pick(i);
                    path.pop();
                    path.push((*key).to_owned());
                    (path, Some(v.clone()))
                }
            };
            let (last, parents) = path.split_last().unwrap();
            let mut node = &mut object;
            for key in parents {
                if !node[key.as_str()].is_object() {
                    node[key.as_str()] = json!({});
                }
                node = &mut node[key.as_str()];
            }
            let map = node.as_object_mut().unwrap();
            match value {
                Some(v) => {
                    map.insert(last.clone(), v);
                    entries.push(entry(
                        EDITORS[*editor],
                        "Update",
                        TIMES[*time],
                        fields_for(&path),
                    ));
                }
                None => {
                    map.remove(last);
                }
            }
        }
        if live.status {
            object["status"] = json!({"used": {"pods": "3"}});
            entries.push(
                json!({"manager": "kube-controller-manager", "operation": "Update",
                "apiVersion": "v1", "time": TIMES[1], "fieldsType": "FieldsV1",
                "subresource": "status", "fieldsV1": {"f:status": {"f:used": {}}}}),
            );
        }
        let metadata = object["metadata"].as_object_mut().unwrap();
        metadata.insert("namespace".into(), json!(NAMESPACE));
        metadata.insert("uid".into(), json!(uid));
        metadata.insert("resourceVersion".into(), json!(live.version.to_string()));
        metadata.insert("generation".into(), json!(3));
        metadata.insert("creationTimestamp".into(), json!(TIMES[0]));
        metadata.insert("managedFields".into(), Value::Array(entries));
        serde_json::from_value(object).unwrap()
    }

    /// What a plan says, its targets aside.
    fn summary(steps: &[crate::core::plan::Step<'_>]) -> Vec<String> {
        steps
            .iter()
            .map(|s| format!("{} {} {:?} {:?}", s.kind, s.name, s.action, s.drifts))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
        #[test]
        fn the_plan_on_objects_read_from_the_index_is_the_plan_on_the_objects_sent(
            lives in prop::collection::vec(live(), 1..4),
            leftover in any::<bool>(),
        ) {
            let profile = crate::fixtures::example("bsi-strict.yaml");
            let desired = render(&profile, NAMESPACE).unwrap();
            let namespace: Namespace =
                serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap();
            let mut sent: Vec<(ManagedKind, DynamicObject)> = Vec::new();
            for (i, live) in lives.iter().enumerate() {
                let object = &desired.objects[live.object % desired.objects.len()];
                if sent.iter().any(|(_, o)| o.name_any() == object.name()) {
                    continue;
                }
                let uid = format!("00000000-0000-4000-8000-00000000000{i}");
                sent.push((object.kind(), as_sent(&object.to_json(), live, &uid)));
            }
            if leftover {
                // An object of the operator's the profile no longer renders.
                let mut body = desired.objects[0].to_json();
                body["metadata"]["name"] = json!("hardening-retired");
                let live = Live { object: 0, edits: vec![], own_time: 0, own_update: false,
                                  status: false, version: 7 };
                sent.push((desired.objects[0].kind(), as_sent(&body, &live, "retired-uid")));
            }
            let mut state = IndexState::default();
            let mut read = Vec::new();
            for (kind, object) in &sent {
                let stored = Stored::new(object.clone(), &mut state.texts);
                let name = object.name_any();
                prop_assert_eq!(&*stored.name, name.as_str());
                prop_assert_eq!(stored.uid(), object.metadata.uid.as_deref());
                read.push((*kind, stored.object(NAMESPACE)));
            }
            let sent: Vec<(ManagedKind, Arc<DynamicObject>)> =
                sent.into_iter().map(|(k, o)| (k, Arc::new(o))).collect();
            for ((_, before), (_, after)) in sent.iter().zip(&read) {
                prop_assert_eq!(before.namespace(), after.namespace());
                prop_assert_eq!(before.resource_version(), after.resource_version());
                prop_assert_eq!(before.labels(), after.labels());
                prop_assert_eq!(before.owner_references(), after.owner_references());
            }
            for mode in [Mode::Enforce, Mode::Audit] {
                let full = plan(&namespace, &desired, mode, &sent).unwrap();
                let trimmed = plan(&namespace, &desired, mode, &read).unwrap();
                prop_assert_eq!(summary(&full), summary(&trimmed));
            }
        }
    }

    #[test]
    fn a_profiles_objects_share_their_text_across_namespaces() {
        let profile = crate::fixtures::example("bsi-strict.yaml");
        let mut texts = Texts::default();
        let live = Live {
            object: 0,
            edits: vec![],
            own_time: 0,
            own_update: false,
            status: true,
            version: 1,
        };
        let stored: Vec<Stored> = ["a", "b"]
            .iter()
            .enumerate()
            .map(|(i, ns)| {
                let desired = render(&profile, ns).unwrap();
                let mut live = live.clone();
                live.own_time = i;
                live.version = 10 + i as u32;
                let mut object = as_sent(&desired.objects[0].to_json(), &live, &format!("uid-{i}"));
                object.metadata.namespace = Some((*ns).to_owned());
                Stored::new(object, &mut texts)
            })
            .collect();
        assert!(
            Arc::ptr_eq(&stored[0].body, &stored[1].body),
            "one text for both"
        );
        assert!(Arc::ptr_eq(&stored[0].name, &stored[1].name));
        assert_eq!(texts.set.len(), 2, "the body and the name");
        assert_eq!(stored[1].object("b").namespace().as_deref(), Some("b"));
        assert_eq!(stored[1].object("b").metadata.uid.as_deref(), Some("uid-1"));
        // Texts no object refers to are dropped once the set has doubled.
        drop(stored);
        for i in 0..2 * Texts::SWEEP_FLOOR {
            texts.get(&i.to_string());
        }
        assert!(texts.set.len() <= Texts::SWEEP_FLOOR + 1);
    }
}
