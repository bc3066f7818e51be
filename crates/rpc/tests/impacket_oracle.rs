//! Differential check against impacket (a Python DCE/RPC client): impacket encodes the
//! request stubs, the pipe answers them, impacket decodes the answers. Needs `python3`
//! with impacket, hence ignored by default: `cargo test -p rsmbd-rpc -- --ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write;
use std::process::{Command, Stdio};

use rpc::{Pipe, ServerInfo, ShareInfo, ShareType};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/impacket_oracle.py");

fn info() -> ServerInfo {
    ServerInfo {
        netbios_name: "FILESRV".into(),
        server_string: "rsmbd file server".into(),
        workgroup: "WORKGROUP".into(),
        shares: vec![
            ShareInfo {
                name: "data".into(),
                comment: "Team data".into(),
                share_type: ShareType::Disk,
                path: "/srv/data".into(),
            },
            ShareInfo {
                name: "IPC$".into(),
                comment: "IPC Service".into(),
                share_type: ShareType::Ipc,
                path: String::new(),
            },
        ],
        user_name: "alice".into(),
        user_domain: "FILESRV".into(),
    }
}

fn iface(pipe: &str) -> ([u8; 16], u32) {
    let (uuid, ver): (&str, u32) = match pipe {
        "srvsvc" => ("c84f324b7016d30112785a47bf6ee188", 3),
        "wkssvc" => ("98d0ff6b12a11036983346c3f87e345a", 1),
        _ => ("785734123412cdabef000123456789ab", 0),
    };
    (unhex(uuid).try_into().unwrap(), ver)
}

fn bind(pipe: &str) -> Vec<u8> {
    let ndr20: [u8; 16] = [
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60,
    ];
    let (u, v) = iface(pipe);
    let mut p = vec![5, 0, 11, 3, 0x10, 0, 0, 0, 72, 0, 0, 0, 1, 0, 0, 0];
    p.extend_from_slice(&[0xb8, 0x10, 0xb8, 0x10, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]);
    p.extend_from_slice(&u);
    p.extend_from_slice(&v.to_le_bytes());
    p.extend_from_slice(&ndr20);
    p.extend_from_slice(&2u32.to_le_bytes());
    assert_eq!(p.len(), 72);
    p
}

fn request(opnum: u16, stub: &[u8]) -> Vec<u8> {
    let len = u16::try_from(24 + stub.len()).unwrap();
    let mut p = vec![5, 0, 0, 3, 0x10, 0, 0, 0];
    p.extend_from_slice(&len.to_le_bytes());
    p.extend_from_slice(&[0, 0, 2, 0, 0, 0]);
    p.extend_from_slice(&u32::try_from(stub.len()).unwrap().to_le_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&opnum.to_le_bytes());
    p.extend_from_slice(stub);
    p
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
#[ignore = "needs python3 with impacket"]
fn impacket_decodes_our_answers() {
    let enc = Command::new("python3")
        .arg(SCRIPT)
        .arg("encode")
        .output()
        .unwrap();
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    let mut answers = String::new();
    // One bound pipe per name, so the lsarpc calls share the policy handle.
    let mut pipes: Vec<(String, Pipe)> = Vec::new();
    let mut handle = [0u8; 20];
    for line in String::from_utf8(enc.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (name, pipe, opnum, mut stub) = (f[0], f[1], f[2].parse().unwrap(), unhex(f[3]));
        if !pipes.iter().any(|(n, _)| n == pipe) {
            let mut p = Pipe::open(pipe).unwrap();
            let (ack, _) = p.transceive(&bind(pipe), 4280, &info()).unwrap();
            assert_eq!(ack[2], 12, "{name}: bind_ack");
            pipes.push((pipe.to_string(), p));
        }
        let p = &mut pipes.iter_mut().find(|(n, _)| n == pipe).unwrap().1;
        if stub.starts_with(&[0xaa; 20]) {
            stub[..20].copy_from_slice(&handle);
        }
        let mut resp = Vec::new();
        p.write(&request(opnum, &stub), &info()).unwrap();
        while p.has_output() {
            let (m, _) = p.read(usize::MAX);
            assert_eq!(m[2], 2, "{name}: response PDU");
            resp.extend_from_slice(&m[24..]);
        }
        if name == "open2" {
            handle.copy_from_slice(&resp[..20]);
        }
        let hex: String = resp.iter().map(|b| format!("{b:02x}")).collect();
        answers.push_str(&format!("{name} {hex}\n"));
    }
    let mut dec = Command::new("python3")
        .arg(SCRIPT)
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    dec.stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    let out = dec.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "Team data",
        r"C:\\srv\\data", // as Python prints it
        "IPC Service",
        "FILESRV",
        "WORKGROUP",
        "alice",
        "rsmbd file server",
        "ACCOUNT SID S-1-5-21-",
        "3221225587", // STATUS_NONE_MAPPED from the lookups
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    println!("{text}");
}
