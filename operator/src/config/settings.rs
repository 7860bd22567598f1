//! The one declaration of every setting, and the configuration file read through it.
//!
//! [`settings!`] wraps a `clap::Args` struct: each field's clap attribute is its flag,
//! environment variable, default, parser (validation) and help text; `=> "apiClient.qps"`
//! after a field's type also makes it a file key; `=> flatten` after a `#[command(flatten)]`
//! field takes the keys of the flattened struct. A file value is turned into the text a
//! flag would carry and parsed by that same clap argument (so by the same parser), which
//! keeps the precedence flags > environment > file > defaults in one place: a value from
//! the file replaces a field unless a flag or an environment variable set it.

use std::ffi::OsString;
use std::path::Path;

use clap::{Arg, Command, FromArgMatches};
use serde_yaml_ng::Value;

use super::ConfigError;

/// Declares a settings struct (see the module's documentation).
macro_rules! settings {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $field_vis:vis $field:ident : $ty:ty $(=> $key:tt)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$field_meta])* $field_vis $field : $ty, )*
        }

        impl $crate::config::settings::FileKeys for $name {
            #[allow(clippy::vec_init_then_push)]
            fn file_keys() -> Vec<$crate::config::settings::FileKey> {
                #[allow(unused_mut)]
                let mut keys = Vec::new();
                $( $( settings!(@key keys, $key, $field, $ty); )? )*
                keys
            }
        }
    };
    (@key $keys:ident, flatten, $field:ident, $ty:ty) => {
        $keys.extend(<$ty as $crate::config::settings::FileKeys>::file_keys());
    };
    (@key $keys:ident, $key:literal, $field:ident, $ty:ty) => {
        $keys.push($crate::config::settings::FileKey {
            key: $key,
            id: stringify!($field),
            texts: <$ty as $crate::config::settings::FileValue>::texts,
        });
    };
}

/// A setting that the configuration file may hold.
#[derive(Clone, Copy, Debug)]
pub struct FileKey {
    /// Its path in the file (`apiClient.qps`).
    pub key: &'static str,
    /// Its clap argument id (the field's name).
    pub id: &'static str,
    /// The flag values a YAML value stands for (see [`FileValue`]).
    pub texts: fn(&Value) -> Result<Vec<String>, String>,
}

/// The file keys of a [`settings!`] struct, in declaration order.
pub trait FileKeys {
    fn file_keys() -> Vec<FileKey>;
}

/// How a YAML value of a setting's type becomes flag values: what YAML type it must have.
/// An empty list leaves the setting as it is (`null`, and `""` for an optional text).
pub trait FileValue {
    fn texts(value: &Value) -> Result<Vec<String>, String>;
}

/// Any scalar, as text (`90` and `"90s"` alike, like a YAML string).
fn scalar(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::Null => Ok(vec![]),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Number(n) => Ok(vec![n.to_string()]),
        Value::Bool(b) => Ok(vec![b.to_string()]),
        other => Err(invalid_type(other, "a string")),
    }
}

fn invalid_type(found: &Value, expected: &str) -> String {
    let found = match found {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Sequence(_) => "sequence".to_owned(),
        Value::Mapping(_) => "map".to_owned(),
        Value::Tagged(t) => format!("tagged value {}", t.tag),
    };
    format!("invalid type: {found}, expected {expected}")
}

macro_rules! file_values {
    ($texts:expr => $($ty:ty),*) => {
        $( impl FileValue for $ty {
            fn texts(value: &Value) -> Result<Vec<String>, String> {
                $texts(value)
            }
        } )*
    };
}

file_values!(scalar => String, std::time::Duration, std::net::SocketAddr, super::LogFormat, super::LeaderElection);
file_values!(|value: &Value| match value {
    Value::Null => Ok(vec![]),
    Value::Number(n) if !n.is_f64() => Ok(vec![n.to_string()]),
    other => Err(invalid_type(other, "an integer")),
} => u16, u32);
file_values!(|value: &Value| match value {
    Value::Null => Ok(vec![]),
    Value::Number(n) => Ok(vec![n.to_string()]),
    other => Err(invalid_type(other, "a number")),
} => f64);
file_values!(|value: &Value| match value {
    Value::Null => Ok(vec![]),
    Value::Bool(b) => Ok(vec![b.to_string()]),
    other => Err(invalid_type(other, "a boolean")),
} => bool);

/// An empty text is no value: the default (none) stays.
impl FileValue for Option<String> {
    fn texts(value: &Value) -> Result<Vec<String>, String> {
        let mut texts = scalar(value)?;
        texts.retain(|t| !t.trim().is_empty());
        Ok(texts)
    }
}

/// A list, one flag value per item.
impl FileValue for Vec<String> {
    fn texts(value: &Value) -> Result<Vec<String>, String> {
        match value {
            Value::Null => Ok(vec![]),
            Value::Sequence(items) => items
                .iter()
                .map(|item| match item {
                    Value::Sequence(_) | Value::Mapping(_) | Value::Null => {
                        Err(invalid_type(item, "a string"))
                    }
                    _ => scalar(item).map(|mut t| t.remove(0)),
                })
                .collect(),
            other => Err(invalid_type(other, "a sequence")),
        }
    }
}

