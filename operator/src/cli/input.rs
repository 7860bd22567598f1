//! Manifests read from files and directories: YAML streams of one or more documents
//! (`---`), each checked for its kind and parsed into its type; a HardeningProfile is
//! checked as the API server checks it on `kubectl apply` ([`check_manifest`]: the CRD's
//! schema, unknown fields included, and its rules), so what `kubectl apply` refuses is
//! refused here. Every problem names the file and where: the line and column (of the field,
//! when it can be found in the file), the field path, the document number when a file holds
//! several and no line is known. A directory (as GitOps repositories are laid out) gives
//! its `.yaml`, `.yml` and `.json` files, in name order, not descending into
//! subdirectories; documents of other kinds there are skipped (counted in a note).

use std::fmt;
use std::path::{Path, PathBuf};

use k8s_openapi::Resource;
use k8s_openapi::api::core::v1::Namespace;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use crate::core::api::{
    HardeningException, HardeningProfile, check_exception_manifest, check_manifest,
};

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

    /// A YAML error, at its position, without the position repeated in the message, in
    /// words ([`plain`]).
    fn yaml(error: &serde_yaml_ng::Error) -> Self {
        let mut message = error.to_string();
        let position = error.location().map(|l| (l.line(), l.column()));
        if let Some((line, column)) = position {
            message = message.replacen(&format!(" at line {line} column {column}"), "", 1);
        }
        Self {
            position,
            ..Self::message(plain(&message))
        }
    }
}

