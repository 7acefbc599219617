#!/usr/bin/env python3
"""Walks every route of docs/openapi.yaml with one tenant's token, naming
another tenant's objects, and checks that nothing of the other's comes back.

Usage: tenant_walk.py [--cookie] OPENAPI API_URL TOKEN OTHER.json [SRC_DIR]

With --cookie the walk signs in with the token first (POST /v1/session) and
then calls every route with the session cookie and its X-VSL-CSRF header
instead of the bearer token: a console session is the same principal.

With SRC_DIR (the repository's src/), every route the C++ code registers
(server.Get/Post/Put/Delete("...")) must be in the document first, so the
walk cannot miss one.

OTHER.json (written by tests/api/tenants.sh) holds the other tenant's
objects: {"farm", "farm_id", "host", "image", "backup", "job", "volumes": [..],
"requests": [..], "markers": [strings that must never appear], "own_farm_id"}.

Every route and method in the document is called once; path parameters get
the other tenant's ids and names; a GET's query parameters that select by
owner are tried once more each with the other's value. An answer passes
when it is 403 or 404, or 2xx with none of the other's data (markers, volume
ids, request ids), or 409 on the routes that create a name (names are one
namespace: a taken name is refused without showing whose it is). Prints one
line per call and exits 1 if any failed.
"""
import json
import os
import re
import sys
import urllib.error
import urllib.request

import yaml


def registered_routes(src_dir):
    """(method, path with {x} for each parameter) of every route in src_dir."""
    pattern = re.compile(r'\bserver_?\.(Get|Post|Put|Delete|Patch)\(\s*R?"(?:\()?([^"]*?)(?:\))?"', re.S)
    routes = set()
    for root, _, files in os.walk(src_dir):
        for name in files:
            if not name.endswith(".cc") or name.endswith("_test.cc"):
                continue
            text = open(os.path.join(root, name), encoding="utf-8").read()
            for method, path in pattern.findall(text):
                # The API's routes; the console's static files (/, /ui/...)
                # are public and hold nothing of anyone's.
                if not path.startswith(("/v1/", "/metrics")):
                    continue
                routes.add((method.lower(), re.sub(r"\([^)]*\)", "{x}", path)))
    return routes


