//! Manifests read from files: YAML streams of one or more documents (`---`), each checked
//! for its kind and parsed into its type. Every problem names the file and where: the line
//! and column for YAML syntax and type errors, the field path for the operator's own
//! validation, the document number when a file holds several.

use std::fmt;
use std::path::Path;

use k8s_openapi::Resource;
use k8s_openapi::api::core::v1::Namespace;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use crate::core::api::{HardeningProfile, validate};

/// Everything wrong with one input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The file as given on the command line.
    pub file: String,
    pub problems: Vec<Problem>,
}

/// One problem, one line of output: `file[:line:column]: [document N: ][field: ]message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line and column, for YAML syntax and type errors.
    pub position: Option<(usize, usize)>,
    /// 1-based document number, when the file holds several documents and no position is known.
    pub document: Option<usize>,
    /// Field path such as `spec.networkPolicy.egress[0].to[0].except[0]`.
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    fn message(message: impl Into<String>) -> Self {
        Self {
            position: None,
            document: None,
            field: None,
            message: message.into(),
        }
    }

    fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::message(message)
        }
    }

    fn in_document(mut self, document: Option<usize>) -> Self {
        if self.position.is_none() {
            self.document = document;
        }
        self
    }

    /// A YAML error, at its position, without the position repeated in the message.
    fn yaml(error: &serde_yaml_ng::Error) -> Self {
        let mut message = error.to_string();
        let position = error.location().map(|l| (l.line(), l.column()));
        if let Some((line, column)) = position {
            message = message.replacen(&format!(" at line {line} column {column}"), "", 1);
        }
        Self {
            position,
            ..Self::message(message)
        }
    }
}

impl InputError {
    fn new(file: &str, problems: Vec<Problem>) -> Self {
        Self {
            file: file.to_owned(),
            problems,
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file)?;
            if let Some((line, column)) = problem.position {
                write!(f, ":{line}:{column}")?;
            }
            if let Some(document) = problem.document {
                write!(f, ": document {document}")?;
            }
            if let Some(field) = &problem.field {
                write!(f, ": {field}")?;
            }
            write!(f, ": {}", problem.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// One non-empty document of a YAML stream.
struct Document {
    /// 1-based, counting empty documents too (as a reader counts `---`).
    number: usize,
    value: Value,
}

/// The documents of `text`, empty ones (a trailing `---`, only comments) left out.
fn documents(file: &str, text: &str) -> Result<(Vec<Document>, usize), InputError> {
    let mut found = Vec::new();
    let mut count = 0;
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        count += 1;
        // After a syntax error the stream repeats it forever: stop at the first.
        let value = Value::deserialize(document)
            .map_err(|e| InputError::new(file, vec![Problem::yaml(&e)]))?;
        if !value.is_null() {
            found.push(Document {
                number: count,
                value,
            });
        }
    }
    Ok((found, count))
}

/// Documents of `text` parsed again from the text as a `T`, so that type errors carry
/// their line, column and field path. One pass over the stream: finding document N afresh
/// would parse the N - 1 before it again, quadratic in a file of many documents.
struct TypedDocuments<'a> {
    text: &'a str,
    stream: serde_yaml_ng::Deserializer<'a>,
    /// 1-based number of the document the stream yields next.
    next: usize,
}

impl<'a> TypedDocuments<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            stream: serde_yaml_ng::Deserializer::from_str(text),
            next: 1,
        }
    }

    /// Document `number`; cheapest when asked in ascending order.
    fn get<T: DeserializeOwned>(&mut self, number: usize) -> Result<T, Problem> {
        if number < self.next {
            *self = Self::new(self.text);
        }
        let document = self
            .stream
            .nth(number - self.next)
            .ok_or_else(|| Problem::message(format!("document {number} disappeared")))?;
        self.next = number + 1;
        T::deserialize(document).map_err(|e| Problem::yaml(&e))
    }
}

