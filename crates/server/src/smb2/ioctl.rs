//! IOCTL (MS-SMB2 3.3.5.15): validate negotiate, pipe transceive, network
//! interfaces, resume keys and server-side copy (copychunk.rs), DFS referrals
//! refused as a non-DFS server does;
//! every other FSCTL answered STATUS_INVALID_DEVICE_REQUEST.

use wire::create::FileId;
use wire::ioctl::{fsctl, IoctlRequest, IOCTL_IS_FSCTL};
use wire::NtStatus;

use super::close::lookup_open;
use crate::dispatch::{Error, HandlerResult, Request};
use crate::state::{lock, AuthState, OpenKind};

/// What the RPC services may tell this caller.
pub fn rpc_info(req: &Request<'_>) -> Result<rpc::ServerInfo, Error> {
    let session = req.session()?;
    let (user, identity) = match &*lock(&session.state) {
        AuthState::Valid(a) => (a.user_name.clone(), a.identity.clone()),
        _ => return Err(Error::Status(NtStatus::ACCESS_DENIED)),
    };
    let domain = match &identity {
        auth::Identity::User { domain, .. } => domain.clone(),
        _ => req.server.config.workgroup.clone(),
    };
    let cfg = &req.server.config;
    let mut shares: Vec<rpc::ShareInfo> = req
        .server
        .shares
        .iter()
        .filter(|s| s.config.browseable)
        .map(|s| rpc::ShareInfo {
            name: s.config.name.clone(),
            comment: s.config.comment.clone(),
            share_type: rpc::ShareType::Disk,
            path: s.config.path.display().to_string(),
        })
        .collect();
    shares.push(rpc::ShareInfo {
        name: "IPC$".into(),
        comment: "IPC Service".into(),
        share_type: rpc::ShareType::Ipc,
        path: String::new(),
    });
    Ok(rpc::ServerInfo {
        netbios_name: cfg.netbios_name.clone(),
        server_string: cfg.server_string.clone(),
        workgroup: cfg.workgroup.clone(),
        shares,
        user_name: user,
        user_domain: domain,
    })
}

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = IoctlRequest::parse(req.msg)?;
    if r.flags & IOCTL_IS_FSCTL == 0 {
        return Err(Error::Status(NtStatus::NOT_SUPPORTED));
    }
    let n = req.conn.negotiated().ok_or(Error::Disconnect)?;
    if r.input.len() > n.max_trans as usize || r.max_output_response > n.max_trans {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    let max_out = r.max_output_response as usize;
    let mut output = Vec::new();
    let mut status = NtStatus::SUCCESS;
    let mut file_id = r.file_id;
    match r.ctl_code {
        fsctl::VALIDATE_NEGOTIATE_INFO => {
            // MS-SMB2 3.3.5.15.12: any difference from what NEGOTIATE saw ends the connection.
            let v = wire::ioctl::ValidateNegotiateInfo::parse(r.input)
                .map_err(|_| Error::Disconnect)?;
            if n.dialect == crate::config::dialect::SMB3_11 {
                return Err(Error::Disconnect);
            }
            let picked = v
                .dialects
                .iter()
                .copied()
                .filter(|d| crate::smb2::negotiate::SUPPORTED.contains(d))
                .max();
            if v.guid != n.client_guid
                || v.security_mode != n.client_security_mode
                || v.capabilities != n.client_capabilities
                || v.dialects != n.client_dialects
                || picked != Some(n.dialect)
            {
                return Err(Error::Disconnect);
            }
            if max_out < 24 {
                return Err(Error::Disconnect);
            }
            wire::ioctl::encode_validate_negotiate_response(
                &mut output,
                n.server_capabilities,
                &req.server.server_guid,
                n.server_security_mode,
                n.dialect,
            );
            file_id = FileId::RELATED;
        }
        fsctl::PIPE_TRANSCEIVE => {
            let open = lookup_open(req, r.file_id)?;
            let OpenKind::Pipe(p) = &open.kind else {
                return Err(Error::Status(NtStatus::INVALID_DEVICE_REQUEST));
            };
            let info = rpc_info(req)?;
            let (data, more) = lock(p)
                .transceive(r.input, max_out, &info)
                .map_err(|_| NtStatus::INVALID_PARAMETER)?;
            output = data;
            file_id = open.file_id;
            if more {
                status = NtStatus::BUFFER_OVERFLOW;
            }
        }
        fsctl::PIPE_WAIT => {}
        fsctl::DFS_GET_REFERRALS | fsctl::DFS_GET_REFERRALS_EX => {
            return Err(Error::Status(NtStatus::FS_DRIVER_REQUIRED));
        }
        fsctl::QUERY_NETWORK_INTERFACE_INFO => {
            output = crate::netinfo::network_interfaces();
            file_id = FileId::RELATED;
            if output.len() > max_out {
                return Err(Error::Status(NtStatus::BUFFER_TOO_SMALL));
            }
        }
        fsctl::SRV_REQUEST_RESUME_KEY => {
            let open = lookup_open(req, r.file_id)?;
            if open.handle().is_none() {
                return Err(Error::Status(NtStatus::INVALID_DEVICE_REQUEST));
            }
            // MS-SMB2 2.2.32.3: a 24-byte key naming the open, ContextLength 0 and
            // the 4-byte Context field clients decode.
            if max_out < wire::copychunk::RESUME_KEY_RESPONSE_LEN {
                return Err(Error::Status(NtStatus::BUFFER_TOO_SMALL));
            }
            let key = super::copychunk::resume_key(req.session()?.id, open.file_id);
            wire::copychunk::encode_resume_key_response(&key, &mut output);
            file_id = open.file_id;
        }
        fsctl::SRV_COPYCHUNK | fsctl::SRV_COPYCHUNK_WRITE => {
            // MS-SMB2 3.3.5.15.6: the response carries an SRV_COPYCHUNK_RESPONSE
            // whatever the status, once the request got past its first checks.
            let (s, id) = super::copychunk::handle(
                req,
                r.ctl_code,
                r.file_id,
                r.input,
                max_out,
                &mut output,
            )?;
            status = s;
            file_id = id;
        }
        fsctl::SET_SPARSE => {
            let open = lookup_open(req, r.file_id)?;
            if open.handle().is_none() || open.is_dir {
                return Err(Error::Status(NtStatus::INVALID_PARAMETER));
            }
            file_id = open.file_id;
        }
        fsctl::CREATE_OR_GET_OBJECT_ID | fsctl::GET_OBJECT_ID => {
            let open = lookup_open(req, r.file_id)?;
            let share = open
                .tree
                .share()
                .ok_or(Error::Status(NtStatus::INVALID_DEVICE_REQUEST))?;
            // MS-FSCC 2.1.3.1 FILE_OBJECTID_BUFFER: a stable id derived from
            // the file's identity, so every ask answers the same.
            if max_out < 64 {
                return Err(Error::Status(NtStatus::BUFFER_TOO_SMALL));
            }
            let mut object_id = [0u8; 16];
            object_id[..8].copy_from_slice(&open.file_key.1.to_le_bytes());
            object_id[8..].copy_from_slice(&open.file_key.0.to_le_bytes());
            let mut volume_id = [0u8; 16];
            volume_id[..4].copy_from_slice(&share.volume_serial.to_le_bytes());
            output.extend_from_slice(&object_id);
            output.extend_from_slice(&volume_id);
            output.extend_from_slice(&object_id);
            output.extend_from_slice(&[0u8; 16]);
            file_id = open.file_id;
        }
        _ => {
            // The FileId is checked first: an unknown or failed handle
            // answers as such whatever the control code.
            lookup_open(req, r.file_id)?;
            return Err(Error::Status(NtStatus::INVALID_DEVICE_REQUEST));
        }
    }
    if output.len() > max_out {
        output.truncate(max_out);
        status = NtStatus::BUFFER_OVERFLOW;
    }
    wire::ioctl::encode_ioctl_response(out, r.ctl_code, file_id, &output);
    Ok(status)
}
