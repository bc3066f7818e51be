//! Byte-range locks (MS-SMB2 3.3.5.14, MS-FSA 2.1.5.7) and change notify
//! (MS-SMB2 3.3.5.19) with the Python `smbprotocol` client against a live
//! rsmbd: an exclusive lock blocks another open's read; a blocking lock goes
//! pending and is granted when the holder unlocks; a pending lock is
//! cancelled; a CHANGE_NOTIFY reports a file created directly in the
//! share directory, outside the server; and changes made between two
//! CHANGE_NOTIFY requests are returned by the second at once; a WATCH_TREE
//! notify reports a file created on disk in a subdirectory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{all_output, require_smbprotocol, run_with_timeout, TestServer};

const SCRIPT: &str = r#"
import os, sys, time, uuid
from smbprotocol.connection import Connection
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.open import (Open, ImpersonationLevel, CreateDisposition, CreateOptions,
    FilePipePrinterAccessMask, ShareAccess, SMB2LockElement, LockFlags, DirectoryAccessMask)
from smbprotocol.change_notify import FileSystemWatcher, CompletionFilter, FileAction

port = int(sys.argv[1])
marker = sys.argv[2]
share_dir = sys.argv[3]
ACC = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE
SHARE = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
PENDING = 0x00000103
CANCELLED = 0xC0000120
FILE_LOCK_CONFLICT = 0xC0000054

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

def open_file(name, disp):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, ACC, 0, SHARE, disp,
             CreateOptions.FILE_NON_DIRECTORY_FILE)
    return f

def element(offset, length, flags):
    e = SMB2LockElement()
    e["offset"] = offset
    e["length"] = length
    e["flags"] = flags
    return e

def wait_pending(req):
    end = time.time() + 10
    while time.time() < end:
        if req.async_id is not None:
            return True
        time.sleep(0.02)
    return False

EXCL = LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK
UNLOCK = LockFlags.SMB2_LOCKFLAG_UNLOCK

f1 = open_file("locked.bin", CreateDisposition.FILE_OVERWRITE_IF)
f1.write(b"x" * 100, 0)
f2 = open_file("locked.bin", CreateDisposition.FILE_OPEN)

# 1. An exclusive lock of f1 blocks f2's read of the range.
f1.lock([element(0, 10, EXCL)])
try:
    f2.read(0, 10)
    check(False, "read of a range another open locked succeeded")
except SMBResponseException as e:
    check(e.status == FILE_LOCK_CONFLICT, "read status %x" % e.status)

# 2. A blocking lock of f2 waits, and is granted when f1 unlocks.
msg, unpack = f2.lock([element(0, 10, EXCL)], send=False)
req = conn.send(msg, sess.session_id, tree.tree_connect_id)
check(wait_pending(req), "the blocking lock did not go pending")
time.sleep(0.3)
check(req.response is None or req.response["status"].get_value() == PENDING,
      "the blocking lock completed while the range was held")
f1.lock([element(0, 10, UNLOCK)])
unpack(req)
check(f1.read(20, 10) == b"x" * 10, "read outside the lock")

# 3. f1's blocking lock on the range f2 now holds is cancelled.
msg, unpack = f1.lock([element(5, 10, EXCL)], send=False)
req = conn.send(msg, sess.session_id, tree.tree_connect_id)
check(wait_pending(req), "the second blocking lock did not go pending")
req.cancel()
try:
    unpack(req)
    check(False, "the cancelled lock was granted")
except SMBResponseException as e:
    check(e.status == CANCELLED, "cancel status %x" % e.status)
f2.lock([element(0, 10, UNLOCK)])
f2.close()
f1.close()

# 4. A change made on the server's disk completes a pending notify.
d = Open(tree, "")
d.create(ImpersonationLevel.Impersonation,
         DirectoryAccessMask.FILE_LIST_DIRECTORY | DirectoryAccessMask.FILE_READ_ATTRIBUTES,
         0, SHARE, CreateDisposition.FILE_OPEN, CreateOptions.FILE_DIRECTORY_FILE)
w = FileSystemWatcher(d)
w.start(CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME)
check(wait_pending(w._request), "the notify did not go pending")
open(marker, "w").close()
changes = w.wait()
names = [(c["action"].get_value(), c["file_name"].get_value()) for c in changes]
check((FileAction.FILE_ACTION_ADDED, "local.txt") in names, "changes %r" % names)

# 5. Changes made while no notify is pending are kept for the open and
# returned at once by the next request, in order.
for n in ("b1.txt", "b2.txt"):
    open_file(n, CreateDisposition.FILE_CREATE).close()
w = FileSystemWatcher(d)
w.start(CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME)
changes = w.wait()
names = [(c["action"].get_value(), c["file_name"].get_value()) for c in changes]
check(names == [(FileAction.FILE_ACTION_ADDED, "b1.txt"), (FileAction.FILE_ACTION_ADDED, "b2.txt")],
      "buffered changes %r" % names)
d.close()

# 6. A WATCH_TREE notify sees a file created on disk in a subdirectory,
# also one made after the watch started.
os.mkdir(os.path.join(share_dir, "deep"))
d = Open(tree, "")
d.create(ImpersonationLevel.Impersonation,
         DirectoryAccessMask.FILE_LIST_DIRECTORY | DirectoryAccessMask.FILE_READ_ATTRIBUTES,
         0, SHARE, CreateDisposition.FILE_OPEN, CreateOptions.FILE_DIRECTORY_FILE)
w = FileSystemWatcher(d)
w.start(CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME, flags=0x0001)
check(wait_pending(w._request), "the tree notify did not go pending")
open(os.path.join(share_dir, "deep", "inner.txt"), "w").close()
changes = w.wait()
names = [(c["action"].get_value(), c["file_name"].get_value()) for c in changes]
check((FileAction.FILE_ACTION_ADDED, "deep\\inner.txt") in names, "tree changes %r" % names)
d.close()

tree.disconnect()
sess.disconnect()
conn.disconnect(True)
print("ok")
"#;

#[test]
fn blocking_locks_and_outside_change_notify() {
    require_smbprotocol();
    let mut srv = TestServer::start("", &[("test", "\tread only = no\n")]);
    let script = srv.dir().join("locks_notify.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let marker = srv.dir().join("notify-armed");
    let share = srv.share_path("test");
    let share_arg = share.clone();
    // Once the notify is pending, a file appears in the share behind the server's back.
    let writer = {
        let marker = marker.clone();
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(100);
            while Instant::now() < end {
                if marker.exists() {
                    std::fs::write(share.join("local.txt"), b"made on the server").unwrap();
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        })
    };
    let mut c = Command::new("python3");
    c.arg(&script)
        .arg(srv.port.to_string())
        .arg(&marker)
        .arg(&share_arg)
        .current_dir(srv.dir())
        .stdin(Stdio::null());
    let out = run_with_timeout(c, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "lock and notify checks failed:\n{}\nserver log:\n{}",
        all_output(&out),
        srv.log()
    );
    assert!(writer.join().unwrap(), "the notify was never armed");
    srv.assert_healthy("test", "after lock and notify checks");
}
