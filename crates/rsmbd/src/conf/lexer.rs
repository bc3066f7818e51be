//! smb.conf syntax, below the meaning of any key: `[section]` headers,
//! `key = value` lines split at the first `=`, `;` and `#` comment lines,
//! a `\` at the end of a line continuing it on the next, and `include = FILE`
//! spliced in place (as Samba's and ksmbd-tools' parsers do).
//!
//! The output is a flat list of items, each with the file and line it came
//! from, so every later message can name `file:line`.

use std::path::{Path, PathBuf};

use super::ConfError;

/// Where an item was read: the file and the 1-based line its logical line starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One meaningful line of a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `[name]`, name trimmed, case kept.
    Section { name: String, loc: Loc },
    /// `key = value`: `key` is the normalised name (lower case, no
    /// whitespace), `raw_key` as written, `value` trimmed.
    Param {
        key: String,
        raw_key: String,
        value: String,
        loc: Loc,
    },
}

/// Include nesting deeper than this is taken for a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Normalises a key the way smb.conf compares them: case- and
/// whitespace-insensitive ("Guest OK" == "guestok").
pub fn normalize_key(key: &str) -> String {
    key.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Reads `path` and every file it includes into a flat item list.
/// `read` supplies file contents (the real file system, or a map in tests).
pub fn read_items(
    path: &Path,
    read: &mut dyn FnMut(&Path) -> std::io::Result<String>,
) -> Result<Vec<Item>, ConfError> {
    let text = read(path).map_err(|e| ConfError::new(path, 0, e.to_string()))?;
    let mut out = Vec::new();
    lex(path, &text, read, 0, &mut out)?;
    Ok(out)
}

/// Splits one file's text into logical lines: (first physical line number, text).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i.saturating_add(1);
        let line = raw.trim_end();
        let (start, mut acc) = match pending.take() {
            // A continued line keeps what came before; its own indentation is dropped.
            Some((start, acc)) => (start, acc + line.trim_start()),
            None => (line_no, line.to_string()),
        };
        if let Some(stripped) = acc.strip_suffix('\\') {
            // Comment lines do not continue: a `\` there is just text.
            let is_comment = stripped.trim_start().starts_with([';', '#']);
            if !is_comment {
                acc.truncate(stripped.len());
                pending = Some((start, acc));
                continue;
            }
        }
        out.push((start, acc));
    }
    if let Some(last) = pending {
        // A `\` on the last line continues into nothing.
        out.push(last);
    }
    out
}

