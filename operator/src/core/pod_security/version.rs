//! Pod Security policy versions (`api.Version` in k8s.io/pod-security-admission).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A Pod Security policy version: `latest`, or `v1.N` for the policy of Kubernetes 1.N.
/// `latest` is newer than every `v1.N`, even ones newer than the newest policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    Latest,
    /// `v1.<minor>`.
    V1(u64),
}

/// A version label Pod Security Admission cannot parse (it then judges by `latest` and
/// records the error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Pod Security version {value:?}: must be \"latest\" or \"v1.x\"")]
pub struct VersionError {
    pub value: String,
}

impl Version {
    /// The minor of `v1.N`; `None` for `latest`.
    pub fn minor(self) -> Option<u64> {
        match self {
            Version::Latest => None,
            Version::V1(minor) => Some(minor),
        }
    }
}

/// As `api.ParseVersion` parses the `-version` labels: `latest`, or `^v1\.(0|[1-9][0-9]*)$`
/// whose number fits Go's 64-bit `int`.
impl FromStr for Version {
    type Err = VersionError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value == "latest" {
            return Ok(Version::Latest);
        }
        let minor = value
            .strip_prefix("v1.")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .filter(|n| *n == "0" || !n.starts_with('0'))
            // Go's `strconv.Atoi`: at most a 64-bit `int`.
            .and_then(|n| n.parse::<i64>().ok())
            .and_then(|n| u64::try_from(n).ok());
        match minor {
            Some(minor) => Ok(Version::V1(minor)),
            None => Err(VersionError {
                value: value.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::V1(minor) => write!(f, "v1.{minor}"),
        }
    }
}

/// `Version.Older`: by minor, `latest` above all.
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Version::Latest, Version::Latest) => Ordering::Equal,
            (Version::Latest, _) => Ordering::Greater,
            (_, Version::Latest) => Ordering::Less,
            (Version::V1(a), Version::V1(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
