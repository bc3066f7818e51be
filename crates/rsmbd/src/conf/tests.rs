#![allow(clippy::unwrap_used)]

use super::*;
use server::config::{dialect, MapToGuest, SigningPolicy};
use std::collections::HashMap;

fn parse_files(files: &[(&str, &str)]) -> Result<Conf, ConfError> {
    let map: HashMap<PathBuf, String> = files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect();
    let mut read = |p: &Path| {
        map.get(p)
            .cloned()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    };
    let main = files.first().map(|f| f.0).unwrap_or("x");
    let items = lexer::read_items(Path::new(main), &mut read)?;
    let mut ifaces = || {
        vec![
            IfAddr {
                name: "lo".into(),
                addr: "127.0.0.1".parse().unwrap(),
            },
            IfAddr {
                name: "eth0".into(),
                addr: "192.168.1.10".parse().unwrap(),
            },
        ]
    };
    build(&items, &mut ifaces)
}

fn parse(text: &str) -> Result<Conf, ConfError> {
    parse_files(&[("/etc/rsmbd/rsmbd.conf", text)])
}

fn err_line(text: &str) -> (usize, String) {
    let e = parse(text).unwrap_err();
    (e.line, e.to_string())
}

#[test]
fn defaults_without_keys() {
    let c = parse("").unwrap();
    assert_eq!(c.server.listen, vec!["0.0.0.0:445".parse().unwrap()]);
    assert_eq!(c.users_file, PathBuf::from(DEFAULT_USERS_FILE));
    assert!(c.server.shares.is_empty());
    assert!(c.warnings.is_empty());
}

#[test]
fn full_global_section() {
    let c = parse(
        "[global]\n\
         Server String = My Box\n\
         netbiosname = box\n\
         WORKGROUP = home\n\
         server min protocol = SMB2_10\n\
         server max protocol = smb3_02\n\
         server signing = required\n\
         map to guest = Bad User\n\
         guest account = guest\n\
         smb2 max read = 1M\n\
         smb2 max write = 512k\n\
         smb2 max trans = 65536\n\
         max connections = 32\n\
         users file = users.db\n\
         tcp port = 10445\n",
    )
    .unwrap();
    let s = &c.server;
    assert_eq!(s.server_string, "My Box");
    assert_eq!(s.netbios_name, "BOX");
    assert_eq!(s.workgroup, "HOME");
    assert_eq!(
        (s.min_dialect, s.max_dialect),
        (dialect::SMB2_10, dialect::SMB3_02)
    );
    assert_eq!(s.signing, SigningPolicy::Mandatory);
    assert_eq!(s.map_to_guest, MapToGuest::BadUser);
    assert_eq!(s.guest_account, "guest");
    assert_eq!(
        (s.max_read, s.max_write, s.max_trans),
        (1 << 20, 512 << 10, 65536)
    );
    assert_eq!(s.max_connections, 32);
    assert_eq!(c.users_file, PathBuf::from("/etc/rsmbd/users.db"));
    assert_eq!(s.listen, vec!["0.0.0.0:10445".parse().unwrap()]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn smb_ports_takes_the_first_port() {
    let c = parse("smb ports = 4445 139\n").unwrap();
    assert_eq!(c.tcp_port, 4445);
}

#[test]
fn interfaces_and_bind_only() {
    let c = parse("interfaces = eth0 127.0.0.1\nbind interfaces only = yes\ntcp port = 1445\n")
        .unwrap();
    assert_eq!(
        c.server.listen,
        vec![
            "192.168.1.10:1445".parse().unwrap(),
            "127.0.0.1:1445".parse().unwrap()
        ]
    );
    // Without bind interfaces only, every address.
    let c = parse("interfaces = eth0\n").unwrap();
    assert_eq!(c.server.listen, vec!["0.0.0.0:445".parse().unwrap()]);
    // A name matching nothing warns; nothing usable at all is an error.
    let c = parse("interfaces = eth9, lo\nbind interfaces only = 1\n").unwrap();
    assert_eq!(c.server.listen, vec!["127.0.0.1:445".parse().unwrap()]);
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("eth9") && w.contains(":1:")));
    let (line, msg) = err_line("[global]\ninterfaces = eth9\nbind interfaces only = yes\n");
    assert_eq!(line, 2, "{msg}");
}

