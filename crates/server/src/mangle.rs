//! 8.3 short names (MS-FSCC 2.1.5.2.1) for FileAlternateNameInformation,
//! computed from the long name so no state is kept: names that are already
//! valid 8.3 are their own short name; others become `PREFIX~HHH.EXT`, and a
//! CREATE naming such a short name is resolved back by scanning the directory.

/// Characters a short name may not contain (besides control characters).
fn invalid_83(c: char) -> bool {
    !c.is_ascii() || c.is_ascii_control() || "\"*+,/:;<=>?[\\]| ".contains(c)
}

/// Whether `name` is a valid 8.3 name as it stands.
pub fn is_8_3(name: &str) -> bool {
    if name == "." || name == ".." {
        return true;
    }
    if name.is_empty() || name.starts_with('.') || name.chars().any(invalid_83) {
        return false;
    }
    let (base, ext) = match name.split_once('.') {
        Some((b, e)) => (b, Some(e)),
        None => (name, None),
    };
    if base.is_empty() || base.len() > 8 {
        return false;
    }
    match ext {
        None => true,
        Some(e) => !e.is_empty() && e.len() <= 3 && !e.contains('.'),
    }
}

fn hash(name: &str) -> u32 {
    crate::util::fnv32(name.to_lowercase().as_bytes())
}

/// The short name of `name`: itself if 8.3, else a stable mangled form.
pub fn short_name(name: &str) -> String {
    if is_8_3(name) {
        return name.to_string();
    }
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !invalid_83(*c) && *c != '.')
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    let (base, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (
            name.get(..i).unwrap_or(name),
            name.get(i + 1..).unwrap_or(""),
        ),
        _ => (name, ""),
    };
    let mut prefix: String = clean(base).chars().take(4).collect();
    if prefix.is_empty() {
        prefix.push('_');
    }
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut h = hash(name);
    let mut code = String::with_capacity(3);
    for _ in 0..3 {
        code.push(char::from(
            DIGITS.get((h % 36) as usize).copied().unwrap_or(b'0'),
        ));
        h /= 36;
    }
    let ext: String = clean(ext).chars().take(3).collect();
    if ext.is_empty() {
        format!("{prefix}~{code}")
    } else {
        format!("{prefix}~{code}.{ext}")
    }
}

/// Bounded map from "dir/SHORT" to the long name it was made from.
#[derive(Default)]
pub struct MangleCache {
    map: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

const CACHE_MAX: usize = 8192;

fn key(dir: &str, short: &str) -> String {
    format!("{dir}/{}", short.to_ascii_uppercase())
}

impl MangleCache {
    pub fn remember(&self, dir: &str, long: &str) {
        if is_8_3(long) {
            return;
        }
        let mut m = crate::state::lock(&self.map);
        if m.len() >= CACHE_MAX {
            m.clear();
        }
        m.insert(key(dir, &short_name(long)), long.to_string());
    }

    pub fn long_name(&self, dir: &str, short: &str) -> Option<String> {
        crate::state::lock(&self.map).get(&key(dir, short)).cloned()
    }
}

/// Could `name` be a mangled short name of ours?
pub fn looks_mangled(name: &str) -> bool {
    name.len() <= 12 && name.contains('~')
}

/// Resolves a share-relative path whose components may be mangled short
/// names; None if nothing matches.
pub fn resolve(fs: &vfs::Share, rel: &str) -> Option<String> {
    let mut real = String::new();
    for comp in rel.split('/') {
        let candidate = if real.is_empty() {
            comp.to_string()
        } else {
            format!("{real}/{comp}")
        };
        let found = match fs.lookup(&candidate) {
            Ok(l) if l.exists => Some(l.path),
            _ if looks_mangled(comp) => {
                let dir = fs
                    .open(
                        &real,
                        &vfs::OpenHow {
                            read: true,
                            write: false,
                            create: vfs::CreateMode::OpenExisting,
                            mode: 0,
                            directory: Some(true),
                        },
                    )
                    .ok()?;
                let mut cursor = dir.read_dir().ok()?;
                let mut hit = None;
                while let Ok(Some(e)) = cursor.next_entry() {
                    if !is_8_3(&e.name) && short_name(&e.name).eq_ignore_ascii_case(comp) {
                        hit = Some(e.name);
                        break;
                    }
                }
                hit.map(|n| {
                    if real.is_empty() {
                        n
                    } else {
                        format!("{real}/{n}")
                    }
                })
            }
            _ => None,
        };
        real = found?;
    }
    Some(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_8_3("README.TXT"));
        assert!(is_8_3("a.b"));
        assert!(!is_8_3("longfilename.txt"));
        assert!(!is_8_3("a.b.c"));
        assert!(!is_8_3(".hidden"));
        let s = short_name("A long file name.html");
        assert!(is_8_3(&s), "{s}");
        assert!(s.starts_with("ALON~") && s.ends_with(".HTM"), "{s}");
        assert_eq!(short_name("A long file name.html"), s);
        assert!(looks_mangled(&s));
    }
}
