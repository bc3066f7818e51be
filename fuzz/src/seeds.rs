//! Seed inputs for every target: small valid messages, so the fuzzer starts
//! past the fixed fields. `gen_corpus` writes them to `corpus/TARGET/NAME`.

use crate::input::{encode_records, encode_tokens};
use crate::msg::{self, cmd, message, Hdr};
use crate::rpc_msg;
use crate::server_harness::PATCH_ALL;
use crate::targets::Req;

/// What the file session seed writes and reads back.
pub const FILE_DATA: &[u8] = b"hello, fuzz";

/// A placeholder FileId the server harness replaces with the last created one.
const FID: [u8; 16] = [0; 16];
const RELATED: [u8; 16] = msg::RELATED_FILE_ID;

/// One seed: (target, file name, bytes).
pub type Seed = (&'static str, &'static str, Vec<u8>);

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut v = Vec::new();
    v.extend(frame_header());
    v.extend(negotiate());
    v.extend(requests());
    v.extend(create_contexts());
    v.extend(ntlmssp_spnego());
    v.extend(ndr_rpc());
    v.push(("server_frame", "negotiate_only", server_negotiate_only()));
    v.push(("server_frame", "file_session", server_file_session()));
    v.push(("server_frame", "ipc_session", server_ipc_session()));
    v.push(("server_frame", "smb311_session", server_smb311()));
    v.push(("server_frame", "smb1_upgrade", server_smb1_upgrade()));
    v.extend(transform());
    v
}

fn frame_header() -> Vec<Seed> {
    let neg = message(
        Hdr::new(cmd::NEGOTIATE, 0),
        &msg::negotiate_body(&[0x202], false),
    );
    let echo = |mid| message(Hdr::new(cmd::ECHO, mid), &msg::empty_body());
    let mut async_hdr = Hdr::new(cmd::CHANGE_NOTIFY, 7);
    async_hdr.flags = 0x2; // FLAGS_ASYNC_COMMAND
    vec![
        ("frame_header", "negotiate", neg),
        (
            "frame_header",
            "compound_echo",
            msg::compound(&[echo(1), echo(2), echo(3)]),
        ),
        (
            "frame_header",
            "async_header",
            message(async_hdr, &msg::empty_body()),
        ),
    ]
}

fn negotiate() -> Vec<Seed> {
    let m = |d: &[u16], c| message(Hdr::new(cmd::NEGOTIATE, 0), &msg::negotiate_body(d, c));
    vec![
        ("negotiate", "smb2", m(&[0x202, 0x210], false)),
        (
            "negotiate",
            "smb311_contexts",
            m(&[0x202, 0x210, 0x300, 0x302, 0x311], true),
        ),
        ("negotiate", "smb1", msg::smb1_negotiate()),
    ]
}

fn req(sel: Req, body: Vec<u8>) -> Vec<u8> {
    let mut v = vec![sel as u8];
    v.extend_from_slice(&body);
    v
}

fn requests() -> Vec<Seed> {
    let fid = [1u8; 16];
    let ctx = msg::create_contexts(&[(b"MxAc", b""), (b"QFid", b"")]);
    let vni = validate_negotiate_input();
    vec![
        (
            "requests",
            "session_setup",
            req(
                Req::SessionSetup,
                msg::session_setup_body(&msg::ntlm_negotiate()),
            ),
        ),
        (
            "requests",
            "tree_connect",
            req(Req::TreeConnect, msg::tree_connect_body("\\\\RSMBD\\share")),
        ),
        (
            "requests",
            "create",
            req(
                Req::Create,
                msg::create_body("a\\b.txt", 0x12019F, 3, 0x40, &ctx),
            ),
        ),
        ("requests", "close", req(Req::Close, msg::close_body(&fid))),
        ("requests", "flush", req(Req::Flush, msg::flush_body(&fid))),
        (
            "requests",
            "read",
            req(Req::Read, msg::read_body(&fid, 0, 100)),
        ),
        (
            "requests",
            "write",
            req(Req::Write, msg::write_body(&fid, 0, FILE_DATA)),
        ),
        (
            "requests",
            "lock",
            req(Req::Lock, msg::lock_body(&fid, 0, 10, 0x12)),
        ),
        (
            "requests",
            "ioctl_validate_negotiate",
            req(Req::Ioctl, msg::ioctl_body(0x0014_0204, &fid, &vni, 24)),
        ),
        (
            "requests",
            "query_directory",
            req(
                Req::QueryDirectory,
                msg::query_directory_body(&fid, 0x25, 1, "*"),
            ),
        ),
        (
            "requests",
            "change_notify",
            req(Req::ChangeNotify, msg::change_notify_body(&fid)),
        ),
        (
            "requests",
            "query_info",
            req(Req::QueryInfo, msg::query_info_body(&fid, 1, 0x12, 0)),
        ),
        (
            "requests",
            "set_info",
            req(
                Req::SetInfo,
                msg::set_info_body(&fid, 1, 0x14, &4u64.to_le_bytes()),
            ),
        ),
        ("requests", "echo", req(Req::Empty, msg::empty_body())),
        (
            "requests",
            "validate_negotiate",
            req(Req::ValidateNegotiate, vni),
        ),
        (
            "requests",
            "ioctl_copychunk",
            req(
                Req::Ioctl,
                msg::ioctl_body(0x0014_40F2, &fid, &copychunk_input(), 12),
            ),
        ),
        (
            "requests",
            "copychunk",
            req(Req::Copychunk, copychunk_input()),
        ),
    ]
}

