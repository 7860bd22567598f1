//! Which resource names the API server accepts in a ResourceQuota's `hard` and a
//! LimitRange's maps, and which of them it counts in whole units, as Kubernetes v1.36 decides
//! (`pkg/apis/core/validation`: `ValidateResourceQuotaResourceName`,
//! `validateLimitRangeResourceName`, `ValidateResourceQuantityValue`; `pkg/apis/core/helper`:
//! `IsStandardQuotaResourceName`, `IsIntegerResourceName`, `IsExtendedResourceName`,
//! `IsOvercommitAllowed`). The same lists feed the CRD's CEL rules ([`super::schema`]) and
//! [`super::validate`], so the two cannot drift apart.

use super::LimitType;

/// Resource names without a `/` that a ResourceQuota may cap (`hugepages-*` and
/// `requests.hugepages-*` besides).
pub const STANDARD_QUOTA_RESOURCES: [&str; 19] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
];

/// Resource names without a `/` the API server knows at all (`hugepages-*` and
/// `requests.hugepages-*` besides): what a `PersistentVolumeClaim` LimitRange item may bound.
pub const STANDARD_RESOURCES: [&str; 20] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

/// Resource names without a `/` a container or pod can request (`hugepages-*` besides).
pub const STANDARD_CONTAINER_RESOURCES: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];

/// Quota resources counted in whole units (object counts); extended resources too.
pub const INTEGER_RESOURCES: [&str; 9] = [
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

/// The largest whole-unit quota value accepted: the API server checks integers through
/// `MilliValue()`, which overflows above this (`resource.MaxMilliValue`).
pub const MAX_INTEGER_QUOTA: i64 = i64::MAX / 1000;

pub const HUGE_PAGES_PREFIX: &str = "hugepages-";
pub const REQUESTS_HUGE_PAGES_PREFIX: &str = "requests.hugepages-";
/// Names containing this are Kubernetes' own ("native") even with a `/`.
pub const NATIVE_DOMAIN: &str = "kubernetes.io/";
pub const REQUESTS_PREFIX: &str = "requests.";
/// The longest prefix (before `/`) of an extended resource name: `requests.<prefix>` must
/// still be a DNS subdomain of at most 253 characters.
pub const MAX_EXTENDED_PREFIX: usize = 253 - REQUESTS_PREFIX.len();

/// Why `name` is not a qualified name (`[prefix/]name`, as label keys), if it is not.
pub fn qualified_name_problem(name: &str) -> Option<String> {
    let (prefix, local) = match name.split_once('/') {
        Some((prefix, local)) => (Some(prefix), local),
        None => (None, name),
    };
    if let Some(prefix) = prefix
        && !is_dns_subdomain(prefix)
    {
        return Some(format!(
            "{name:?} is not a qualified name: the part before '/' must be a DNS subdomain such as example.com (lower case, at most 253 characters)"
        ));
    }
    let bytes = local.as_bytes();
    let ends_ok = match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric(),
        _ => false,
    };
    let inner_ok = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !(ends_ok && inner_ok && bytes.len() <= 63) {
        return Some(format!(
            "{name:?} is not a qualified name: the name must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    None
}

pub fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns_label)
}

/// A namespace name: a DNS label (RFC 1123) of at most 63 characters.
pub fn is_namespace_name(text: &str) -> bool {
    text.len() <= 63 && is_dns_label(text)
}

fn is_dns_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains(NATIVE_DOMAIN)
}

fn is_huge_pages(name: &str) -> bool {
    name.starts_with(HUGE_PAGES_PREFIX)
}

/// An extended resource such as `example.com/gpu` (`IsExtendedResourceName`, for names
/// that are qualified; stricter on prefixes longer than [`MAX_EXTENDED_PREFIX`]).
fn is_extended(name: &str) -> bool {
    !is_native(name)
        && !name.starts_with(REQUESTS_PREFIX)
        && name
            .find('/')
            .is_some_and(|slash| slash <= MAX_EXTENDED_PREFIX)
}

/// Whether the API server requires whole numbers for quota resource `name` (object counts
/// such as `pods`, `count/*` and extended resources).
pub fn is_integer_quota_resource(name: &str) -> bool {
    INTEGER_RESOURCES.contains(&name) || (!is_native(name) && !name.starts_with(REQUESTS_PREFIX))
}

/// Whether a container may request less of `name` than its limit (not for hugepages and
/// extended resources, whose LimitRange default and defaultRequest must then be equal).
pub fn overcommit_allowed(name: &str) -> bool {
    is_native(name) && !is_huge_pages(name)
}

