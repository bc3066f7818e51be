//! NEGOTIATE (MS-SMB2 3.3.5.3 for SMB1 upgrade, 3.3.5.4 for SMB2): picks the
//! dialect, the 3.1.1 contexts, and starts the preauth integrity hash.

use wire::header::{Header, FLAGS_SERVER_TO_REDIR, HEADER_LEN};
use wire::negotiate::*;
use wire::NtStatus;

use crate::config::{dialect, EncryptionPolicy, SigningPolicy};
use crate::dispatch::{Error, HandlerResult, PostHash, Request};
use crate::state::{lock, Connection, Negotiated, Server};

pub const SUPPORTED: [u16; 5] = [
    dialect::SMB2_02,
    dialect::SMB2_10,
    dialect::SMB3_00,
    dialect::SMB3_02,
    dialect::SMB3_11,
];

fn security_mode(server: &Server) -> u16 {
    match server.config.signing {
        SigningPolicy::Mandatory => SECURITY_SIGNING_ENABLED | SECURITY_SIGNING_REQUIRED,
        _ => SECURITY_SIGNING_ENABLED,
    }
}

fn capabilities(server: &Server, dialect: u16) -> u32 {
    if dialect < dialect::SMB2_10 {
        return 0;
    }
    let mut caps = CAP_LARGE_MTU;
    // MS-SMB2 3.3.5.4: leasing from 2.1, directory leasing from 3.0.
    if server.config.leases {
        caps |= CAP_LEASING;
        if server.config.directory_leases && dialect >= dialect::SMB3_00 {
            caps |= CAP_DIRECTORY_LEASING;
        }
    }
    caps
}

fn offered(server: &Server, d: u16) -> bool {
    SUPPORTED.contains(&d) && d >= server.config.min_dialect && d <= server.config.max_dialect
}

/// The signing algorithm for 3.1.1: the first of the server's preference
/// (`server smb3 signing algorithms`) the client offers (MS-SMB2 3.3.5.4).
fn pick_signing(server: &Server, client: &[u16]) -> crypto::SigningAlgorithm {
    server
        .config
        .signing_algorithms
        .iter()
        .copied()
        .find(|id| client.contains(id))
        .and_then(crypto::SigningAlgorithm::from_wire)
        .unwrap_or(crypto::SigningAlgorithm::AesCmac)
}

