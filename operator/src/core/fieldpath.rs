//! Field paths as Kubernetes prints them in messages: `spec.hard["limits.cpu"]`,
//! `spec.ingress[0].from`. Map keys that are plain identifiers use the dotted form.

/// `parent` followed by the map key or field `key`.
pub fn child(parent: &str, key: &str) -> String {
    let mut path = parent.to_owned();
    push_key(&mut path, key);
    path
}

/// `parent` followed by the map key `key`, always in brackets: `spec.hard["pods"]`. For
/// messages about a profile, where a bracket marks a key the user chose.
pub fn key(parent: &str, key: &str) -> String {
    format!("{parent}[{key:?}]")
}

/// `parent` followed by the list index `index`.
pub fn index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// Appends a map key or field name to `path`.
pub fn push_key(path: &mut String, key: &str) {
    if is_identifier(key) {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push_str(&format!("[{key:?}]"));
    }
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_dotted_other_keys_quoted() {
        assert_eq!(child("spec", "hard"), "spec.hard");
        assert_eq!(
            child("spec.hard", "limits.cpu"),
            r#"spec.hard["limits.cpu"]"#
        );
        assert_eq!(
            child("metadata.labels", "pod-security.kubernetes.io/enforce"),
            r#"metadata.labels["pod-security.kubernetes.io/enforce"]"#
        );
        assert_eq!(child("", "spec"), "spec");
        assert_eq!(child("spec.hard", "1x"), r#"spec.hard["1x"]"#);
        assert_eq!(index("spec.ingress", 2), "spec.ingress[2]");
        assert_eq!(key("spec.hard", "pods"), r#"spec.hard["pods"]"#);
        assert_eq!(key("spec.hard", "a\"b"), r#"spec.hard["a\"b"]"#);
    }
}

/// One step of a field path: a field or map key, or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// The steps of a path as [`child`], [`key`] and [`index`] write it:
/// `spec.hard["limits.cpu"]` is `spec`, `hard`, `limits.cpu`; `None` if it is not such a path.
pub fn segments(path: &str) -> Option<Vec<Segment>> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix("[\"") {
            // A quoted key, as `key` writes it (Rust's Debug quoting of a string).
            let mut end = None;
            let bytes = inner.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' if bytes.get(i + 1) == Some(&b']') => {
                        end = Some(i);
                        break;
                    }
                    _ => i += 1,
                }
            }
            let end = end?;
            let key: String = serde_json::from_str(&format!("\"{}\"", &inner[..end])).ok()?;
            out.push(Segment::Key(key));
            rest = &inner[end + 2..];
        } else if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            out.push(Segment::Index(inner[..end].parse().ok()?));
            rest = &inner[end + 1..];
        } else {
            let name = rest.strip_prefix('.').unwrap_or(rest);
            let end = name.find(['.', '[']).unwrap_or(name.len());
            if end == 0 {
                return None;
            }
            out.push(Segment::Key(name[..end].to_owned()));
            rest = &name[end..];
        }
    }
    Some(out)
}
