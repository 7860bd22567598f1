//! The state the reconcilers share, each part a small type that owns its map and its lock
//! and offers the few methods the reconcilers need; none of them knows the [`Context`]
//! (`super::context`) that holds them, so nothing here imports a reconciler.
//!
//! - [`Outcomes`]: what each namespace's last reconcile found, and what recording one sets
//!   off (the policy report queue, the gauges, the profiles' status requests);
//! - [`Counts`]: repairs and rollouts per profile since this process started;
//! - [`NamespaceWrites`]: the operator's namespace writes whose watch events are not here yet;
//! - [`InFlight`]: writes sent and not answered yet, with the events of their objects held
//!   meanwhile (the namespace writes' and the generated kinds' index's);
//! - [`Admissions`]: the API server's verdict on each profile generation;
//! - [`Leadership`]: since when this replica leads, and what the admission rules need then;
//! - [`Queue`]: reconcile requests not started yet, and failures in a row per object;
//! - [`Backoffs`]: failures in a row per key and the wait they impose (the queue's, a
//!   profile's status writes, namespace writes retried while a profile is deleted);
//! - [`ReportQueue`]: namespaces whose policy report may have changed;
//! - [`Requests`]: asks another controller for a reconcile (a profile's status, an exception).
//!
//! The other owners live beside what they serve: the unconverged writes with the write path
//! (`super::write::UnconvergedWrites`), the pod verdicts with the preview
//! (`super::pod_verdicts::PodVerdicts`).
//!
//! [`Context`]: super::context::Context

mod admissions;
mod backoffs;
mod counts;
mod in_flight;
mod leadership;
mod namespace_writes;
mod outcomes;
mod queue;
mod requests;

pub use admissions::{Admissions, Verdict};
pub use backoffs::{Backoffs, Failure};
pub use counts::Counts;
pub use in_flight::InFlight;
pub use leadership::Leadership;
pub use namespace_writes::{NamespaceWrites, PendingNamespaceWrite};
pub use outcomes::Outcomes;
pub use queue::Queue;
pub use requests::{ReportQueue, Requests};