/// SRV_COPYCHUNK_COPY (MS-SMB2 2.2.31.1): two 4 KiB chunks.
fn copychunk_input() -> Vec<u8> {
    let mut b = msg::Buf::default();
    b.bytes(&[0x11; 24]).u32(2).u32(0);
    b.u64(0).u64(0).u32(4096).u32(0);
    b.u64(4096).u64(4096).u32(4096).u32(0);
    b.0
}

/// FSCTL_VALIDATE_NEGOTIATE_INFO input (MS-SMB2 2.2.31.4) matching
/// `negotiate_body(&[0x202, 0x210], false)`.
fn validate_negotiate_input() -> Vec<u8> {
    let mut b = msg::Buf::default();
    b.u32(0x7F)
        .bytes(b"rsmbd-fuzz-guid!")
        .u16(1)
        .u16(2)
        .u16(0x202)
        .u16(0x210);
    b.0
}

fn create_contexts() -> Vec<Seed> {
    // SMB2_CREATE_REQUEST_LEASE (2.2.13.2.8): key, state RWH, flags, duration.
    let mut lease = msg::Buf::default();
    lease.bytes(&[0x42; 16]).u32(7).u32(0).u64(0);
    vec![
        (
            "create_contexts",
            "mxac_qfid",
            msg::create_contexts(&[(b"MxAc", b""), (b"QFid", b"")]),
        ),
        (
            "create_contexts",
            "lease_durable",
            msg::create_contexts(&[(b"RqLs", &lease.0), (b"DHnQ", &[0; 16])]),
        ),
    ]
}

fn ntlmssp_spnego() -> Vec<Seed> {
    use auth::spnego;
    let neg = msg::ntlm_negotiate();
    let guest = msg::ntlm_authenticate("guest");
    let anon = msg::ntlm_authenticate("");
    let with_guest_flag = |mut v: Vec<u8>| {
        if let Some(b) = v.first_mut() {
            *b |= 0x80;
        }
        v
    };
    let init = spnego::encode_init(&[spnego::OID_NTLMSSP], Some(&neg), None);
    let init_later = spnego::encode_init(&[&[0x2a, 0x86, 0x48], spnego::OID_NTLMSSP], None, None);
    let resp = |t: &[u8]| spnego::encode_resp(None, None, Some(t), None);
    vec![
        (
            "ntlmssp_spnego",
            "raw_guest",
            with_guest_flag(encode_tokens(&[&neg, &guest], 3)),
        ),
        (
            "ntlmssp_spnego",
            "raw_anonymous",
            encode_tokens(&[&neg, &anon], 3),
        ),
        (
            "ntlmssp_spnego",
            "spnego_guest",
            with_guest_flag(encode_tokens(&[&init, &resp(&guest)], 3)),
        ),
        (
            "ntlmssp_spnego",
            "spnego_ntlm_second_choice",
            encode_tokens(&[&init_later, &resp(&neg), &resp(&anon)], 3),
        ),
        (
            "ntlmssp_spnego",
            "empty_then_init",
            encode_tokens(&[b"", &init], 3),
        ),
    ]
}

