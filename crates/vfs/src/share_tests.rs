//! Tests of `Share` and `Handle` against a real directory tree.
#![allow(clippy::unwrap_used)]

use crate::test_util::TempDir;
use crate::*;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

/// A share at `<tmp>/share` with a sibling `<tmp>/outside/secret.txt` to escape to.
struct Fixture {
    _tmp: TempDir,
    share_dir: PathBuf,
    outside: PathBuf,
    share: Share,
}

fn fixture(tag: &str) -> Fixture {
    let tmp = TempDir::new(tag);
    let share_dir = tmp.path().join("share");
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&share_dir).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
    let share = Share::new(&share_dir).unwrap();
    Fixture {
        _tmp: tmp,
        share_dir,
        outside,
        share,
    }
}

fn how(read: bool, write: bool, create: CreateMode, directory: Option<bool>) -> OpenHow {
    OpenHow {
        read,
        write,
        create,
        mode: 0o644,
        directory,
    }
}

fn read_all(h: &Handle) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = h.read_at(&mut buf, 0).unwrap();
    buf.truncate(n);
    buf
}

const RO: fn() -> OpenHow = || how(true, false, CreateMode::OpenExisting, None);

#[test]
fn share_and_handle_are_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Share>();
    check::<Handle>();
}

#[test]
fn rejects_invalid_paths() {
    let f = fixture("badpaths");
    for bad in [
        "..",
        "../outside/secret.txt",
        "a/../b",
        ".",
        "./a",
        "/etc/passwd",
        "a//b",
        "a/",
        "nul\0byte",
    ] {
        assert_eq!(
            f.share.open(bad, &RO()).err(),
            Some(Errno::INVAL),
            "{bad:?}"
        );
        assert_eq!(f.share.lookup(bad).err(), Some(Errno::INVAL), "{bad:?}");
        assert_eq!(f.share.stat(bad).err(), Some(Errno::INVAL), "{bad:?}");
        assert_eq!(
            f.share.mkdir(bad, 0o755).err(),
            Some(Errno::INVAL),
            "{bad:?}"
        );
        assert_eq!(f.share.unlink(bad).err(), Some(Errno::INVAL), "{bad:?}");
    }
    // Namespace operations need a name: not the root.
    assert_eq!(f.share.unlink("").err(), Some(Errno::INVAL));
    assert_eq!(f.share.rename("", "x", true).err(), Some(Errno::INVAL));
}

