//! The API server's audit log, read as it grows: the benchmark's only source of timings
//! and request counts, so that measuring loads the API server with nothing.
//!
//! The log is a file of one JSON event per line (Metadata level); reading it costs this
//! process some CPU, so it is read in full only between phases, and tailed (new bytes only)
//! where the benchmark must wait for a write.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::Path;

use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;

/// Verbs that change something.
pub const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// One audit event, with only what the benchmark looks at.
#[derive(Clone, Debug)]
pub struct Event {
    pub verb: String,
    pub user: String,
    pub resource: String,
    pub subresource: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    pub code: i64,
    /// When the API server received the request (microseconds since the epoch).
    pub received_us: i64,
    /// When this stage ended; for `ResponseComplete`, when the answer was sent.
    pub completed_us: i64,
    /// The first event of its request in the log (a watch has two: ResponseStarted and,
    /// when it ends, ResponseComplete): counting these counts requests.
    pub first_of_request: bool,
    /// The request's last event (ResponseComplete or Panic).
    pub complete: bool,
    /// A server-side dry run (`dryRun=All`): a request that writes nothing.
    pub dry_run: bool,
}

impl Event {
    /// Whether the request changed something (a dry run of a write does not).
    pub fn is_write(&self) -> bool {
        WRITE_VERBS.contains(&self.verb.as_str()) && !self.dry_run
    }
}

/// The object a request is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    #[serde(rename = "auditID")]
    audit_id: String,
    stage: String,
    #[serde(rename = "requestURI", default)]
    request_uri: String,
    verb: String,
    user: RawUser,
    #[serde(default)]
    object_ref: RawObjectRef,
    #[serde(default)]
    response_status: RawStatus,
    request_received_timestamp: Timestamp,
    stage_timestamp: Timestamp,
}

#[derive(Deserialize)]
struct RawUser {
    #[serde(default)]
    username: String,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawObjectRef {
    resource: String,
    subresource: String,
    namespace: String,
    name: String,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawStatus {
    code: i64,
}

/// The events of an audit log read so far; [`AuditLog::read_new`] appends what the API
/// server wrote since.
pub struct AuditLog {
    file: File,
    /// The start of a line the API server has not finished writing yet.
    partial: Vec<u8>,
    seen: HashSet<String>,
    events: Vec<Event>,
}

impl AuditLog {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            file: File::open(path)?,
            partial: Vec::new(),
            seen: HashSet::new(),
            events: Vec::new(),
        })
    }

    /// Reads the lines appended since the last call; returns how many events they held.
    pub fn read_new(&mut self) -> usize {
        let before = self.events.len();
        let mut bytes = std::mem::take(&mut self.partial);
        if self.file.read_to_end(&mut bytes).is_err() {
            self.partial = bytes;
            return 0;
        }
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.partial = bytes[complete..].to_vec();
        for line in bytes[..complete].split(|b| *b == b'\n') {
            let Ok(raw) = serde_json::from_slice::<RawEvent>(line) else {
                continue;
            };
            let first_of_request = self.seen.insert(raw.audit_id);
            let dry_run = raw
                .request_uri
                .split_once('?')
                .is_some_and(|(_, query)| query.split('&').any(|p| p == "dryRun=All"));
            self.events.push(Event {
                dry_run,
                verb: raw.verb,
                user: raw.user.username,
                resource: raw.object_ref.resource,
                subresource: raw.object_ref.subresource,
                namespace: raw.object_ref.namespace,
                name: raw.object_ref.name,
                code: raw.response_status.code,
                received_us: raw.request_received_timestamp.as_microsecond(),
                completed_us: raw.stage_timestamp.as_microsecond(),
                first_of_request,
                complete: raw.stage == "ResponseComplete" || raw.stage == "Panic",
            });
        }
        self.events.len() - before
    }

    /// The number of events read so far: a mark for [`AuditLog::since`].
    pub fn mark(&self) -> usize {
        self.events.len()
    }

    /// The events read after `mark`.
    pub fn since(&self, mark: usize) -> &[Event] {
        &self.events[mark.min(self.events.len())..]
    }
}

/// Requests of `user` among `events`, by verb (each request counted once; dry runs as
/// `<verb> (dry run)`, which are no writes).
pub fn requests_by_verb(events: &[Event], user: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for event in events
        .iter()
        .filter(|e| e.first_of_request && e.user == user)
    {
        let verb = if event.dry_run {
            format!("{} (dry run)", event.verb)
        } else {
            event.verb.clone()
        };
        *counts.entry(verb).or_insert(0) += 1;
    }
    counts
}

/// The sum of the write verbs' counts.
pub fn writes(by_verb: &BTreeMap<String, u64>) -> u64 {
    by_verb
        .iter()
        .filter(|(verb, _)| WRITE_VERBS.contains(&verb.as_str()))
        .map(|(_, n)| n)
        .sum()
}

/// The sum of every verb's count.
pub fn requests(by_verb: &BTreeMap<String, u64>) -> u64 {
    by_verb.values().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, stage: &str, verb: &str, user: &str) -> String {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"{stage}","requestURI":"/x","verb":"{verb}","user":{{"username":"{user}","groups":["system:masters"]}},"objectRef":{{"resource":"namespaces","name":"a","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"2026-12-01T10:00:00.000100Z","stageTimestamp":"2026-12-01T10:00:00.250000Z"}}"#
        )
    }

    #[test]
    fn reads_whole_lines_as_they_are_appended_and_counts_each_request_once() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("bench-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.log");
        let patch = line("2", "ResponseComplete", "patch", "m");
        let (head, tail) = patch.split_at(40);
        std::fs::write(
            &path,
            format!("{}\n{head}", line("1", "ResponseStarted", "watch", "m")),
        )
        .unwrap();
        let mut log = AuditLog::open(&path).unwrap();
        assert_eq!(log.read_new(), 1, "a half-written line waits for its end");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write!(
            file,
            "{tail}\n{}\n{}\n{}\n",
            line("1", "ResponseComplete", "watch", "m"),
            line("3", "ResponseComplete", "get", "other"),
            line("4", "ResponseComplete", "patch", "m")
                .replace("\"/x\"", "\"/x?fieldManager=f&dryRun=All\""),
        )
        .unwrap();
        assert_eq!(log.read_new(), 4);
        assert_eq!(log.read_new(), 0);
        let by_verb = requests_by_verb(log.since(0), "m");
        assert_eq!(
            by_verb,
            BTreeMap::from([
                ("patch".into(), 1),
                ("patch (dry run)".into(), 1),
                ("watch".into(), 1)
            ])
        );
        assert_eq!((writes(&by_verb), requests(&by_verb)), (1, 3));
        assert!(!log.since(0)[4].is_write(), "a dry run writes nothing");
        let patch = &log.since(0)[1];
        assert!(patch.is_write() && patch.complete && patch.first_of_request);
        assert_eq!(patch.completed_us - patch.received_us, 249_900);
        assert!(
            !log.since(0)[2].first_of_request,
            "the watch's second event"
        );
        assert_eq!(log.since(3).len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