/// Records for `ndr_rpc`: control 0xC0 writes and reads 4 KiB at a time,
/// 0xC1 transceives with a 4 KiB limit.
fn ndr_rpc() -> Vec<Seed> {
    use rpc_msg::*;
    let pipe = |sel: u8, recs: Vec<(u8, Vec<u8>)>| {
        let mut v = vec![sel];
        v.extend_from_slice(&encode_records(&recs));
        v
    };
    let bind_srv = bind(1, SRVSVC);
    let (half1, half2) = bind_srv.split_at(30);
    vec![
        (
            "ndr_rpc",
            "srvsvc",
            pipe(
                0,
                vec![
                    (0xC0, bind_srv.clone()),
                    (0xC0, request(2, 15, &share_enum(1))),
                    (0xC1, request(3, 15, &share_enum(2))),
                    (0xC1, request(4, 16, &share_get_info("share", 502))),
                    (0x41, request(5, 21, &server_get_info(101))),
                ],
            ),
        ),
        (
            "ndr_rpc",
            "lsarpc",
            pipe(
                1,
                vec![
                    (0xC0, bind(1, LSARPC)),
                    (0xC1, request(2, 44, &open_policy2())),
                    (0xC1, request(3, 45, &get_user_name())),
                ],
            ),
        ),
        (
            "ndr_rpc",
            "wkssvc",
            pipe(
                2,
                vec![
                    (0xC0, bind(1, WKSSVC)),
                    (0xC1, request(2, 0, &server_get_info(100))),
                ],
            ),
        ),
        (
            "ndr_rpc",
            "split_bind",
            pipe(
                0,
                vec![
                    (0xC0, half1.to_vec()),
                    (0xC0, half2.to_vec()),
                    (0x11, request(2, 21, &server_get_info(102))),
                ],
            ),
        ),
    ]
}

/// One server record with every harness patch enabled.
fn rec(h: Hdr, body: Vec<u8>) -> (u8, Vec<u8>) {
    (PATCH_ALL, message(h, &body))
}

fn h(command: u16) -> Hdr {
    Hdr::new(command, 0)
}

fn related(command: u16) -> Hdr {
    let mut x = Hdr::new(command, 0);
    x.flags = msg::FLAG_RELATED;
    x
}

/// The two SESSION_SETUP legs of a guest logon with raw NTLMSSP.
fn guest_logon() -> [(u8, Vec<u8>); 2] {
    [
        rec(
            h(cmd::SESSION_SETUP),
            msg::session_setup_body(&msg::ntlm_negotiate()),
        ),
        rec(
            h(cmd::SESSION_SETUP),
            msg::session_setup_body(&msg::ntlm_authenticate("guest")),
        ),
    ]
}

/// NEGOTIATE for 2.0.2/2.1 and a guest logon with raw NTLMSSP.
fn logon(dialects: &[u16], contexts: bool) -> Vec<(u8, Vec<u8>)> {
    let [negotiate, authenticate] = guest_logon();
    vec![
        rec(h(cmd::NEGOTIATE), msg::negotiate_body(dialects, contexts)),
        negotiate,
        authenticate,
    ]
}

/// A NEGOTIATE frame alone: MS-SMB2 2.2.1.2 header and 2.2.3 body, byte by byte.
pub fn server_negotiate_only() -> Vec<u8> {
    #[rustfmt::skip]
    let frame: [u8; 108] = [
        // ProtocolId, StructureSize 64, CreditCharge 0
        0xFE, b'S', b'M', b'B', 64, 0, 0, 0,
        // Status / ChannelSequence
        0, 0, 0, 0,
        // Command NEGOTIATE, CreditRequest 31
        0, 0, 31, 0,
        // Flags, NextCommand
        0, 0, 0, 0, 0, 0, 0, 0,
        // MessageId 0
        0, 0, 0, 0, 0, 0, 0, 0,
        // ProcessId 0xFEFF, TreeId 0
        0xFF, 0xFE, 0, 0, 0, 0, 0, 0,
        // SessionId 0
        0, 0, 0, 0, 0, 0, 0, 0,
        // Signature
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        // StructureSize 36, DialectCount 4, SecurityMode SIGNING_ENABLED, Reserved
        36, 0, 4, 0, 1, 0, 0, 0,
        // Capabilities: DFS | LEASING | LARGE_MTU
        0x07, 0, 0, 0,
        // ClientGuid
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        // ClientStartTime (no 3.1.1, so no contexts)
        0, 0, 0, 0, 0, 0, 0, 0,
        // Dialects 2.0.2, 2.1, 3.0, 3.0.2
        0x02, 0x02, 0x10, 0x02, 0x00, 0x03, 0x02, 0x03,
    ];
    encode_records(&[(PATCH_ALL, frame.to_vec())])
}