fn lex(
    path: &Path,
    text: &str,
    read: &mut dyn FnMut(&Path) -> std::io::Result<String>,
    depth: usize,
    out: &mut Vec<Item>,
) -> Result<(), ConfError> {
    for (line_no, line) in logical_lines(text) {
        let loc = Loc {
            file: path.to_path_buf(),
            line: line_no,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with([';', '#']) {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some((name, _after)) = rest.split_once(']') else {
                return Err(ConfError::at(&loc, "section header without a closing `]`"));
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(ConfError::at(&loc, "empty section name"));
            }
            out.push(Item::Section {
                name: name.to_string(),
                loc,
            });
            continue;
        }
        let Some((raw_key, value)) = line.split_once('=') else {
            return Err(ConfError::at(
                &loc,
                format!("expected `key = value` or `[section]`, found {line:?}"),
            ));
        };
        let raw_key = raw_key.trim();
        let key = normalize_key(raw_key);
        if key.is_empty() {
            return Err(ConfError::at(&loc, "missing key before `=`"));
        }
        let value = value.trim();
        if key == "include" {
            include(path, value, &loc, read, depth, out)?;
            continue;
        }
        out.push(Item::Param {
            key,
            raw_key: raw_key.to_string(),
            value: value.to_string(),
            loc,
        });
    }
    Ok(())
}

/// `include = FILE`: a relative name is taken from the including file's directory.
fn include(
    from: &Path,
    value: &str,
    loc: &Loc,
    read: &mut dyn FnMut(&Path) -> std::io::Result<String>,
    depth: usize,
    out: &mut Vec<Item>,
) -> Result<(), ConfError> {
    if value.is_empty() {
        return Err(ConfError::at(loc, "include needs a file name"));
    }
    if depth >= MAX_INCLUDE_DEPTH {
        return Err(ConfError::at(
            loc,
            format!("includes nested deeper than {MAX_INCLUDE_DEPTH} (a loop?)"),
        ));
    }
    let target = resolve_relative(from, value);
    let text = read(&target)
        .map_err(|e| ConfError::at(loc, format!("cannot include {}: {e}", target.display())))?;
    lex(&target, &text, read, depth.saturating_add(1), out)
}

/// A path written in config file `from`: relative ones start at `from`'s directory.
pub fn resolve_relative(from: &Path, value: &str) -> PathBuf {
    let p = Path::new(value);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    match from.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lex_map(files: &[(&str, &str)], main: &str) -> Result<Vec<Item>, ConfError> {
        let map: HashMap<PathBuf, String> = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        let mut read = |p: &Path| {
            map.get(p)
                .cloned()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        };
        read_items(Path::new(main), &mut read)
    }

    fn params(items: &[Item]) -> Vec<(String, String, usize)> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Param {
                    key, value, loc, ..
                } => Some((key.clone(), value.clone(), loc.line)),
                Item::Section { .. } => None,
            })
            .collect()
    }

    #[test]
    fn keys_are_case_and_space_insensitive() {
        assert_eq!(normalize_key("Guest OK"), "guestok");
        assert_eq!(normalize_key(" guest\tok "), "guestok");
        assert_eq!(normalize_key("GUESTOK"), "guestok");
    }

    #[test]
    fn comments_blank_lines_and_first_equals() {
        let text = "; a comment\n# another\n\n[Data]\n  path = /srv/a=b  \n   ;indented comment\n";
        let items = lex_map(&[("c.conf", text)], "c.conf").unwrap();
        assert_eq!(items.len(), 2);
        match &items[0] {
            Item::Section { name, loc } => {
                assert_eq!(name, "Data");
                assert_eq!(loc.line, 4);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(params(&items), vec![("path".into(), "/srv/a=b".into(), 5)]);
    }

    #[test]
    fn continuation_joins_lines_and_keeps_first_line_number() {
        let text = "[s]\nvalid users = alice, \\\n    bob \\\n  carol\npath = /x\n";
        let items = lex_map(&[("c.conf", text)], "c.conf").unwrap();
        assert_eq!(
            params(&items),
            vec![
                ("validusers".into(), "alice, bob carol".into(), 2),
                ("path".into(), "/x".into(), 5)
            ]
        );
    }

    #[test]
    fn comment_lines_do_not_continue() {
        let text = "# comment \\\npath = /x\n";
        let items = lex_map(&[("c.conf", text)], "c.conf").unwrap();
        assert_eq!(params(&items), vec![("path".into(), "/x".into(), 2)]);
    }

    #[test]
    fn crlf_line_endings() {
        let text = "[s]\r\npath = /x\r\n";
        let items = lex_map(&[("c.conf", text)], "c.conf").unwrap();
        assert_eq!(params(&items), vec![("path".into(), "/x".into(), 2)]);
    }

    #[test]
    fn include_is_spliced_in_place_relative_to_the_including_file() {
        let main = "[global]\nworkgroup = A\ninclude = extra.conf\nnetbios name = B\n";
        let extra = "server string = from extra\n";
        let items = lex_map(
            &[("/etc/r/main.conf", main), ("/etc/r/extra.conf", extra)],
            "/etc/r/main.conf",
        )
        .unwrap();
        let p = params(&items);
        assert_eq!(p[0].0, "workgroup");
        assert_eq!(p[1], ("serverstring".into(), "from extra".into(), 1));
        assert_eq!(p[2].0, "netbiosname");
        match &items[2] {
            Item::Param { loc, .. } => assert_eq!(loc.file, PathBuf::from("/etc/r/extra.conf")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_include_names_the_include_line() {
        let err =
            lex_map(&[("m.conf", "[global]\n\ninclude = nope.conf\n")], "m.conf").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("nope.conf"), "{err}");
    }

    #[test]
    fn include_loop_is_an_error() {
        let err = lex_map(&[("m.conf", "include = m.conf\n")], "m.conf").unwrap_err();
        assert!(err.message.contains("nested"), "{err}");
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let err = lex_map(&[("m.conf", "[global]\nthis is not a param\n")], "m.conf").unwrap_err();
        assert_eq!((err.line, err.file.clone()), (2, PathBuf::from("m.conf")));
        let err = lex_map(&[("m.conf", "\n\n[global\n")], "m.conf").unwrap_err();
        assert_eq!(err.line, 3);
        let err = lex_map(&[("m.conf", "[ ]\n")], "m.conf").unwrap_err();
        assert_eq!(err.line, 1);
        let err = lex_map(&[("m.conf", "[s]\n = x\n")], "m.conf").unwrap_err();
        assert_eq!(err.line, 2);
    }
}
