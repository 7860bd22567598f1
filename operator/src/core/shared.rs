//! Text the operator keeps many times over, held once ([`SharedStr`]): the reasons of the
//! pod findings (every namespace running the same image has the same ones), the names of
//! pods and profiles, the judged form of pods alike in every namespace. Equal text is
//! interned in one pool, so a copy costs a reference count, not an allocation; the pool
//! forgets text no one holds any more. Only memory changes: a `SharedStr` reads, compares,
//! hashes, prints and serializes exactly as the `String` it replaces.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Immutable text, shared between every holder of the same text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharedStr(Arc<str>);

/// Every text interned, until no one else holds it.
struct Pool {
    texts: HashSet<Arc<str>>,
    /// Size after the last sweep: the pool sweeps once it holds twice as many (at least
    /// [`MIN_SWEEP`]), so it never holds more than twice the live text and a sweep costs
    /// amortized constant time per interning.
    swept: usize,
}

/// The pool is not swept below this many texts.
const MIN_SWEEP: usize = 1024;

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

impl SharedStr {
    /// `text`, held once with every other holder of the same text.
    pub fn new(text: &str) -> Self {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let pool = pool.get_or_insert_with(|| Pool {
            texts: HashSet::new(),
            swept: 0,
        });
        if let Some(known) = pool.texts.get(text) {
            return Self(known.clone());
        }
        if pool.texts.len() >= MIN_SWEEP.max(2 * pool.swept) {
            pool.texts.retain(|t| Arc::strong_count(t) > 1);
            pool.swept = pool.texts.len();
        }
        let text: Arc<str> = Arc::from(text);
        pool.texts.insert(text.clone());
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
