//! Leases across two connections (MS-SMB2 3.3.5.9.11, 3.3.4.7, 3.3.5.22.2)
//! with the Python `smbprotocol` client against a live rsmbd: a file lease
//! RWH held by client 1 breaks to RH when client 2 opens the file, client 2's
//! CREATE stays pending until client 1 acknowledges; and a directory lease
//! (SMB 3.x) breaks when client 2 creates a file in the directory; and when
//! one ClientGuid has two connections, its lease breaks go once each to the
//! older connection, whichever connection holds the lease's open.
//!
//! smbprotocol has no handler for server-initiated OPLOCK_BREAK messages, so
//! the script catches them under MessageId 0xFFFFFFFFFFFFFFFF and sends the
//! acknowledgement as raw bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{all_output, require_smbprotocol, run_with_timeout, TestServer};

const SCRIPT: &str = r#"
import struct, sys, threading, time, uuid
from smbprotocol.connection import Connection
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, ImpersonationLevel, CreateDisposition, CreateOptions,
    FilePipePrinterAccessMask, ShareAccess, RequestedOplockLevel)
from smbprotocol.create_contexts import (CreateContextName, SMB2CreateContextRequest,
    SMB2CreateRequestLeaseV2)

port = int(sys.argv[1])
ACC = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE
SHARE = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
PENDING = 0x00000103
R, H, W = 1, 2, 4

def check(cond, msg):
    if not cond:
        print("FAILED: " + msg)
        sys.exit(1)

class Unsolicited:
    """Stands in for the request a break notification has none of."""
    class _Reserved:
        def get_value(self):
            return 0
    def __init__(self, sink):
        self.sink = sink
        self.session_id = 0
        self.async_id = None
        self.response_event_lock = threading.Lock()
        self.response_event = threading.Event()
        self.message = {"reserved": Unsolicited._Reserved()}
    @property
    def response(self):
        return None
    @response.setter
    def response(self, header):
        self.sink.append(header["data"].get_value())

class Outstanding(dict):
    def __init__(self, other):
        super().__init__(other)
        self.breaks = []
    def __getitem__(self, k):
        if k == 0xFFFFFFFFFFFFFFFF:
            return Unsolicited(self.breaks)
        return super().__getitem__(k)

class LeaseAck:
    """OPLOCK_BREAK lease acknowledgement (MS-SMB2 2.2.24.2)."""
    COMMAND = 0x12
    def __init__(self, key, state):
        self.b = struct.pack("<HHI16sIQ", 36, 0, 0, key, state, 0)
    def pack(self):
        return self.b
    def __len__(self):
        return len(self.b)

def client(guid=None):
    conn = Connection(guid or uuid.uuid4(), "127.0.0.1", port)
    conn.connect(timeout=30)
    conn.outstanding_requests = Outstanding(conn.outstanding_requests)
    sess = Session(conn, "alice", "Secret-1", require_encryption=False, auth_protocol="ntlm")
    sess.connect()
    tree = TreeConnect(sess, r"\\127.0.0.1\test")
    tree.connect()
    return conn, sess, tree

def lease_ctx(key, state):
    l = SMB2CreateRequestLeaseV2()
    l["lease_key"] = key
    l["lease_state"] = state
    l["parent_lease_key"] = b"\0" * 16
    l["epoch"] = b"\0\0"
    c = SMB2CreateContextRequest()
    c["buffer_name"] = CreateContextName.SMB2_CREATE_REQUEST_LEASE_V2
    c["buffer_data"] = l
    return c

