//! The SMB2 ERROR response body (MS-SMB2 2.2.2).

use crate::Writer;

/// StructureSize 9, no error contexts, ByteCount 0 and one pad byte
/// (Windows sends a one-byte ErrorData when ByteCount is 0).
pub fn encode_error_response(out: &mut Vec<u8>, data: &[u8]) {
    let mut w = Writer::new(out);
    w.u16(9);
    w.u8(0);
    w.u8(0);
    w.u32(data.len() as u32);
    if data.is_empty() {
        w.u8(0);
    } else {
        w.bytes(data);
    }
}
