#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub, for tests/t_pull.sh (stdlib only).

Serves ROOT/MODEL/FILE at /MODEL/resolve/main/FILE like the hub does:
.safetensors files are "LFS": a 302 to /cdn/MODEL/FILE carrying
X-Linked-Etag (the sha256 of the content); other files answer 200 with
ETag = git blob sha1.  GET honours Range (206 + Content-Range, 416 past the
end).  Options:
  --token T          answer 401 unless "Authorization: Bearer T"
  --truncate-once F  the first GET of F sends half its bytes, then hangs up
  --corrupt F        serve F with one byte flipped (the hash stays the true one)
Binds 127.0.0.1 on a free port, writes it to PORTFILE, logs each request
("METHOD PATH RANGE AUTH") to LOGFILE.
"""
import argparse
import hashlib
import http.server
import os
import re
import sys

ap = argparse.ArgumentParser()
ap.add_argument("root")
ap.add_argument("portfile")
ap.add_argument("logfile")
ap.add_argument("--token")
ap.add_argument("--truncate-once")
ap.add_argument("--corrupt")
args = ap.parse_args()
truncated = set()


class Hub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def log(self):
        with open(args.logfile, "a") as f:
            f.write("%s %s %s %s\n" % (self.command, self.path, self.headers.get("Range", "-"),
                                       self.headers.get("Authorization", "-")))

    def reply(self, code, headers=(), body=b""):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.log()
        if args.token and self.headers.get("Authorization") != "Bearer " + args.token:
            return self.reply(401, body=b"unauthorized")
        m = re.fullmatch(r"/(.+)/resolve/main/([^/]+)", self.path)
        cdn = re.fullmatch(r"/cdn/(.+)/([^/]+)", self.path)
        model, name = (m or cdn).groups() if (m or cdn) else (None, None)
        path = os.path.join(args.root, model, name) if model else None
        if not path or not os.path.isfile(path):
            return self.reply(404, body=b"Entry not found")
        data = open(path, "rb").read()
        sha256 = hashlib.sha256(data).hexdigest()
        lfs = name.endswith(".safetensors")
        if m and lfs:
            return self.reply(302, [("Location", "/cdn/%s/%s" % (model, name)),
                                    ("X-Linked-Etag", '"%s"' % sha256), ("ETag", '"%s"' % sha256),
                                    ("X-Linked-Size", str(len(data)))])
        if lfs:
            etag = '"cdn-%s"' % hashlib.md5(data).hexdigest()
        else:
            etag = '"%s"' % hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        if args.corrupt == name:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start, code, extra = 0, 200, []
        rng = self.headers.get("Range")
        if rng:
            r = re.fullmatch(r"bytes=(\d+)-", rng)
            start = int(r.group(1))
            if start >= len(data):
                return self.reply(416, [("Content-Range", "bytes */%d" % len(data))])
            code = 206
            extra = [("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))]
        body = data[start:]
        self.send_response(code)
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if args.truncate_once == name and name not in truncated:
            truncated.add(name)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the truncated transfer's broken pipe is on purpose


srv = Server(("127.0.0.1", 0), Hub)
with open(args.portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(args.portfile + ".tmp", args.portfile)
sys.stdout.flush()
srv.serve_forever()