/// Logon, tree connect, and a file's life: create, write, read, flush, lock,
/// query and set info, directory listing in a related compound, rename,
/// delete, validate negotiate, echo, disconnect, logoff.
pub fn server_file_session() -> Vec<u8> {
    let mut r = logon(&[0x202, 0x210], false);
    let ctx = msg::create_contexts(&[(b"MxAc", b""), (b"QFid", b"")]);
    let rw = 0x0012_019F; // FILE_GENERIC_READ | FILE_GENERIC_WRITE
    let rw_delete = rw | 0x0001_0000;
    r.push(rec(
        h(cmd::TREE_CONNECT),
        msg::tree_connect_body("\\\\RSMBD\\share"),
    ));
    r.push(rec(
        h(cmd::CREATE),
        msg::create_body("fuzz.txt", rw, 3, 0x40, &ctx),
    ));
    r.push(rec(h(cmd::WRITE), msg::write_body(&FID, 0, FILE_DATA)));
    r.push(rec(h(cmd::READ), msg::read_body(&FID, 0, 11)));
    r.push(rec(h(cmd::FLUSH), msg::flush_body(&FID)));
    r.push(rec(h(cmd::LOCK), msg::lock_body(&FID, 0, 4, 0x12)));
    r.push(rec(h(cmd::LOCK), msg::lock_body(&FID, 0, 4, 0x04)));
    // FileAllInformation, security descriptor (owner|group|DACL), FS volume info.
    r.push(rec(
        h(cmd::QUERY_INFO),
        msg::query_info_body(&FID, 1, 0x12, 0),
    ));
    r.push(rec(h(cmd::QUERY_INFO), msg::query_info_body(&FID, 3, 0, 7)));
    r.push(rec(h(cmd::QUERY_INFO), msg::query_info_body(&FID, 2, 1, 0)));
    // FileEndOfFileInformation: truncate to 5 bytes.
    r.push(rec(
        h(cmd::SET_INFO),
        msg::set_info_body(&FID, 1, 0x14, &5u64.to_le_bytes()),
    ));
    r.push(rec(h(cmd::CLOSE), msg::close_body(&FID)));
    // Root directory: open, list, close, related.
    r.push((
        PATCH_ALL,
        msg::compound(&[
            message(
                h(cmd::CREATE),
                &msg::create_body("", 0x0012_0089, 1, 1, &[]),
            ),
            message(
                related(cmd::QUERY_DIRECTORY),
                &msg::query_directory_body(&RELATED, 0x25, 1, "*"),
            ),
            message(related(cmd::CLOSE), &msg::close_body(&RELATED)),
        ]),
    ));
    // A subdirectory, created and closed in one compound.
    r.push((
        PATCH_ALL,
        msg::compound(&[
            message(h(cmd::CREATE), &msg::create_body("sub", rw, 2, 1, &[])),
            message(related(cmd::CLOSE), &msg::close_body(&RELATED)),
        ]),
    ));
    // Rename into the subdirectory (FileRenameInformation, 2.2.39 / MS-FSCC 2.4.42.2),
    // then delete on close (FileDispositionInformation).
    r.push(rec(
        h(cmd::CREATE),
        msg::create_body("fuzz.txt", rw_delete, 1, 0x40, &[]),
    ));
    let new_name = msg::utf16("sub\\renamed.txt");
    let mut rename = msg::Buf::default();
    rename
        .u8(0)
        .bytes(&[0; 7])
        .u64(0)
        .u32(u32::try_from(new_name.len()).unwrap_or(0))
        .bytes(&new_name);
    r.push(rec(
        h(cmd::SET_INFO),
        msg::set_info_body(&FID, 1, 10, &rename.0),
    ));
    r.push(rec(h(cmd::SET_INFO), msg::set_info_body(&FID, 1, 13, &[1])));
    r.push(rec(h(cmd::CHANGE_NOTIFY), msg::change_notify_body(&FID)));
    r.push(rec(h(cmd::CLOSE), msg::close_body(&FID)));
    r.push(rec(
        h(cmd::IOCTL),
        msg::ioctl_body(0x0014_0204, &[0xFF; 16], &validate_negotiate_input(), 24),
    ));
    r.push(rec(h(cmd::ECHO), msg::empty_body()));
    r.push(rec(h(cmd::TREE_DISCONNECT), msg::empty_body()));
    r.push(rec(h(cmd::LOGOFF), msg::empty_body()));
    encode_records(&r)
}

