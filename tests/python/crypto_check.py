#!/usr/bin/env python3
"""SMB3 encryption and signing checks of a running rsmbd with the Python
`smbprotocol` client, driven by crates/rsmbd/tests/encryption.rs.

usage: crypto_check.py --port P --dir SHARES_ROOT --test NAME [options]

Tests:
  encrypt       connect with --dialect, offer only --offer ciphers (3.1.1),
                log on with encryption required, write/read back a file and
                check the negotiated cipher is --expect; every response after
                the logon must arrive in a TRANSFORM_HEADER (MS-SMB2 2.2.41)
  no-cipher     3.1.1 offering only --offer ciphers that the server does not
                allow: the server answers cipher 0 (MS-SMB2 3.3.5.4) and a
                client requiring encryption cannot log on
  sign          connect with --dialect and signing required, offer only
                --offer signing algorithms (3.1.1), write/read back, check the
                negotiated algorithm is --expect and that every response after
                the logon is signed (smbprotocol verifies each signature)
  share-flag    --share has `server smb encrypt = required`: a session that
                did not ask for encryption gets SMB2_SHAREFLAG_ENCRYPT_DATA at
                tree connect; a request sent unencrypted anyway is refused
                with STATUS_ACCESS_DENIED (MS-SMB2 3.3.5.2.11)
  session-flag  global `server smb encrypt = required`: the logon returns
                SMB2_SESSION_FLAG_ENCRYPT_DATA; an unencrypted request on that
                session is refused with STATUS_ACCESS_DENIED (3.3.5.2.9)
  bad-tag       after an encrypted logon, one request whose TRANSFORM tag (or
                ciphertext) is altered: the server must drop the connection
                without answering (MS-SMB2 3.3.5.2.1.1)
  ordered       on an encrypted session, CREATE of a directory and CREATE of
                a file in it sent back to back without waiting: the second
                must see the first, as it does unencrypted (40 times)

Cipher names: AES-128-CCM AES-128-GCM AES-256-CCM AES-256-GCM; signing
names: HMAC-SHA256 AES-CMAC AES-GMAC. Exit status 0 when every check passed.
"""

import argparse
import os
import struct
import sys
import threading
import time
import uuid

from smbprotocol import Dialects
from smbprotocol.connection import Ciphers, Connection, SigningAlgorithms
from smbprotocol.exceptions import SMBException, SMBResponseException
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FilePipePrinterAccessMask,
    ImpersonationLevel,
    Open,
    ShareAccess,
)
from smbprotocol.session import Session
from smbprotocol.transport import DirectTCPPacket
from smbprotocol.tree import TreeConnect

DIALECTS = {
    "2.1": Dialects.SMB_2_1_0,
    "3.0": Dialects.SMB_3_0_0,
    "3.0.2": Dialects.SMB_3_0_2,
    "3.1.1": Dialects.SMB_3_1_1,
}

# MS-SMB2 2.2.3.1.2
CIPHERS = {
    "AES-128-CCM": Ciphers.AES_128_CCM,
    "AES-128-GCM": Ciphers.AES_128_GCM,
    "AES-256-CCM": Ciphers.AES_256_CCM,
    "AES-256-GCM": Ciphers.AES_256_GCM,
}

# MS-SMB2 2.2.3.1.7
SIGNINGS = {
    "HMAC-SHA256": SigningAlgorithms.HMAC_SHA256,
    "AES-CMAC": SigningAlgorithms.AES_CMAC,
    "AES-GMAC": SigningAlgorithms.AES_GMAC,
}

STATUS_ACCESS_DENIED = 0xC0000022
SMB2_FLAGS_SIGNED = 0x00000008
TRANSFORM_ID = b"\xfdSMB"
SYNC_ID = b"\xfeSMB"

ALL_ACCESS = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE


class Check(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Check(msg)


def names(ids, table):
    back = {v: k for k, v in table.items()}
    return [back.get(i, "0x%04x" % i) for i in ids]


class Recorder:
    """Keeps the first bytes of every frame the server sends, by wrapping the
    transport's recv (called by smbprotocol's receive thread per frame)."""

    def __init__(self, conn):
        self.frames = []
        self.lock = threading.Lock()
        self.eof = threading.Event()
        inner = conn.transport.recv

        def recv(timeout):
            data = inner(timeout)
            if not data:
                self.eof.set()
            else:
                with self.lock:
                    self.frames.append(bytes(data[:64]))
            return data

        conn.transport.recv = recv

    def mark(self):
        with self.lock:
            return len(self.frames)

    def since(self, mark):
        with self.lock:
            return list(self.frames[mark:])


class Client:
    def __init__(self, args, dialect, encrypt, ciphers=None, signings=None, share=None, sign=True):
        self.conn = Connection(uuid.uuid4(), "127.0.0.1", args.port, require_signing=sign)
        self.conn.connect(dialect=DIALECTS[dialect], timeout=30, preferred_encryption_algos=ciphers,
                          preferred_signing_algos=signings)
        self.rec = Recorder(self.conn)
        self.session = Session(self.conn, args.user, args.password, require_encryption=encrypt,
                               auth_protocol="ntlm")
        self.session.connect()
        self.after_logon = self.rec.mark()
        self.tree = TreeConnect(self.session, r"\\127.0.0.1\%s" % (share or args.share))
        self.tree.connect()

    def close(self):
        try:
            self.tree.disconnect()
            self.session.disconnect()
        except Exception:
            pass  # the check's own error is the one to report
        finally:
            try:
                self.conn.disconnect(True)
            except Exception:
                pass

    def open(self, name, disposition=CreateDisposition.FILE_OVERWRITE_IF):
        f = Open(self.tree, name)
        f.create(ImpersonationLevel.Impersonation, ALL_ACCESS, 0, SHARE_ALL, disposition,
                 CreateOptions.FILE_NON_DIRECTORY_FILE)
        return f


def round_trip(c, args, name, size=3 * 1024 * 1024 + 12345):
    """WRITE then READ back in MaxWrite/MaxRead pieces; compares with the disk."""
    data = os.urandom(size)
    f = c.open(name)
    step = c.conn.max_write_size
    for i in range(0, len(data), step):
        f.write(data[i:i + step], i)
    got = b""
    step = c.conn.max_read_size
    while len(got) < len(data):
        got += f.read(len(got), min(step, len(data) - len(got)))
    f.close()
    check(got == data, "read back differs from what was written")
    with open(os.path.join(args.dir, args.share, name), "rb") as h:
        check(h.read() == data, "the file on disk differs from what was written")


def assert_all_encrypted(c):
    frames = c.rec.since(c.after_logon)
    check(len(frames) >= 4, "too few responses recorded after the logon: %d" % len(frames))
    plain = [fr[:4] for fr in frames if fr[:4] != TRANSFORM_ID]
    check(not plain, "%d of %d responses after the logon were not encrypted (first: %r)"
          % (len(plain), len(frames), plain[:1]))


def assert_all_signed(c):
    frames = c.rec.since(c.after_logon)
    check(len(frames) >= 4, "too few responses recorded after the logon: %d" % len(frames))
    for fr in frames:
        check(fr[:4] == SYNC_ID, "a response after the logon was not a plain SMB2 message: %r" % fr[:4])
        (flags,) = struct.unpack("<I", fr[16:20])
        check(flags & SMB2_FLAGS_SIGNED, "a response after the logon is not signed (flags 0x%x)" % flags)


def test_encrypt(args):
    offer = [CIPHERS[n] for n in args.offer] if args.offer else None
    c = Client(args, args.dialect, encrypt=True, ciphers=offer)
    try:
        check(c.conn.supports_encryption, "the server does not offer encryption")
        check(c.session.encrypt_data, "the session does not encrypt")
        if DIALECTS[args.dialect] >= Dialects.SMB_3_1_1:
            got = names([c.conn.cipher_id], CIPHERS)[0]
        else:
            # 3.0 and 3.0.2 have one cipher, AES-128-CCM (MS-SMB2 3.1.4.3).
            check(c.conn.cipher_id is None, "cipher id on %s: %r" % (args.dialect, c.conn.cipher_id))
            got = "AES-128-CCM"
        check(got == args.expect, "negotiated cipher %s, expected %s (offered %s)"
              % (got, args.expect, args.offer or "smbprotocol's default list"))
        round_trip(c, args, "enc-%s-%s.bin" % (args.dialect, got))
        assert_all_encrypted(c)
    finally:
        c.close()
    print("cipher %s on %s" % (got, args.dialect))


def test_no_cipher(args):
    offer = [CIPHERS[n] for n in args.offer]
    conn = Connection(uuid.uuid4(), "127.0.0.1", args.port, require_signing=True)
    conn.connect(dialect=Dialects.SMB_3_1_1, timeout=30, preferred_encryption_algos=offer)
    try:
        check(conn.cipher_id == 0, "server chose cipher %r though none it allows was offered" % conn.cipher_id)
        check(not conn.supports_encryption, "connection claims encryption support with cipher 0")
        session = Session(conn, args.user, args.password, require_encryption=True, auth_protocol="ntlm")
        try:
            session.connect()
        except SMBException as e:
            check("does not support" in str(e), "unexpected logon error: %s" % e)
        else:
            raise Check("an encrypted logon succeeded without a common cipher")
    finally:
        conn.disconnect(True)


def test_sign(args):
    offer = [SIGNINGS[n] for n in args.offer] if args.offer else None
    c = Client(args, args.dialect, encrypt=False, signings=offer)
    try:
        check(c.session.signing_required, "the session is not signed although signing was required")
        check(not c.session.encrypt_data, "the session encrypts; this test is about signing")
        d = DIALECTS[args.dialect]
        if d >= Dialects.SMB_3_1_1:
            check(c.conn.signing_algorithm_id is not None,
                  "no SMB2_SIGNING_CAPABILITIES in the NEGOTIATE response")
            got = names([c.conn.signing_algorithm_id], SIGNINGS)[0]
        else:
            # MS-SMB2 3.1.4.1: 2.x signs with HMAC-SHA256, 3.0.x with AES-CMAC.
            check(c.conn.signing_algorithm_id is None, "signing capability on %s" % args.dialect)
            got = "AES-CMAC" if d >= Dialects.SMB_3_0_0 else "HMAC-SHA256"
        check(got == args.expect, "negotiated signing %s, expected %s (offered %s)"
              % (got, args.expect, args.offer or "smbprotocol's default list"))
        round_trip(c, args, "sign-%s-%s.bin" % (args.dialect, got), size=1024 * 1024 + 7)
        assert_all_signed(c)
    finally:
        c.close()
    print("signing %s on %s" % (got, args.dialect))


def expect_denied(fn, what):
    try:
        fn()
    except SMBResponseException as e:
        check(e.status == STATUS_ACCESS_DENIED, "%s: status 0x%08x, expected STATUS_ACCESS_DENIED"
              % (what, e.status))
        return
    raise Check("%s: accepted" % what)


def test_share_flag(args):
    c = Client(args, "3.1.1", encrypt=False)
    try:
        check(not c.session.encrypt_data, "session encrypts although neither side asked")
        check(c.tree.encrypt_data, "tree connect to a share with encryption required lacks ENCRYPT_DATA")
        f = c.open("flag.txt")  # encrypted, as the share flag asks
        f.write(b"hello", 0)
        check(f.read(0, 5) == b"hello", "read back through the encrypted tree")
        f.close()
        check(c.rec.since(c.after_logon)[-1][:4] == TRANSFORM_ID, "response on the encrypted tree was plain")
        c.tree.encrypt_data = False
        expect_denied(lambda: c.open("flag2.txt"), "unencrypted CREATE on an encrypted share")
        check(not os.path.exists(os.path.join(args.dir, args.share, "flag2.txt")),
              "the unencrypted CREATE created the file")
        c.tree.encrypt_data = True
        f = c.open("flag.txt", disposition=CreateDisposition.FILE_OPEN)
        check(f.read(0, 5) == b"hello", "the connection is unusable after the refusal")
        f.close()
    finally:
        c.close()


def test_session_flag(args):
    conn = Connection(uuid.uuid4(), "127.0.0.1", args.port, require_signing=True)
    conn.connect(dialect=Dialects.SMB_3_1_1, timeout=30)
    try:
        session = Session(conn, args.user, args.password, require_encryption=False, auth_protocol="ntlm")
        session.connect()
        check(session.encrypt_data, "logon lacks SMB2_SESSION_FLAG_ENCRYPT_DATA with encryption required")
        session.encrypt_data = False
        session.signing_required = True
        tree = TreeConnect(session, r"\\127.0.0.1\%s" % args.share)
        expect_denied(tree.connect, "unencrypted TREE_CONNECT on an encrypting session")
        session.encrypt_data = True
        tree = TreeConnect(session, r"\\127.0.0.1\%s" % args.share)
        tree.connect()
        tree.disconnect()
    finally:
        conn.disconnect(True)


def test_bad_tag(args):
    for where in ["tag", "ciphertext", "nonce", "session"]:
        c = Client(args, "3.1.1", encrypt=True)
        try:
            f = c.open("tag-%s.txt" % where)
            f.write(b"x", 0)
            f.close()
            inner = c.conn.transport.send
            armed = {"on": True}

            def send(msg, inner=inner, armed=armed, where=where):
                if not armed["on"]:
                    return inner(msg)
                armed["on"] = False
                b = bytearray(msg.pack() if hasattr(msg, "pack") else msg)
                check(b[:4] == TRANSFORM_ID, "the request to alter is not encrypted")
                # MS-SMB2 2.2.41: Signature 4..20, Nonce 20..36, SessionId 44..52.
                at = {"tag": 4, "ciphertext": 60, "nonce": 21, "session": 44}[where]
                b[at] ^= 0x01
                return inner(bytes(b))

            c.conn.transport.send = send
            mark = c.rec.mark()
            fo = Open(c.tree, "tag-%s.txt" % where)
            try:
                fo.create(ImpersonationLevel.Impersonation, ALL_ACCESS, 0, SHARE_ALL,
                          CreateDisposition.FILE_OPEN, CreateOptions.FILE_NON_DIRECTORY_FILE)
            except Exception:
                pass  # the connection is gone: expected
            else:
                raise Check("altered %s: the request was answered with success" % where)
            deadline = time.time() + 10
            while not c.rec.eof.is_set() and time.time() < deadline:
                time.sleep(0.05)
            check(c.rec.eof.is_set(), "altered %s: the server did not close the connection" % where)
            check(not c.rec.since(mark), "altered %s: the server answered %r before closing"
                  % (where, c.rec.since(mark)))
        finally:
            c.close()


def direct_tcp(message):
    packet = DirectTCPPacket()
    packet["smb2_message"] = message
    return packet.pack()


def send_together(conn, messages, sid, tid):
    """Sends each message as its own (encrypted) frame, all in one socket write."""
    transport = conn.transport
    held = []
    transport.send = held.append
    try:
        sent = [conn.send(m, sid=sid, tid=tid) for m in messages]
    finally:
        del transport.send
    frames = b"".join(direct_tcp(m) for m in held)
    with transport._sock_lock:
        transport._sock.sendall(frames)
    return sent


def test_ordered(args):
    c = Client(args, "3.1.1", encrypt=True)
    sid, tid = c.session.session_id, c.tree.tree_connect_id
    try:
        for i in range(40):
            name = "ordered-%d-%d" % (os.getpid(), i)
            d, f = Open(c.tree, name), Open(c.tree, name + "\\f")
            req_d, done_d = d.create(ImpersonationLevel.Impersonation, ALL_ACCESS, 0, SHARE_ALL,
                                     CreateDisposition.FILE_CREATE, CreateOptions.FILE_DIRECTORY_FILE,
                                     send=False)
            req_f, done_f = f.create(ImpersonationLevel.Impersonation, ALL_ACCESS, 0, SHARE_ALL,
                                     CreateDisposition.FILE_CREATE, CreateOptions.FILE_NON_DIRECTORY_FILE,
                                     send=False)
            # Both on the wire in one write, before either answer is read.
            sent_d, sent_f = send_together(c.conn, [req_d, req_f], sid, tid)
            done_d(sent_d)
            try:
                done_f(sent_f)
            except SMBResponseException as e:
                check(False, "round %d: the file CREATE did not see the directory created just "
                             "before it: %s" % (i, e))
            f.close()
            d.close()
        assert_all_encrypted(c)
    finally:
        c.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--test", required=True,
                   choices=["encrypt", "no-cipher", "sign", "share-flag", "session-flag", "bad-tag",
                            "ordered"])
    p.add_argument("--dialect", default="3.1.1", choices=sorted(DIALECTS))
    p.add_argument("--offer", action="append", help="an algorithm to offer (repeatable, in order)")
    p.add_argument("--expect", help="the algorithm the server must choose")
    p.add_argument("--share", default="test")
    p.add_argument("--user", default="alice")
    p.add_argument("--password", default="Secret-1")
    args = p.parse_args()
    fn = {"encrypt": test_encrypt, "no-cipher": test_no_cipher, "sign": test_sign,
          "share-flag": test_share_flag, "session-flag": test_session_flag, "bad-tag": test_bad_tag,
          "ordered": test_ordered}[args.test]
    try:
        fn(args)
    except Check as e:
        print("CHECK FAILED (%s, dialect %s, offer %s): %s" % (args.test, args.dialect, args.offer, e),
              file=sys.stderr)
        sys.exit(1)
    print("ok: %s dialect %s offer %s" % (args.test, args.dialect, args.offer))


if __name__ == "__main__":
    main()
