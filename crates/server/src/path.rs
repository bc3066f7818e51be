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
    // "." and ".." are resolved by name, as Windows and Samba do; a ".."
    // that would climb above the share root is refused.
    let mut comps: Vec<&str> = Vec::new();
    for comp in trimmed.split('\\') {
        if comp.is_empty() {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        if comp == "." {
            continue;
        }
        if comp == ".." {
            if comps.pop().is_none() {
                return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD);
            }
            continue;
        }
        if comp.contains(':') {
            // Streams are split off by `parse_name`; here a colon is invalid.
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        if comp.chars().any(invalid_char) {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        if comp.len() > 255 {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        comps.push(comp);
    }
    let out = comps.join("/");
    Ok(out)
}

/// Splits a CREATE name into its path and named stream (MS-FSCC 2.1.5.3:
/// `file:stream:$DATA`); `file::$DATA` names the file's main stream.
pub fn parse_name(name: &str) -> Result<(String, Option<String>), NtStatus> {
    let (path_part, last) = match name.rfind('\\') {
        Some(i) => (name.get(..i).unwrap_or(""), name.get(i + 1..).unwrap_or("")),
        None => ("", name),
    };
    let Some((file, rest)) = last.split_once(':') else {
        return Ok((to_relative(name)?, None));
    };
    let (stream, kind) = match rest.split_once(':') {
        Some((s, k)) => (s, Some(k)),
        None => (rest, None),
    };
    if let Some(k) = kind {
        if !k.eq_ignore_ascii_case("$DATA") {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
    }
    if stream.is_empty() && kind.is_none() {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    if stream
        .chars()
        .any(|c| matches!(c, '/' | '\\' | ':') || (c as u32) < 0x20)
        || stream.len() > 255
    {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    let base = if path_part.is_empty() {
        file.to_string()
    } else {
        format!("{path_part}\\{file}")
    };
    let rel = to_relative(&base)?;
    Ok((rel, (!stream.is_empty()).then(|| stream.to_string())))
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
        assert_eq!(to_relative("a\\b\\..").unwrap(), "a");
        assert_eq!(to_relative("a\\.\\b").unwrap(), "a/b");
        assert_eq!(to_relative("a\\.."), Ok(String::new()));
        assert_eq!(to_relative(".."), Err(NtStatus::OBJECT_PATH_SYNTAX_BAD));
        assert_eq!(to_relative("a\\\\b"), Err(NtStatus::OBJECT_NAME_INVALID));
        assert_eq!(to_relative("a/b"), Err(NtStatus::OBJECT_NAME_INVALID));
        assert_eq!(to_relative("a*"), Err(NtStatus::OBJECT_NAME_INVALID));
        assert_eq!(
            parse_name("d\\f:s").unwrap(),
            ("d/f".to_string(), Some("s".to_string()))
        );
        assert_eq!(
            parse_name("f:s:$DaTa").unwrap(),
            ("f".to_string(), Some("s".to_string()))
        );
        assert_eq!(parse_name("f::$DATA").unwrap(), ("f".to_string(), None));
        assert_eq!(parse_name("f:s:$BAD"), Err(NtStatus::OBJECT_NAME_INVALID));
        assert_eq!(parse_name("a:b\\c"), Err(NtStatus::OBJECT_NAME_INVALID));
        assert_eq!(to_relative("f:stream"), Err(NtStatus::OBJECT_NAME_INVALID));
    }
}
