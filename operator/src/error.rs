//! The operator's errors. Every variant has a stable `reason()` (PascalCase) that
//! conditions, Events and metrics use, and a class: permanent errors wait for a change of
//! the input, transient ones are retried with per-object backoff.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile passes the CRD schema but not the operator's own checks.
    #[error("invalid profile {profile}: {message}")]
    InvalidSpec { profile: String, message: String },

    /// The profile could not be turned into objects.
    #[error("rendering profile {profile} for namespace {namespace}: {message}")]
    Render {
        profile: String,
        namespace: String,
        message: String,
    },

    /// Objects with generated names exist but were not created by the operator; they are
    /// left alone, so the namespace cannot be brought to the profile.
    #[error("{objects} in namespace {namespace} not created by the operator; left alone")]
    ForeignObject {
        namespace: String,
        /// `NetworkPolicy hardening-default-deny exists`, joined by `, `.
        objects: String,
    },

    /// An object the operator wrote still differs from the profile right after the write,
    /// with no one else writing in between: the API server stores something other than
    /// what the operator applies. Writing it again would loop, so the operator stops.
    #[error(
        "{kind} {object}: {} is stored as {} after the operator applied {}; not writing it again until the profile or the object changes",
        .difference.field, .difference.actual, .difference.expected
    )]
    NotConverging {
        kind: &'static str,
        /// `namespace/name`, or the namespace's name.
        object: String,
        difference: Box<Difference>,
    },

    /// A request to the API server failed.
    #[error("{verb} {kind} {name}: {}", words(.source))]
    Api {
        verb: &'static str,
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },

    /// An object could not be (de)serialized; a bug or an incompatible API server.
    #[error("serializing {what}: {source}")]
    Serialization {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// Every value [`Error::reason`] returns.
    pub const REASONS: [&'static str; 10] = [
        "InvalidSpec",
        "RenderFailed",
        "ForeignObject",
        "NotConverging",
        "ApplyConflict",
        "Forbidden",
        "Rejected",
        "AdmissionDenied",
        "ApiError",
        "SerializationFailed",
    ];

    /// Stable machine-readable reason, used as condition reason, Event reason and the
    /// `reason` label of error metrics (bounded: one value per variant / HTTP class).
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidSpec { .. } => "InvalidSpec",
            Error::Render { .. } => "RenderFailed",
            Error::ForeignObject { .. } => "ForeignObject",
            Error::NotConverging { .. } => "NotConverging",
            Error::Api { source, .. } => match source {
                kube::Error::Api(status) if status.code == 409 => "ApplyConflict",
                kube::Error::Api(status) if status.code == 403 => "Forbidden",
                kube::Error::Api(status) if admission_denial(status) => "AdmissionDenied",
                kube::Error::Api(status) if status.code == 422 => "Rejected",
                _ => "ApiError",
            },
            Error::Serialization { .. } => "SerializationFailed",
        }
    }

    /// Permanent errors are not retried: the next change of the profile, the namespace or
    /// a generated object triggers a new attempt.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::InvalidSpec { .. }
            | Error::Render { .. }
            | Error::ForeignObject { .. }
            | Error::NotConverging { .. } => true,
            // The API server refused the object itself: retrying the same body cannot help. An
            // admission policy's refusal depends on more than the body (the policies, their
            // parameters, an API server that has not loaded a CRD yet after a restart): it
            // backs off.
            Error::Api {
                source: kube::Error::Api(status),
                ..
            } => status.code == 422 && !admission_denial(status),
            Error::Api { .. } => false,
            Error::Serialization { .. } => true,
        }
    }

    pub fn api(
        verb: &'static str,
        kind: &'static str,
        name: impl Into<String>,
    ) -> impl FnOnce(kube::Error) -> Error {
        let name = name.into();
        move |source| Error::Api {
            verb,
            kind,
            name,
            source,
        }
    }
}

/// One field that differs after a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub field: String,
    pub expected: String,
    pub actual: String,
}

/// Exponential backoff for transient errors of one object: 1 s, 2 s, 4 s ... capped at
/// 5 minutes.
pub fn backoff_delay(consecutive_failures: u32) -> Duration {
    const CAP: Duration = Duration::from_secs(300);
    let exponent = consecutive_failures.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exponent).min(CAP)
}

impl From<crate::core::plan::SerializationError> for Error {
    fn from(e: crate::core::plan::SerializationError) -> Self {
        Error::Serialization {
            what: e.what,
            source: e.source,
        }
    }
}