def main():
    args = sys.argv[1:]
    cookie = None
    if args and args[0] == "--cookie":
        args = args[1:]
    spec_path, api, token, other_path = args[:4]
    if sys.argv[1] == "--cookie":
        req = urllib.request.Request(api + "/v1/session", data=json.dumps({"token": token}).encode(), method="POST")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as r:
            set_cookie = r.headers["Set-Cookie"]
            csrf = json.loads(r.read())["csrf"]
        cookie = (set_cookie.split(";", 1)[0], csrf)
        print(f"signed in: a session cookie instead of the token")
    src_dir = args[4] if len(args) > 4 else None
    spec = yaml.safe_load(open(spec_path))
    if src_dir:
        documented = {(m, re.sub(r"\{[^}]*\}", "{x}", t)) for t, item in spec["paths"].items() for m in item
                      if m in ("get", "post", "put", "delete", "patch")}
        code = registered_routes(src_dir)
        missing = sorted(code - documented)
        for m, t in missing:
            print(f"FAIL {m.upper():6} {t} is served but not in {spec_path}: the walk would miss it")
        print(f"{len(code)} routes served, {len(missing)} not documented")
        if missing:
            sys.exit(1)
    other = json.load(open(other_path))
    vols = set(other["volumes"])
    reqs = set(other["requests"])
    markers = other["markers"]

    def fml(name, image):
        return (f'<?xml version="1.0"?><farm fmlversion="1.2" name="{name}"><tier id="1" name="t">'
                '<role>r</role><min-servers>1</min-servers><max-servers>1</max-servers>'
                f'<init-servers>1</init-servers></tier><server-role id="r" name="R"><hw>hw-b</hw>'
                f'<disk target="0" drivetype="scsi" drivesize="4MiB"><diskimage type="system">{image}'
                '</diskimage></disk></server-role></farm>')

    # What each path parameter is, by the route's prefix.
    def path_value(path, param):
        if param == "op":
            return "scrub"
        if path.startswith("/v1/farms/jobs/"):
            return str(other["job"])
        table = {"/v1/farms/": other["farm"], "/v1/hosts/": other["host"], "/v1/images/": other["image"],
                 "/v1/volumes/": str(other["volumes"][0]), "/v1/backups/": other["backup"],
                 "/v1/requests/": str(other["requests"][0]), "/v1/tenants/": other["tenant"],
                 "/v1/disks/": str(other["volumes"][0]),
                 "/v1/arrays/": "default"}
        for prefix, value in table.items():
            if path.startswith(prefix):
                return value
        raise SystemExit(f"tenant_walk: no value for {{{param}}} in {path}")

    vol = other["volumes"][0]
    bodies = {
        ("post", "/v1/arrays"): {"name": "walk", "driver": "file", "path": "/tmp/vsl-walk-never"},
        ("post", "/v1/arrays/discover"): {},
        ("post", "/v1/hosts"): {"name": "walk", "hw": "hw-b", "initiators": ["iqn.2026-11.org.test:walk"]},
        ("put", "/v1/hosts/{name}/bmc"): {"address": "127.0.0.1"},
        ("post", "/v1/images"): {"name": "walkimage", "file": "/etc/hostname"},
        ("post", "/v1/disks/{op}"): {"volume": vol},
        ("post", "/v1/backups"): {"volume": vol, "level": 0},
        ("post", "/v1/backups/{id}/restore"): {"new": True, "farm": other["own_farm_id"]},
        ("post", "/v1/test/faults"): {"op": "gateway-map", "nth": 1},
        ("post", "/v1/farms/plan"): {"fml": fml(other["farm"], other["image"])},
        ("post", "/v1/farms/apply"): {"fml": fml(other["farm"], other["image"])},
        ("post", "/v1/tenants"): {"name": "walktenant"},
        ("post", "/v1/session"): {"token": token},
    }
    raw_bodies = {("put", "/v1/images/{name}"): b"walk bytes"}
    # Sign-out needs a session; with the bearer token it is refused as such.
    own_only = {("delete", "/v1/session")} if cookie is None else set()
    creates_a_name = {("put", "/v1/images/{name}"), ("post", "/v1/farms/plan"), ("post", "/v1/farms/apply")}
    # Query parameters that select by owner: the other's value for each.
    by_owner = {"farm": None, "host": other["host"], "volume": vol, "disk": vol, "entity_id": vol,
                "request": other["requests"][0], "parent": vol}

    def leaks(node, path):
        found = []
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("volume_id", "volume", "source", "bcv", "bcv_id", "parent_id", "master_volume_id") \
                        and v in vols:
                    found.append(f"{k}={v}")
            if "array_volume" in node and node.get("id") in vols:
                found.append(f"volume {node['id']}")
            if "op" in node and "args" in node and node.get("id") in reqs:
                found.append(f"request {node['id']}")
            if node.get("entity") == "volume" and node.get("entity_id") in vols:
                found.append(f"event of volume {node['entity_id']}")
            if node.get("entity") == "request" and node.get("entity_id") in reqs:
                found.append(f"event of request {node['entity_id']}")
            for v in node.values():
                found += leaks(v, path)
        elif isinstance(node, list):
            for v in node:
                found += leaks(v, path)
        return found

    def stream_events(r):
        r.fp.raw._sock.settimeout(1.5)
        got = b""
        try:
            while len(got) < (1 << 20):
                chunk = r.fp.read1(65536)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        events = [json.loads(line[5:]) for line in got.decode("utf-8", "replace").splitlines()
                  if line.startswith("data:")]
        return json.dumps(events)

    failures = 0
    calls = 0

    def call(method, template, url, body, raw):
        nonlocal failures, calls
        calls += 1
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(api + url, data=data, method=method.upper())
        if cookie:
            req.add_header("Cookie", cookie[0])
            req.add_header("X-VSL-CSRF", cookie[1])
        else:
            req.add_header("Authorization", "Bearer " + token)
        if data is not None:
            req.add_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                if r.headers.get("Content-Type", "").startswith("text/event-stream"):
                    # A stream from the first event on: what arrives in a
                    # second and a half, each event's data checked.
                    status, text = r.status, stream_events(r)
                else:
                    status, text = r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode("utf-8", "replace")
        why = []
        sent = json.dumps(body) if body is not None else ""
        for m in markers:
            # A name the caller sent may come back in its own error message.
            if m in text and m not in sent and m not in url:
                at = text.index(m)
                why.append(f"marker '{m}' in the reply (...{text[max(0, at - 200):at + 60]}...)")
        if status in (403, 404):
            pass
        elif 200 <= status < 300:
            try:
                why += leaks(json.loads(text), template) if text.strip().startswith(("{", "[")) else []
            except ValueError:
                pass
        elif status == 409 and (method, template) in creates_a_name:
            pass
        elif status == 400 and (method, template) in own_only:
            pass
        elif status == 401 and cookie and template == "/metrics":
            pass  # scrapes carry a bearer token, never a console session
        else:
            why.append(f"HTTP {status} (expected 403, 404 or a reply without the other's data)")
        ok = not why
        failures += 0 if ok else 1
        print(f"{'ok  ' if ok else 'FAIL'} {method.upper():6} {url} -> {status}"
              + ("" if ok else ": " + "; ".join(why) + " | " + text[:300].replace("\n", " ")))

    # Reads first: the lists are checked before the walk's own writes (which
    # name the other's things and fail) could appear in them as the
    # caller's own requests.
    routes = [(t, m) for t, item in spec["paths"].items() for m in ("get", "post", "put", "delete", "patch")
              if m in item]
    # (Signing out last: with --cookie it ends the walk's session.)
    routes.sort(key=lambda r: (r[1] != "get", r == ("/v1/session", "delete")))
    for template, method in routes:
        item = spec["paths"][template]
        if True:
            url = template
            params = list(item.get("parameters", [])) + list(item[method].get("parameters", []))
            for p in params:
                if p.get("in") == "path":
                    url = url.replace("{" + p["name"] + "}", path_value(template, p["name"]))
            key = (method, template)
            if template == "/v1/events/stream":
                url += "?after=0"  # every event there is, not only new ones
            call(method, template, url, bodies.get(key), raw_bodies.get(key))
            if method == "get":
                for p in params:
                    if p.get("in") == "query" and p["name"] in by_owner:
                        value = by_owner[p["name"]]
                        if value is None:
                            value = other["farm"] if template == "/v1/backups" else other["farm_id"]
                        sep = "&" if "?" in url else "?"
                        call(method, template, f"{url}{sep}{p['name']}={value}", None, None)
    print(f"{calls} calls, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