#[test]
fn symlinks_out_of_the_share_are_never_followed() {
    let f = fixture("confine");
    let s = &f.share_dir;
    std::fs::write(s.join("inside.txt"), b"hello").unwrap();
    std::fs::create_dir(s.join("sub")).unwrap();
    std::fs::write(s.join("sub/file.txt"), b"sub file").unwrap();
    symlink(f.outside.join("secret.txt"), s.join("abs_out")).unwrap();
    symlink("../outside/secret.txt", s.join("rel_out")).unwrap();
    symlink("../outside", s.join("dir_out")).unwrap();
    symlink("../outside/created.txt", s.join("dangle_out")).unwrap();
    symlink("/etc", s.join("abs_dir")).unwrap();

    for name in ["abs_out", "rel_out", "dir_out/secret.txt", "abs_dir/passwd"] {
        assert_eq!(f.share.open(name, &RO()).err(), Some(Errno::XDEV), "{name}");
        let w = how(false, true, CreateMode::OpenOrCreate, Some(false));
        assert_eq!(f.share.open(name, &w).err(), Some(Errno::XDEV), "{name}");
    }
    // Creating through a dangling symlink out of the share creates nothing outside.
    let c = how(true, true, CreateMode::OpenOrCreate, None);
    assert_eq!(f.share.open("dangle_out", &c).err(), Some(Errno::XDEV));
    assert!(!f.outside.join("created.txt").exists());
    // Namespace operations through a symlinked directory out of the share.
    assert_eq!(f.share.mkdir("dir_out/new", 0o755).err(), Some(Errno::XDEV));
    assert!(!f.outside.join("new").exists());
    assert_eq!(
        f.share.unlink("dir_out/secret.txt").err(),
        Some(Errno::XDEV)
    );
    assert!(f.outside.join("secret.txt").exists());
    assert_eq!(
        f.share.rename("inside.txt", "dir_out/moved", false).err(),
        Some(Errno::XDEV)
    );
    assert_eq!(
        f.share.link("inside.txt", "dir_out/l").err(),
        Some(Errno::XDEV)
    );
    assert_eq!(
        f.share.lookup("dir_out/secret.txt").err(),
        Some(Errno::XDEV)
    );
    assert_eq!(f.share.stat("dir_out/secret.txt").err(), Some(Errno::XDEV));

    // stat of a link out: the link itself, never its target.
    let st = f.share.stat("abs_out").unwrap();
    assert!(st.is_symlink());
    assert_ne!(st.size, 6);
    // Unlinking the link itself is fine and leaves the target alone.
    f.share.unlink("rel_out").unwrap();
    assert!(f.outside.join("secret.txt").exists());

    // Symlinks inside the share stay usable.
    symlink("inside.txt", s.join("link_in")).unwrap();
    symlink("../inside.txt", s.join("sub/up")).unwrap();
    symlink("sub", s.join("link_sub")).unwrap();
    assert_eq!(read_all(&f.share.open("link_in", &RO()).unwrap()), b"hello");
    assert_eq!(read_all(&f.share.open("sub/up", &RO()).unwrap()), b"hello");
    assert_eq!(
        read_all(&f.share.open("link_sub/file.txt", &RO()).unwrap()),
        b"sub file"
    );
    assert!(f.share.stat("link_in").unwrap().is_file());
    assert!(f.share.stat("link_sub").unwrap().is_dir());
    assert_eq!(
        f.share.lookup("LINK_SUB/FILE.TXT").unwrap().path,
        "link_sub/file.txt"
    );

    // Per-entry stat from a directory handle follows the same rules.
    let root = f
        .share
        .open("", &how(true, false, CreateMode::OpenExisting, Some(true)))
        .unwrap();
    assert!(root.stat_at("abs_out").unwrap().is_symlink());
    assert!(root.stat_at("link_in").unwrap().is_file());
    assert_eq!(root.stat_at("link_in").unwrap().size, 5);
    assert!(root.stat_at("link_sub").unwrap().is_dir());
    let sub = f
        .share
        .open(
            "sub",
            &how(true, false, CreateMode::OpenExisting, Some(true)),
        )
        .unwrap();
    assert!(sub.stat_at("up").unwrap().is_file());
    assert_eq!(root.stat_at("..").err(), Some(Errno::INVAL));
    assert_eq!(root.stat_at("sub/file.txt").err(), Some(Errno::INVAL));
    assert_eq!(root.dos_attrib_at("abs_out").unwrap(), None);
}