/// Logon, IPC$, the srvsvc pipe: bind by WRITE, bind_ack by READ,
/// NetrShareEnum by FSCTL_PIPE_TRANSCEIVE.
pub fn server_ipc_session() -> Vec<u8> {
    let mut r = logon(&[0x202, 0x210], false);
    r.push(rec(
        h(cmd::TREE_CONNECT),
        msg::tree_connect_body("\\\\RSMBD\\IPC$"),
    ));
    r.push(rec(
        h(cmd::CREATE),
        msg::create_body("srvsvc", 0x0012_019F, 1, 0, &[]),
    ));
    r.push(rec(
        h(cmd::WRITE),
        msg::write_body(&FID, 0, &rpc_msg::bind(1, rpc_msg::SRVSVC)),
    ));
    r.push(rec(h(cmd::READ), msg::read_body(&FID, 0, 4280)));
    r.push(rec(
        h(cmd::IOCTL),
        msg::ioctl_body(
            0x0011_C017,
            &FID,
            &rpc_msg::request(2, 15, &rpc_msg::share_enum(1)),
            4280,
        ),
    ));
    r.push(rec(h(cmd::CLOSE), msg::close_body(&FID)));
    r.push(rec(h(cmd::LOGOFF), msg::empty_body()));
    encode_records(&r)
}

/// SMB 3.1.1 with negotiate contexts, then a guest logon and a create.
pub fn server_smb311() -> Vec<u8> {
    let mut r = logon(&[0x202, 0x210, 0x300, 0x302, 0x311], true);
    r.push(rec(
        h(cmd::TREE_CONNECT),
        msg::tree_connect_body("\\\\RSMBD\\share"),
    ));
    r.push((
        PATCH_ALL,
        msg::compound(&[
            message(
                h(cmd::CREATE),
                &msg::create_body("new.txt", 0x0012_019F, 2, 0x40, &[]),
            ),
            message(
                related(cmd::WRITE),
                &msg::write_body(&RELATED, 0, FILE_DATA),
            ),
            message(related(cmd::CLOSE), &msg::close_body(&RELATED)),
        ]),
    ));
    encode_records(&r)
}

/// An SMB1 NEGOTIATE answered with the 0x02FF wildcard, then SMB2.
pub fn server_smb1_upgrade() -> Vec<u8> {
    let mut r = vec![(PATCH_ALL, msg::smb1_negotiate())];
    r.extend(logon(&[0x202, 0x210], false));
    encode_records(&r)
}

/// Seeds of `transform`: the setup byte, then records (see
/// [`crate::transform_harness`]).
fn transform() -> Vec<Seed> {
    vec![
        ("transform", "echo", transform_echo()),
        (
            "transform",
            "echo_tag_flipped",
            transform_echo_tag_flipped(),
        ),
        (
            "transform",
            "echo_other_session",
            transform_echo_other_session(),
        ),
        ("transform", "create_close", transform_create_close()),
        ("transform", "read", transform_read()),
        ("transform", "plain_refused", transform_plain_refused()),
        ("transform", "smb302_echo", transform_smb302_echo()),
        (
            "transform",
            "plain_reauth_guest",
            transform_plain_reauth_guest(),
        ),
        ("transform", "raw_garbage", transform_raw_garbage()),
    ]
}

/// A `transform` input: the setup byte, then the records.
pub fn transform_input(setup: u8, recs: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut v = vec![setup];
    v.extend_from_slice(&encode_records(recs));
    v
}

