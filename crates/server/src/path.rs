//! SMB path names to share-relative paths (MS-FSCC 2.1.5): separators,
//! invalid characters and components that would leave the share.

use wire::NtStatus;

/// Characters MS-FSCC 2.1.5.2 forbids in a file name component.
fn invalid_char(c: char) -> bool {
    matches!(c, '"' | '*' | '/' | ':' | '<' | '>' | '?' | '|') || (c as u32) < 0x20
}

/// Converts a CREATE name (`dir\file`) into `dir/file` ("" = share root).
/// A leading `\` is refused as Windows does (MS-SMB2 3.3.5.9).
pub fn to_relative(name: &str) -> Result<String, NtStatus> {
    if name.starts_with('\\') {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let trimmed = name;
    let trimmed = trimmed.strip_suffix('\\').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let mut out = String::with_capacity(trimmed.len());
    for (i, comp) in trimmed.split('\\').enumerate() {
        if comp.is_empty() {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        if comp == "." || comp == ".." {
            return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD);
        }
        if comp.contains(':') {
            // Named streams are not stored by this server.
            return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
        }
        if comp.chars().any(invalid_char) {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        if comp.len() > 255 {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        if i > 0 {
            out.push('/');
        }
        out.push_str(comp);
    }
    Ok(out)
}

/// Splits "a/b/c" into ("a/b", "c").
pub fn split_parent(rel: &str) -> (&str, &str) {
    match rel.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", rel),
    }
}

/// The last component of a share-relative path.
pub fn file_name(rel: &str) -> &str {
    split_parent(rel).1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(to_relative("").unwrap(), "");
        assert_eq!(to_relative("a\\b").unwrap(), "a/b");
        assert_eq!(to_relative("a\\").unwrap(), "a");
        assert_eq!(to_relative("\\a"), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(
            to_relative("a\\..\\..\\etc"),
            Err(NtStatus::OBJECT_PATH_SYNTAX_BAD)
        );
        assert_eq!(to_relative("a\\\\b"), Err(NtStatus::OBJECT_NAME_INVALID));
        assert_eq!(to_relative("a/b"), Err(NtStatus::OBJECT_NAME_INVALID));
        assert_eq!(to_relative("a*"), Err(NtStatus::OBJECT_NAME_INVALID));
        assert_eq!(
            to_relative("f:stream"),
            Err(NtStatus::OBJECT_NAME_NOT_FOUND)
        );
    }
}
