//! The operator's Prometheus metrics, served at `/metrics` (see `server.rs`).
//!
//! Every label has a bounded set of values: controller names, error reasons
//! (`Error::reason()`), object kinds and HTTP verbs. Object names and error texts never
//! become label values (they would make the number of series grow without bound).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry, Unit};

use crate::core::render::ManagedKind;

/// Content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The two controllers, as the `controller` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControllerKind {
    Namespace,
    Profile,
    Exception,
}

impl ControllerKind {
    pub const ALL: [ControllerKind; 3] = [Self::Namespace, Self::Profile, Self::Exception];

    pub fn label(self) -> &'static str {
        match self {
            Self::Namespace => "namespace",
            Self::Profile => "profile",
            Self::Exception => "exception",
        }
    }
}

/// Values of the `state` label of `hardening_exceptions`.
pub const EXCEPTION_STATES: [&str; 5] = ["active", "expiring", "expired", "invalid", "pending"];

/// Values of the `verb` label of `hardening_api_requests_total`, as the API server's audit
/// log names them.
pub const VERBS: [&str; 9] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "other",
];

/// The `kind` label: a generated kind or `Namespace`; anything else is `Other`.
pub fn kind_label(kind: &str) -> &'static str {
    if kind == "Namespace" {
        return "Namespace";
    }
    let reports = [
        "Report",
        "ClusterReport",
        "PolicyReport",
        "ClusterPolicyReport",
    ];
    for guardrail in crate::core::guardrails::KINDS.into_iter().chain(reports) {
        if kind == guardrail {
            return guardrail;
        }
    }
    ManagedKind::ALL
        .iter()
        .map(|k| k.kind())
        .find(|k| *k == kind)
        .unwrap_or("Other")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    controller: &'static str,
    reason: &'static str,
}