#[test]
fn case_insensitive_lookup() {
    let f = fixture("lookup");
    let s = &f.share_dir;
    std::fs::create_dir_all(s.join("Docs/Reports 2024")).unwrap();
    std::fs::write(s.join("Docs/Reports 2024/Summary.TXT"), b"x").unwrap();
    std::fs::write(s.join("Docs/readme"), b"lower").unwrap();
    std::fs::write(s.join("Docs/README"), b"upper").unwrap();
    std::fs::write(s.join("Straße.txt"), b"").unwrap();
    std::fs::write(s.join("plain"), b"").unwrap();
    std::fs::write(s.join("kelvin"), b"").unwrap();

    let l = f.share.lookup("docs/reports 2024/summary.txt").unwrap();
    assert_eq!(
        l,
        Lookup {
            path: "Docs/Reports 2024/Summary.TXT".into(),
            exists: true
        }
    );
    // The exact match is preferred over other case variants.
    assert_eq!(f.share.lookup("DOCS/README").unwrap().path, "Docs/README");
    assert_eq!(f.share.lookup("docs/readme").unwrap().path, "Docs/readme");
    // Unicode lower-case comparison.
    assert!(!f.share.lookup("STRASSE.txt").unwrap().exists);
    assert_eq!(f.share.lookup("straße.TXT").unwrap().path, "Straße.txt");
    // A non-ASCII name can fold to an ASCII one: KELVIN SIGN lower-cases to 'k'.
    assert_eq!(f.share.lookup("\u{212A}ELVIN").unwrap().path, "kelvin");
    // Many entries: the miss scans them all, the hit finds the one.
    for i in 0..500 {
        std::fs::write(s.join(format!("Docs/Entry{i:03}.dat")), b"").unwrap();
    }
    assert_eq!(
        f.share.lookup("docs/ENTRY499.DAT").unwrap().path,
        "Docs/Entry499.dat"
    );
    assert!(!f.share.lookup("docs/entry500.dat").unwrap().exists);
    // A missing last component keeps the caller's case, under the real-case parents.
    assert_eq!(
        f.share.lookup("DOCS/REPORTS 2024/New File.txt").unwrap(),
        Lookup {
            path: "Docs/Reports 2024/New File.txt".into(),
            exists: false
        }
    );
    // Missing middle component: ENOENT; a file as a middle component: ENOTDIR.
    assert_eq!(f.share.lookup("nodir/x").err(), Some(Errno::NOENT));
    assert_eq!(f.share.lookup("PLAIN/x").err(), Some(Errno::NOTDIR));
    assert_eq!(
        f.share.lookup("").unwrap(),
        Lookup {
            path: String::new(),
            exists: true
        }
    );
}

#[test]
fn create_modes() {
    let f = fixture("create");
    let rw = |c| how(true, true, c, Some(false));

    // OpenExisting on a missing file.
    assert_eq!(
        f.share.open("a.txt", &rw(CreateMode::OpenExisting)).err(),
        Some(Errno::NOENT)
    );
    assert_eq!(
        f.share
            .open("a.txt", &rw(CreateMode::TruncateExisting))
            .err(),
        Some(Errno::NOENT)
    );
    // CreateNew creates, then fails with EEXIST.
    let h = f.share.open("a.txt", &rw(CreateMode::CreateNew)).unwrap();
    assert_eq!(h.write_at(b"0123456789", 0).unwrap(), 10);
    assert!(!h.is_dir());
    assert_eq!(
        f.share.open("a.txt", &rw(CreateMode::CreateNew)).err(),
        Some(Errno::EXIST)
    );
    // OpenOrCreate keeps the content.
    let h = f
        .share
        .open("a.txt", &rw(CreateMode::OpenOrCreate))
        .unwrap();
    assert_eq!(h.stat().unwrap().size, 10);
    let h2 = f
        .share
        .open("b.txt", &rw(CreateMode::OpenOrCreate))
        .unwrap();
    assert_eq!(h2.stat().unwrap().size, 0);
    // TruncateExisting empties.
    let h = f
        .share
        .open("a.txt", &rw(CreateMode::TruncateExisting))
        .unwrap();
    assert_eq!(h.stat().unwrap().size, 0);
    h.write_at(b"abc", 0).unwrap();
    // CreateOrTruncate: both ways.
    let h = f
        .share
        .open("a.txt", &rw(CreateMode::CreateOrTruncate))
        .unwrap();
    assert_eq!(h.stat().unwrap().size, 0);
    f.share
        .open("c.txt", &rw(CreateMode::CreateOrTruncate))
        .unwrap();
    assert!(f.share_dir.join("c.txt").is_file());
    // OpenExisting reads what is there.
    std::fs::write(f.share_dir.join("d.txt"), b"data").unwrap();
    let h = f.share.open("d.txt", &RO()).unwrap();
    assert_eq!(read_all(&h), b"data");
    assert_eq!(h.write_at(b"x", 0).err(), Some(Errno::BADF));

    // Directories.
    let dir = |c| how(true, false, c, Some(true));
    let d = f.share.open("newdir", &dir(CreateMode::CreateNew)).unwrap();
    assert!(d.is_dir() && f.share_dir.join("newdir").is_dir());
    assert_eq!(
        f.share.open("newdir", &dir(CreateMode::CreateNew)).err(),
        Some(Errno::EXIST)
    );
    assert!(f
        .share
        .open("newdir", &dir(CreateMode::OpenOrCreate))
        .unwrap()
        .is_dir());
    assert!(f
        .share
        .open("dir2", &dir(CreateMode::OpenOrCreate))
        .unwrap()
        .is_dir());
    assert_eq!(
        f.share.open("nodir", &dir(CreateMode::OpenExisting)).err(),
        Some(Errno::NOENT)
    );
    assert_eq!(
        f.share.open("d.txt", &dir(CreateMode::OpenExisting)).err(),
        Some(Errno::NOTDIR)
    );
    assert_eq!(
        f.share
            .open("newdir", &dir(CreateMode::CreateOrTruncate))
            .err(),
        Some(Errno::INVAL)
    );
    assert!(f
        .share
        .open("", &dir(CreateMode::OpenExisting))
        .unwrap()
        .is_dir());
    // Must not be a directory.
    assert_eq!(
        f.share
            .open(
                "newdir",
                &how(true, false, CreateMode::OpenExisting, Some(false))
            )
            .err(),
        Some(Errno::ISDIR)
    );
    assert_eq!(
        f.share
            .open(
                "newdir",
                &how(true, true, CreateMode::OpenOrCreate, Some(false))
            )
            .err(),
        Some(Errno::ISDIR)
    );
    // Either: a directory opens read-only even when write was asked.
    let h = f
        .share
        .open("newdir", &how(true, true, CreateMode::OpenOrCreate, None))
        .unwrap();
    assert!(h.is_dir());
    assert_eq!(
        f.share
            .open(
                "newdir",
                &how(true, true, CreateMode::CreateOrTruncate, None)
            )
            .err(),
        Some(Errno::ISDIR)
    );
    // Attribute-only open.
    let h = f
        .share
        .open("d.txt", &how(false, false, CreateMode::OpenExisting, None))
        .unwrap();
    assert_eq!(h.stat().unwrap().size, 4);
}

