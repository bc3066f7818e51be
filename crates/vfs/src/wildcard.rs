//! Windows wildcard matching for QUERY_DIRECTORY search patterns
//! (MS-FSA 2.1.4.4 "Algorithm for Determining if a FileName Is in an Expression").
//!
//! Wildcards: `*` zero or more characters; `?` exactly one character;
//! `<` (DOS_STAR) zero or more characters up to, not including, the last `.` of the name;
//! `>` (DOS_QM) any one character, or nothing at a `.` or at the end of the name;
//! `"` (DOS_DOT) a `.`, or nothing at the end of the name.
//!
//! The matcher simulates the pattern as a non-deterministic automaton (one state per
//! pattern position), so it runs in O(pattern × name) time with no backtracking blow-up.

const DOS_STAR: char = '<';
const DOS_QM: char = '>';
const DOS_DOT: char = '"';

/// Windows wildcard matching as in MS-FSA 2.1.4.4 (`*`, `?`, `<`, `>`, `"`), case-insensitive.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    // MS-FSA 2.1.4.4 Part 1: special cases.
    if pattern.is_empty() || name.is_empty() {
        return pattern.is_empty() && name.is_empty();
    }
    if pattern == "*" || pattern == "*.*" {
        return true;
    }
    let pat: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let last_dot = name.iter().rposition(|&c| c == '.');

    // states[i]: the pattern prefix of length i matches the name consumed so far.
    let mut states = vec![false; pat.len().saturating_add(1)];
    let mut next = states.clone();
    if let Some(s) = states.first_mut() {
        *s = true;
    }
    for (pos, &c) in name.iter().enumerate() {
        closure(&pat, &mut states, Some(c));
        next.iter_mut().for_each(|s| *s = false);
        let is_last_dot = last_dot == Some(pos);
        for (i, &p) in pat.iter().enumerate() {
            if !states.get(i).copied().unwrap_or(false) {
                continue;
            }
            let (stay, advance) = match p {
                '*' => (true, false),
                DOS_STAR => (!is_last_dot, false),
                '?' => (false, true),
                DOS_QM => (false, c != '.'),
                DOS_DOT => (false, c == '.'),
                lit => (false, chars_eq_ignore_case(lit, c)),
            };
            if stay {
                set(&mut next, i);
            }
            if advance {
                set(&mut next, i.saturating_add(1));
            }
        }
        std::mem::swap(&mut states, &mut next);
        if !states.iter().any(|&s| s) {
            return false;
        }
    }
    closure(&pat, &mut states, None);
    states.last().copied().unwrap_or(false)
}

/// Follow the transitions that consume no character. `next` is the name character
/// about to be matched, `None` at the end of the name.
fn closure(pat: &[char], states: &mut [bool], next: Option<char>) {
    // Empty transitions only go forward, so one pass in order reaches the fixpoint.
    for (i, &p) in pat.iter().enumerate() {
        if !states.get(i).copied().unwrap_or(false) {
            continue;
        }
        let empty = match p {
            '*' | DOS_STAR => true,
            DOS_QM => matches!(next, None | Some('.')),
            DOS_DOT => next.is_none(),
            _ => false,
        };
        if empty {
            set(states, i.saturating_add(1));
        }
    }
}

fn set(states: &mut [bool], i: usize) {
    if let Some(s) = states.get_mut(i) {
        *s = true;
    }
}

fn chars_eq_ignore_case(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::wildcard_match as m;

    #[test]
    fn special_cases() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(!m("*", ""));
        assert!(m("*", "anything.at.all"));
        assert!(m("*.*", "noextension"));
        assert!(m("*.*", ".hidden"));
    }

    #[test]
    fn star_and_question_mark() {
        assert!(m("*.txt", "notes.txt"));
        assert!(m("*.txt", "NOTES.TXT"));
        assert!(m("*.txt", ".txt"));
        assert!(!m("*.txt", "notes.txt.bak"));
        assert!(m("a?c", "abc"));
        assert!(m("a?c", "a.c"));
        assert!(!m("a?c", "ac"));
        assert!(!m("a?c", "abbc"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("Foo", "fOO"));
        assert!(m("ÄBC*", "äbcdef"));
    }

    #[test]
    fn dos_star() {
        // '<' stops at the last dot: "<.txt" is what "*.txt" becomes from a DOS client.
        assert!(m("<.txt", "notes.txt"));
        assert!(m("<.txt", "a.b.txt"));
        assert!(!m("<.txt", "notes.doc"));
        // '<' alone cannot swallow the final dot.
        assert!(!m("<", "a.b"));
        assert!(m("<", "abc"));
        assert!(m("<.*", "a.b"));
        // "<" followed by DOS_DOT and DOS_STAR is Win32 "*.*": names with or without a dot.
        assert!(m("<\"<", "readme"));
        assert!(m("<\"<", "readme.txt"));
    }

    #[test]
    fn dos_qm() {
        // '>' matches one character, or nothing at a dot or at the end.
        assert!(m(">>>", "ab"));
        assert!(m(">>>", "abc"));
        assert!(!m(">>>", "abcd"));
        assert!(m(">>>.txt", "ab.txt"));
        assert!(!m(">>>.txt", "abcd.txt"));
        assert!(!m("a>", "a.b"));
        assert!(m("a>.b", "a.b"));
        assert!(m("a>", "a"));
    }

    #[test]
    fn dos_dot() {
        // '"' matches a dot, or nothing at the end of the name.
        assert!(m("foo\"txt", "foo.txt"));
        assert!(!m("foo\"txt", "fooxtxt"));
        assert!(m("foo\"", "foo"));
        assert!(m("foo\"", "foo."));
        assert!(!m("foo\"bar", "foobar"));
        // Win32 "name.*" arrives as "name\"<": matches "name" and "name.ext".
        assert!(m("name\"<", "name"));
        assert!(m("name\"<", "name.ext"));
        assert!(!m("name\"<", "names"));
    }

    #[test]
    fn long_inputs_are_fast() {
        let name = "a".repeat(255);
        let pat = "*a".repeat(100) + "b";
        assert!(!m(&pat, &name));
    }
}
