#!/usr/bin/env python3
"""Protocol checks of a running rsmbd with the Python `smbprotocol` client
(its low-level API: connection, session, tree, open), driven by the Rust
integration tests (crates/rsmbd/tests/python_client.rs and others).

usage: smbproto_check.py --port P --dir SHARES_ROOT --test NAME
                         [--dialect 2.0.2|2.1|3.0|3.0.2|3.1.1] [--share test]
                         [--user alice --password Secret-1] [--file NAME]

Tests:
  basic       write/read, query directory, basic info (times, hidden),
              rename, delete-on-close, sharing violation, FileAllInformation,
              CREATE with MxAc and QFid contexts; signing required
  dotdot      paths with `..` are refused (the share is a jail)
  sparse-eof  set end-of-file of sparse.bin to 10 GiB (the caller checks blocks)
  set-times   set creation time 2001-09-09 01:46:40 UTC and attributes
              HIDDEN|SYSTEM on --file (for the DOS attribute xattr check)
  races       clients on their own connections rename, read, create and
              delete the same names at once: only the statuses Windows
              gives for such races, and no file lost or duplicated

Exit status 0 when every check passed; a failed check raises with a message.
"""

import argparse
import os
import sys
import uuid

from smbprotocol import Dialects
from smbprotocol.connection import Connection
from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateContextRequest,
    SMB2CreateQueryMaximalAccessResponse,
    SMB2CreateQueryOnDiskIDResponse,
)
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.file_info import (
    FileAllInformation,
    FileAttributes,
    FileBasicInformation,
    FileDispositionInformation,
    FileEndOfFileInformation,
    FileInformationClass,
    FileRenameInformation,
)
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    DirectoryAccessMask,
    FilePipePrinterAccessMask,
    ImpersonationLevel,
    Open,
    ShareAccess,
    SMB2QueryInfoRequest,
    SMB2QueryInfoResponse,
    SMB2SetInfoRequest,
)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

DIALECTS = {
    "2.0.2": Dialects.SMB_2_0_2,
    "2.1": Dialects.SMB_2_1_0,
    "3.0": Dialects.SMB_3_0_0,
    "3.0.2": Dialects.SMB_3_0_2,
    "3.1.1": Dialects.SMB_3_1_1,
}

# MS-SMB2 2.2.1.2 / MS-ERREF 2.3.1
STATUS_SHARING_VIOLATION = 0xC0000043
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034

# 2001-09-09 01:46:40 UTC as a FILETIME (MS-DTYP 2.3.3).
KNOWN_FILETIME = (1_000_000_000 + 11_644_473_600) * 10_000_000

ALL_ACCESS = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE


class Check(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Check(msg)


class Client:
    """One connection, session and tree connect."""

    def __init__(self, args, dialect=None):
        self.conn = Connection(uuid.uuid4(), "127.0.0.1", args.port, require_signing=True)
        self.conn.connect(dialect=DIALECTS[dialect or args.dialect], timeout=30)
        self.session = Session(self.conn, args.user, args.password, require_encryption=False, auth_protocol="ntlm")
        self.session.connect()
        check(self.session.signing_required, "session is not signed although signing was required")
        self.tree = TreeConnect(self.session, r"\\127.0.0.1\%s" % args.share)
        self.tree.connect()

    def close(self):
        try:
            self.tree.disconnect()
            self.session.disconnect()
        except Exception:
            pass  # the check's own error is the one to report
        finally:
            self.conn.disconnect(True)

    def open(self, name, access=ALL_ACCESS, disposition=CreateDisposition.FILE_OPEN_IF,
             options=CreateOptions.FILE_NON_DIRECTORY_FILE, share=SHARE_ALL, attrs=0, contexts=None):
        f = Open(self.tree, name)
        resp = f.create(ImpersonationLevel.Impersonation, access, attrs, share, disposition, options,
                        create_contexts=contexts)
        return f, resp

    def query_info(self, f, info_cls):
        # MS-SMB2 2.2.37 QUERY_INFO
        req = SMB2QueryInfoRequest()
        req["info_type"] = info_cls.INFO_TYPE
        req["file_info_class"] = info_cls.INFO_CLASS
        req["file_id"] = f.file_id
        req["output_buffer_length"] = 65536
        request = self.conn.send(req, sid=self.session.session_id, tid=self.tree.tree_connect_id)
        response = self.conn.receive(request)
        resp = SMB2QueryInfoResponse()
        resp.unpack(response["data"].get_value())
        info = info_cls()
        info.unpack(resp["buffer"].get_value())
        return info

    def set_info(self, f, info):
        # MS-SMB2 2.2.39 SET_INFO
        req = SMB2SetInfoRequest()
        req["info_type"] = info.INFO_TYPE
        req["file_info_class"] = info.INFO_CLASS
        req["file_id"] = f.file_id
        req["buffer"] = info
        request = self.conn.send(req, sid=self.session.session_id, tid=self.tree.tree_connect_id)
        self.conn.receive(request)


MIB = 1024 * 1024


def write_all(c, f, data, offset=0):
    """WRITE in pieces of the negotiated MaxWriteSize (64 KiB for SMB 2.0.2),
    at most 1 MiB (16 credits, within what the client holds)."""
    step = min(c.conn.max_write_size, MIB)
    for i in range(0, len(data), step):
        f.write(data[i:i + step], offset + i)


def read_all(c, f, offset, length):
    step = min(c.conn.max_read_size, MIB)
    out = b""
    while len(out) < length:
        out += f.read(offset + len(out), min(step, length - len(out)))
    return out


def status_of(fn):
    """Runs fn; returns the NTSTATUS of its error response, or None on success."""
    try:
        fn()
    except SMBResponseException as e:
        return e.status
    return None


def names_in(c, dirname, pattern="*"):
    d, _ = c.open(dirname, access=DirectoryAccessMask.FILE_LIST_DIRECTORY | DirectoryAccessMask.FILE_READ_ATTRIBUTES,
                  disposition=CreateDisposition.FILE_OPEN, options=CreateOptions.FILE_DIRECTORY_FILE)
    names = []
    try:
        while True:
            entries = d.query_directory(pattern, FileInformationClass.FILE_ID_BOTH_DIRECTORY_INFORMATION)
            if not entries:
                break
            names += [e["file_name"].get_value().decode("utf-16-le") for e in entries]
    except SMBResponseException as e:
        # STATUS_NO_MORE_FILES ends the enumeration (MS-SMB2 3.3.5.18).
        if e.status != 0x80000006:
            raise
    finally:
        d.close()
    return names


def test_basic(args):
    share = os.path.join(args.dir, args.share)
    c = Client(args)
    try:
        # WRITE then READ (MS-SMB2 3.3.5.13 / 3.3.5.12), at an offset past the end too.
        data = os.urandom(200_000)
        f, _ = c.open("data.bin", disposition=CreateDisposition.FILE_OVERWRITE_IF)
        write_all(c, f, data, 0)
        f.write(b"tail", 300_000)
        got = read_all(c, f, 0, len(data))
        check(got == data, "read back differs from what was written")
        check(f.read(300_000, 4) == b"tail", "write past the end not read back")
        f.close()
        with open(os.path.join(share, "data.bin"), "rb") as h:
            disk = h.read()
        check(disk[: len(data)] == data and len(disk) == 300_004, "the file on disk is wrong")
        check(disk[len(data):300_000] == b"\0" * (300_000 - len(data)), "gap not zero-filled")

        # QUERY_DIRECTORY
        os.mkdir(os.path.join(share, "dir"))
        for i in range(50):
            open(os.path.join(share, "dir", "n%02d.txt" % i), "w").close()
        names = names_in(c, "dir")
        check(sorted(n for n in names if n not in (".", "..")) == ["n%02d.txt" % i for i in range(50)],
              "query directory listed %r" % names)
        check(sorted(names_in(c, "dir", "n1?.txt")) == ["n%02d.txt" % i for i in range(10, 20)],
              "wildcard n1?.txt listed %r" % names_in(c, "dir", "n1?.txt"))

        # SET_INFO / QUERY_INFO FileBasicInformation (MS-FSCC 2.4.7)
        f, _ = c.open("data.bin")
        info = FileBasicInformation()
        info["creation_time"] = KNOWN_FILETIME
        info["last_access_time"] = KNOWN_FILETIME + 10_000_000
        info["last_write_time"] = KNOWN_FILETIME + 20_000_000
        info["change_time"] = 0
        info["file_attributes"] = FileAttributes.FILE_ATTRIBUTE_HIDDEN | FileAttributes.FILE_ATTRIBUTE_ARCHIVE
        c.set_info(f, info)
        f.close()
        f, _ = c.open("data.bin", access=FilePipePrinterAccessMask.FILE_READ_ATTRIBUTES)
        got = c.query_info(f, FileBasicInformation)
        check(got["creation_time"].get_value() == KNOWN_FILETIME,
              "creation time %d" % got["creation_time"].get_value())
        check(got["last_access_time"].get_value() == KNOWN_FILETIME + 10_000_000, "access time not kept")
        check(got["last_write_time"].get_value() == KNOWN_FILETIME + 20_000_000, "write time not kept")
        attrs = got["file_attributes"].get_value()
        check(attrs & FileAttributes.FILE_ATTRIBUTE_HIDDEN, "hidden attribute not kept: 0x%x" % attrs)
        st = os.stat(os.path.join(share, "data.bin"))
        check(int(st.st_mtime) == 1_000_000_002, "mtime on disk %r" % st.st_mtime)

        # QUERY_INFO FileAllInformation (MS-FSCC 2.4.2)
        allinfo = c.query_info(f, FileAllInformation)
        std = allinfo["standard_information"]
        check(std["end_of_file"].get_value() == 300_004, "FileAllInformation end of file")
        check(std["directory"].get_value() is False or std["directory"].get_value() == 0, "not a directory")
        check(allinfo["basic_information"]["creation_time"].get_value() == KNOWN_FILETIME,
              "FileAllInformation creation time")
        check(allinfo["internal_information"]["index_number"].get_value() == st.st_ino,
              "FileAllInformation index number %d vs inode %d"
              % (allinfo["internal_information"]["index_number"].get_value(), st.st_ino))
        f.close()

        # Rename (MS-FSCC 2.4.37 FileRenameInformation)
        f, _ = c.open("data.bin", access=FilePipePrinterAccessMask.DELETE | FilePipePrinterAccessMask.FILE_READ_ATTRIBUTES)
        ren = FileRenameInformation()
        ren["replace_if_exists"] = False
        ren["file_name"] = "dir\\renamed.bin".encode("utf-16-le")
        c.set_info(f, ren)
        f.close()
        check(os.path.exists(os.path.join(share, "dir", "renamed.bin")), "rename target missing")
        check(not os.path.exists(os.path.join(share, "data.bin")), "rename source still there")

        # Delete on close: the create option and FileDispositionInformation.
        f, _ = c.open("doc1.txt", access=ALL_ACCESS | FilePipePrinterAccessMask.DELETE,
                      disposition=CreateDisposition.FILE_CREATE,
                      options=CreateOptions.FILE_NON_DIRECTORY_FILE | CreateOptions.FILE_DELETE_ON_CLOSE)
        check(os.path.exists(os.path.join(share, "doc1.txt")), "created file missing while open")
        f.close()
        check(not os.path.exists(os.path.join(share, "doc1.txt")), "FILE_DELETE_ON_CLOSE did not delete")
        f, _ = c.open("doc2.txt", access=ALL_ACCESS | FilePipePrinterAccessMask.DELETE,
                      disposition=CreateDisposition.FILE_CREATE)
        disp = FileDispositionInformation()
        disp["delete_pending"] = True
        c.set_info(f, disp)
        f.close()
        check(not os.path.exists(os.path.join(share, "doc2.txt")), "delete pending did not delete")

        # Share modes (MS-SMB2 3.3.5.9, MS-FSA 2.1.5.1.2): a reader that does
        # not share write conflicts with a writer.
        f1, _ = c.open("modes.txt", access=FilePipePrinterAccessMask.GENERIC_READ,
                       share=ShareAccess.FILE_SHARE_READ)
        st = status_of(lambda: c.open("modes.txt", access=FilePipePrinterAccessMask.GENERIC_WRITE))
        check(st == STATUS_SHARING_VIOLATION, "second open with write access: status %r" % st)
        c2 = Client(args)
        try:
            st = status_of(lambda: c2.open("modes.txt", access=FilePipePrinterAccessMask.GENERIC_WRITE))
            check(st == STATUS_SHARING_VIOLATION, "write open from another session: status %r" % st)
            f2, _ = c2.open("modes.txt", access=FilePipePrinterAccessMask.GENERIC_READ)
            f2.close()
        finally:
            c2.close()
        f1.close()
        f3, _ = c.open("modes.txt", access=FilePipePrinterAccessMask.GENERIC_WRITE)
        f3.close()

        # CREATE with MxAc and QFid (MS-SMB2 2.2.13.2.5, 2.2.13.2.9)
        mx = SMB2CreateContextRequest()
        mx["buffer_name"] = CreateContextName.SMB2_CREATE_QUERY_MAXIMAL_ACCESS_REQUEST
        mx["buffer_data"] = b""
        qf = SMB2CreateContextRequest()
        qf["buffer_name"] = CreateContextName.SMB2_CREATE_QUERY_ON_DISK_ID
        qf["buffer_data"] = b""
        f, ctx = c.open("modes.txt", access=FilePipePrinterAccessMask.GENERIC_READ, contexts=[mx, qf])
        f.close()
        ctx = ctx or []
        mxr = [x for x in ctx if isinstance(x, SMB2CreateQueryMaximalAccessResponse)]
        qfr = [x for x in ctx if isinstance(x, SMB2CreateQueryOnDiskIDResponse)]
        check(len(mxr) == 1, "no MxAc response context: %r" % ctx)
        check(mxr[0]["query_status"].get_value() == 0, "MxAc query status")
        access = mxr[0]["maximal_access"].get_value()
        check(access & FilePipePrinterAccessMask.FILE_WRITE_DATA, "MxAc lacks write on a writable share: 0x%x" % access)
        check(access & FilePipePrinterAccessMask.FILE_READ_DATA, "MxAc lacks read: 0x%x" % access)
        check(len(qfr) == 1, "no QFid response context: %r" % ctx)
        ino = os.stat(os.path.join(share, "modes.txt")).st_ino
        check(qfr[0]["disk_file_id"].get_value() == ino,
              "QFid disk file id %d vs inode %d" % (qfr[0]["disk_file_id"].get_value(), ino))

        # A missing file is STATUS_OBJECT_NAME_NOT_FOUND.
        st = status_of(lambda: c.open("nope.txt", disposition=CreateDisposition.FILE_OPEN))
        check(st == STATUS_OBJECT_NAME_NOT_FOUND, "open of a missing file: status %r" % st)
    finally:
        c.close()


def test_dotdot(args):
    c = Client(args)
    try:
        for path in ["..\\outside.txt", "sub\\..\\..\\outside.txt", "sub\\..\\..\\..\\etc\\passwd",
                     "..", "sub\\..\\.."]:
            def attempt():
                f, _ = c.open(path, access=FilePipePrinterAccessMask.GENERIC_READ,
                              disposition=CreateDisposition.FILE_OPEN, options=0)
                data = b""
                try:
                    data = f.read(0, 64)
                finally:
                    f.close()
                raise Check("opened %r and read %r" % (path, data))
            st = status_of(attempt)
            check(st is not None and st != 0, "open of %r was not refused" % path)
        # A `..` inside the share that stays inside is fine or refused, never outside.
    finally:
        c.close()


def test_sparse_eof(args):
    c = Client(args)
    try:
        f, _ = c.open("sparse.bin", disposition=CreateDisposition.FILE_OVERWRITE_IF)
        eof = FileEndOfFileInformation()
        eof["end_of_file"] = 10 * 1024 ** 3
        c.set_info(f, eof)
        f.write(b"end", 10 * 1024 ** 3 - 3)
        check(f.read(10 * 1024 ** 3 - 3, 3) == b"end", "read at 10 GiB")
        f.close()
    finally:
        c.close()


def test_set_times(args):
    c = Client(args)
    try:
        f, _ = c.open(args.file, disposition=CreateDisposition.FILE_OPEN_IF)
        info = FileBasicInformation()
        info["creation_time"] = KNOWN_FILETIME
        info["last_access_time"] = 0
        info["last_write_time"] = 0
        info["change_time"] = 0
        info["file_attributes"] = FileAttributes.FILE_ATTRIBUTE_HIDDEN | FileAttributes.FILE_ATTRIBUTE_SYSTEM
        c.set_info(f, info)
        f.close()
    finally:
        c.close()


def test_races(args):
    """Concurrent renames, reads, creates and deletes of the same names (the
    rename/unlink races ksmbd has had): each operation ends with a status a
    Windows server gives for the race, the server keeps answering, and every
    file ends up exactly once with its content intact."""
    import random
    import threading
    import time

    share = os.path.join(args.dir, args.share)
    NAME_COLLISION = 0xC0000035
    DELETE_PENDING = 0xC0000056
    files = 6
    setup = Client(args)
    for i in range(files):
        f, _ = setup.open("r%d.a" % i, disposition=CreateDisposition.FILE_CREATE)
        write_all(setup, f, b"content-%d" % i, 0)
        f.close()
    setup.close()

    failures = []
    counts = {"rename": 0, "read": 0, "churn": 0}
    lock = threading.Lock()
    stop = time.time() + 4.0

    def fail(msg):
        with lock:
            failures.append(msg)

    def count(kind):
        with lock:
            counts[kind] += 1

    def renamer(seed):
        # Moves r<i> between its two names, never replacing: at any moment
        # exactly one of r<i>.a and r<i>.b exists.
        rnd = random.Random(seed)
        c = Client(args)
        try:
            while time.time() < stop:
                i = rnd.randrange(files)
                src, dst = rnd.choice([("a", "b"), ("b", "a")])
                try:
                    f, _ = c.open("r%d.%s" % (i, src),
                                  access=FilePipePrinterAccessMask.DELETE
                                  | FilePipePrinterAccessMask.FILE_READ_ATTRIBUTES,
                                  disposition=CreateDisposition.FILE_OPEN)
                except SMBResponseException as e:
                    if e.status not in (STATUS_OBJECT_NAME_NOT_FOUND, STATUS_SHARING_VIOLATION):
                        fail("open for rename: %x" % e.status)
                    continue
                ren = FileRenameInformation()
                ren["replace_if_exists"] = False
                ren["file_name"] = ("r%d.%s" % (i, dst)).encode("utf-16-le")
                st = status_of(lambda: c.set_info(f, ren))
                if st not in (None, NAME_COLLISION, STATUS_SHARING_VIOLATION, STATUS_OBJECT_NAME_NOT_FOUND):
                    fail("rename: %x" % st)
                if st is None:
                    count("rename")
                f.close()
        finally:
            c.close()

    def reader(seed):
        # Opens whichever name the file has now; what it reads is whole.
        rnd = random.Random(seed)
        c = Client(args)
        try:
            while time.time() < stop:
                i = rnd.randrange(files)
                name = "r%d.%s" % (i, rnd.choice("ab"))
                try:
                    f, _ = c.open(name, access=FilePipePrinterAccessMask.GENERIC_READ,
                                  disposition=CreateDisposition.FILE_OPEN)
                except SMBResponseException as e:
                    if e.status not in (STATUS_OBJECT_NAME_NOT_FOUND, STATUS_SHARING_VIOLATION):
                        fail("open for read: %x" % e.status)
                    continue
                data = f.read(0, 64)
                f.close()
                if data != b"content-%d" % i:
                    fail("%s read %r" % (name, data))
                count("read")
        finally:
            c.close()

    def churner(seed):
        # Creates scratch files deleted on close while others open them.
        rnd = random.Random(seed)
        c = Client(args)
        try:
            while time.time() < stop:
                name = "t%d.tmp" % rnd.randrange(3)
                try:
                    f, _ = c.open(name, access=ALL_ACCESS | FilePipePrinterAccessMask.DELETE,
                                  disposition=CreateDisposition.FILE_OPEN_IF,
                                  options=CreateOptions.FILE_NON_DIRECTORY_FILE
                                  | CreateOptions.FILE_DELETE_ON_CLOSE)
                except SMBResponseException as e:
                    if e.status not in (DELETE_PENDING, STATUS_SHARING_VIOLATION,
                                        STATUS_OBJECT_NAME_NOT_FOUND):
                        fail("churn open: %x" % e.status)
                    continue
                f.close()
                count("churn")
        finally:
            c.close()

    threads = [threading.Thread(target=fn, args=(k,))
               for k, fn in enumerate([renamer, renamer, renamer, reader, reader, churner, churner])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not failures, "unexpected results: %s" % failures[:10])
    check(counts["rename"] > 0 and counts["read"] > 0 and counts["churn"] > 0,
          "the clients did not get through: %r" % counts)
    names = sorted(os.listdir(share))
    for i in range(files):
        present = [n for n in ("r%d.a" % i, "r%d.b" % i) if n in names]
        check(len(present) == 1, "file %d is now %r" % (i, present))
        with open(os.path.join(share, present[0]), "rb") as fh:
            check(fh.read() == b"content-%d" % i, "file %d lost its content" % i)
    check(not [n for n in names if n.endswith(".tmp")], "scratch files left: %r" % names)
    print("races: %d renames, %d reads, %d create/delete cycles" % (
        counts["rename"], counts["read"], counts["churn"]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--test", required=True, choices=["basic", "dotdot", "sparse-eof", "set-times", "races"])
    p.add_argument("--dialect", default="3.1.1", choices=sorted(DIALECTS))
    p.add_argument("--share", default="test")
    p.add_argument("--user", default="alice")
    p.add_argument("--password", default="Secret-1")
    p.add_argument("--file", default="attrs.txt")
    args = p.parse_args()
    fn = {"basic": test_basic, "dotdot": test_dotdot, "sparse-eof": test_sparse_eof,
          "set-times": test_set_times, "races": test_races}[args.test]
    try:
        fn(args)
    except Check as e:
        print("CHECK FAILED (%s, dialect %s): %s" % (args.test, args.dialect, e), file=sys.stderr)
        sys.exit(1)
    print("ok: %s dialect %s" % (args.test, args.dialect))


if __name__ == "__main__":
    main()
