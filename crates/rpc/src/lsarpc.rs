//! lsarpc, the LSA policy and translation calls (MS-LSAD, MS-LSAT) that clients make right
//! after connecting: open/close a policy handle, ask the primary and account domain, ask
//! who they are, and translate SIDs and names, which a standalone server answers as
//! "none mapped" (STATUS_NONE_MAPPED) with well-formed, empty translations.
//!
//! Policy handles are 20-byte context handles (MS-RPCE 2.2.5.1: 4-byte attributes + UUID)
//! that live only in the pipe that opened them.

use crate::ndr::{NdrReader, NdrWriter, Sid};
use crate::pdu::{FAULT_NDR, NCA_S_OP_RNG_ERROR};
use crate::{Fault, ServerInfo};

// Opnums (MS-LSAD 3.1.4, MS-LSAT 3.1.4).
const OP_CLOSE: u16 = 0;
const OP_OPEN_POLICY: u16 = 6;
const OP_QUERY_INFORMATION_POLICY: u16 = 7;
const OP_LOOKUP_NAMES: u16 = 14;
const OP_LOOKUP_SIDS: u16 = 15;
const OP_OPEN_POLICY2: u16 = 44;
const OP_GET_USER_NAME: u16 = 45;
const OP_QUERY_INFORMATION_POLICY2: u16 = 46;
const OP_LOOKUP_SIDS2: u16 = 57;
const OP_LOOKUP_NAMES2: u16 = 58;

// NTSTATUS values (MS-ERREF 2.3.1).
const STATUS_SUCCESS: u32 = 0;
const STATUS_INVALID_INFO_CLASS: u32 = 0xC000_0003;
const STATUS_INVALID_HANDLE: u32 = 0xC000_0008;
const STATUS_NONE_MAPPED: u32 = 0xC000_0073;
const STATUS_INSUFFICIENT_RESOURCES: u32 = 0xC000_009A;

// POLICY_INFORMATION_CLASS (MS-LSAD 2.2.4.1).
const POLICY_PRIMARY_DOMAIN_INFORMATION: u16 = 3;
const POLICY_ACCOUNT_DOMAIN_INFORMATION: u16 = 5;
const POLICY_DNS_DOMAIN_INFORMATION: u16 = 12;

/// SidTypeUnknown (MS-LSAT 2.2.13).
const SID_TYPE_UNKNOWN: u16 = 8;
/// LSAPR_SID_ENUM_BUFFER.Entries range (MS-LSAT 2.2.18).
const MAX_LOOKUP_SIDS: u32 = 20480;
/// LsarLookupNames Count range (MS-LSAT 3.1.4.8).
const MAX_LOOKUP_NAMES: u32 = 1000;
/// MaxEntries of an empty LSAPR_REFERENCED_DOMAIN_LIST, the value Windows and Samba send.
const REFERENCED_DOMAINS_MAX: u32 = 32;
/// Open policy handles per pipe.
const MAX_HANDLES: usize = 256;

/// Policy handles open on one pipe.
#[derive(Default)]
pub(crate) struct LsaState {
    handles: Vec<[u8; 20]>,
    counter: u32,
}

impl LsaState {
    fn open(&mut self) -> Option<[u8; 20]> {
        use std::hash::{BuildHasher, Hasher};
        if self.handles.len() >= MAX_HANDLES {
            return None;
        }
        self.counter = self.counter.wrapping_add(1);
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(self.counter);
        let a = h.finish().to_le_bytes();
        h.write_u8(1);
        let b = h.finish().to_le_bytes();
        // 4 bytes of attributes (0), then a UUID-sized value unique within the pipe.
        let mut handle = [0u8; 20];
        for (dst, src) in handle.iter_mut().skip(4).zip(
            self.counter
                .to_le_bytes()
                .iter()
                .chain(a.iter())
                .chain(b.iter()),
        ) {
            *dst = *src;
        }
        self.handles.push(handle);
        Some(handle)
    }

    fn is_open(&self, handle: &[u8; 20]) -> bool {
        self.handles.contains(handle)
    }

