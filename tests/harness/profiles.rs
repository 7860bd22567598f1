//! HardeningProfiles as tests write and read them: specs several tests share, and a
//! status's conditions.

use hardening_operator::core::api::HardeningProfileStatus;
use serde_json::{Value, json};

/// A strict profile's spec: Pod Security `restricted`, default deny both ways (DNS and the
/// namespace's own pods allowed), a quota and container limits.
pub fn strict_spec() -> Value {
    json!({
        "podSecurity": {
            "enforce": { "level": "restricted", "version": "latest" },
            "warn": { "level": "restricted", "version": "latest" }
        },
        "networkPolicy": { "defaultDeny": ["Ingress", "Egress"], "allowDns": true, "allowSameNamespace": true },
        "resourceQuota": { "hard": { "pods": "10", "requests.cpu": "2", "limits.memory": "4Gi" } },
        "limitRange": { "limits": [{
            "type": "Container",
            "default": { "cpu": "300m", "memory": "256Mi" },
            "defaultRequest": { "cpu": "100m", "memory": "128Mi" },
            "max": { "cpu": "2", "memory": "1Gi" }
        }]}
    })
}

/// A profile of Pod Security `baseline` and a quota of 10 pods: little to write, for tests
/// of the operator's own workings.
pub fn quota_spec() -> Value {
    json!({
        "podSecurity": { "enforce": { "level": "baseline" } },
        "resourceQuota": { "hard": { "pods": "10" } }
    })
}

/// The condition `type_` of a status, as (status, reason).
pub fn condition(status: &HardeningProfileStatus, type_: &str) -> Option<(String, String)> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// A status check: `expected` namespaces selected, all in sync, and `Ready=True`.
pub fn in_sync(expected: u32) -> impl Fn(&HardeningProfileStatus) -> Result<(), String> {
    move |s| {
        let ready = condition(s, "Ready");
        if s.selected_namespaces == expected
            && s.in_sync_namespaces == expected
            && ready.as_ref().is_some_and(|r| r.0 == "True")
        {
            Ok(())
        } else {
            Err(format!("want {expected} selected and in sync, Ready=True"))
        }
    }
}
