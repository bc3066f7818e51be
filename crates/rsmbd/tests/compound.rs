//! Compound requests and async operations (MS-SMB2 3.3.5.2.7, 3.3.4.2,
//! 3.3.5.16, 3.3.5.19) with the Python `smbprotocol` client against a live
//! rsmbd: open-read-close in one related compound, read-read-read,
//! create+set_info(rename)+close, a chain whose first element fails, a chain
//! with TREE_DISCONNECT in the middle, and CHANGE_NOTIFY answered by a change,
//! by CANCEL and by CLOSE.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{all_output, require_smbprotocol, run_with_timeout, TestServer};

const SCRIPT: &str = r#"
import sys, time, uuid
from smbprotocol.connection import Connection
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (Open, ImpersonationLevel, CreateDisposition, CreateOptions,
    FilePipePrinterAccessMask, ShareAccess, SMB2SetInfoRequest)
from smbprotocol.file_info import FileRenameInformation, InfoType
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.change_notify import FileSystemWatcher, CompletionFilter

port = int(sys.argv[1])
ACC = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE | FilePipePrinterAccessMask.DELETE
SHARE = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
NOT_FOUND = 0xC0000034
NAME_DELETED = 0xC00000C9
CANCELLED = 0xC0000120
NOTIFY_CLEANUP = 0x0000010B

def check(cond, msg):
    if not cond:
        print("FAILED: " + msg)
        sys.exit(1)

conn = Connection(uuid.uuid4(), "127.0.0.1", port)
conn.connect(timeout=30)
sess = Session(conn, "alice", "Secret-1", require_encryption=False, auth_protocol="ntlm")
sess.connect()
tree = TreeConnect(sess, r"\\127.0.0.1\test")
tree.connect()

def status_of(fn, req):
    try:
        return 0, fn(req)
    except SMBResponseException as e:
        return e.status, None

def compound(msgs, related=True, t=tree):
    reqs = conn.send_compound([m[0] for m in msgs], sess.session_id, t.tree_connect_id, related=related)
    return [status_of(m[1], r) for m, r in zip(msgs, reqs)]

def create(f, disp=CreateDisposition.FILE_OPEN_IF, opts=CreateOptions.FILE_NON_DIRECTORY_FILE, send=True):
    return f.create(ImpersonationLevel.Impersonation, ACC, 0, SHARE, disp, opts, send=send)

# Setup: a file with known content.
f = Open(tree, "data.bin")
create(f)
f.write(b"0123456789abcdef", 0)
f.close()

# 1. open-read-close in one related compound.
f = Open(tree, "data.bin")
res = compound([create(f, send=False), f.read(0, 10, send=False), f.close(False, send=False)])
check([s for s, _ in res] == [0, 0, 0], "open-read-close statuses %r" % [s for s, _ in res])
check(res[1][1] == b"0123456789", "open-read-close data %r" % res[1][1])

# 2. read-read-read, unrelated, on an open handle.
f = Open(tree, "data.bin")
create(f)
res = compound([f.read(0, 4, send=False), f.read(4, 4, send=False), f.read(8, 8, send=False)], related=False)
check([d for _, d in res] == [b"0123", b"4567", b"89abcdef"], "read-read-read %r" % res)
f.close()

# 3. create + set_info(rename) + close.
f = Open(tree, "data.bin")
msg = create(f, send=False)
info = FileRenameInformation()
info["replace_if_exists"] = False
info["file_name"] = "renamed.bin"
sreq = SMB2SetInfoRequest()
sreq["info_type"] = info.INFO_TYPE
sreq["file_info_class"] = info.INFO_CLASS
sreq["file_id"] = b"\xff" * 16
sreq["buffer"] = info
reqs = conn.send_compound([msg[0], sreq, f.close(False, send=False)[0]], sess.session_id, tree.tree_connect_id, related=True)
check(status_of(msg[1], reqs[0])[0] == 0, "rename compound: create failed")
check(status_of(conn.receive, reqs[1])[0] == 0, "rename compound: set_info failed")
check(status_of(f._close_response, reqs[2])[0] == 0, "rename compound: close failed")
g = Open(tree, "renamed.bin")
create(g, disp=CreateDisposition.FILE_OPEN)
check(g.read(0, 4) == b"0123", "renamed file content")
g.close()

# 4. A chain whose first element fails: the related elements fail with its status.
f = Open(tree, "missing.bin")
res = compound([create(f, disp=CreateDisposition.FILE_OPEN, send=False), f.read(0, 1, send=False),
                f.close(False, send=False)])
check([s for s, _ in res] == [NOT_FOUND] * 3, "failed chain statuses %r" % [hex(s) for s, _ in res])

# 5. TREE_DISCONNECT in the middle: what follows no longer finds the tree.
tree2 = TreeConnect(sess, r"\\127.0.0.1\test")
tree2.connect()
f = Open(tree2, "renamed.bin")
from smbprotocol.tree import SMB2TreeDisconnect
msgs = [create(f, disp=CreateDisposition.FILE_OPEN, send=False)[0], SMB2TreeDisconnect(), f.close(False, send=False)[0]]
reqs = conn.send_compound(msgs, sess.session_id, tree2.tree_connect_id, related=True)
st = [status_of(conn.receive, r)[0] for r in reqs]
check(st[0] == 0 and st[1] == 0 and st[2] == NAME_DELETED, "tree disconnect chain %r" % [hex(s) for s in st])

# 6. CHANGE_NOTIFY: completed by a change, by CANCEL and by CLOSE.
d = Open(tree, "watched")
create(d, opts=CreateOptions.FILE_DIRECTORY_FILE)
w = FileSystemWatcher(d)
w.start(CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME)
time.sleep(0.3)
n = Open(tree, "watched\\new.txt")
create(n, disp=CreateDisposition.FILE_CREATE)
n.close()
result = w.wait()
names = [r["file_name"].get_value() for r in result]
check(names == ["new.txt"], "notify result %r" % names)

w = FileSystemWatcher(d)
w.start(CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME)
time.sleep(0.3)
w.cancel()
check(w.cancelled, "notify not cancelled")

w = FileSystemWatcher(d)
w.start(CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME)
time.sleep(0.3)
d.close()
try:
    w.wait()
except SMBResponseException as e:
    check(e.status == NOTIFY_CLEANUP, "close ended notify with %x" % e.status)
else:
    check(w.result == [] or w.result is None, "close ended notify with %r" % w.result)

# tree2 is already gone; the client library does not know it.
sess.tree_connect_table.pop(tree2.tree_connect_id, None)
tree.disconnect()
sess.disconnect()
conn.disconnect(True)
print("ok")
"#;

#[test]
fn compound_chains_and_async_notify() {
    require_smbprotocol();
    let mut srv = TestServer::start("", &[("test", "\tread only = no\n")]);
    let script = srv.dir().join("compound_check.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut c = Command::new("python3");
    c.arg(&script)
        .arg(srv.port.to_string())
        .current_dir(srv.dir())
        .stdin(Stdio::null());
    let out = run_with_timeout(c, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "compound checks failed:\n{}\nserver log:\n{}",
        all_output(&out),
        srv.log()
    );
    assert!(srv.share_path("test").join("renamed.bin").exists());
    assert!(srv.share_path("test").join("watched/new.txt").exists());
    srv.assert_healthy("test", "after compound and notify checks");
}