    fn close(&mut self, handle: &[u8; 20]) -> bool {
        let before = self.handles.len();
        self.handles.retain(|h| h != handle);
        self.handles.len() != before
    }
}

/// The machine SID S-1-5-21-a-b-c: stable for a NetBIOS name, derived from it with
/// FNV-1a so that restarts and reinstalls keep the same identity.
pub(crate) fn machine_sid(netbios_name: &str) -> Sid {
    let name = netbios_name.to_uppercase();
    let sub = |seed: u32| {
        let mut h: u32 = 0x811c_9dc5 ^ seed;
        for b in name.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        // Keep clear of the small values that look like well-known RIDs.
        h | 0x1000_0000
    };
    Sid {
        revision: 1,
        authority: [0, 0, 0, 0, 0, 5],
        sub_authorities: vec![21, sub(0x5eed_0001), sub(0x5eed_0002), sub(0x5eed_0003)],
    }
}

/// Dispatches one lsarpc call.
pub(crate) fn call(
    opnum: u16,
    stub: &[u8],
    info: &ServerInfo,
    st: &mut LsaState,
) -> Result<Vec<u8>, Fault> {
    match opnum {
        OP_CLOSE => close(stub, st),
        OP_OPEN_POLICY => open_policy(stub, st, false),
        OP_OPEN_POLICY2 => open_policy(stub, st, true),
        OP_QUERY_INFORMATION_POLICY | OP_QUERY_INFORMATION_POLICY2 => query_info(stub, info, st),
        OP_GET_USER_NAME => get_user_name(stub, info),
        OP_LOOKUP_SIDS => lookup_sids(stub, st, false),
        OP_LOOKUP_SIDS2 => lookup_sids(stub, st, true),
        OP_LOOKUP_NAMES => lookup_names(stub, st, false),
        OP_LOOKUP_NAMES2 => lookup_names(stub, st, true),
        _ => Err(Fault(NCA_S_OP_RNG_ERROR)),
    }
}

/// LsarClose (MS-LSAD 3.1.4.9.4): the handle comes back zeroed.
fn close(stub: &[u8], st: &mut LsaState) -> Result<Vec<u8>, Fault> {
    let mut r = NdrReader::new(stub);
    let handle: [u8; 20] = r.bytes(4)?;
    let status = if st.close(&handle) {
        STATUS_SUCCESS
    } else {
        STATUS_INVALID_HANDLE
    };
    let mut w = NdrWriter::new();
    w.bytes(4, &[0u8; 20]);
    w.u32(status);
    Ok(w.into_bytes())
}

/// LsarOpenPolicy (MS-LSAD 3.1.4.4.2) and LsarOpenPolicy2 (3.1.4.4.1). The object
/// attributes and access mask are not needed: every caller gets read access to what
/// this module serves.
fn open_policy(stub: &[u8], st: &mut LsaState, v2: bool) -> Result<Vec<u8>, Fault> {
    let mut r = NdrReader::new(stub);
    if v2 {
        let _system = r.unique_wstring()?;
    } else if r.pointer()? {
        // LsarOpenPolicy's SystemName is a unique pointer to a single wchar_t.
        let _ = r.u16()?;
    }
    // LSAPR_OBJECT_ATTRIBUTES scalars: Length, RootDirectory, ObjectName, Attributes,
    // SecurityDescriptor, SecurityQualityOfService (MS-LSAD 2.2.9).
    for _ in 0..6 {
        r.u32()?;
    }
    let mut w = NdrWriter::new();
    match st.open() {
        Some(h) => {
            w.bytes(4, &h);
            w.u32(STATUS_SUCCESS);
        }
        None => {
            w.bytes(4, &[0u8; 20]);
            w.u32(STATUS_INSUFFICIENT_RESOURCES);
        }
    }
    Ok(w.into_bytes())
}

