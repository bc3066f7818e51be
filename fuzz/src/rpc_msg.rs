//! Hand-built DCE/RPC connection-oriented PDUs (C706 12.6; MS-RPCE 2.2.2)
//! and NDR20 stubs (C706 chapter 14) for the pipe seeds.

use crate::msg::{utf16, Buf};

pub const PTYPE_REQUEST: u8 = 0;
pub const PTYPE_BIND: u8 = 11;
pub const PTYPE_ALTER_CONTEXT: u8 = 14;
/// PFC_FIRST_FRAG | PFC_LAST_FRAG.
pub const FIRST_LAST: u8 = 0x03;

/// An interface or transfer syntax: UUID fields and version.
#[derive(Clone, Copy, Debug)]
pub struct Syntax {
    pub d1: u32,
    pub d2: u16,
    pub d3: u16,
    pub d4: [u8; 8],
    pub version: u32,
}

impl Syntax {
    fn write(&self, b: &mut Buf) {
        // The first three UUID fields in the sender's (little-endian) order.
        b.u32(self.d1)
            .u16(self.d2)
            .u16(self.d3)
            .bytes(&self.d4)
            .u32(self.version);
    }
}

/// NDR transfer syntax 8A885D04-1CEB-11C9-9FE8-08002B104860 v2 (C706 appendix I).
pub const NDR20: Syntax = Syntax {
    d1: 0x8a88_5d04,
    d2: 0x1ceb,
    d3: 0x11c9,
    d4: [0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60],
    version: 2,
};
/// MS-SRVS 1.9.
pub const SRVSVC: Syntax = Syntax {
    d1: 0x4b32_4fc8,
    d2: 0x1670,
    d3: 0x01d3,
    d4: [0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1, 0x88],
    version: 3,
};
/// MS-WKST 1.9.
pub const WKSSVC: Syntax = Syntax {
    d1: 0x6bff_d098,
    d2: 0xa112,
    d3: 0x3610,
    d4: [0x98, 0x33, 0x46, 0xc3, 0xf8, 0x7e, 0x34, 0x5a],
    version: 1,
};
/// MS-LSAT 1.9.
pub const LSARPC: Syntax = Syntax {
    d1: 0x1234_5778,
    d2: 0x1234,
    d3: 0xabcd,
    d4: [0xef, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab],
    version: 0,
};

/// The 16-byte common header (C706 12.6.3.1) followed by `body`.
pub fn pdu(ptype: u8, flags: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let mut b = Buf::default();
    b.u8(5)
        .u8(0)
        .u8(ptype)
        .u8(flags)
        .bytes(&[0x10, 0, 0, 0]) // little-endian, ASCII, IEEE
        .u16(u16::try_from(16 + body.len()).unwrap_or(u16::MAX))
        .u16(0)
        .u32(call_id)
        .bytes(body);
    b.0
}

/// A bind (C706 12.6.4.3) of context 0 to `iface` over NDR20.
pub fn bind(call_id: u32, iface: Syntax) -> Vec<u8> {
    let mut b = Buf::default();
    b.u16(4280).u16(4280).u32(0).u8(1).bytes(&[0; 3]);
    b.u16(0).u8(1).u8(0);
    iface.write(&mut b);
    NDR20.write(&mut b);
    pdu(PTYPE_BIND, FIRST_LAST, call_id, &b.0)
}

/// A request (C706 12.6.4.9) on context 0.
pub fn request(call_id: u32, opnum: u16, stub: &[u8]) -> Vec<u8> {
    let mut b = Buf::default();
    b.u32(u32::try_from(stub.len()).unwrap_or(0))
        .u16(0)
        .u16(opnum)
        .bytes(stub);
    pdu(PTYPE_REQUEST, FIRST_LAST, call_id, &b.0)
}

/// A tiny NDR20 writer: 4-byte aligned scalars, unique pointers, strings.
#[derive(Default)]
pub struct Ndr(Buf);

impl Ndr {
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.u32(v);
        self
    }
    /// A non-null unique pointer's referent id.
    pub fn ptr(&mut self) -> &mut Self {
        self.0.u32(0x0002_0000);
        self
    }
    pub fn null(&mut self) -> &mut Self {
        self.0.u32(0);
        self
    }
    /// A conformant varying `[string] wchar_t*` pointee, NUL included (C706 14.3.4).
    pub fn wstring(&mut self, s: &str) -> &mut Self {
        let mut u = utf16(s);
        u.extend_from_slice(&[0, 0]);
        let n = u32::try_from(u.len() / 2).unwrap_or(0);
        self.0.u32(n).u32(0).u32(n).bytes(&u);
        while !self.0.len().is_multiple_of(4) {
            self.0.u8(0);
        }
        self
    }
    pub fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0 .0)
    }
}

/// NetrShareEnum (MS-SRVS 3.1.4.8, opnum 15) at `level`.
pub fn share_enum(level: u32) -> Vec<u8> {
    Ndr::default()
        .ptr()
        .wstring("\\\\RSMBD")
        .u32(level)
        .u32(level)
        .ptr()
        .u32(0)
        .null()
        .u32(0xffff_ffff)
        .ptr()
        .u32(0)
        .done()
}

/// NetrShareGetInfo (MS-SRVS 3.1.4.10, opnum 16).
pub fn share_get_info(name: &str, level: u32) -> Vec<u8> {
    Ndr::default().null().wstring(name).u32(level).done()
}

/// NetrServerGetInfo (MS-SRVS 3.1.4.17, opnum 21) and NetrWkstaGetInfo
/// (MS-WKST 3.2.4.1, opnum 0) share this shape.
pub fn server_get_info(level: u32) -> Vec<u8> {
    Ndr::default().ptr().wstring("RSMBD").u32(level).done()
}

/// LsarOpenPolicy2 (MS-LSAT 3.1.4.4.1, opnum 44).
pub fn open_policy2() -> Vec<u8> {
    let mut n = Ndr::default();
    n.ptr().wstring("\\\\RSMBD").u32(24);
    for _ in 0..5 {
        n.u32(0);
    }
    n.u32(0x0200_0000).done()
}

/// LsarGetUserName (MS-LSAT 3.1.4.4.4, opnum 45).
pub fn get_user_name() -> Vec<u8> {
    Ndr::default().null().null().ptr().null().done()
}