#[test]
fn shares_with_synonyms_and_case() {
    let c = parse(
        "[Data]\n\
         PATH = /srv/data\n\
         comment = the data\n\
         writeable = yes\n\
         browsable = no\n\
         public = yes\n\
         Valid Users = alice, bob @staff\n\
         invalid users = mallory\n\
         read list = carol\n\
         write list = dave,erin\n\
         force user = svc\n\
         force group = users\n\
         create mode = 0600\n\
         directory mode = 700\n\
         hide dot files = no\n\
         veto files = /*.tmp/.DS_Store/\n",
    )
    .unwrap();
    let s = &c.server.shares[0];
    assert_eq!(s.name, "Data");
    assert_eq!(s.path, PathBuf::from("/srv/data"));
    assert_eq!(s.comment, "the data");
    assert!(!s.read_only);
    assert!(!s.browseable);
    assert!(s.guest_ok);
    assert_eq!(s.valid_users, vec!["alice", "bob", "@staff"]);
    assert_eq!(s.invalid_users, vec!["mallory"]);
    assert_eq!(s.read_list, vec!["carol"]);
    assert_eq!(s.write_list, vec!["dave", "erin"]);
    assert_eq!(s.force_user.as_deref(), Some("svc"));
    assert_eq!(s.force_group.as_deref(), Some("users"));
    assert_eq!((s.create_mask, s.directory_mask), (0o600, 0o700));
    assert!(!s.hide_dot_files);
    assert_eq!(s.veto_files, vec!["*.tmp", ".DS_Store"]);
}

#[test]
fn read_only_and_writeable_are_inverse_last_wins() {
    let c = parse("[a]\npath=/a\nread only = no\nwritable = no\n[b]\npath=/b\nwrite ok = yes\nread only = yes\n[c]\npath=/c\n").unwrap();
    let ro: Vec<bool> = c.server.shares.iter().map(|s| s.read_only).collect();
    assert_eq!(ro, vec![true, true, true]);
    let c = parse("[a]\npath=/a\nread only = 0\n").unwrap();
    assert!(!c.server.shares[0].read_only);
}

#[test]
fn whitespace_and_case_insensitive_keys() {
    for k in ["guest ok", "guestok", "Guest OK", "GUEST  OK", "g uest ok"] {
        let c = parse(&format!("[s]\npath = /s\n{k} = yes\n")).unwrap();
        assert!(c.server.shares[0].guest_ok, "{k}");
        assert!(c.warnings.is_empty(), "{k}: {:?}", c.warnings);
    }
}

#[test]
fn continuation_and_comments_in_a_real_file() {
    let c = parse(
        "# top comment\n\
         ; another\n\
         [s]\n\
         \tpath = /s\n\
         \tvalid users = alice \\\n\
         \t\tbob\n\
         \t# valid users = nobody\n",
    )
    .unwrap();
    assert_eq!(c.server.shares[0].valid_users, vec!["alice", "bob"]);
}

#[test]
fn share_keys_in_global_are_defaults() {
    let c = parse(
        "[global]\nread only = no\nguest ok = yes\ncreate mask = 0640\n\
         [a]\npath = /a\n\
         [b]\npath = /b\nguest ok = no\n",
    )
    .unwrap();
    let a = &c.server.shares[0];
    let b = &c.server.shares[1];
    assert!(!a.read_only && a.guest_ok && a.create_mask == 0o640);
    assert!(!b.read_only && !b.guest_ok && b.create_mask == 0o640);
    // A path default in [global] is enough for a share.
    let c = parse("[global]\npath = /x\n[a]\n").unwrap();
    assert_eq!(c.server.shares[0].path, PathBuf::from("/x"));
}

#[test]
fn global_key_in_share_warns() {
    let c = parse("[s]\npath = /s\nworkgroup = X\n").unwrap();
    assert_eq!(c.server.workgroup, "WORKGROUP");
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].contains("rsmbd.conf:3:"), "{:?}", c.warnings);
}

#[test]
fn unknown_keys_warn_with_location_and_file_still_loads() {
    let c = parse("[global]\nlog level = 3\n[s]\npath = /s\nvfs objects = acl_xattr\n").unwrap();
    assert_eq!(c.server.shares.len(), 1);
    assert_eq!(c.warnings.len(), 2);
    assert!(c.warnings[0].starts_with("/etc/rsmbd/rsmbd.conf:2: unknown key `log level`"));
    assert!(c.warnings[1].starts_with("/etc/rsmbd/rsmbd.conf:5:"));
}

#[test]
fn skipped_sections() {
    let c = parse("[homes]\nbrowseable = no\nfoo = bar\n[printers]\npath = /var/spool\n[IPC$]\npath=/x\n[s]\npath=/s\n").unwrap();
    assert_eq!(c.server.shares.len(), 1);
    assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    assert!(c.warnings[0].contains(":1:"));
}

#[test]
fn repeated_section_continues_the_first() {
    let c = parse("[s]\npath=/s\n[t]\npath=/t\n[S]\nread only = no\n").unwrap();
    assert_eq!(c.server.shares.len(), 2);
    assert!(!c.server.shares[0].read_only);
}