/// LsarQueryInformationPolicy(2) (MS-LSAD 3.1.4.4.4 and 3.1.4.4.3).
fn query_info(stub: &[u8], info: &ServerInfo, st: &LsaState) -> Result<Vec<u8>, Fault> {
    let mut r = NdrReader::new(stub);
    let handle: [u8; 20] = r.bytes(4)?;
    let class = r.u16()?; // an enum: 16 bits in NDR20 (C706 14.2.2)
    let mut w = NdrWriter::new();
    if !st.is_open(&handle) {
        w.null_pointer();
        w.u32(STATUS_INVALID_HANDLE);
        return Ok(w.into_bytes());
    }
    match class {
        // LSAPR_POLICY_PRIMARY_DOM_INFO (MS-LSAD 2.2.4.5): a workgroup member has a
        // primary domain name but no domain SID.
        POLICY_PRIMARY_DOMAIN_INFORMATION => {
            w.pointer();
            w.u16(class);
            w.unicode_string_header(&info.workgroup);
            w.null_pointer();
            w.unicode_string_body(&info.workgroup);
        }
        // LSAPR_POLICY_ACCOUNT_DOM_INFO (MS-LSAD 2.2.4.6): the local account domain.
        POLICY_ACCOUNT_DOMAIN_INFORMATION => {
            w.pointer();
            w.u16(class);
            w.unicode_string_header(&info.netbios_name);
            w.pointer();
            w.unicode_string_body(&info.netbios_name);
            w.sid(&machine_sid(&info.netbios_name));
        }
        // LSAPR_POLICY_DNS_DOMAIN_INFO (MS-LSAD 2.2.4.14), which Windows asks for:
        // no DNS domain, forest, GUID or SID outside a domain.
        POLICY_DNS_DOMAIN_INFORMATION => {
            w.pointer();
            w.u16(class);
            w.unicode_string_header(&info.workgroup);
            w.unicode_string_header("");
            w.unicode_string_header("");
            w.bytes(4, &[0u8; 16]);
            w.null_pointer();
            w.unicode_string_body(&info.workgroup);
        }
        _ => {
            w.null_pointer();
            w.u32(STATUS_INVALID_INFO_CLASS);
            return Ok(w.into_bytes());
        }
    }
    w.u32(STATUS_SUCCESS);
    Ok(w.into_bytes())
}

/// Skips an optional `[in,out] PRPC_UNICODE_STRING` pointee (a unique pointer to the
/// structure, then its Buffer).
fn skip_unicode_string_ptr(r: &mut NdrReader<'_>) -> Result<(), Fault> {
    if r.pointer()? {
        let h = r.unicode_string_header()?;
        r.unicode_string_body(h)?;
    }
    Ok(())
}

/// LsarGetUserName (MS-LSAT 3.1.4.4): the caller's account and domain names.
fn get_user_name(stub: &[u8], info: &ServerInfo) -> Result<Vec<u8>, Fault> {
    let mut r = NdrReader::new(stub);
    let _system = r.unique_wstring()?;
    skip_unicode_string_ptr(&mut r)?; // UserName: ref to unique
    let want_domain = r.pointer()?; // DomainName: unique to unique
    if want_domain {
        skip_unicode_string_ptr(&mut r)?;
    }
    let mut w = NdrWriter::new();
    w.pointer();
    w.unicode_string_header(&info.user_name);
    w.unicode_string_body(&info.user_name);
    if want_domain {
        w.pointer();
        w.pointer();
        w.unicode_string_header(&info.user_domain);
        w.unicode_string_body(&info.user_domain);
    } else {
        w.null_pointer();
    }
    w.u32(STATUS_SUCCESS);
    Ok(w.into_bytes())
}

/// An empty LSAPR_REFERENCED_DOMAIN_LIST behind its [out] pointer (MS-LSAT 2.2.12).
fn empty_referenced_domains(w: &mut NdrWriter) {
    w.pointer();
    w.u32(0); // Entries
    w.null_pointer(); // Domains
    w.u32(REFERENCED_DOMAINS_MAX);
}

