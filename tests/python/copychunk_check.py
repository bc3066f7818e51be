#!/usr/bin/env python3
"""Server-side copy checks of a running rsmbd with the Python `smbprotocol`
client's raw IOCTL messages (MS-SMB2 2.2.31, 3.3.5.15.6), driven by
crates/rsmbd/tests/copychunk.rs.

usage: copychunk_check.py --port P --dir SHARES_ROOT [--dialect 3.1.1]
                          [--share test] [--user alice --password Secret-1]

Checks:
  * FSCTL_SRV_REQUEST_RESUME_KEY on the source, then FSCTL_SRV_COPYCHUNK of a
    multi-MiB file in requests of up to 16 chunks of 1 MiB: the response
    counts, and the destination (read over SMB and on disk) equals the source
  * FSCTL_SRV_COPYCHUNK_WRITE into a second file
  * limits: 257 chunks, a zero-length chunk, a 2 MiB chunk are
    STATUS_INVALID_PARAMETER; an unknown key STATUS_OBJECT_NAME_NOT_FOUND;
    a chunk past the source's end STATUS_INVALID_VIEW_SIZE

Exit status 0 when every check passed; a failed check raises with a message.
"""

import argparse
import os
import random
import sys

from smbprotocol.ioctl import (
    CtlCode,
    IOCTLFlags,
    SMB2IOCTLRequest,
    SMB2IOCTLResponse,
    SMB2SrvCopyChunk,
    SMB2SrvCopyChunkCopy,
    SMB2SrvCopyChunkResponse,
    SMB2SrvRequestResumeKey,
)
from smbprotocol.open import CreateDisposition

# The connection, checks and I/O helpers shared with the protocol checks.
from smbproto_check import DIALECTS, MIB, check, read_all, status_of, write_all
from smbproto_check import Client as BaseClient

# MS-ERREF 2.3.1
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_INVALID_VIEW_SIZE = 0xC000001F

# MS-SMB2 2.2.31
FSCTL_SRV_COPYCHUNK = 0x001440F2
FSCTL_SRV_COPYCHUNK_WRITE = 0x001480F2


class Client(BaseClient):
    """A signed session with raw FSCTLs for server-side copy."""

    def create(self, name):
        f, _ = self.open(name, disposition=CreateDisposition.FILE_OVERWRITE_IF)
        return f

    def ioctl(self, f, ctl_code, data, max_out):
        """A raw FSCTL; returns the output buffer (raises on an error status)."""
        req = SMB2IOCTLRequest()
        req["ctl_code"] = ctl_code
        req["file_id"] = f.file_id
        req["max_input_response"] = 0
        req["max_output_response"] = max_out
        req["flags"] = IOCTLFlags.SMB2_0_IOCTL_IS_FSCTL
        req["buffer"] = data
        request = self.conn.send(req, sid=self.session.session_id, tid=self.tree.tree_connect_id)
        response = self.conn.receive(request)
        resp = SMB2IOCTLResponse()
        resp.unpack(response["data"].get_value())
        return resp["buffer"].get_value()

    def resume_key(self, f):
        out = self.ioctl(f, CtlCode.FSCTL_SRV_REQUEST_RESUME_KEY, b"", 32)
        key = SMB2SrvRequestResumeKey()
        key.unpack(out)
        return key["resume_key"].get_value()

    def copychunk(self, dest, key, chunks, ctl_code=FSCTL_SRV_COPYCHUNK):
        """chunks: (source offset, target offset, length); returns the response's three counts."""
        cc = SMB2SrvCopyChunkCopy()
        cc["source_key"] = key
        entries = []
        for src_off, dst_off, length in chunks:
            ch = SMB2SrvCopyChunk()
            ch["source_offset"] = src_off
            ch["target_offset"] = dst_off
            ch["length"] = length
            entries.append(ch)
        cc["chunks"] = entries
        out = self.ioctl(dest, ctl_code, cc.pack(), 12)
        rsp = SMB2SrvCopyChunkResponse()
        rsp.unpack(out)
        return (rsp["chunks_written"].get_value(), rsp["chunk_bytes_written"].get_value(),
                rsp["total_bytes_written"].get_value())


def copy_file(c, src, dest, size, ctl_code=FSCTL_SRV_COPYCHUNK):
    """Copies all of src into dest in requests of at most 16 chunks of 1 MiB."""
    key = c.resume_key(src)
    check(len(key) == 24, "resume key is %d bytes" % len(key))
    done = 0
    requests = 0
    while done < size:
        chunks = []
        at = done
        while at < size and len(chunks) < 16:
            n = min(MIB, size - at)
            chunks.append((at, at, n))
            at += n
        want = at - done
        got = c.copychunk(dest, key, chunks, ctl_code)
        check(got == (len(chunks), 0, want),
              "copychunk answered %r for %d chunks / %d bytes" % (got, len(chunks), want))
        done = at
        requests += 1
    return requests


def run(args):
    share = os.path.join(args.dir, args.share)
    c = Client(args)
    try:
        size = 18 * MIB + 777  # two requests: 16 MiB, then the rest
        data = random.Random(7).randbytes(size)
        src = c.create("src.bin")
        write_all(c, src, data)
        dest = c.create("dest.bin")
        check(copy_file(c, src, dest, size) == 2, "expected two copy requests")
        check(read_all(c, dest, 0, size) == data, "destination read over SMB differs from the source")
        with open(os.path.join(share, "dest.bin"), "rb") as h:
            check(h.read() == data, "destination on disk differs from the source")

        dest2 = c.create("dest2.bin")
        copy_file(c, src, dest2, 3 * MIB + 5, FSCTL_SRV_COPYCHUNK_WRITE)
        with open(os.path.join(share, "dest2.bin"), "rb") as h:
            check(h.read() == data[: 3 * MIB + 5], "COPYCHUNK_WRITE destination differs")

        key = c.resume_key(src)
        # MS-SMB2 3.3.5.15.6: beyond the limits -> STATUS_INVALID_PARAMETER.
        for what, chunks in [
            ("257 chunks", [(0, 0, 1)] * 257),
            ("a zero-length chunk", [(0, 0, 0)]),
            ("a 2 MiB chunk", [(0, 0, 2 * MIB)]),
            ("17 MiB in all", [(0, 0, MIB)] * 17),
        ]:
            st = status_of(lambda: c.copychunk(dest2, key, chunks))
            check(st == STATUS_INVALID_PARAMETER, "%s: status %r" % (what, st))
        st = status_of(lambda: c.copychunk(dest2, b"deadbeefdeadbeefdeadbeef", [(0, 0, 10)]))
        check(st == STATUS_OBJECT_NAME_NOT_FOUND, "unknown key: status %r" % st)
        st = status_of(lambda: c.copychunk(dest2, key, [(size - 10, 0, 11)]))
        check(st == STATUS_INVALID_VIEW_SIZE, "past the source's end: status %r" % st)

        for f in (src, dest, dest2):
            f.close()
    finally:
        c.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--dialect", default="3.1.1", choices=sorted(DIALECTS))
    p.add_argument("--share", default="test")
    p.add_argument("--user", default="alice")
    p.add_argument("--password", default="Secret-1")
    args = p.parse_args()
    run(args)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