#[test]
fn rename_link_unlink_rmdir() {
    let f = fixture("rename");
    let s = &f.share_dir;
    std::fs::write(s.join("a"), b"A").unwrap();
    std::fs::write(s.join("b"), b"B").unwrap();
    std::fs::create_dir(s.join("d")).unwrap();

    assert_eq!(f.share.rename("a", "b", false).err(), Some(Errno::EXIST));
    assert_eq!(std::fs::read(s.join("b")).unwrap(), b"B");
    f.share.rename("a", "b", true).unwrap();
    assert_eq!(std::fs::read(s.join("b")).unwrap(), b"A");
    assert!(!s.join("a").exists());
    f.share.rename("b", "d/c", false).unwrap();
    assert_eq!(std::fs::read(s.join("d/c")).unwrap(), b"A");
    assert_eq!(
        f.share.rename("missing", "x", false).err(),
        Some(Errno::NOENT)
    );

    f.share.link("d/c", "hard").unwrap();
    assert_eq!(f.share.stat("hard").unwrap().nlink, 2);
    assert_eq!(f.share.unlink("d").err(), Some(Errno::ISDIR));
    assert_eq!(f.share.rmdir("d").err(), Some(Errno::NOTEMPTY));
    f.share.unlink("d/c").unwrap();
    f.share.rmdir("d").unwrap();
    assert!(!s.join("d").exists());
    assert_eq!(f.share.rmdir("hard").err(), Some(Errno::NOTDIR));
    f.share.mkdir("m", 0o750).unwrap();
    assert_eq!(f.share.mkdir("m", 0o750).err(), Some(Errno::EXIST));
    assert!(f.share.stat("m").unwrap().is_dir());
}