#[test]
fn errors_carry_their_line() {
    assert_eq!(err_line("[s]\npath = /s\nguest ok = maybe\n").0, 3);
    assert_eq!(err_line("[global]\n\ntcp port = http\n").0, 3);
    assert_eq!(err_line("tcp port = 70000\n").0, 1);
    assert_eq!(err_line("[global]\nserver max protocol = SMB4\n").0, 2);
    assert_eq!(err_line("[global]\nserver min protocol = SMB4\n").0, 2);
    assert_eq!(err_line("server signing = often\n").0, 1);
    assert_eq!(err_line("map to guest = always\n").0, 1);
    assert_eq!(err_line("\nsmb2 max read = lots\n").0, 2);
    assert_eq!(err_line("max connections = -1\n").0, 1);
    assert_eq!(err_line("bind interfaces only = perhaps\n").0, 1);
    assert_eq!(err_line("[s]\npath = /s\ncreate mask = 0999\n").0, 3);
    assert_eq!(err_line("[s]\npath = /s\nbrowseable = 2\n").0, 3);
    assert_eq!(err_line("[s]\npath = \n").0, 2);
    assert_eq!(err_line("users file =\n").0, 1);
    // min above max names the max line.
    assert_eq!(
        err_line("server min protocol = SMB3\nserver max protocol = SMB2\n").0,
        2
    );
    // SMB1 as max is an error; as min a warning.
    assert_eq!(err_line("\nserver max protocol = NT1\n").0, 2);
    let c = parse("server min protocol = NT1\n").unwrap();
    assert_eq!(c.server.min_dialect, dialect::SMB2_02);
    assert_eq!(c.warnings.len(), 1);
}

#[test]
fn share_without_path_names_the_section_line() {
    let (line, msg) = err_line("[global]\nworkgroup = W\n\n[nopath]\ncomment = x\n");
    assert_eq!(line, 4);
    assert!(msg.contains("[nopath]") && msg.contains("no path"), "{msg}");
}

#[test]
fn bad_share_names() {
    assert_eq!(err_line("[a/b]\npath=/x\n").0, 1);
    assert_eq!(err_line(&format!("\n[{}]\npath=/x\n", "x".repeat(81))).0, 2);
}

#[test]
fn error_message_format() {
    let e = parse("[s]\npath = /s\nread only = maybe\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/rsmbd/rsmbd.conf:3: read only: invalid boolean \"maybe\" (expected yes/no, true/false or 1/0)"
    );
}

#[test]
fn include_with_shares_and_errors_in_the_included_file() {
    let c = parse_files(&[
        ("/etc/rsmbd/rsmbd.conf", "[global]\ninclude = shares.conf\n"),
        ("/etc/rsmbd/shares.conf", "[inc]\npath = data\n"),
    ])
    .unwrap();
    assert_eq!(c.server.shares[0].name, "inc");
    // Relative share paths start at the including file's directory.
    assert_eq!(c.server.shares[0].path, PathBuf::from("/etc/rsmbd/data"));
    let e = parse_files(&[
        (
            "/etc/rsmbd/rsmbd.conf",
            "[global]\ninclude = /etc/other.conf\n",
        ),
        ("/etc/other.conf", "[s]\npath=/s\n\nguest ok = sure\n"),
    ])
    .unwrap_err();
    assert_eq!(
        (e.file.clone(), e.line),
        (PathBuf::from("/etc/other.conf"), 4)
    );
}

#[test]
fn io_sizes_are_clamped_with_a_warning() {
    let c = parse("smb2 max read = 1k\nsmb2 max write = 64M\n").unwrap();
    assert_eq!(c.server.max_read, keys::MIN_IO_SIZE);
    assert_eq!(c.server.max_write, keys::MAX_IO_SIZE);
    assert_eq!(c.warnings.len(), 2);
}

#[test]
fn bad_password_mapping_warns_and_means_never() {
    let c = parse("map to guest = Bad Password\n").unwrap();
    assert_eq!(c.server.map_to_guest, MapToGuest::Never);
    assert_eq!(c.warnings.len(), 1);
}

#[test]
fn rendered_config_reads_back_the_same() {
    let c = parse(
        "[global]\nworkgroup = w\ninterfaces = 127.0.0.1\nbind interfaces only = yes\n\
         server signing = disabled\nmap to guest = bad user\nsmb2 max trans = 2M\n\
         [Data]\npath = /srv/d\ncomment = stuff here\nvalid users = alice \"john smith\" @staff\n\
         veto files = /*.tmp/\nforce user = svc\nwriteable = yes\n\
         [empty]\npath = /srv/e\n",
    )
    .unwrap();
    let text = render(&c);
    assert!(text.contains("\tworkgroup = W\n"), "{text}");
    assert!(text.contains("[Data]\n\tpath = /srv/d\n"), "{text}");
    let back = parse(&text).unwrap();
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    assert_eq!(render(&back), text);
    assert_eq!(back.server.listen, c.server.listen);
    assert_eq!(
        back.server.shares[0].valid_users,
        vec!["alice", "john smith", "@staff"]
    );
    assert_eq!(back.server.shares[1].force_user, None);
}

#[test]
fn leases_on_by_default_and_switchable() {
    let c = parse("").unwrap();
    assert!(c.server.leases && c.server.directory_leases);
    let c = parse("smb2 leases = no\nsmb3 directory leases = no\n").unwrap();
    assert!(!c.server.leases && !c.server.directory_leases);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}
