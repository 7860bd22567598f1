//! Requests from the reconcilers to the loops beside them: reconciles of other controllers
//! by name, and the policy report writer's queue.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc::UnboundedSender;

/// Asks a controller to reconcile an object by name: the profile controller to recompute a
/// profile's status (it merges the requests of each status interval), the exceptions'
/// controller to judge an exception again.
#[derive(Clone)]
pub struct Requests(UnboundedSender<String>);

impl Requests {
    pub fn new(sender: UnboundedSender<String>) -> Self {
        Self(sender)
    }

    /// Asks for `name`'s reconcile (a stopped controller asks for nothing more).
    pub fn request(&self, name: &str) {
        let _ = self.0.send(name.to_owned());
    }
}

/// Namespaces whose outcome was recorded since the policy report writer last looked (only
/// while reports are on).
#[derive(Default)]
pub struct ReportQueue {
    on: AtomicBool,
    pending: Mutex<HashSet<String>>,
}

impl ReportQueue {
    /// The reconciler recorded `namespace`'s outcome.
    pub fn touch(&self, namespace: &str) {
        if self.on.load(Ordering::SeqCst) {
            self.lock().insert(namespace.to_owned());
        }
    }

    /// Turns the queue on; `known` lists the outcomes recorded before.
    pub fn start(&self, known: impl FnOnce() -> Vec<String>) {
        self.on.store(true, Ordering::SeqCst);
        let known = known();
        self.lock().extend(known);
    }

    /// The namespaces touched since the last call.
    pub fn take(&self) -> HashSet<String> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.pending.lock().expect("report queue lock")
    }
}
