#!/usr/bin/env python3
"""Configures a running tgtd from a vsl gateway JSON configuration, so that the
end-to-end scripts can run the same scenario against tgt as against vsl.

Mapping: host H -> target "<iqn_prefix>:H" (tid = index + 1), its initiator
names -> ACL entries, "chap" -> an incoming account, "mutual_chap" -> an
outgoing account; LUN N -> tgt LUN N + 1 (tgt keeps LUN 0 for its
controller). tgt backs a LUN with exactly one whole file, so any other extent
list is served from a new flat file holding a copy of the extents' bytes (so
reads start out the same; writes do not reach the extents); the file names go
to <workdir>/tgt-backing.json as {host: {lun: path}}.
"""
import argparse
import json
import os
import subprocess
import sys


def tgtadm(cport, *args):
    cmd = ["tgtadm", "-C", str(cport), "--lld", "iscsi", *args]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {res.stdout}{res.stderr}")


def backing_file(host, lun, workdir):
    extents = lun["extents"]
    if len(extents) == 1:
        e = extents[0]
        if e.get("offset", 0) == 0 and os.path.getsize(e["path"]) == e["length"]:
            return e["path"], False
    path = os.path.join(workdir, f"tgt-{host['name']}-{lun['lun']}.img")
    with open(path, "wb") as out:
        for e in extents:
            with open(e["path"], "rb") as f:
                f.seek(e.get("offset", 0))
                data = f.read(e["length"])
            out.write(data + bytes(e["length"] - len(data)))
    return path, True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--control-port", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    with open(a.config) as f:
        cfg = json.load(f)
    cport = a.control_port
    flat = {}
    accounts = set()
    for tid, host in enumerate(cfg["hosts"], start=1):
        name = f"{cfg['iqn_prefix']}:{host['name']}"
        tgtadm(cport, "--op", "new", "--mode", "target", "--tid", str(tid), "-T", name)
        for lun in host.get("luns", []):
            path, is_flat = backing_file(host, lun, a.workdir)
            if is_flat:
                flat.setdefault(host["name"], {})[str(lun["lun"])] = path
            tl = str(lun["lun"] + 1)
            tgtadm(cport, "--op", "new", "--mode", "logicalunit", "--tid", str(tid),
                   "--lun", tl, "-b", path)
            if lun.get("read_only"):
                tgtadm(cport, "--op", "update", "--mode", "logicalunit", "--tid",
                       str(tid), "--lun", tl, "--params", "readonly=1")
        initiators = host.get("initiators") or [host["initiator"]]
        for ini in initiators:
            tgtadm(cport, "--op", "bind", "--mode", "target", "--tid", str(tid),
                   "--initiator-name", ini)
        for key, outgoing in (("chap", False), ("mutual_chap", True)):
            chap = host.get(key)
            if not chap:
                continue
            if chap["user"] not in accounts:
                tgtadm(cport, "--op", "new", "--mode", "account", "--user", chap["user"],
                       "--password", chap["secret"])
                accounts.add(chap["user"])
            extra = ["--outgoing"] if outgoing else []
            tgtadm(cport, "--op", "bind", "--mode", "account", "--tid", str(tid),
                   "--user", chap["user"], *extra)
    with open(os.path.join(a.workdir, "tgt-backing.json"), "w") as f:
        json.dump(flat, f)


if __name__ == "__main__":
    main()
