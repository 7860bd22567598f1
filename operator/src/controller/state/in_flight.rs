//! The operator's writes in flight (sent, no answer yet), each with the watch events of its
//! object taken meanwhile: an event that arrives before the write's answer cannot tell yet
//! whether it is the write's own echo (nothing to do) or someone else's change (a reconcile),
//! so it is held until the answer, or until the write ends without one. The generated kinds'
//! index (`index`) and the namespace writes (`NamespaceWrites`) hold their events here; each
//! keeps its own guard that ends the flight with the answer or, dropped, releases it.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// Writes in flight by key (`K`: the object written), with what each event taken meanwhile
/// said (`E`: its resource version, or the uid it deleted).
#[derive(Debug)]
pub struct InFlight<K, E> {
    writes: HashMap<K, Vec<E>>,
}

impl<K, E> Default for InFlight<K, E> {
    fn default() -> Self {
        Self {
            writes: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq, E> InFlight<K, E> {
    /// A write of `key` is sent: its events are held from now on.
    pub fn begin(&mut self, key: K) {
        self.writes.entry(key).or_default();
    }

    /// The write of `key` ended (answered, failed or not made): the events held for it.
    pub fn end<Q>(&mut self, key: &Q) -> Vec<E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.writes.is_empty() {
            return Vec::new();
        }
        self.writes.remove(key).unwrap_or_default()
    }

    /// Holds `event` of `key` while a write of it is in flight: whether it was held (the
    /// caller then asks for nothing until the write ends).
    pub fn hold<Q>(&mut self, key: &Q, event: impl FnOnce() -> E) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.writes.is_empty() {
            return false;
        }
        match self.writes.get_mut(key) {
            Some(held) => {
                held.push(event());
                true
            }
            None => false,
        }
    }

    /// No write is in flight.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_held_only_while_their_object_is_written() {
        let mut flights: InFlight<String, u32> = InFlight::default();
        assert!(!flights.hold("a", || 1), "nothing in flight");
        flights.begin("a".to_owned());
        assert!(flights.hold("a", || 2));
        assert!(
            !flights.hold("b", || 3),
            "another object's event is not held"
        );
        assert!(flights.hold("a", || 4));
        assert_eq!(flights.end("a"), vec![2, 4]);
        assert!(flights.is_empty());
        assert!(!flights.hold("a", || 5), "the write ended");
        assert_eq!(flights.end("a"), Vec::<u32>::new());
    }

    #[test]
    fn two_writes_of_one_object_share_what_is_held() {
        // Never in the operator (a namespace reconciles one at a time): the first to end
        // takes everything, so the second may ask once more, never less.
        let mut flights: InFlight<String, u32> = InFlight::default();
        flights.begin("a".to_owned());
        flights.begin("a".to_owned());
        assert!(flights.hold("a", || 1));
        assert_eq!(flights.end("a"), vec![1]);
        assert_eq!(flights.end("a"), Vec::<u32>::new());
    }
}