/// Why a ResourceQuota cannot cap `name`, if it cannot.
pub fn quota_resource_problem(name: &str) -> Option<String> {
    if let Some(problem) = qualified_name_problem(name) {
        return Some(problem);
    }
    let standard = STANDARD_QUOTA_RESOURCES.contains(&name)
        || is_huge_pages(name)
        || name.starts_with(REQUESTS_HUGE_PAGES_PREFIX);
    (!name.contains('/') && !standard).then(|| {
        format!(
            "{name:?} is not a resource a ResourceQuota can cap: use a standard name ({}, hugepages-<size>, requests.hugepages-<size>) or a name with a domain such as count/deployments.apps or example.com/gpu",
            STANDARD_QUOTA_RESOURCES.join(", ")
        )
    })
}

/// Why a LimitRange item of type `limit_type` cannot bound `name`, if it cannot.
pub fn limit_resource_problem(limit_type: LimitType, name: &str) -> Option<String> {
    if let Some(problem) = qualified_name_problem(name) {
        return Some(problem);
    }
    match limit_type {
        LimitType::Container | LimitType::Pod => {
            if !name.contains('/') {
                let standard = STANDARD_CONTAINER_RESOURCES.contains(&name) || is_huge_pages(name);
                (!standard).then(|| {
                    format!(
                        "{name:?} is not a resource a {} can request: use cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource such as example.com/gpu",
                        limit_type.as_str()
                    )
                })
            } else {
                (!is_native(name) && !is_extended(name)).then(|| {
                    format!(
                        "{name:?} is not an extended resource name (a domain of at most {MAX_EXTENDED_PREFIX} characters, not starting with requests., then /name)"
                    )
                })
            }
        }
        LimitType::PersistentVolumeClaim => {
            let standard = STANDARD_RESOURCES.contains(&name)
                || is_huge_pages(name)
                || name.starts_with(REQUESTS_HUGE_PAGES_PREFIX);
            (!name.contains('/') && !standard).then(|| {
                format!(
                    "{name:?} is not a standard resource (such as storage) nor a name with a domain such as example.com/iops"
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names() {
        for good in [
            "pods",
            "count/deployments.apps",
            "example.com/gpu",
            "a",
            "A_b.c-9",
        ] {
            assert_eq!(qualified_name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "a b",
            "-a",
            "a-",
            "a/b/c",
            "/a",
            "a/",
            "Example.com/gpu",
            &"a".repeat(64),
            &format!("{}/a", "a".repeat(254)),
        ] {
            assert!(qualified_name_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(
            qualified_name_problem(&format!("{}/a", "a".repeat(253))),
            None
        );
    }

    #[test]
    fn quota_names_follow_the_api_server() {
        for good in [
            "pods",
            "requests.cpu",
            "services.loadbalancers",
            "hugepages-2Mi",
            "requests.hugepages-1Gi",
            "count/pods",
            "requests.example.com/gpu",
            "example.com/gpu",
        ] {
            assert_eq!(quota_resource_problem(good), None, "{good}");
        }
        for bad in ["storage", "gpu", "limits.storage", "count", "Pods", "a b"] {
            assert!(quota_resource_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn integer_quota_resources() {
        for integer in ["pods", "configmaps", "count/pods", "example.com/gpu"] {
            assert!(is_integer_quota_resource(integer), "{integer}");
        }
        for fractional in [
            "cpu",
            "requests.memory",
            "requests.example.com/gpu",
            "example.kubernetes.io/x",
            "hugepages-2Mi",
        ] {
            assert!(!is_integer_quota_resource(fractional), "{fractional}");
        }
    }

    #[test]
    fn limit_range_names_depend_on_the_type() {
        use LimitType::*;
        for (limit_type, good) in [
            (Container, "cpu"),
            (Container, "hugepages-2Mi"),
            (Container, "example.com/gpu"),
            (Pod, "kubernetes.io/anything"),
            (PersistentVolumeClaim, "storage"),
            (PersistentVolumeClaim, "pods"),
            (PersistentVolumeClaim, "requests.example.com/x"),
        ] {
            assert_eq!(
                limit_resource_problem(limit_type, good),
                None,
                "{limit_type:?} {good}"
            );
        }
        for (limit_type, bad) in [
            (Container, "storage"),
            (Container, "pods"),
            (Pod, "requests.example.com/gpu"),
            (Container, "gpu"),
            (PersistentVolumeClaim, "iops"),
            (PersistentVolumeClaim, "a b"),
        ] {
            assert!(
                limit_resource_problem(limit_type, bad).is_some(),
                "{limit_type:?} {bad}"
            );
        }
    }

    #[test]
    fn overcommit() {
        assert!(overcommit_allowed("cpu"));
        assert!(overcommit_allowed("kubernetes.io/x"));
        assert!(!overcommit_allowed("hugepages-2Mi"));
        assert!(!overcommit_allowed("example.com/gpu"));
    }
}