/// `None` when `value` is an object of `api_version`/`kind`, else why not.
fn kind_problem(value: &Value, api_version: &str, kind: &str) -> Option<Problem> {
    let expected = format!("expected a {kind} ({api_version})");
    let Value::Mapping(map) = value else {
        return Some(Problem::message(format!(
            "not a Kubernetes object (a mapping with apiVersion and kind); {expected}"
        )));
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str);
    match (text("apiVersion"), text("kind")) {
        (Some(v), Some(k)) if v == api_version && k == kind => None,
        (Some(v), Some(k)) if k == kind => Some(Problem::field(
            "apiVersion",
            format!("{v} is not supported; {expected}"),
        )),
        (v, Some(k)) => Some(Problem::field(
            "kind",
            format!("a {k} ({}), {expected}", v.unwrap_or("no apiVersion")),
        )),
        (_, None) => Some(Problem::field("kind", format!("missing; {expected}"))),
    }
}

/// The documents of `text` that are `api_version`/`kind` objects, parsed; any other
/// document is an error.
fn objects<T: DeserializeOwned>(
    file: &str,
    text: &str,
    api_version: &str,
    kind: &str,
) -> Result<Vec<(Option<usize>, T)>, InputError> {
    let (documents, count) = documents(file, text)?;
    let numbered = |n: usize| (count > 1).then_some(n);
    let mut typed = TypedDocuments::new(text);
    let mut problems = Vec::new();
    let mut parsed = Vec::new();
    for Document { number, value } in documents {
        if let Some(problem) = kind_problem(&value, api_version, kind) {
            problems.push(problem.in_document(numbered(number)));
            continue;
        }
        match typed.get::<T>(number) {
            Ok(object) => parsed.push((numbered(number), object)),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(InputError::new(file, problems))
    }
}

/// The one HardeningProfile of a manifest, checked by the operator's own validation
/// ([`validate`]): what the operator would refuse to apply is an error here.
pub fn parse_profile(file: &str, text: &str) -> Result<HardeningProfile, InputError> {
    let api_version = <HardeningProfile as kube::Resource>::api_version(&()).into_owned();
    let kind = <HardeningProfile as kube::Resource>::kind(&()).into_owned();
    let mut profiles = objects::<HardeningProfile>(file, text, &api_version, &kind)?;
    let (document, profile) = match profiles.len() {
        1 => profiles.remove(0),
        0 => {
            return Err(InputError::new(
                file,
                vec![Problem::message(format!("holds no {kind}"))],
            ));
        }
        n => {
            return Err(InputError::new(
                file,
                vec![Problem::message(format!(
                    "holds {}; give one profile per file",
                    crate::core::plural::count(n, &kind)
                ))],
            ));
        }
    };
    let mut problems = Vec::new();
    if profile
        .metadata
        .name
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        problems.push(Problem::field("metadata.name", "required"));
    }
    if let Err(errors) = validate(&profile) {
        problems.extend(
            errors
                .into_iter()
                .map(|e| Problem::field(e.field, e.message)),
        );
    }
    if problems.is_empty() {
        Ok(profile)
    } else {
        Err(InputError::new(
            file,
            problems
                .into_iter()
                .map(|p| p.in_document(document))
                .collect(),
        ))
    }
}

/// Every Namespace of a manifest (at least one).
pub fn parse_namespaces(file: &str, text: &str) -> Result<Vec<Namespace>, InputError> {
    let namespaces = objects::<Namespace>(file, text, Namespace::API_VERSION, Namespace::KIND)?;
    if namespaces.is_empty() {
        return Err(InputError::new(
            file,
            vec![Problem::message("holds no Namespace")],
        ));
    }
    let mut problems = Vec::new();
    for (document, namespace) in &namespaces {
        if namespace
            .metadata
            .name
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            problems.push(Problem::field("metadata.name", "required").in_document(*document));
        }
    }
    if problems.is_empty() {
        Ok(namespaces.into_iter().map(|(_, ns)| ns).collect())
    } else {
        Err(InputError::new(file, problems))
    }
}