#[test]
fn io_sizes_and_sparse_growth() {
    let f = fixture("io");
    let h = f
        .share
        .open("big", &how(true, true, CreateMode::CreateNew, Some(false)))
        .unwrap();
    // Writes at offsets and reads back, short only at EOF.
    h.write_at(b"hello", 0).unwrap();
    h.write_at(b"world", 100).unwrap();
    let mut buf = [0u8; 200];
    assert_eq!(h.read_at(&mut buf, 0).unwrap(), 105);
    assert_eq!(&buf[..5], b"hello");
    assert!(buf[5..100].iter().all(|&b| b == 0));
    assert_eq!(&buf[100..105], b"world");
    assert_eq!(h.read_at(&mut buf, 1000).unwrap(), 0);
    assert_eq!(h.read_at(&mut buf, u64::MAX).err(), Some(Errno::INVAL));

    // Growing by set_len allocates nothing: a 1 GiB hole.
    let before = h.stat().unwrap().blocks_bytes;
    h.set_len(1 << 30).unwrap();
    let st = h.stat().unwrap();
    assert_eq!(st.size, 1 << 30);
    assert!(
        st.blocks_bytes <= before + 64 * 1024,
        "{} bytes allocated",
        st.blocks_bytes
    );
    h.set_len(3).unwrap();
    assert_eq!(h.stat().unwrap().size, 3);

    // allocate keeps the size and (on a cheap filesystem) reserves blocks.
    let reserved = h.allocate(1 << 20).unwrap();
    let st = h.stat().unwrap();
    assert_eq!(st.size, 3);
    if reserved {
        assert!(st.blocks_bytes >= 1 << 20);
    }
    // ext4 (0xEF53) and tmpfs (0x01021994) are on the cheap list.
    let fs_type = f.share.statfs().unwrap().fs_type;
    if fs_type == 0xEF53 || fs_type == 0x0102_1994 {
        assert!(reserved);
    }
    h.sync().unwrap();

    // Times: set mtime only, then both.
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_000_000_000, 500);
    let atime_before = h.stat().unwrap().atime;
    h.set_times(None, Some(t)).unwrap();
    let st = h.stat().unwrap();
    assert_eq!(
        st.mtime,
        Timespec {
            sec: 1_000_000_000,
            nsec: 500
        }
    );
    assert_eq!(st.atime, atime_before);
    let old = std::time::UNIX_EPOCH - std::time::Duration::new(10, 250);
    h.set_times(Some(old), None).unwrap();
    assert_eq!(
        h.stat().unwrap().atime,
        Timespec {
            sec: -11,
            nsec: 999_999_750
        }
    );

    h.chmod(0o600).unwrap();
    assert_eq!(h.stat().unwrap().mode & 0o7777, 0o600);

    let fs = f.share.statfs().unwrap();
    assert!(fs.block_size > 0 && fs.total_blocks > 0 && fs.name_max >= 255);
}