/// An encrypted record with every patch, its envelope spoiled by `mutation`
/// (with argument `arg`) when that is not 0.
fn sealed(mutation: u8, arg: u8, h: Hdr, body: Vec<u8>) -> (u8, Vec<u8>) {
    use crate::transform_harness::ENCRYPT;
    let mut data = Vec::new();
    if mutation != 0 {
        data.push(arg);
    }
    data.extend_from_slice(&message(h, &body));
    (ENCRYPT | PATCH_ALL | mutation, data)
}

fn sealed_echo() -> (u8, Vec<u8>) {
    sealed(0, 0, h(cmd::ECHO), msg::empty_body())
}

/// AES-128-GCM on 3.1.1: an encrypted ECHO.
pub fn transform_echo() -> Vec<u8> {
    transform_input(1, &[sealed_echo()])
}

/// An encrypted ECHO, then one whose tag has bit 5 flipped (which must end
/// the connection), then one that must never be sent.
pub fn transform_echo_tag_flipped() -> Vec<u8> {
    use crate::transform_harness::MUT_FLIP_TAG;
    transform_input(
        1,
        &[
            sealed_echo(),
            sealed(MUT_FLIP_TAG, 5, h(cmd::ECHO), msg::empty_body()),
            sealed_echo(),
        ],
    )
}

/// AES-256-CCM: an ECHO sealed with the other connection's session and keys.
pub fn transform_echo_other_session() -> Vec<u8> {
    use crate::transform_harness::MUT_SESSION;
    transform_input(
        2,
        &[
            sealed_echo(),
            sealed(MUT_SESSION, 0, h(cmd::ECHO), msg::empty_body()),
        ],
    )
}

/// AES-128-CCM: CREATE and a related CLOSE in one encrypted compound.
pub fn transform_create_close() -> Vec<u8> {
    let inner = msg::compound(&[
        message(
            h(cmd::CREATE),
            &msg::create_body("sealed.txt", 0x0012_019F, 3, 0x40, &[]),
        ),
        message(related(cmd::CLOSE), &msg::close_body(&RELATED)),
    ]);
    use crate::transform_harness::ENCRYPT;
    transform_input(0, &[(ENCRYPT | PATCH_ALL, inner)])
}

/// AES-256-GCM on a share that asks for encryption: CREATE, WRITE, READ,
/// CLOSE, each encrypted.
pub fn transform_read() -> Vec<u8> {
    use crate::transform_harness::SETUP_SHARE_ENCRYPT;
    transform_input(
        3 | SETUP_SHARE_ENCRYPT,
        &[
            sealed(
                0,
                0,
                h(cmd::CREATE),
                msg::create_body("sealed.txt", 0x0012_019F, 3, 0x40, &[]),
            ),
            sealed(0, 0, h(cmd::WRITE), msg::write_body(&FID, 0, FILE_DATA)),
            sealed(0, 0, h(cmd::READ), msg::read_body(&FID, 0, 11)),
            sealed(0, 0, h(cmd::CLOSE), msg::close_body(&FID)),
        ],
    )
}

/// A plain CREATE on the session that must encrypt (refused), then an
/// encrypted ECHO.
pub fn transform_plain_refused() -> Vec<u8> {
    transform_input(
        1,
        &[
            rec(
                h(cmd::CREATE),
                msg::create_body("plain.txt", 0x0012_019F, 3, 0x40, &[]),
            ),
            sealed_echo(),
        ],
    )
}

/// A plain re-authentication of the session that must encrypt (a guest
/// logon with raw NTLMSSP), then a plain CREATE and an encrypted ECHO.
pub fn transform_plain_reauth_guest() -> Vec<u8> {
    let [negotiate, authenticate] = guest_logon();
    transform_input(
        1,
        &[
            negotiate,
            authenticate,
            rec(
                h(cmd::CREATE),
                msg::create_body("plain.txt", 0x0012_019F, 3, 0x40, &[]),
            ),
            sealed_echo(),
        ],
    )
}

/// 3.0.2 (AES-128-CCM, no negotiate contexts): an encrypted ECHO.
pub fn transform_smb302_echo() -> Vec<u8> {
    use crate::transform_harness::SETUP_SMB302;
    transform_input(SETUP_SMB302, &[sealed_echo()])
}

