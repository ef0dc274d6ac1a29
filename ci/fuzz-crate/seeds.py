#!/usr/bin/env python3
"""Write the seed corpus of every fuzz target into OUT/<target>/ (ci/fuzz calls this).

Seeds are small: hand-made archives with the entries the extractor's rules are about
(links, `..`, absolute names, devices, setuid, long names, duplicates, store paths), small
host ELF files and the loader cache, the repo's jobspec fixtures, a client config.
Generated rather than committed, so no binary file is in git.
"""
import hashlib
import io
import os
import struct
import sys
import tarfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "ci/fuzz-crate/target/corpus"
HASH = "0123456789abcdfghijklmnpqrsvwxyz"  # 32 chars of Nix's base32 alphabet
MAX = 65536


def put(target, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    data = data[:MAX]
    (d / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


def tar(entries, fmt=tarfile.GNU_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, extra in entries:
            ti = tarfile.TarInfo(name)
            ti.mode = extra.get("mode", 0o755 if kind == tarfile.DIRTYPE else 0o644)
            ti.type = kind
            ti.linkname = extra.get("link", "")
            ti.devmajor, ti.devminor = extra.get("dev", (0, 0))
            data = extra.get("data", b"")
            if kind in (tarfile.REGTYPE, tarfile.AREGTYPE):
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return buf.getvalue()


R, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
store = f"nix/store/{HASH}-bash-5.2"
TARS = [
    tar([("a/", D, {}), ("a/f", R, {"data": b"#!/bin/sh\necho hi\n", "mode": 0o755}),
         ("a/l", S, {"link": "f"}), ("a/h", H, {"link": "a/f"})]),
    tar([("../x", R, {"data": b"x"}), ("/abs", R, {"data": b"y"}),
         ("a/../../z", R, {"data": b"z"}), ("l", S, {"link": "/tmp"}),
         ("l/x", R, {"data": b"through the link"}), ("h", H, {"link": "../../outside"})]),
    tar([("fifo", tarfile.FIFOTYPE, {}), ("null", tarfile.CHRTYPE, {"dev": (1, 3)}),
         ("blk", tarfile.BLKTYPE, {"dev": (8, 0)}),
         ("suid", R, {"data": b"s", "mode": 0o6755}), ("dir/", D, {"mode": 0o2755})]),
    tar([("d" * 120 + "/" + "n" * 150, R, {"data": b"long"}),
         ("s", S, {"link": "t" * 200})], fmt=tarfile.GNU_FORMAT),
    tar([("p" * 300, R, {"data": b"pax"}), ("q", S, {"link": "../" * 40})],
        fmt=tarfile.PAX_FORMAT),
    tar([(f"{store}/", D, {}), (f"{store}/bin/", D, {}),
         (f"{store}/bin/bash", R, {"data": f"#!/{store}/bin/sh\n/nix/store/{HASH}-glibc-2.39/lib\n".encode(), "mode": 0o555}),
         ("bin/sh", S, {"link": f"/{store}/bin/bash"})]),
    tar([("x", R, {"data": b"1"}), ("x/", D, {}), ("y/", D, {}), ("y", R, {"data": b"2"}),
         ("z", S, {"link": "y"}), ("z/", D, {}), ("ro/", D, {"mode": 0o500}),
         ("ro/f", R, {"data": b"inside a read-only dir"})]),
    tar([]),
]


def zips():
    out = []
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/", b"")
        z.writestr("a/f", b"hello " * 20)
        z.writestr("../up", b"x")
        link = zipfile.ZipInfo("a/l")
        link.external_attr = (0o120777 << 16)
        z.writestr(link, b"f")
        suid = zipfile.ZipInfo("s")
        suid.external_attr = (0o104755 << 16)
        z.writestr(suid, b"s")
    out.append(buf.getvalue())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("only", b"stored")
    out.append(buf.getvalue())
    return out


def extract_seeds():
    # Selector byte: bits 0-2 name (tar, tar.gz, tgz, tar.bz2, tar.xz, tar.zst, zip, no
    # suffix), bit 3 compress the payload first, bit 4 archive option, bit 5 at /,
    # bit 6 Nomad 1.4 (no limits).
    for t in TARS:
        for sel in (0, 8 | 1, 8 | 5, 8 | 4 | 32, 16 | 8 | 3, 7, 64):
            put("extract", bytes([sel]) + t)
    for z in zips():
        for sel in (6, 7, 6 | 16 | 32):
            put("extract", bytes([sel]) + z)


def strip_sections(elf):
    b = bytearray(elf)
    if b[:4] == b"\x7fELF" and b[4] == 2:
        struct.pack_into("<Q", b, 0x28, 0)  # e_shoff
        struct.pack_into("<HHH", b, 0x3a, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    return bytes(b)


def elf_seeds():
    for p in ("/usr/bin/true", "/usr/bin/hello", "/etc/ld.so.cache",
              "/lib64/ld-linux-x86-64.so.2", "/bin/busybox"):
        try:
            b = Path(p).read_bytes()
        except OSError:
            continue
        put("elf", b)
        if b.startswith(b"\x7fELF"):
            put("elf", strip_sections(b))


def text_seeds():
    for s in (b"/bin/sh\n", b"/usr/bin/env python3 -u\n", b"  /bin/bash  -e -x  \n",
              b"/usr/bin/env -S VAR=1 node --flag\n", b"/bin/sh\x00arg\n",
              b"/" + b"a" * 300, b"\t\n", b"/nix/store/" + HASH.encode() + b"-bash/bin/bash\r\n"):
        put("shebang", s)
    for s in (b"", f"x/nix/store/{HASH}-a-1.0/bin y".encode(),
              f"/nix/store/nix/store/{HASH}-b".encode(),
              f"/nix/store/{HASH}-{'n' * 215}/".encode(),
              f"/nix/store/{HASH[:31]}e-bad /nix/store/{HASH}-ok+._?=-x\0".encode()):
        for sizes in (b"\x01\x07\x3f\x00\x02\x0b\x20\x05", b"\x3f" * 8):
            put("storeref", sizes + s)
    jobs = REPO / "fixtures/jobs"
    for p in sorted(jobs.glob("*")):
        if p.is_file() and p.stat().st_size <= 16384:
            put("jobspec_json" if p.suffix == ".json" else "jobspec_hcl", p.read_bytes())
    put("jobspec_hcl", b'job "j" {\n  group "g" {\n    task "t" {\n      driver = "exec"\n'
        b'      config { command = "${NOMAD_TASK_DIR}/app" }\n'
        b'      template { data = file("motd.txt") destination = "local/m" }\n'
        b'      artifact { source = "file:///b.tar.gz" }\n    }\n  }\n}\n')
    for p in sorted((REPO / "fixtures/specs").glob("*.toml")):
        if p.stat().st_size <= 16384:
            put("testspec", p.read_bytes())
    put("clientconfig", b'\x00client {\n  enabled = true\n  chroot_env {\n    "/bin" = "/bin"\n'
        b'    "/etc" = "/etc"\n  }\n  options = { "fingerprint.denylist" = "env_aws" }\n}\n'
        b'plugin "raw_exec" { config { enabled = true } }\ndatacenter = "dc1"\n')
    put("clientconfig", b'\x01{"client": {"enabled": true, "chroot_env": {"/bin": "/bin"},'
        b' "alloc_dir": "/var/nomad/alloc"}, "plugin": [{"exec": [{"config": '
        b'[{"allow_caps": ["chown"], "no_pivot_root": true}]}]}], "region": "r1"}')


extract_seeds()
elf_seeds()
text_seeds()
print(f"seeds written under {OUT}: " + ", ".join(
    f"{d.name} {len(list(d.iterdir()))}" for d in sorted(OUT.iterdir()) if d.is_dir()))