#[test]
fn dos_attributes_through_handles() {
    let f = fixture("dosattr");
    let h = f
        .share
        .open("f", &how(true, true, CreateMode::CreateNew, Some(false)))
        .unwrap();
    assert_eq!(h.dos_attrib().unwrap(), None);
    let a = DosAttrib {
        attributes: 0x22,
        create_time: Some(134_402_524_359_860_837),
    };
    if !f.share.supports_xattrs() {
        assert!(h.set_dos_attrib(&a).is_err());
        return;
    }
    h.set_dos_attrib(&a).unwrap();
    assert_eq!(h.dos_attrib().unwrap(), Some(a.clone()));
    // Byte-exact Samba layout on disk.
    let raw = rustix::fs::getxattr(f.share_dir.join("f"), DOSATTRIB_XATTR, &mut [0u8; 64][..]);
    assert_eq!(raw.unwrap(), 24);

    // Read through the parent directory and through an attribute-only open.
    let root = f
        .share
        .open("", &how(true, false, CreateMode::OpenExisting, Some(true)))
        .unwrap();
    assert_eq!(root.dos_attrib_at("f").unwrap(), Some(a.clone()));
    let ao = f
        .share
        .open("f", &how(false, false, CreateMode::OpenExisting, None))
        .unwrap();
    assert_eq!(ao.dos_attrib().unwrap(), Some(a));
    // A symlink inside the share reports its target's attributes.
    symlink("f", f.share_dir.join("l")).unwrap();
    assert_eq!(root.dos_attrib_at("l").unwrap().unwrap().attributes, 0x22);
    // Garbage is "unparsable", not an error.
    rustix::fs::setxattr(
        f.share_dir.join("f"),
        DOSATTRIB_XATTR,
        b"\x00\x00\x09\x00",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    assert_eq!(h.dos_attrib().unwrap(), None);
}

#[test]
fn directory_handles_list_entries() {
    let f = fixture("listing");
    for n in ["one", "two", "three"] {
        std::fs::write(f.share_dir.join(n), b"").unwrap();
    }
    let d = f
        .share
        .open("", &how(true, false, CreateMode::OpenExisting, Some(true)))
        .unwrap();
    let mut c = d.read_dir().unwrap();
    let mut names: Vec<String> = std::iter::from_fn(|| c.next_entry().unwrap())
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(names, ["one", "three", "two"]);
    // Two cursors on one handle are independent.
    let mut c2 = d.read_dir().unwrap();
    assert!(c2.next_entry().unwrap().is_some());
    let file = f.share.open("one", &RO()).unwrap();
    assert_eq!(file.read_dir().err(), Some(Errno::NOTDIR));
    assert_eq!(file.stat_at("x").err(), Some(Errno::NOTDIR));
}

#[test]
fn attribute_only_open_without_read_permission() {
    if !rustix::process::geteuid().is_root() {
        return; // needs to act as another user
    }
    let f = fixture("attronly");
    let p = f.share_dir.join("wo");
    std::fs::write(&p, b"data").unwrap();
    std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
    std::os::unix::fs::chown(&f.share_dir, Some(65534), Some(65534)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o200)).unwrap();

    let share = &f.share;
    std::thread::scope(|s| {
        s.spawn(|| {
            let _g = become_identity(&Identity {
                uid: 65534,
                gid: 65534,
                groups: vec![],
            });
            // Reading needs read permission...
            assert_eq!(share.open("wo", &RO()).err(), Some(Errno::ACCESS));
            // ...an attribute-only open does not: it gets an O_PATH descriptor.
            let h = share
                .open("wo", &how(false, false, CreateMode::OpenExisting, None))
                .unwrap();
            assert!(h.is_attribute_only());
            assert_eq!(h.stat().unwrap().size, 4);
            assert_eq!(h.read_at(&mut [0u8; 4], 0).err(), Some(Errno::BADF));
            // Metadata calls fall back to the descriptor's magic link.
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_234_567_890);
            h.set_times(Some(t), Some(t)).unwrap();
            assert_eq!(h.stat().unwrap().mtime.sec, 1_234_567_890);
            h.chmod(0o220).unwrap();
            assert_eq!(h.stat().unwrap().mode & 0o777, 0o220);
            if share.supports_xattrs() {
                let a = DosAttrib {
                    attributes: 0x01,
                    create_time: None,
                };
                h.set_dos_attrib(&a).unwrap();
            }
        });
    });
    if f.share.supports_xattrs() {
        let h = f.share.open("wo", &RO()).unwrap();
        assert_eq!(h.dos_attrib().unwrap().unwrap().attributes, 0x01);
    }
}

#[test]
fn large_unaligned_writes_land_whole() {
    // A write goes to the kernel in pieces cut at WRITE_PIECE boundaries of
    // the file; every byte must land where it was meant to.
    let f = fixture("pieces");
    let h = f
        .share
        .open("big", &how(true, true, CreateMode::CreateNew, Some(false)))
        .unwrap();
    let data: Vec<u8> = (0..(1 << 20) + 123)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    for offset in [0u64, 1000, (256 << 10) - 1, 3 << 20] {
        assert_eq!(h.write_at(&data, offset).unwrap(), data.len());
        let on_disk = std::fs::read(f.share_dir.join("big")).unwrap();
        let at = offset as usize;
        assert!(
            on_disk[at..at + data.len()] == data[..],
            "write at {offset}"
        );
    }
    assert_eq!(h.stat().unwrap().size, (3 << 20) + data.len() as u64);
}