/// A list of protected networks, one flag value (the text form) per item.
impl FileValue for Vec<crate::core::api::ProtectedNetwork> {
    fn texts(value: &Value) -> Result<Vec<String>, String> {
        <Vec<String> as FileValue>::texts(value)
    }
}

/// `T` as clap builds it from no flags and no environment: the declared defaults.
pub fn defaults<T: clap::Args + FromArgMatches>() -> T {
    let command = T::augment_args(Command::new("defaults")).mut_args(|arg| arg.env(None::<&str>));
    T::from_arg_matches(&command.get_matches_from(["defaults"]))
        .expect("every setting has a default or is optional")
}

/// Reads the file at `path` into `config`: every value is checked (even one a flag or an
/// environment variable overrides: a broken file is an error), and replaces the field
/// unless `explicit(id)` (a flag or an environment variable gave it).
pub fn apply_file<T: clap::Args + FromArgMatches + FileKeys>(
    config: &mut T,
    path: &Path,
    explicit: &dyn Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{file}: cannot read: {e}")))?;
    // An empty file (or comments only) is an empty configuration.
    let root: Value =
        serde_yaml_ng::from_str(&text).map_err(|e| ConfigError(format!("{file}: {e}")))?;
    let keys = T::file_keys();
    let mut values = Vec::new();
    collect(&root, "", &keys, &mut values).map_err(|e| ConfigError(format!("{file}: {e}")))?;
    // Only the file's values, through the same arguments: no environment, no defaults.
    let command = T::augment_args(Command::new("file"))
        .mut_args(|arg| arg.env(None::<&str>).default_value(None::<&str>));
    for key in &keys {
        let Some(value) = values.iter().find(|(k, _)| *k == key.key).map(|(_, v)| *v) else {
            continue;
        };
        let at_key = |message: String| ConfigError(format!("{file}: {}: {message}", key.key));
        let texts = (key.texts)(value).map_err(at_key)?;
        if texts.is_empty() {
            continue;
        }
        let arg = command
            .get_arguments()
            .find(|a| a.get_id() == key.id)
            .expect("a file key names a declared argument");
        let long = arg
            .get_long()
            .expect("a file key's argument has a long flag");
        let args = std::iter::once(OsString::from("file"))
            .chain(texts.iter().map(|t| format!("--{long}={t}").into()));
        let matches = command
            .clone()
            .try_get_matches_from(args)
            .map_err(|e| at_key(clap_message(&e, arg, &texts)))?;
        if !explicit(key.id) {
            config
                .update_from_arg_matches(&matches)
                .map_err(|e| at_key(e.to_string()))?;
        }
    }
    Ok(())
}

/// The mapping at `prefix` (`""` or `"apiClient."`): each entry a known key (into
/// `values`), a section of known keys, or an error like serde's.
fn collect<'a>(
    value: &'a Value,
    prefix: &str,
    keys: &[FileKey],
    values: &mut Vec<(&'static str, &'a Value)>,
) -> Result<(), String> {
    let mapping = match value {
        Value::Null => return Ok(()),
        Value::Mapping(mapping) => mapping,
        other => return Err(invalid_type(other, "a map of settings")),
    };
    for (name, value) in mapping {
        let Value::String(name) = name else {
            return Err(format!(
                "{}: a key must be a string",
                prefix.trim_end_matches('.')
            ));
        };
        let path = format!("{prefix}{name}");
        if let Some(key) = keys.iter().find(|k| k.key == path) {
            values.push((key.key, value));
        } else if keys.iter().any(|k| k.key.starts_with(&format!("{path}."))) {
            collect(value, &format!("{path}."), keys, values)
                .map_err(|e| format!("{path}: {e}"))?;
        } else {
            let mut expected: Vec<String> = Vec::new();
            for key in keys.iter().filter_map(|k| k.key.strip_prefix(prefix)) {
                let name = key.split('.').next().unwrap_or(key);
                if !expected.iter().any(|e| e == name) {
                    expected.push(name.to_owned());
                }
            }
            let expected: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
            return Err(format!(
                "unknown field `{name}`, expected one of {}",
                expected.join(", ")
            ));
        }
    }
    Ok(())
}

/// The reason of a clap error about a file value, without clap's wording about flags:
/// the parser's own message, or the accepted values.
fn clap_message(error: &clap::Error, arg: &Arg, texts: &[String]) -> String {
    if let Some(source) = std::error::Error::source(error) {
        return source.to_string();
    }
    let possible: Vec<String> = arg
        .get_possible_values()
        .iter()
        .map(|v| v.get_name().to_owned())
        .collect();
    match (error.kind(), possible.split_last()) {
        (clap::error::ErrorKind::InvalidValue, Some((last, others))) if !others.is_empty() => {
            format!(
                "invalid value {:?}: expected {} or {last}",
                texts.join(","),
                others.join(", ")
            )
        }
        _ => error.kind().to_string(),
    }
}