fn read(path: &Path) -> Result<String, InputError> {
    std::fs::read_to_string(path).map_err(|e| {
        InputError::new(
            &path.display().to_string(),
            vec![Problem::message(format!("cannot read: {e}"))],
        )
    })
}

/// [`parse_profile`] of a file.
pub fn read_profile(path: &Path) -> Result<HardeningProfile, InputError> {
    parse_profile(&path.display().to_string(), &read(path)?)
}

/// [`parse_namespaces`] of a file.
pub fn read_namespaces(path: &Path) -> Result<Vec<Namespace>, InputError> {
    parse_namespaces(&path.display().to_string(), &read(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "\
apiVersion: hardening.dev/v1alpha1
kind: HardeningProfile
metadata:
  name: p
spec:
  namespaceSelector: {}
";

    fn lines(error: InputError) -> Vec<String> {
        error.to_string().lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_profile_parses() {
        let profile = parse_profile("p.yaml", PROFILE).unwrap();
        assert_eq!(profile.metadata.name.as_deref(), Some("p"));
        // A leading `---` and a trailing empty document change nothing.
        let profile = parse_profile("p.yaml", &format!("---\n{PROFILE}---\n")).unwrap();
        assert_eq!(profile.metadata.name.as_deref(), Some("p"));
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: [x\n";
        let error = parse_namespaces("ns.yaml", text).unwrap_err();
        assert_eq!(error.problems.len(), 1);
        let (line, _) = error.problems[0].position.expect("a position");
        assert_eq!(line, 6, "{error}");
        let text = lines(error).remove(0);
        assert!(text.starts_with("ns.yaml:6:1: "), "{text}");
        // The position is not repeated; a context position (where the sequence began) stays.
        assert!(!text.contains("at line 6 column 1"), "{text}");
        assert!(
            text.ends_with("while parsing a flow sequence at line 5 column 11"),
            "{text}"
        );
    }

    #[test]
    fn syntax_errors_in_a_later_document_count_lines_from_the_file_start() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b\n";
        let error = parse_namespaces("ns.yaml", text).unwrap_err();
        let (line, _) = error.problems[0].position.expect("a position");
        assert_eq!(line, 8, "{error}");
    }

    #[test]
    fn type_errors_name_line_column_and_field() {
        let text = PROFILE.replace("spec:\n", "spec:\n  mode: Sometimes\n");
        let error = parse_profile("p.yaml", &text).unwrap_err();
        assert_eq!(
            lines(error),
            vec![
                "p.yaml:6:9: spec.mode: unknown variant `Sometimes`, expected `Enforce` or `Audit`"
            ]
        );
    }

    #[test]
    fn validation_errors_name_every_field() {
        let text = format!(
            "{PROFILE}  networkPolicy:\n    egress:\n      - to:\n          - cidr: 10.0.0.0/8\n            except: [192.168.0.0/16]\n  resourceQuota:\n    hard: {{pods: lots}}\n"
        );
        let error = parse_profile("examples/x.yaml", &text).unwrap_err();
        let lines = lines(error);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("examples/x.yaml: spec.networkPolicy.egress[0].to[0].except[0]: "),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with(r#"examples/x.yaml: spec.resourceQuota.hard["pods"]: "#),
            "{lines:?}"
        );
    }

    #[test]
    fn documents_of_the_wrong_kind_are_named() {
        let text =
            format!("{PROFILE}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\n");
        let error = parse_profile("p.yaml", &text).unwrap_err();
        assert_eq!(
            lines(error),
            vec![
                "p.yaml: document 2: kind: a ConfigMap (v1), expected a HardeningProfile (hardening.dev/v1alpha1)"
            ]
        );
        let error = parse_namespaces("ns.yaml", PROFILE).unwrap_err();
        assert_eq!(
            lines(error),
            vec![
                "ns.yaml: kind: a HardeningProfile (hardening.dev/v1alpha1), expected a Namespace (v1)"
            ]
        );
        let error = parse_namespaces("ns.yaml", "- a\n- b\n").unwrap_err();
        assert_eq!(
            lines(error),
            vec![
                "ns.yaml: not a Kubernetes object (a mapping with apiVersion and kind); expected a Namespace (v1)"
            ]
        );
        let error = parse_profile("p.yaml", &PROFILE.replace("v1alpha1", "v1beta7")).unwrap_err();
        assert_eq!(
            lines(error),
            vec![
                "p.yaml: apiVersion: hardening.dev/v1beta7 is not supported; expected a HardeningProfile (hardening.dev/v1alpha1)"
            ]
        );
    }

    #[test]
    fn a_profile_file_holds_exactly_one_profile() {
        let two = format!("{PROFILE}---\n{}", PROFILE.replace("name: p", "name: q"));
        assert_eq!(
            lines(parse_profile("p.yaml", &two).unwrap_err()),
            vec!["p.yaml: holds 2 HardeningProfiles; give one profile per file"]
        );
        assert_eq!(
            lines(parse_profile("p.yaml", "# nothing\n").unwrap_err()),
            vec!["p.yaml: holds no HardeningProfile"]
        );
        assert_eq!(
            lines(
                parse_profile("p.yaml", &PROFILE.replace("  name: p\n", "  labels: {}\n"))
                    .unwrap_err()
            ),
            vec!["p.yaml: metadata.name: required"]
        );
    }

    #[test]
    fn namespace_files_hold_several_documents() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n# comment only\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n  labels: {tier: strict}\n";
        let namespaces = parse_namespaces("ns.yaml", text).unwrap();
        let names: Vec<_> = namespaces
            .iter()
            .map(|ns| ns.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, vec!["a", "b"]);
        let error = parse_namespaces(
            "ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {labels: {}}\n",
        )
        .unwrap_err();
        assert_eq!(
            lines(error),
            vec!["ns.yaml: document 2: metadata.name: required"]
        );
    }

    #[test]
    fn positions_in_a_multi_document_file_count_from_the_file_start() {
        // Documents: 1 fine, 2 a type error, 3 comments only, 4 the wrong kind, 5 fine,
        // 6 a type error. Every problem is found, in document order, at its own line.
        let text = "\
apiVersion: v1
kind: Namespace
metadata: {name: a}
---
apiVersion: v1
kind: Namespace
metadata:
  name: b
  labels: [x]
---
# only a comment
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
---
apiVersion: v1
kind: Namespace
metadata: {name: d}
---
apiVersion: v1
kind: Namespace
metadata:
  name: e
  labels:
    tier: {nested: map}
";
        let error = parse_namespaces("ns.yaml", text).unwrap_err();
        assert_eq!(
            lines(error),
            vec![
                "ns.yaml:9:11: metadata.labels: invalid type: sequence, expected a map",
                "ns.yaml: document 4: kind: a ConfigMap (v1), expected a Namespace (v1)",
                "ns.yaml:26:11: metadata.labels.tier: invalid type: map, expected a string",
            ]
        );
    }

    #[test]
    fn positions_hold_deep_into_a_long_file() {
        // 2,000 documents of 5 lines each (`---` included); document 1,500 has a bad name.
        let mut text = String::new();
        for i in 1..=2_000 {
            let name = if i == 1_500 {
                "[oops]".to_owned()
            } else {
                format!("ns-{i}")
            };
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
            ));
        }
        let error = parse_namespaces("ns.yaml", &text).unwrap_err();
        let line = (1_500 - 1) * 5 + 5;
        assert_eq!(
            lines(error),
            vec![format!(
                "ns.yaml:{line}:9: metadata.name: invalid type: sequence, expected a string"
            )]
        );
        let fine = text.replace("[oops]", "ns-1500");
        assert_eq!(parse_namespaces("ns.yaml", &fine).unwrap().len(), 2_000);
    }

    #[test]
    fn unreadable_files_are_named() {
        let error = read_profile(Path::new("/nonexistent/p.yaml")).unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("/nonexistent/p.yaml: cannot read: "),
            "{text}"
        );
    }
}