/// The `kind` label alone (also the node agent's: `seccomp`, `apparmor`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabels {
    pub(crate) kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadyLabels {
    ready: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbLabels {
    verb: &'static str,
}

fn duration_histogram() -> Histogram {
    // 5 ms to about 41 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The registry and a handle to every metric; shared (`Arc`) by the controllers, the
/// kube client layer and the HTTP server.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ControllerLabels, Counter>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    reconcile_duration: Family<ControllerLabels, Histogram, fn() -> Histogram>,
    drifts_detected: Family<KindLabels, Counter>,
    drifts_repaired: Family<KindLabels, Counter>,
    rolled_out: Family<KindLabels, Counter>,
    managed_namespaces: Gauge,
    unconfined_pods: Gauge,
    widening_policies: Gauge,
    queue_depth: Gauge,
    write_limit: Gauge,
    writes_in_flight: Gauge,
    writes_waiting: Gauge,
    api_requests: Family<VerbLabels, Counter>,
    profiles: Family<ReadyLabels, Gauge>,
    /// Whether each profile's last computed status was Ready: the names stay here, only
    /// the two counts become series.
    readiness: Mutex<BTreeMap<String, bool>>,
    exceptions: Family<StateLabels, Gauge>,
    /// Each HardeningException's last judged state: the names stay here, only the counts by
    /// state become series.
    exception_states: Mutex<BTreeMap<String, &'static str>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hardening");
        let reconciles: Family<ControllerLabels, Counter> =
            register(&mut registry, "reconciles", "Reconciles run, by controller");
        let reconcile_errors: Family<ErrorLabels, Counter> = register(
            &mut registry,
            "reconcile_errors",
            "Reconciles that failed, by controller and reason (Error::reason)",
        );
        let reconcile_duration =
            Family::<ControllerLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                duration_histogram,
            );
        registry.register_with_unit(
            "reconcile_duration",
            "Duration of reconciles, by controller",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let drifts_detected: Family<KindLabels, Counter> = register(
            &mut registry,
            "drifts_detected",
            "Generated objects or namespace labels found differing from their profile, by kind",
        );
        let drifts_repaired: Family<KindLabels, Counter> = register(
            &mut registry,
            "drifts_repaired",
            "Drifts repaired in Enforce mode, by kind",
        );
        let rolled_out: Family<KindLabels, Counter> = register(
            &mut registry,
            "objects_rolled_out",
            "Generated objects and namespaces written to roll out a profile's rendering (set-up and profile changes; repairs are counted apart), by kind",
        );
        let managed_namespaces: Gauge = register(
            &mut registry,
            "managed_namespaces",
            "Namespaces governed by a profile (Enforce or Audit)",
        );
        let unconfined_pods: Gauge = register(
            &mut registry,
            "unconfined_pods",
            "Active pods in governed namespaces that do not use their profile's seccomp/AppArmor profiles",
        );
        let widening_policies: Gauge = register(
            &mut registry,
            "widening_network_policies",
            "Rules of NetworkPolicies the operator did not generate, in governed namespaces, that allow traffic the governing profile denies",
        );
        let queue_depth: Gauge = register(
            &mut registry,
            "queue_depth",
            "Namespaces and profiles with a reconcile request that has not started yet",
        );
        let write_limit: Gauge = register(
            &mut registry,
            "api_write_limit",
            "Writes the operator keeps in flight to the API server at most: adapted to the API server's write rate, latency and overload answers",
        );
        let writes_in_flight: Gauge = register(
            &mut registry,
            "api_writes_in_flight",
            "Writes the operator sent to the API server and has no answer to yet",
        );
        let writes_waiting: Gauge = register(
            &mut registry,
            "api_writes_waiting",
            "Writes waiting for one of the operator's write slots (the write limit) before they are sent",
        );
        let api_requests: Family<VerbLabels, Counter> = register(
            &mut registry,
            "api_requests",
            "Requests the operator sent to the Kubernetes API server, by verb",
        );

        let profiles: Family<ReadyLabels, Gauge> = register(
            &mut registry,
            "profiles",
            "Profiles this operator reconciled, by whether their status is Ready (ready=\"true\" or \"false\"); only the leader reconciles",
        );
        let exceptions: Family<StateLabels, Gauge> = register(
            &mut registry,
            "exceptions",
            "HardeningExceptions by state: active (in force), expiring (in force, expiring within a week), expired, invalid, pending (not applied); only the leader judges them",
        );
        for state in EXCEPTION_STATES {
            let _ = exceptions.get_or_create(&StateLabels { state });
        }

        // Every bounded series from the start, so rates work from the first scrape.
        for controller in ControllerKind::ALL {
            let labels = ControllerLabels {
                controller: controller.label(),
            };
            let _ = reconciles.get_or_create(&labels);
            let _ = reconcile_duration.get_or_create(&labels);
            for reason in crate::error::Error::REASONS {
                let _ = reconcile_errors.get_or_create(&ErrorLabels {
                    controller: controller.label(),
                    reason,
                });
            }
        }
        for kind in std::iter::once("Namespace").chain(ManagedKind::ALL.iter().map(|k| k.kind())) {
            let _ = drifts_detected.get_or_create(&KindLabels { kind });
            let _ = drifts_repaired.get_or_create(&KindLabels { kind });
            let _ = rolled_out.get_or_create(&KindLabels { kind });
        }
        for verb in VERBS {
            let _ = api_requests.get_or_create(&VerbLabels { verb });
        }
        for ready in ["true", "false"] {
            let _ = profiles.get_or_create(&ReadyLabels { ready });
        }

        Metrics {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            drifts_detected,
            drifts_repaired,
            rolled_out,
            managed_namespaces,
            unconfined_pods,
            widening_policies,
            queue_depth,
            write_limit,
            writes_in_flight,
            writes_waiting,
            api_requests,
            profiles,
            readiness: Mutex::new(BTreeMap::new()),
            exceptions,
            exception_states: Mutex::new(BTreeMap::new()),
        }
    }

    /// The HardeningException `name` was judged to be in `state` (one of
    /// [`EXCEPTION_STATES`]).
    pub fn exception_state(&self, name: &str, state: &'static str) {
        let mut states = self.exception_states.lock().expect("exception states lock");
        states.insert(name.to_owned(), state);
        self.publish_exceptions(&states);
    }

    /// The HardeningException `name` is gone: it counts no more.
    pub fn exception_gone(&self, name: &str) {
        let mut states = self.exception_states.lock().expect("exception states lock");
        if states.remove(name).is_some() {
            self.publish_exceptions(&states);
        }
    }

    fn publish_exceptions(&self, states: &BTreeMap<String, &'static str>) {
        for state in EXCEPTION_STATES {
            let n = states.values().filter(|s| **s == state).count();
            self.exceptions
                .get_or_create(&StateLabels { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The status computed for profile `name` is (not) Ready.
    pub fn profile_ready(&self, name: &str, ready: bool) {
        let mut readiness = self.readiness.lock().expect("readiness lock");
        readiness.insert(name.to_owned(), ready);
        self.publish_readiness(&readiness);
    }

    /// Profile `name` is being deleted: it counts no more.
    pub fn profile_gone(&self, name: &str) {
        let mut readiness = self.readiness.lock().expect("readiness lock");
        if readiness.remove(name).is_some() {
            self.publish_readiness(&readiness);
        }
    }

    fn publish_readiness(&self, readiness: &BTreeMap<String, bool>) {
        let ready = readiness.values().filter(|r| **r).count();
        for (label, n) in [("true", ready), ("false", readiness.len() - ready)] {
            self.profiles
                .get_or_create(&ReadyLabels { ready: label })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// One reconcile finished after `elapsed`.
    pub fn reconciled(&self, controller: ControllerKind, elapsed: Duration) {
        let labels = ControllerLabels {
            controller: controller.label(),
        };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// A reconcile failed; `reason` is `Error::reason()`, a fixed set.
    pub fn reconcile_failed(&self, controller: ControllerKind, reason: &'static str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                controller: controller.label(),
                reason,
            })
            .inc();
    }

    pub fn drift_detected(&self, kind: &str) {
        self.drifts_detected
            .get_or_create(&KindLabels {
                kind: kind_label(kind),
            })
            .inc();
    }

    pub fn drift_repaired(&self, kind: &str) {
        self.drifts_repaired
            .get_or_create(&KindLabels {
                kind: kind_label(kind),
            })
            .inc();
    }

    /// An object (or the namespace) written for a rollout, not a repair.
    pub fn rolled_out(&self, kind: &str) {
        self.rolled_out
            .get_or_create(&KindLabels {
                kind: kind_label(kind),
            })
            .inc();
    }

    pub fn add_widening_policies(&self, delta: i64) {
        self.widening_policies.inc_by(delta);
    }

    pub fn add_managed_namespaces(&self, delta: i64) {
        self.managed_namespaces.inc_by(delta);
    }

    pub fn add_unconfined_pods(&self, delta: i64) {
        self.unconfined_pods.inc_by(delta);
    }

    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    pub fn set_write_limit(&self, limit: usize) {
        self.write_limit
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
    }

    /// Counts one write as sent until the returned hold is dropped (its answer came).
    pub fn write_in_flight(&self) -> GaugeHold {
        GaugeHold::new(&self.writes_in_flight)
    }

    /// Counts one write as waiting for a slot until the returned hold is dropped.
    pub fn write_waiting(&self) -> GaugeHold {
        GaugeHold::new(&self.writes_waiting)
    }

    /// `verb` must be one of [`VERBS`].
    pub fn api_request(&self, verb: &'static str) {
        self.api_requests.get_or_create(&VerbLabels { verb }).inc();
    }

    /// Everything in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        encode(&self.registry)
    }
}

/// A new metric registered in `registry` as `name` with `help`: the handle returned and
/// the registry's are the same metric.
/// One unit of a gauge, given back when dropped: whatever ends the wait or the write (an
/// answer, an error, a cancelled future) cannot leave the gauge counting it.
pub struct GaugeHold(Gauge);

impl GaugeHold {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for GaugeHold {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub(crate) fn register<M>(registry: &mut Registry, name: &str, help: &str) -> M
where
    M: Metric + Clone + Default,
{
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

/// `registry` in the OpenMetrics text format ([`CONTENT_TYPE`]).
pub(crate) fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)
        .expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_bounded_labels() {
        let metrics = Metrics::new();
        metrics.reconciled(ControllerKind::Namespace, Duration::from_millis(12));
        metrics.reconcile_failed(ControllerKind::Profile, "ApplyConflict");
        metrics.drift_repaired("ResourceQuota");
        metrics.drift_detected("SomethingNew");
        metrics.add_managed_namespaces(2);
        metrics.set_queue_depth(3);
        metrics.api_request("patch");
        let text = metrics.encode();
        for line in [
            "# TYPE hardening_reconciles counter",
            "hardening_reconciles_total{controller=\"namespace\"} 1",
            "hardening_reconciles_total{controller=\"profile\"} 0",
            "hardening_reconcile_errors_total{controller=\"profile\",reason=\"ApplyConflict\"} 1",
            "# TYPE hardening_reconcile_duration_seconds histogram",
            "hardening_reconcile_duration_seconds_count{controller=\"namespace\"} 1",
            "hardening_drifts_repaired_total{kind=\"ResourceQuota\"} 1",
            "hardening_drifts_repaired_total{kind=\"Namespace\"} 0",
            "hardening_drifts_detected_total{kind=\"Other\"} 1",
            "hardening_managed_namespaces 2",
            "hardening_queue_depth 3",
            "hardening_api_requests_total{verb=\"patch\"} 1",
            "hardening_api_requests_total{verb=\"watch\"} 0",
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn profiles_are_counted_by_readiness_once_each() {
        let metrics = Metrics::new();
        let count = |ready: &str| {
            let line = format!("hardening_profiles{{ready=\"{ready}\"}} ");
            metrics
                .encode()
                .lines()
                .find_map(|l| l.strip_prefix(&line).map(str::to_owned))
                .unwrap_or_else(|| panic!("no {line}"))
        };
        assert_eq!((count("true"), count("false")), ("0".into(), "0".into()));
        metrics.profile_ready("a", false);
        metrics.profile_ready("b", false);
        metrics.profile_ready("a", true);
        assert_eq!((count("true"), count("false")), ("1".into(), "1".into()));
        metrics.profile_gone("b");
        metrics.profile_gone("never-seen");
        assert_eq!((count("true"), count("false")), ("1".into(), "0".into()));
    }

    #[test]
    fn exceptions_are_counted_by_state_once_each() {
        let metrics = Metrics::new();
        let count = |state: &str| {
            let line = format!("hardening_exceptions{{state=\"{state}\"}} ");
            metrics
                .encode()
                .lines()
                .find_map(|l| l.strip_prefix(&line).map(str::to_owned))
                .unwrap_or_else(|| panic!("no {line}"))
        };
        for state in EXCEPTION_STATES {
            assert_eq!(count(state), "0", "{state} from the start");
        }
        metrics.exception_state("a", "active");
        metrics.exception_state("b", "expiring");
        metrics.exception_state("a", "expiring");
        assert_eq!(
            (count("active"), count("expiring")),
            ("0".into(), "2".into())
        );
        metrics.exception_state("b", "expired");
        metrics.exception_gone("a");
        metrics.exception_gone("never-seen");
        assert_eq!(
            (count("expiring"), count("expired")),
            ("0".into(), "1".into())
        );
    }

    #[test]
    fn kinds_map_to_a_fixed_set() {
        assert_eq!(kind_label("NetworkPolicy"), "NetworkPolicy");
        assert_eq!(kind_label("Namespace"), "Namespace");
        assert_eq!(kind_label("my-namespace"), "Other");
    }
}