/// A raw frame that starts like a transform and is garbage after it.
pub fn transform_raw_garbage() -> Vec<u8> {
    let mut frame = vec![0xFD, b'S', b'M', b'B'];
    frame.extend((0u8..96).map(|i| i.wrapping_mul(37) ^ 0x5A));
    transform_input(0, &[(0, frame)])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::targets;

    /// Every seed runs through its target without a panic or failed check.
    #[test]
    fn seeds_replay_cleanly() {
        for (target, name, data) in all() {
            let f: fn(&[u8]) = match target {
                "frame_header" => targets::frame_header,
                "negotiate" => targets::negotiate,
                "requests" => targets::requests,
                "create_contexts" => targets::create_contexts,
                "ntlmssp_spnego" => targets::ntlmssp_spnego,
                "ndr_rpc" => targets::ndr_rpc,
                "server_frame" => targets::server_frame,
                "transform" => crate::transform_harness::target,
                other => panic!("seed for unknown target {other}"),
            };
            eprintln!("{target}/{name}");
            f(&data);
        }
    }

    /// Each request seed parses with the parser its selector picks.
    #[test]
    fn request_seeds_are_valid() {
        for (_, name, data) in requests() {
            let mut m = Vec::new();
            wire::Header::default().encode(&mut m);
            m.extend_from_slice(&data[1..]);
            let ok = match name {
                "session_setup" => wire::session_setup::SessionSetupRequest::parse(&m).is_ok(),
                "tree_connect" => wire::tree::TreeConnectRequest::parse(&m).is_ok(),
                "create" => wire::create::CreateRequest::parse(&m).is_ok(),
                "close" => wire::close::CloseRequest::parse(&m).is_ok(),
                "flush" => wire::flush::FlushRequest::parse(&m).is_ok(),
                "read" => wire::read::ReadRequest::parse(&m).is_ok(),
                "write" => wire::write::WriteRequest::parse(&m).is_ok(),
                "lock" => wire::lock::LockRequest::parse(&m).is_ok(),
                "ioctl_validate_negotiate" => {
                    let r = wire::ioctl::IoctlRequest::parse(&m).unwrap();
                    wire::ioctl::ValidateNegotiateInfo::parse(r.input).is_ok()
                }
                "query_directory" => wire::dir::QueryDirectoryRequest::parse(&m).is_ok(),
                "change_notify" => wire::dir::ChangeNotifyRequest::parse(&m).is_ok(),
                "query_info" => wire::query_info::QueryInfoRequest::parse(&m).is_ok(),
                "set_info" => wire::set_info::SetInfoRequest::parse(&m).is_ok(),
                "echo" => wire::echo::parse_empty_request(&m).is_ok(),
                "validate_negotiate" => {
                    wire::ioctl::ValidateNegotiateInfo::parse(&data[1..]).is_ok()
                }
                "ioctl_copychunk" => {
                    let r = wire::ioctl::IoctlRequest::parse(&m).unwrap();
                    wire::copychunk::SrvCopychunkCopy::parse(r.input)
                        .is_ok_and(|c| c.chunks().count() == 2)
                }
                "copychunk" => wire::copychunk::SrvCopychunkCopy::parse(&data[1..])
                    .is_ok_and(|c| c.chunks().count() == 2),
                other => panic!("unknown request seed {other}"),
            };
            assert!(ok, "{name}");
        }
    }

    /// The raw guest and anonymous exchanges log on as the seeds intend.
    #[test]
    fn auth_seeds_log_on() {
        let mut users = auth::UserDb::new();
        users.set_password("alice", "Secret-1");
        for (name, guest, want) in [
            ("raw_guest", true, auth::Identity::Guest),
            ("raw_anonymous", false, auth::Identity::Anonymous),
            ("spnego_guest", true, auth::Identity::Guest),
            (
                "spnego_ntlm_second_choice",
                false,
                auth::Identity::Anonymous,
            ),
        ] {
            let (_, _, data) = ntlmssp_spnego().into_iter().find(|s| s.1 == name).unwrap();
            let mut acc = auth::Acceptor::new(auth::AcceptorConfig {
                netbios_name: "RSMBD".into(),
                domain: "WORKGROUP".into(),
                dns_name: String::new(),
                map_bad_user_to_guest: guest,
            });
            let toks = crate::input::split_tokens(&data, 3);
            let mut last = None;
            for t in toks {
                last = Some(acc.step(t, &users));
            }
            match last.unwrap() {
                auth::AuthStep::Done { identity, .. } => assert_eq!(identity, want, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