/// A client error as people read it: the API server's own message with its reason and
/// HTTP status (`namespaces "x" not found (NotFound, HTTP 404)`), not the client's debug
/// dump of the answer; any other error as the client words it.
pub fn words(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let message = if status.message.is_empty() {
                "the API server refused the request"
            } else {
                status.message.as_str()
            };
            match status.reason.as_str() {
                "" => format!("{message} (HTTP {})", status.code),
                reason => format!("{message} ({reason}, HTTP {})", status.code),
            }
        }
        other => {
            // The client's name for its error ("ServiceError: ") said as what happened, and
            // the causes behind it (a refused connection, a certificate) said too.
            let mut parts = vec![other.to_string()];
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                let text = cause.to_string();
                if !parts.iter().any(|p| p.contains(&text)) {
                    parts.push(text);
                }
                source = cause.source();
            }
            let text = parts.join(": ");
            for prefix in ["ServiceError: ", "HyperError: ", "HttpError: "] {
                if let Some(rest) = text.strip_prefix(prefix) {
                    return format!("the API server cannot be reached: {rest}");
                }
            }
            text
        }
    }
}

/// Whether the API server's refusal came from an admission policy or webhook (its message
/// says so) rather than from the object's own validation.
fn admission_denial(status: &kube::core::Status) -> bool {
    let message = &status.message;
    message.contains("ValidatingAdmissionPolicy '")
        || message.contains("MutatingAdmissionPolicy '")
        || message.contains("admission webhook \"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_are_said_in_words_without_a_debug_dump() {
        let forbidden = kube::Error::Api(Box::new(kube::core::Status {
            code: 403,
            reason: "Forbidden".into(),
            message: "resourcequotas \"q\" is forbidden: User \"u\" cannot patch resource".into(),
            ..Default::default()
        }));
        let text = Error::api("patch", "ResourceQuota", "q")(forbidden).to_string();
        assert_eq!(
            text,
            "patch ResourceQuota q: resourcequotas \"q\" is forbidden: User \"u\" cannot patch resource (Forbidden, HTTP 403)"
        );
        assert!(
            !text.contains("Status {") && !text.contains("Some("),
            "{text}"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let delays: Vec<u64> = (1..=10).map(|n| backoff_delay(n).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff_delay(1000), Duration::from_secs(300));
    }

    #[test]
    fn api_errors_map_to_bounded_reasons() {
        let status = |code| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..Default::default()
            }))
        };
        let reason = |code| Error::api("apply", "NetworkPolicy", "x")(status(code)).reason();
        assert_eq!(reason(409), "ApplyConflict");
        assert_eq!(reason(403), "Forbidden");
        assert_eq!(reason(422), "Rejected");
        assert_eq!(reason(500), "ApiError");
        for code in [409, 403, 422, 500] {
            assert!(Error::REASONS.contains(&reason(code)));
        }
        // The object refused by its own validation waits for a change; refused by an
        // admission policy (here: its parameter's kind not discovered yet after an API
        // server restart) it backs off.
        let invalid = Error::api("apply", "NetworkPolicy", "x")(status(422));
        assert!(invalid.is_permanent());
        let denied = Error::api("apply", "NetworkPolicy", "x")(kube::Error::Api(Box::new(
            kube::core::Status {
                code: 422,
                message: "networkpolicies \"x\" is forbidden: ValidatingAdmissionPolicy 'hardening.dev-p' denied request: failed to configure policy: failed to find resource referenced by paramKind".into(),
                ..Default::default()
            },
        )));
        assert_eq!(denied.reason(), "AdmissionDenied");
        assert!(!denied.is_permanent());
        let others = [
            Error::InvalidSpec {
                profile: "p".into(),
                message: "m".into(),
            },
            Error::Render {
                profile: "p".into(),
                namespace: "n".into(),
                message: "m".into(),
            },
            Error::ForeignObject {
                namespace: "n".into(),
                objects: "LimitRange hardening-limits exists".into(),
            },
            Error::NotConverging {
                kind: "ResourceQuota",
                object: "n/q".into(),
                difference: Box::new(Difference {
                    field: "spec.hard.cpu".into(),
                    expected: "1".into(),
                    actual: "2".into(),
                }),
            },
            Error::Serialization {
                what: "w".into(),
                source: serde_json::from_str::<u8>("x").unwrap_err(),
            },
        ];
        for e in others {
            assert!(Error::REASONS.contains(&e.reason()), "{}", e.reason());
        }
        assert!(Error::api("apply", "NetworkPolicy", "x")(status(422)).is_permanent());
        assert!(!Error::api("apply", "NetworkPolicy", "x")(status(500)).is_permanent());
    }
}