/// A reader's message in words: what Rust's serde says with type names and backticks
/// (`invalid type: string "x", expected i64`, ``unknown variant `X` ``) as a person would.
pub fn plain(message: &str) -> String {
    let mut text = message.to_owned();
    for (rust, words) in [
        ("expected i8", "expected a whole number"),
        ("expected i16", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected u8", "expected a whole number"),
        ("expected u16", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected usize", "expected a whole number"),
        ("expected f32", "expected a number"),
        ("expected f64", "expected a number"),
        ("expected a map", "expected a mapping"),
        ("expected a sequence", "expected a list"),
        ("invalid type: map", "invalid type: a mapping"),
        ("invalid type: sequence", "invalid type: a list"),
        ("invalid type: unit value", "invalid type: empty (null)"),
        ("invalid type: floating point", "invalid type: the number"),
        ("invalid type: integer", "invalid type: the number"),
        ("invalid type: string", "invalid type: the text"),
        ("invalid type: boolean", "invalid type:"),
        ("unknown variant", "unknown value"),
    ] {
        text = text.replace(rust, words);
    }
    // `expected struct ObjectMeta` and the like: a mapping.
    while let Some(start) = text.find("expected struct ") {
        let end = text[start + 16..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(text.len(), |e| start + 16 + e);
        text.replace_range(start..end, "expected a mapping");
    }
    // `expected ObjectMeta` (a type's name): a mapping.
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("expected ") {
        out.push_str(&rest[..at + 9]);
        rest = &rest[at + 9..];
        let word_end = rest
            .find(|c: char| !c.is_alphanumeric())
            .unwrap_or(rest.len());
        let word = &rest[..word_end];
        if word.starts_with(|c: char| c.is_ascii_uppercase()) && word.len() > 1 {
            out.push_str("a mapping");
            rest = &rest[word_end..];
        }
    }
    out.push_str(rest);
    out.replace('`', "")
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

/// The HardeningProfiles of a manifest (at least one), each checked as the API server
/// checks it ([`check_manifest`]): what `kubectl apply` would refuse is an error here,
/// at the field's line and column where it can be found.
pub fn parse_profiles(file: &str, text: &str) -> Result<Vec<HardeningProfile>, InputError> {
    let (api_version, kind) = profile_kind();
    parse_checked(file, text, &api_version, &kind, check_manifest)
}

/// The HardeningExceptions of a manifest (at least one), each checked as the API server
/// checks it ([`check_exception_manifest`]).
pub fn parse_exceptions(file: &str, text: &str) -> Result<Vec<HardeningException>, InputError> {
    let (api_version, kind) = exception_kind();
    parse_checked(file, text, &api_version, &kind, check_exception_manifest)
}

fn parse_checked<T>(
    file: &str,
    text: &str,
    api_version: &str,
    kind: &str,
    check: fn(&serde_json::Value) -> Result<T, Vec<crate::core::api::ValidationError>>,
) -> Result<Vec<T>, InputError> {
    let (documents, count) = documents(file, text)?;
    let numbered = |n: usize| (count > 1).then_some(n);
    let mut problems = Vec::new();
    let mut objects = Vec::new();
    for Document { number, value } in documents {
        if let Some(problem) = kind_problem(&value, api_version, kind) {
            problems.push(problem.in_document(numbered(number)));
            continue;
        }
        match checked_of(text, number, &value, check) {
            Ok(object) => objects.push(object),
            Err(found) => {
                problems.extend(found.into_iter().map(|p| p.in_document(numbered(number))))
            }
        }
    }
    if !problems.is_empty() {
        return Err(InputError::new(file, problems));
    }
    if objects.is_empty() {
        return Err(InputError::new(
            file,
            vec![Problem::message(format!("holds no {kind}"))],
        ));
    }
    Ok(objects)
}

/// The one HardeningProfile of a manifest ([`parse_profiles`] of a file that must hold
/// exactly one).
pub fn parse_profile(file: &str, text: &str) -> Result<HardeningProfile, InputError> {
    let mut profiles = parse_profiles(file, text)?;
    match profiles.len() {
        1 => Ok(profiles.remove(0)),
        n => Err(InputError::new(
            file,
            vec![Problem::message(format!(
                "holds {}; give one profile per file",
                crate::core::plural::count(n, &profile_kind().1)
            ))],
        )),
    }
}

fn profile_kind() -> (String, String) {
    (
        <HardeningProfile as kube::Resource>::api_version(&()).into_owned(),
        <HardeningProfile as kube::Resource>::kind(&()).into_owned(),
    )
}

fn exception_kind() -> (String, String) {
    (
        <HardeningException as kube::Resource>::api_version(&()).into_owned(),
        <HardeningException as kube::Resource>::kind(&()).into_owned(),
    )
}

/// Document `number` of `text` (already read as `value`) checked by `check`.
fn checked_of<T>(
    text: &str,
    number: usize,
    value: &Value,
    check: fn(&serde_json::Value) -> Result<T, Vec<crate::core::api::ValidationError>>,
) -> Result<T, Vec<Problem>> {
    let json = serde_json::to_value(value).map_err(|e| {
        vec![Problem::message(format!(
            "cannot be read as JSON (mapping keys must be text): {e}"
        ))]
    })?;
    check(&json).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| {
                let position = locate(text, number, &e.field);
                Problem {
                    position,
                    ..Problem::field(e.field, e.message)
                }
            })
            .collect()
    })
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

/// What was read from the command line's files and directories.
#[derive(Debug, Default)]
pub struct Read<T> {
    /// Each object with the file it came from.
    pub objects: Vec<(String, T)>,
    /// Documents of other kinds skipped in directories, one note per file.
    pub notes: Vec<String>,
}

/// The manifest files a path stands for: itself, or a directory's `.yaml`, `.yml` and
/// `.json` files in name order (subdirectories are not read).
pub fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, InputError> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let unreadable = |e: std::io::Error| {
        InputError::new(
            &path.display().to_string(),
            vec![Problem::message(format!("cannot read the directory: {e}"))],
        )
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(unreadable)? {
        let file = entry.map_err(unreadable)?.path();
        let manifest = file
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        if manifest && file.is_file() {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// Every HardeningProfile of `paths` (files or directories). A file given by name holds
/// only profiles; a directory's files may hold other kinds too, which are skipped. Every
/// problem of every file is reported, not only the first file's.
pub fn read_profiles(paths: &[PathBuf]) -> Result<Read<HardeningProfile>, Vec<InputError>> {
    let (api_version, kind) = profile_kind();
    read_all(paths, &api_version, &kind, parse_profiles)
}

/// Every HardeningException of `paths` (files or directories), as [`read_profiles`] does.
pub fn read_exceptions(paths: &[PathBuf]) -> Result<Read<HardeningException>, Vec<InputError>> {
    let (api_version, kind) = exception_kind();
    read_all(paths, &api_version, &kind, parse_exceptions)
}

/// Every Namespace of `paths` (files or directories), as [`read_profiles`] does.
pub fn read_all_namespaces(paths: &[PathBuf]) -> Result<Read<Namespace>, Vec<InputError>> {
    read_all(
        paths,
        Namespace::API_VERSION,
        Namespace::KIND,
        parse_namespaces,
    )
}

fn read_all<T>(
    paths: &[PathBuf],
    api_version: &str,
    kind: &str,
    parse: fn(&str, &str) -> Result<Vec<T>, InputError>,
) -> Result<Read<T>, Vec<InputError>> {
    let mut read_so_far = Read {
        objects: Vec::new(),
        notes: Vec::new(),
    };
    let mut errors = Vec::new();
    for path in paths {
        let in_directory = path.is_dir();
        let files = match manifest_files(path) {
            Ok(files) => files,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if in_directory && files.is_empty() {
            errors.push(InputError::new(
                &path.display().to_string(),
                vec![Problem::message("holds no .yaml, .yml or .json file")],
            ));
            continue;
        }
        let mut found = 0;
        for file in files {
            let name = file.display().to_string();
            let text = match read(&file) {
                Ok(text) => text,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let text = if in_directory {
                match only_kind(&name, &text, api_version, kind) {
                    Ok((kept, skipped)) => {
                        if skipped > 0 {
                            let what = if skipped == 1 {
                                format!("is not a {kind}")
                            } else {
                                format!("are not {kind}s")
                            };
                            read_so_far.notes.push(format!(
                                "{name}: skipped {} that {what}",
                                crate::core::plural::count(skipped, "document"),
                            ));
                        }
                        match kept {
                            Some(kept) => kept,
                            None => continue,
                        }
                    }
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                }
            } else {
                text
            };
            match parse(&name, &text) {
                Ok(objects) => {
                    found += objects.len();
                    read_so_far
                        .objects
                        .extend(objects.into_iter().map(|o| (name.clone(), o)));
                }
                Err(e) => errors.push(e),
            }
        }
        if in_directory && found == 0 && errors.is_empty() {
            errors.push(InputError::new(
                &path.display().to_string(),
                vec![Problem::message(format!("holds no {kind}"))],
            ));
        }
    }
    if errors.is_empty() {
        Ok(read_so_far)
    } else {
        Err(errors)
    }
}

/// The documents of `text` that are `kind` objects, as a text of their own (other
/// documents replaced by empty ones, so lines and document numbers stay as in the file),
/// or `None` when there is none; and how many other documents there were.
fn only_kind(
    file: &str,
    text: &str,
    api_version: &str,
    kind: &str,
) -> Result<(Option<String>, usize), InputError> {
    let (documents, _) = documents(file, text)?;
    let ours: Vec<usize> = documents
        .iter()
        .filter(|d| kind_problem(&d.value, api_version, kind).is_none())
        .map(|d| d.number)
        .collect();
    let skipped = documents.len() - ours.len();
    if ours.is_empty() {
        return Ok((None, skipped));
    }
    if skipped == 0 {
        return Ok((Some(text.to_owned()), 0));
    }
    // Blank out the other documents line by line: positions in messages stay the file's.
    let mut number = 1;
    let mut kept = String::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let separator = line.starts_with("---");
        if separator && i > 0 {
            number += 1;
        }
        if separator || ours.contains(&number) {
            kept.push_str(line);
        } else {
            kept.push('\n');
        }
    }
    Ok((Some(kept), skipped))
}

/// The line and column of `field` (`spec.resourceQuota.hard["pods"]`) in document `number`
/// of `text`: of its key when the field is a mapping entry, else of its value; of the
/// nearest enclosing field that is in the file when it is not (a missing field).
pub fn locate(text: &str, number: usize, field: &str) -> Option<(usize, usize)> {
    let mut segments = crate::core::fieldpath::segments(field)?;
    loop {
        let document = serde_yaml_ng::Deserializer::from_str(text).nth(number - 1)?;
        match serde::de::DeserializeSeed::deserialize(locate::Seek(&segments), document) {
            Err(error) if error.to_string().contains(locate::HERE) => {
                return error.location().map(|l| (l.line(), l.column()));
            }
            _ => {}
        }
        segments.pop()?;
        if segments.is_empty() {
            return None;
        }
    }
}

mod locate {
    //! A walk down a YAML document to one field, which stops there with an error that the
    //! YAML reader marks with the position it was at.

    use std::fmt;

    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use crate::core::fieldpath::Segment;

    /// The error text that means "found, at the error's position".
    pub const HERE: &str = "\u{0}here";

    pub struct Seek<'a>(pub &'a [Segment]);

    impl<'de> DeserializeSeed<'de> for Seek<'_> {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            if self.0.is_empty() {
                // Raised inside the reader's own call, so that it marks the position.
                return d.deserialize_any(Here);
            }
            d.deserialize_any(self)
        }
    }

    /// Stops at whatever value it is given.
    struct Here;

    impl<'de> Visitor<'de> for Here {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any value")
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Err(E::custom(HERE))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Err(E::custom(HERE))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Err(E::custom(HERE))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Err(E::custom(HERE))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Err(E::custom(HERE))
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Err(E::custom(HERE))
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
            Err(de::Error::custom(HERE))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
            Err(de::Error::custom(HERE))
        }
    }

    /// A key that stops the walk when it is the last segment's.
    struct Key<'a>(&'a str, bool);

    impl<'de> DeserializeSeed<'de> for Key<'_> {
        type Value = bool;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }

    impl<'de> Visitor<'de> for Key<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a key")
        }
        fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
            if key == self.0 && self.1 {
                return Err(E::custom(HERE));
            }
            Ok(key == self.0)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
    }

    impl<'de> Visitor<'de> for Seek<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("the field")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let Segment::Key(wanted) = &self.0[0] else {
                return Err(de::Error::custom("not here"));
            };
            let last = self.0.len() == 1;
            while let Some(found) = map.next_key_seed(Key(wanted, last))? {
                if found {
                    return map.next_value_seed(Seek(&self.0[1..]));
                }
                map.next_value::<IgnoredAny>()?;
            }
            Err(de::Error::custom("not here"))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let Segment::Index(wanted) = self.0[0] else {
                return Err(de::Error::custom("not here"));
            };
            for _ in 0..wanted {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    return Err(de::Error::custom("not here"));
                }
            }
            seq.next_element_seed(Seek(&self.0[1..]))?;
            Err(de::Error::custom("not here"))
        }
    }
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
                "p.yaml:6:3: spec.mode: must be one of Enforce, Audit, not the text \"Sometimes\""
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
            lines[0].starts_with(
                "examples/x.yaml:11:22: spec.networkPolicy.egress[0].to[0].except[0]: "
            ),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with(r#"examples/x.yaml:13:12: spec.resourceQuota.hard["pods"]: "#),
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
            vec!["p.yaml:3:1: metadata.name: is required"]
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
                "ns.yaml:9:11: metadata.labels: invalid type: a list, expected a mapping",
                "ns.yaml: document 4: kind: a ConfigMap (v1), expected a Namespace (v1)",
                "ns.yaml:26:11: metadata.labels.tier: invalid type: a mapping, expected a string",
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
                "ns.yaml:{line}:9: metadata.name: invalid type: a list, expected a string"
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