/// The cipher for 3.1.1: the first of the server's preference the client
/// offers; None when encryption is off or nothing is common.
fn pick_cipher(server: &Server, client: &[u16]) -> Option<crypto::Cipher> {
    if server.config.encryption == EncryptionPolicy::Off {
        return None;
    }
    server
        .config
        .ciphers
        .iter()
        .copied()
        .find(|id| client.contains(id))
        .and_then(crypto::Cipher::from_wire)
}

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    if lock(&req.conn.negotiated).is_some() {
        // A second NEGOTIATE on a connection is a protocol error (3.3.5.4).
        return Err(Error::Disconnect);
    }
    let r = NegotiateRequest::parse(req.msg)?;
    let server = req.server;
    let Some(dialect) = r
        .dialects
        .iter()
        .copied()
        .filter(|d| offered(server, *d))
        .max()
    else {
        return Err(Error::Status(NtStatus::NOT_SUPPORTED));
    };
    let mut n = Negotiated {
        dialect,
        client_guid: r.client_guid,
        client_capabilities: r.capabilities,
        client_security_mode: r.security_mode,
        server_capabilities: capabilities(server, dialect),
        server_security_mode: security_mode(server),
        client_dialects: r.dialects.clone(),
        max_read: if dialect >= dialect::SMB2_10 {
            server.config.max_read
        } else {
            65536
        },
        max_write: if dialect >= dialect::SMB2_10 {
            server.config.max_write
        } else {
            65536
        },
        max_trans: if dialect >= dialect::SMB2_10 {
            server.config.max_trans
        } else {
            65536
        },
        ..Default::default()
    };
    let mut ctx = ServerContexts::default();
    let contexts = if dialect == dialect::SMB3_11 {
        let c = &r.contexts;
        // 3.3.5.4: exactly one PREAUTH_INTEGRITY context, offering SHA-512.
        if c.duplicate {
            return Err(Error::Status(NtStatus::INVALID_PARAMETER));
        }
        match &c.preauth_hashes {
            Some(h) if h.contains(&HASH_SHA512) => {}
            Some(_) => {
                return Err(Error::Status(
                    NtStatus::SMB_NO_PREAUTH_INTEGRITY_HASH_OVERLAP,
                ))
            }
            None => return Err(Error::Status(NtStatus::INVALID_PARAMETER)),
        }
        let mut salt = [0u8; 32];
        crypto::random_bytes(&mut salt);
        ctx.preauth_salt = Some(salt);
        if let Some(list) = &c.ciphers {
            // MS-SMB2 3.3.5.4: answer with the chosen cipher, or 0 for "no common cipher".
            n.cipher = pick_cipher(server, list);
            ctx.cipher = Some(n.cipher.map(|c| c.wire_id()).unwrap_or(0));
        }
        let signing = match &c.signing {
            Some(list) => {
                let alg = pick_signing(server, list);
                ctx.signing = Some(alg.wire_id());
                alg
            }
            // A client without a signing context gets AES-CMAC.
            None => crypto::SigningAlgorithm::AesCmac,
        };
        n.signing_algorithm = Some(signing);
        if c.compression.is_some() {
            ctx.compression = Some(vec![0]);
        }
        let mut hash = [0u8; 64];
        crypto::preauth_hash_update(&mut hash, req.msg);
        n.preauth_hash = hash;
        req.post_hash = Some(PostHash::Connection);
        Some(&ctx)
    } else {
        // 3.0 and 3.0.2 encrypt with AES-128-CCM when the client can (2.2.3, 2.2.4).
        if dialect >= dialect::SMB3_00
            && r.capabilities & CAP_ENCRYPTION != 0
            && server.config.encryption != EncryptionPolicy::Off
        {
            n.cipher = Some(crypto::Cipher::Aes128Ccm);
            n.server_capabilities |= CAP_ENCRYPTION;
        }
        n.signing_algorithm = Some(if dialect >= dialect::SMB3_00 {
            crypto::SigningAlgorithm::AesCmac
        } else {
            crypto::SigningAlgorithm::HmacSha256
        });
        None
    };
    let token = auth::negotiate_token();
    NegotiateResponse {
        security_mode: n.server_security_mode,
        dialect,
        server_guid: server.server_guid,
        capabilities: n.server_capabilities,
        max_transact: n.max_trans,
        max_read: n.max_read,
        max_write: n.max_write,
        system_time: crate::util::nt_now(),
        security_buffer: &token,
        contexts,
    }
    .encode(out, 0);
    log::debug!("conn {}: negotiated dialect {:#06x}", req.conn.id, dialect);
    *lock(&req.conn.negotiated) = Some(n);
    req.never_sign = true;
    Ok(NtStatus::SUCCESS)
}

/// An SMB1 NEGOTIATE offering SMB2 (MS-SMB2 3.3.5.3.1): answer with an SMB2
/// NEGOTIATE response for 2.0.2 or the 0x02FF wildcard.
pub fn handle_smb1(server: &Server, conn: &Connection, msg: &[u8]) -> Result<Vec<u8>, Error> {
    let n = wire::smb1::parse_smb1_negotiate(msg).map_err(|_| Error::Disconnect)?;
    if lock(&conn.negotiated).is_some() {
        return Err(Error::Disconnect);
    }
    let dialect = if n.smb2_wildcard && server.config.max_dialect > dialect::SMB2_02 {
        DIALECT_WILDCARD
    } else if n.smb2_002 && offered(server, dialect::SMB2_02) {
        dialect::SMB2_02
    } else {
        return Err(Error::Disconnect);
    };
    let mut credits = lock(&conn.credits);
    if !credits.consume(0, 1) {
        return Err(Error::Disconnect);
    }
    let granted = credits.grant(1, 1);
    drop(credits);
    let mut out = Vec::with_capacity(256);
    Header {
        command: 0,
        credits: granted,
        flags: FLAGS_SERVER_TO_REDIR,
        ..Default::default()
    }
    .encode(&mut out);
    let token = auth::negotiate_token();
    NegotiateResponse {
        security_mode: security_mode(server),
        dialect,
        server_guid: server.server_guid,
        capabilities: capabilities(server, dialect),
        max_transact: 65536,
        max_read: 65536,
        max_write: 65536,
        system_time: crate::util::nt_now(),
        security_buffer: &token,
        contexts: None,
    }
    .encode(&mut out, 0);
    if dialect == dialect::SMB2_02 {
        *lock(&conn.negotiated) = Some(Negotiated {
            dialect,
            server_capabilities: 0,
            server_security_mode: security_mode(server),
            max_read: 65536,
            max_write: 65536,
            max_trans: 65536,
            signing_algorithm: Some(crypto::SigningAlgorithm::HmacSha256),
            client_dialects: vec![dialect::SMB2_02],
            ..Default::default()
        });
    }
    let _ = HEADER_LEN;
    Ok(out)
}
