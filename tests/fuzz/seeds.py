#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz corpora (tests/fuzz/corpus/TARGET/seed-*): valid
message sequences in each harness's input format, so that fuzzing starts deep in the
protocol. Run it again after changing a harness's input format, then merge (tests/fuzz/run
--merge). Usage: tests/fuzz/seeds.py [CORPUS_DIR]"""
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- fs_server: the opcode table of fuzz_fs_server.c, in its order ----
FS_OPS = """LOOKUP FORGET GETATTR SETATTR READLINK SYMLINK MKNOD MKDIR UNLINK RMDIR RENAME LINK
OPEN READ WRITE STATFS RELEASE FSYNC SETXATTR GETXATTR LISTXATTR REMOVEXATTR FLUSH INIT
OPENDIR READDIR RELEASEDIR FSYNCDIR GETLK SETLK SETLKW ACCESS CREATE INTERRUPT BMAP DESTROY
IOCTL POLL NOTIFY_REPLY BATCH_FORGET FALLOCATE READDIRPLUS RENAME2 LSEEK COPY_FILE_RANGE
SETUPMAPPING REMOVEMAPPING SYNCFS TMPFILE""".split()
ROOT, FILE_ = 0, 1  # indexes into the harness's table of nodeids the server gave


def fs_req(op, args=b"", node=ROOT, patches=(), uid1000=False, rsp=0):
    """One request: op name, raw arguments, the nodeid (an index of the table, or
    ('raw', n)), patches (offset, 'fh' or 'node', index) and the reply space selector."""
    ctl = (len(patches) << 5) | (4 if uid1000 else 0)
    b = bytes([FS_OPS.index(op), ctl])
    b += bytes([0xff]) + struct.pack("<Q", node[1]) if isinstance(node, tuple) else bytes([node])
    b += struct.pack("<H", len(args)) + args
    for off, kind, idx in patches:
        b += bytes([(off // 8) << 1 | (kind == "fh"), idx])
    return b + bytes([rsp])


def name(*names):
    return b"".join(n.encode() + b"\0" for n in names)


INIT = fs_req("INIT", struct.pack("<IIII", 7, 38, 65536, 0xffffffff) + bytes(48))
O_RDWR, O_CREAT = 2, 0o100


def read_in(size=4096, off=0):
    return struct.pack("<QQIIQII", 0, off, size, 0, 0, 0, 0)


def write_in(data, off=0):
    return struct.pack("<QQIIQII", 0, off, len(data), 0, 0, 0, 0) + data


def lk_in(owner, typ, start=0, end=2**63 - 1, flags=0):
    return struct.pack("<QQQQIIII", 0, owner, start, end, typ, 42, flags, 0)


FH0 = [(0, "fh", 0)]

write("fs_server", "read-write", INIT + fs_req("LOOKUP", name("file")) +
      fs_req("OPEN", struct.pack("<II", O_RDWR, 0), node=FILE_) +
      fs_req("READ", read_in(), node=FILE_, patches=FH0) +
      fs_req("WRITE", write_in(b"fuzz data"), node=FILE_, patches=FH0) +
      fs_req("GETATTR", struct.pack("<IIQ", 1, 0, 0), node=FILE_, patches=[(8, "fh", 0)]) +
      fs_req("FSYNC", struct.pack("<QII", 0, 0, 0), node=FILE_, patches=FH0) +
      fs_req("FLUSH", struct.pack("<QIIQ", 0, 0, 0, 1), node=FILE_, patches=FH0) +
      fs_req("RELEASE", struct.pack("<QIIQ", 0, 0, 0, 0), node=FILE_, patches=FH0))

write("fs_server", "create-rename", INIT +
      fs_req("MKDIR", struct.pack("<II", 0o755, 0) + name("d")) +
      fs_req("CREATE", struct.pack("<IIII", O_RDWR | O_CREAT, 0o644, 0, 0) + name("f"),
             node=1) +
      fs_req("WRITE", write_in(b"x" * 100, 10), node=2, patches=FH0) +
      fs_req("SETATTR", struct.pack("<IIQQQQQQIIIIIIII", 1 | 8, 0, 0, 3, 0, 0, 0, 0,
                                    0, 0, 0, 0o600, 0, 0, 0, 0), node=2) +
      fs_req("RENAME", struct.pack("<Q", 1) + name("f", "g"), node=1) +
      fs_req("RENAME2", struct.pack("<QII", 0, 0, 0) + name("g", "h"),
             patches=[(0, "node", 0)]) +
      fs_req("UNLINK", name("h")) + fs_req("RMDIR", name("d")))

write("fs_server", "readdir-forget", INIT +
      fs_req("OPENDIR", struct.pack("<II", 0, 0)) +
      fs_req("READDIRPLUS", read_in(8192), patches=FH0) +
      fs_req("READDIR", read_in(4096), patches=FH0) +
      fs_req("LOOKUP", name("dir")) + fs_req("LOOKUP", name("inner"), node=1) +
      fs_req("FORGET", struct.pack("<Q", 1), node=1) +
      fs_req("BATCH_FORGET", struct.pack("<IIQQ", 1, 0, 0, 1), patches=[(8, "node", 2)]) +
      fs_req("RELEASEDIR", struct.pack("<QIIQ", 0, 0, 0, 0), patches=FH0))

write("fs_server", "xattr", INIT + fs_req("LOOKUP", name("file")) +
      fs_req("SETXATTR", struct.pack("<II", 5, 0) + name("user.x") + b"value", node=FILE_) +
      fs_req("GETXATTR", struct.pack("<II", 64, 0) + name("user.x"), node=FILE_) +
      fs_req("LISTXATTR", struct.pack("<II", 256, 0), node=FILE_) +
      fs_req("REMOVEXATTR", name("user.x"), node=FILE_))

F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
write("fs_server", "locks", INIT + fs_req("LOOKUP", name("file")) +
      fs_req("OPEN", struct.pack("<II", O_RDWR, 0), node=FILE_) +
      fs_req("SETLK", lk_in(1, F_WRLCK), node=FILE_, patches=FH0) +
      fs_req("GETLK", lk_in(2, F_RDLCK), node=FILE_, patches=FH0) +
      fs_req("SETLKW", lk_in(2, F_WRLCK), node=FILE_, patches=FH0) +
      fs_req("INTERRUPT", struct.pack("<Q", 5)) +
      fs_req("SETLK", lk_in(3, F_WRLCK, flags=1), node=FILE_, patches=FH0) +
      fs_req("SETLK", lk_in(1, F_UNLCK), node=FILE_, patches=FH0) +
      fs_req("FLUSH", struct.pack("<QIIQ", 0, 0, 0, 1), node=FILE_, patches=FH0))

write("fs_server", "nodes", INIT +
      fs_req("SYMLINK", name("s", "file")) + fs_req("READLINK", b"", node=1) +
      fs_req("LOOKUP", name("file")) +
      fs_req("LINK", struct.pack("<Q", 0) + name("hard"), patches=[(0, "node", 2)]) +
      fs_req("MKNOD", struct.pack("<IIII", 0o10644, 0, 0, 0) + name("fifo")) +
      fs_req("MKNOD", struct.pack("<IIII", 0o140644, 0, 0, 0) + name("sock")) +
      fs_req("MKNOD", struct.pack("<IIII", 0o20644, 0, 0, 0) + name("wh")) +
      fs_req("STATFS") + fs_req("ACCESS", struct.pack("<II", 7, 0), node=2, uid1000=True) +
      fs_req("IOCTL", struct.pack("<QIIQII", 0, 2, 0x7602, 3, 0, 0)))

write("fs_server", "ranges", INIT + fs_req("LOOKUP", name("file")) +
      fs_req("OPEN", struct.pack("<II", O_RDWR, 0), node=FILE_) +
      fs_req("FALLOCATE", struct.pack("<QQQII", 0, 0, 8192, 0, 0), node=FILE_, patches=FH0) +
      fs_req("LSEEK", struct.pack("<QQII", 0, 1, 3, 0), node=FILE_, patches=FH0) +
      fs_req("COPY_FILE_RANGE", struct.pack("<QQQQQQQ", 0, 0, 0, 0, 100, 12, 0), node=FILE_,
             patches=[(0, "fh", 0), (16, "node", 1), (24, "fh", 0)]) +
      fs_req("LOOKUP", name("init.krun")) +
      fs_req("OPEN", struct.pack("<II", 0, 0), node=2) +
      fs_req("READ", read_in(100, 3), node=2, patches=[(0, "fh", 1)]) +
      fs_req("DESTROY") + INIT)

# ---- virtqueue: header, actions, RAM image (fuzz_virtqueue.c) ----
RAM0 = 0x1000
POP, PUSH, SIGNAL, DISABLE, ENABLE, POKE16 = 0, 1, 2, 3, 4, 5


def vq_seed(chains, size_log=3, event_idx=True, indirect=False):
    """A ring of 2**size_log entries at fixed offsets, the chains (lists of (len,
    writable)) published in the avail ring; every chain popped and pushed."""
    n = 1 << size_log
    desc, avail, used, table, bufs = 0, 0x400, 0x800, 0xc00, 0x1000
    ram = bytearray(0x1000)  # rings and tables; the buffers after them are zeroes
    di, ai, b = 0, 0, bufs
    for chain in chains:
        head = di
        if indirect:
            struct.pack_into("<QIHH", ram, desc + 16 * di, RAM0 + table, 16 * len(chain), 4, 0)
            di += 1
        for i, (ln, wr) in enumerate(chain):
            flags = (2 if wr else 0) | (1 if i + 1 < len(chain) else 0)
            if indirect:
                struct.pack_into("<QIHH", ram, table + 16 * i, RAM0 + b, ln, flags, i + 1)
            else:
                struct.pack_into("<QIHH", ram, desc + 16 * di, RAM0 + b, ln, flags, di + 1)
                di += 1
            b += ln
        table += 16 * len(chain)
        struct.pack_into("<H", ram, avail + 4 + 2 * ai, head)
        ai += 1
    struct.pack_into("<H", ram, avail + 2, ai)
    acts = b""
    for i in range(len(chains)):
        acts += bytes([POP, PUSH]) + struct.pack("<HI", i, 100) + bytes([SIGNAL])
    acts += bytes([SIGNAL]) * (-len(acts) % 16)  # the action bytes come in 16s
    hdr = bytes([1 if event_idx else 0, 7, size_log])
    hdr += struct.pack("<III", desc, avail, used) + bytes([len(acts) // 16])
    return hdr + acts + bytes(ram).rstrip(b"\0")


write("virtqueue", "direct", vq_seed([[(16, False), (100, True)], [(44, False)],
                                      [(8, False), (8, False), (64, True), (64, True)]]))
write("virtqueue", "indirect", vq_seed([[(16, False), (100, True)], [(4, False), (4, True)]],
                                       indirect=True))
write("virtqueue", "no-event-idx", vq_seed([[(1, True)]] * 6, size_log=2, event_idx=False))

# ---- vsock_tx: actions of fuzz_vsock_tx.c ----
V_PACKET, V_RX, V_REAP, V_WRITE, V_READ, V_CLOSE, V_CONNECT, V_DUP, V_RESET = range(9)
REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = range(1, 8)
STREAM_T, SEQPACKET_T = 0, 1


def vpkt(op, guest=0, host=1, data=b"", flags=0, seq=False, buf_alloc=None, cuts=()):
    ctl = (SEQPACKET_T if seq else 0) | (2 if buf_alloc is not None else 0)
    b = bytes([V_PACKET, ctl, guest | host << 3, op, flags & 0xff])
    if buf_alloc is not None:
        b += struct.pack("<I", buf_alloc)
    b += struct.pack("<H", len(data)) + data + bytes([len(cuts)])
    return b + b"".join(struct.pack("<H", c) for c in cuts)


write("vsock_tx", "stream", bytes([0]) + vpkt(REQUEST) + vpkt(RW, data=b"hello host") +
      bytes([V_READ, 0, V_WRITE, 0]) + struct.pack("<H", 5) + b"world" +
      bytes([V_REAP]) + vpkt(CREDIT_REQUEST) + vpkt(CREDIT_UPDATE, buf_alloc=4096) +
      vpkt(SHUTDOWN, flags=3) + bytes([V_CLOSE, 3, 0]) + vpkt(RST))
write("vsock_tx", "seqpacket", bytes([1]) + vpkt(REQUEST, seq=True) +
      vpkt(RW, data=b"rec1", flags=1, seq=True) +
      vpkt(RW, data=b"part", seq=True, cuts=(10, 44, 46)) +
      vpkt(RW, data=b"end", flags=1, seq=True) + bytes([V_READ, 0, V_WRITE, 0]) +
      struct.pack("<H", 3) + b"abc" + bytes([V_RX, 4, 40, V_REAP]) +
      vpkt(SHUTDOWN, flags=1, seq=True))
write("vsock_tx", "host-connect", bytes([2]) + bytes([V_CONNECT, 0x09, 0, V_REAP]) +
      vpkt(RESPONSE, guest=1, host=1) + bytes([V_WRITE, 0]) + struct.pack("<H", 6) +
      b"to you" + bytes([V_REAP, V_DUP, 0x09]) + vpkt(RW, guest=1, host=1, data=b"back") +
      bytes([V_RESET]) + vpkt(REQUEST, host=2) + vpkt(RW, host=2, data=b"x" * 200))
write("vsock_tx", "queued", bytes([4]) + vpkt(REQUEST, host=2) +
      b"".join(vpkt(RW, host=2, data=bytes([65 + i]) * 1500) for i in range(6)) +
      bytes([V_READ, 0]) + vpkt(CREDIT_REQUEST, host=2) + vpkt(SHUTDOWN, host=2, flags=2))

# ---- tsi_ctl: actions of fuzz_tsi_ctl.c ----
T_CTL, T_SEND, T_RECV, T_CLOSE, T_DATA, T_DGRAM, T_DGRAM_SEND, T_ACCEPT, T_CONNECT, T_IO, \
    T_RX = range(11)
OPEN, CONNECT, LISTEN, GETNAME, SETSOCKOPT, BIND, ADOPT = range(1, 8)
INET, INET6, UNIX = 0, 1, 2   # family selectors
TSTREAM, TDGRAM = 0, 1        # type selectors
A_NONE = bytes([0, 0])
A_TCP = bytes([1, 0])         # 127.0.0.1:5000 (a host server)
A_TCP6 = bytes([3, 0])
A_UDP = bytes([1, 64])        # 127.0.0.1:5001
A_GUEST = bytes([1, 96])      # 127.0.0.1:6000, a port the host connects to
A_ANY0 = bytes([0x81, 160])   # 0.0.0.0:0
A_SOCK = bytes([4, 0])        # /sock, a host unix server
A_NEWU = bytes([4, 2])        # /new


def tctl(slot, port):
    return bytes([T_CTL, slot, port, 0])


def tsend(slot, op, rid, body):
    return bytes([T_SEND, slot, op, rid]) + body + bytes([0])


def topen(slot, fam, typ, port, flags=0, rid=1):
    return tsend(slot, OPEN, rid, bytes([fam, typ, port, flags]))


write("tsi_ctl", "tcp-connect", bytes([0]) + tctl(1, 0) + topen(1, INET, TSTREAM, 0) +
      tsend(1, CONNECT, 2, A_TCP + A_NONE + bytes([0])) + bytes([T_ACCEPT, T_RECV, 1]) +
      bytes([T_DATA, 0, 0, T_IO, 1, 0]) + tsend(1, GETNAME, 3, bytes([1])) +
      tsend(1, SETSOCKOPT, 4, bytes([5]) + struct.pack("<Q", 1)) +
      tsend(1, GETNAME, 5, bytes([0])) + bytes([T_CLOSE, 0])
      + bytes([T_CLOSE, 1]))
write("tsi_ctl", "listen-adopt", bytes([0]) + tctl(1, 1) +
      topen(1, INET, TSTREAM, 1, flags=1) +
      tsend(1, LISTEN, 2, A_GUEST + bytes([4, 0, 1])) + bytes([T_CONNECT, 0, 0]) +
      bytes([T_RX, T_RECV, 1]) + tctl(3, 2) +
      tsend(3, ADOPT, 1, bytes([INET, TSTREAM, 0, 0])) +
      tsend(3, SETSOCKOPT, 2, bytes([0]) + struct.pack("<Q", 1)) +
      tsend(3, GETNAME, 3, bytes([1])) + bytes([T_CLOSE, 3]))
write("tsi_ctl", "udp", bytes([0]) + tctl(1, 2) + topen(1, INET, TDGRAM, 2) +
      tsend(1, BIND, 2, A_ANY0 + bytes([1])) + bytes([T_DGRAM, 0, 2]) +
      bytes([T_DGRAM_SEND, 0]) + A_UDP + struct.pack("<H", 100) + bytes([0, 0]) +
      tsend(1, CONNECT, 3, A_UDP + A_NONE + bytes([0])) +
      bytes([T_DGRAM_SEND, 0]) + A_NONE + struct.pack("<H", 10) + bytes([0, 0]) +
      bytes([T_CONNECT, 8, 0, T_ACCEPT]))
write("tsi_ctl", "unix", bytes([0]) + tctl(1, 3) + topen(1, UNIX, TSTREAM, 3) +
      tsend(1, CONNECT, 2, A_SOCK + A_NONE + bytes([0])) + bytes([T_ACCEPT]) +
      tsend(1, GETNAME, 3, bytes([1])) + tctl(3, 4) + topen(3, UNIX, TSTREAM, 4) +
      tsend(3, LISTEN, 2, A_NEWU + bytes([4, 1, 0])) + tctl(5, 5) +
      topen(5, UNIX, TDGRAM, 5) + tsend(5, BIND, 2, bytes([4, 1, 0])) +
      bytes([T_DGRAM, 1, 5, T_DGRAM_SEND, 1]) + bytes([4, 2]) + struct.pack("<H", 5) +
      bytes([0, 0]))
write("tsi_ctl", "ipv6-errors", bytes([2]) + tctl(1, 6) + topen(1, INET6, TSTREAM, 6, 7) +
      tsend(1, CONNECT, 2, A_TCP6 + A_TCP6 + bytes([4])) + tsend(1, CONNECT, 3, A_TCP6 +
      A_NONE + bytes([0])) + tsend(1, OPEN, 4, bytes([INET, TSTREAM, 6, 0])) +
      tsend(1, 9, 5, bytes([0])) + tsend(1, GETNAME, 0, bytes([0])) +
      bytes([T_SEND, 1, 0x88, 1]) + struct.pack("<H", 300) + bytes([4]) + b"junk" + bytes([0]))
