//! Text the operator keeps many times over, held once ([`SharedStr`]): the reasons of the
//! pod findings (every namespace running the same image has the same ones), the names of
//! pods and profiles, the judged form of pods alike in every namespace. Equal text is
//! interned in one pool, so a copy costs a reference count, not an allocation; the pool
//! forgets text no one holds any more. Only memory changes: a `SharedStr` reads, compares,
//! hashes, prints and serializes exactly as the `String` it replaces. Values kept per
//! namespace or per pod that are often equal (a pod's verdict, a namespace's preview) are
//! shared the same way ([`share`], one pool per type: [`Interned`]).

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Immutable text, shared between every holder of the same text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharedStr(Arc<str>);

/// Every value interned, until no one else holds it.
pub struct Pool<T: ?Sized> {
    texts: HashSet<Arc<T>>,
    /// Size after the last sweep: the pool sweeps once it holds twice as many (at least
    /// [`MIN_SWEEP`]), so it never holds more than twice the live values and a sweep costs
    /// amortized constant time per interning.
    swept: usize,
}

/// A pool of one type, empty until first used.
pub type PoolOf<T> = Mutex<Option<Pool<T>>>;

/// The pool is not swept below this many values.
const MIN_SWEEP: usize = 1024;

static POOL: PoolOf<str> = Mutex::new(None);

impl<T: ?Sized + Hash + Eq> Pool<T> {
    /// The pool behind `pool`, created empty on first use.
    fn of(pool: &PoolOf<T>) -> std::sync::MutexGuard<'_, Option<Self>> {
        let mut guard = pool.lock().unwrap_or_else(|e| e.into_inner());
        guard.get_or_insert_with(|| Self {
            texts: HashSet::new(),
            swept: 0,
        });
        guard
    }

    /// Pools `made` (no equal value is pooled), sweeping first when due.
    fn insert(&mut self, made: &Arc<T>) {
        if self.texts.len() >= MIN_SWEEP.max(2 * self.swept) {
            self.texts.retain(|t| Arc::strong_count(t) > 1);
            self.swept = self.texts.len();
        }
        self.texts.insert(made.clone());
    }
}

/// A type whose equal values are held once ([`share`]).
pub trait Interned: Hash + Eq + Sized + 'static {
    fn pool() -> &'static PoolOf<Self>;
}

/// `value`, held once with every other holder of an equal value (read-only: a holder that
/// changes it makes its own copy, `Arc::unwrap_or_clone`).
pub fn share<T: Interned>(value: T) -> Arc<T> {
    let mut guard = Pool::of(T::pool());
    let pool = guard.as_mut().expect("created");
    if let Some(known) = pool.texts.get(&value) {
        return known.clone();
    }
    let made = Arc::new(value);
    pool.insert(&made);
    made
}

impl SharedStr {
    /// `text`, held once with every other holder of the same text.
    pub fn new(text: &str) -> Self {
        let mut guard = Pool::of(&POOL);
        let pool = guard.as_mut().expect("created");
        if let Some(known) = pool.texts.get(text) {
            return Self(known.clone());
        }
        let made: Arc<str> = Arc::from(text);
        pool.insert(&made);
        Self(made)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `self` and `other` are one allocation (equal text interned once).
    pub fn is_shared_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Default for SharedStr {
    fn default() -> Self {
        Self::new("")
    }
}

impl From<&str> for SharedStr {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<String> for SharedStr {
    fn from(text: String) -> Self {
        Self::new(&text)
    }
}

impl From<&String> for SharedStr {
    fn from(text: &String) -> Self {
        Self::new(text)
    }
}

impl From<SharedStr> for String {
    fn from(text: SharedStr) -> Self {
        text.0.as_ref().to_owned()
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<SharedStr> for str {
    fn eq(&self, other: &SharedStr) -> bool {
        *self == *other.0
    }
}

impl PartialEq<SharedStr> for &str {
    fn eq(&self, other: &SharedStr) -> bool {
        **self == *other.0
    }
}

impl PartialEq<SharedStr> for String {
    fn eq(&self, other: &SharedStr) -> bool {
        **self == *other.0
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for SharedStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SharedStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::new(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A shared text reads, compares, orders, prints and serializes as the `String` it
        /// replaces, and equal texts share one allocation.
        #[test]
        fn a_shared_text_is_the_text(a in ".{0,40}", b in ".{0,40}") {
            let (sa, sb) = (SharedStr::new(&a), SharedStr::from(b.clone()));
            prop_assert_eq!(sa.as_str(), a.as_str());
            prop_assert_eq!(&*sb, b.as_str());
            prop_assert_eq!(sa == sb, a == b);
            prop_assert_eq!(sa.cmp(&sb), a.cmp(&b));
            prop_assert_eq!(format!("{sa}|{sa:?}"), format!("{a}|{a:?}"));
            prop_assert_eq!(
                serde_json::to_string(&sa).unwrap(),
                serde_json::to_string(&a).unwrap()
            );
            let back: SharedStr = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
            prop_assert_eq!(&back, &sa);
            prop_assert!(Arc::ptr_eq(&back.0, &sa.0));
            prop_assert!(Arc::ptr_eq(&SharedStr::new(&a).0, &sa.0));
            prop_assert_eq!(String::from(sb), b);
        }
    }

    #[derive(Debug, PartialEq, Eq, Hash)]
    struct Value(Vec<String>);

    impl Interned for Value {
        fn pool() -> &'static PoolOf<Self> {
            static POOL: PoolOf<Value> = Mutex::new(None);
            &POOL
        }
    }

    proptest! {
        /// A shared value is the value, and equal values share one allocation.
        #[test]
        fn a_shared_value_is_the_value(a in proptest::collection::vec(".{0,8}", 0..4),
                                       b in proptest::collection::vec(".{0,8}", 0..4)) {
            let (sa, sb) = (share(Value(a.clone())), share(Value(b.clone())));
            prop_assert_eq!(&sa.0, &a);
            prop_assert_eq!(&sb.0, &b);
            prop_assert_eq!(Arc::ptr_eq(&sa, &sb), a == b);
            prop_assert!(Arc::ptr_eq(&share(Value(a)), &sa));
        }
    }

    /// Text no one holds any more leaves the pool at a sweep; held text stays shared.
    #[test]
    fn the_pool_forgets_text_no_one_holds() {
        let held = SharedStr::new("held by the test: the_pool_forgets_text_no_one_holds");
        for i in 0..4 * MIN_SWEEP {
            drop(SharedStr::new(&format!(
                "dropped {i} the_pool_forgets_text_no_one_holds"
            )));
        }
        let again = SharedStr::new("held by the test: the_pool_forgets_text_no_one_holds");
        assert!(Arc::ptr_eq(&held.0, &again.0));
        let pool = POOL.lock().unwrap();
        let texts = &pool.as_ref().unwrap().texts;
        let dropped = texts
            .iter()
            .filter(|t| {
                t.ends_with("the_pool_forgets_text_no_one_holds") && t.starts_with("dropped")
            })
            .count();
        assert!(
            dropped <= 2 * MIN_SWEEP,
            "{dropped} dropped texts still pooled"
        );
    }
}