def open_leased(tree, name, key, state, opts):
    f = Open(tree, name)
    ctx = f.create(ImpersonationLevel.Impersonation, ACC, 0, SHARE, CreateDisposition.FILE_OPEN_IF,
                   opts, create_contexts=[lease_ctx(key, state)],
                   oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
    check(f.oplock_level == 0xFF, "%s: oplock level %x" % (name, f.oplock_level))
    granted = [c["lease_state"].get_value() for c in ctx if "lease_state" in c.fields]
    return f, granted

def wait_break(conn, secs=10):
    end = time.time() + secs
    while time.time() < end:
        if conn.outstanding_requests.breaks:
            return conn.outstanding_requests.breaks.pop(0)
        time.sleep(0.05)
    return None

def parse_break(b):
    size, epoch, flags, key, cur, new = struct.unpack("<HHI16sII", b[:32])
    check(size == 44, "lease break size %d" % size)
    return epoch, flags, key, cur, new

c1, s1, t1 = client()
c2, s2, t2 = client()

# 1. RWH lease on a file; another client's open breaks it to RH and waits for the ack.
K1 = b"\x11" * 16
f1, g = open_leased(t1, "leased.txt", K1, R | W | H, CreateOptions.FILE_NON_DIRECTORY_FILE)
check(g == [R | W | H], "file lease granted %r" % g)
f2 = Open(t2, "leased.txt")
msg, finish = f2.create(ImpersonationLevel.Impersonation, ACC, 0, SHARE, CreateDisposition.FILE_OPEN,
                        CreateOptions.FILE_NON_DIRECTORY_FILE, send=False)
req2 = c2.send(msg, s2.session_id, t2.tree_connect_id)
b = wait_break(c1)
check(b is not None, "no lease break reached client 1")
epoch, flags, key, cur, new = parse_break(b)
check(key == K1 and cur == R | W | H and new == R | H, "break %r %x -> %x" % (key, cur, new))
check(flags & 1, "break without ACK_REQUIRED")
time.sleep(0.3)
resp = req2.response
check(resp is None or resp["status"].get_value() == PENDING, "client 2's open did not wait for the ack")
ack = c1.send(LeaseAck(K1, R | H), s1.session_id, t1.tree_connect_id)
r = c1.receive(ack)
size, _, _, akey, astate = struct.unpack("<HHI16sI", r["data"].get_value()[:28])
check(size == 36 and akey == K1 and astate == R | H, "ack response %d %x" % (size, astate))
finish(req2)
check(f2.file_id is not None, "client 2's open did not complete")
f2.close()
f1.close()

# 2. RH lease on a directory; a create inside it by another client breaks it.
K2 = b"\x22" * 16
d1, g = open_leased(t1, "leasedir", K2, R | H, CreateOptions.FILE_DIRECTORY_FILE)
check(g == [R | H], "directory lease granted %r" % g)
n = Open(t2, "leasedir\\child.txt")
n.create(ImpersonationLevel.Impersonation, ACC, 0, SHARE, CreateDisposition.FILE_CREATE,
         CreateOptions.FILE_NON_DIRECTORY_FILE)
n.close()
b = wait_break(c1)
check(b is not None, "no directory lease break reached client 1")
epoch, flags, key, cur, new = parse_break(b)
check(key == K2 and cur == R | H and new == 0, "dir break %r %x -> %x" % (key, cur, new))
ack = c1.send(LeaseAck(K2, 0), s1.session_id, t1.tree_connect_id)
c1.receive(ack)
d1.close()

# 3. One ClientGuid on two connections: R leases held one on each break to
# none on another client's write, both notifications on the older connection.
G = uuid.uuid4()
c3, s3, t3 = client(G)
c4, s4, t4 = client(G)
K3 = b"\x33" * 16
K4 = b"\x44" * 16
f3, g = open_leased(t3, "shared_guid.txt", K3, R, CreateOptions.FILE_NON_DIRECTORY_FILE)
check(g == [R], "lease K3 granted %r" % g)
f4, g = open_leased(t4, "shared_guid.txt", K4, R, CreateOptions.FILE_NON_DIRECTORY_FILE)
check(g == [R], "lease K4 granted %r" % g)
w = Open(t2, "shared_guid.txt")
w.create(ImpersonationLevel.Impersonation, ACC, 0, SHARE, CreateDisposition.FILE_OPEN,
         CreateOptions.FILE_NON_DIRECTORY_FILE)
w.write(b"x", 0)
keys = set()
for _ in range(2):
    b = wait_break(c3)
    check(b is not None, "a lease break did not reach the older connection")
    epoch, flags, key, cur, new = parse_break(b)
    check(cur == R and new == 0 and not flags & 1, "shared guid break %x -> %x" % (cur, new))
    keys.add(key)
check(keys == {K3, K4}, "breaks for %r" % keys)
time.sleep(0.3)
check(not c4.outstanding_requests.breaks, "a lease break went to the newer connection")
w.close()
f4.close()
f3.close()

for c, s, t in ((c1, s1, t1), (c2, s2, t2), (c3, s3, t3), (c4, s4, t4)):
    t.disconnect()
    s.disconnect()
    c.disconnect(True)
print("ok")
"#;

#[test]
fn lease_breaks_across_connections() {
    require_smbprotocol();
    let mut srv = TestServer::start("", &[("test", "\tread only = no\n")]);
    let script = srv.dir().join("lease_check.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut c = Command::new("python3");
    c.arg(&script)
        .arg(srv.port.to_string())
        .current_dir(srv.dir())
        .stdin(Stdio::null());
    let out = run_with_timeout(c, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "lease checks failed:\n{}\nserver log:\n{}",
        all_output(&out),
        srv.log()
    );
    assert!(srv.share_path("test").join("leasedir/child.txt").exists());
    srv.assert_healthy("test", "after lease checks");
}