/// LsarLookupSids (MS-LSAT 3.1.4.11) and LsarLookupSids2 (3.1.4.10): every SID comes back
/// as SidTypeUnknown with DomainIndex -1, MappedCount 0, STATUS_NONE_MAPPED.
fn lookup_sids(stub: &[u8], st: &LsaState, ex: bool) -> Result<Vec<u8>, Fault> {
    let mut r = NdrReader::new(stub);
    let handle: [u8; 20] = r.bytes(4)?;
    // LSAPR_SID_ENUM_BUFFER (MS-LSAT 2.2.18).
    let entries = r.u32()?;
    let present = r.pointer()?;
    if entries > MAX_LOOKUP_SIDS || (entries > 0 && !present) {
        return Err(Fault(FAULT_NDR));
    }
    if present && r.u32()? != entries {
        return Err(Fault(FAULT_NDR));
    }
    let mut w = NdrWriter::new();
    if !st.is_open(&handle) {
        w.null_pointer(); // ReferencedDomains
        w.u32(0);
        w.null_pointer(); // TranslatedNames
        w.u32(0); // MappedCount
        w.u32(STATUS_INVALID_HANDLE);
        return Ok(w.into_bytes());
    }
    empty_referenced_domains(&mut w);
    // LSAPR_TRANSLATED_NAMES(_EX) (MS-LSAT 2.2.21, 2.2.22).
    w.u32(entries);
    w.pointer_if(entries > 0);
    if entries > 0 {
        w.u32(entries);
        for _ in 0..entries {
            w.u16(SID_TYPE_UNKNOWN);
            w.unicode_string_header("");
            w.u32(u32::MAX); // DomainIndex -1
            if ex {
                w.u32(0); // Flags
            }
        }
    }
    w.u32(0); // MappedCount
    w.u32(if entries > 0 {
        STATUS_NONE_MAPPED
    } else {
        STATUS_SUCCESS
    });
    Ok(w.into_bytes())
}

/// LsarLookupNames (MS-LSAT 3.1.4.8) and LsarLookupNames2 (3.1.4.7): every name comes
/// back as SidTypeUnknown, MappedCount 0, STATUS_NONE_MAPPED.
fn lookup_names(stub: &[u8], st: &LsaState, ex: bool) -> Result<Vec<u8>, Fault> {
    let mut r = NdrReader::new(stub);
    let handle: [u8; 20] = r.bytes(4)?;
    let count = r.u32()?;
    if count > MAX_LOOKUP_NAMES {
        return Err(Fault(FAULT_NDR));
    }
    // Names: conformant array of RPC_UNICODE_STRING, buffers deferred after it.
    if r.u32()? != count {
        return Err(Fault(FAULT_NDR));
    }
    let mut headers = Vec::new();
    for _ in 0..count {
        headers.push(r.unicode_string_header()?);
    }
    for h in headers {
        r.unicode_string_body(h)?;
    }
    let mut w = NdrWriter::new();
    if !st.is_open(&handle) {
        w.null_pointer();
        w.u32(0);
        w.null_pointer();
        w.u32(0);
        w.u32(STATUS_INVALID_HANDLE);
        return Ok(w.into_bytes());
    }
    empty_referenced_domains(&mut w);
    // LSAPR_TRANSLATED_SIDS(_EX) (MS-LSAT 2.2.15, 2.2.16).
    w.u32(count);
    w.pointer_if(count > 0);
    if count > 0 {
        w.u32(count);
        for _ in 0..count {
            w.u16(SID_TYPE_UNKNOWN);
            w.u32(0); // RelativeId
            w.u32(u32::MAX); // DomainIndex -1
            if ex {
                w.u32(0); // Flags
            }
        }
    }
    w.u32(0);
    w.u32(if count > 0 {
        STATUS_NONE_MAPPED
    } else {
        STATUS_SUCCESS
    });
    Ok(w.into_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn machine_sid_is_stable_and_case_insensitive() {
        let a = machine_sid("FILESRV");
        assert_eq!(a, machine_sid("filesrv"));
        assert_ne!(a, machine_sid("OTHER"));
        let s = a.to_string();
        assert!(s.starts_with("S-1-5-21-"), "{s}");
        assert_eq!(s.split('-').count(), 7);
    }

    #[test]
    fn handles_open_and_close_once() {
        let mut st = LsaState::default();
        let a = st.open().unwrap();
        let b = st.open().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.get(..4).unwrap(), [0, 0, 0, 0]);
        assert!(st.is_open(&a));
        assert!(st.close(&a));
        assert!(!st.close(&a));
        assert!(st.is_open(&b));
    }
}
