#!/usr/bin/python3
"""Parse a message file with Python's email package and compare it with what
the test sent.  Prints OK, or one line per mismatch (exit 1).

usage: email_roundtrip.py FILE [--subject S] [--from-name N] [--from-addr A]
         [--to ADDR]... [--text-file F] [--html-file F]
         [--attach FILENAME=TYPE=PATH]... [--header NAME=VALUE]...
         [--absent-header NAME]...
"""
import argparse
import email
import email.policy
import re
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--subject")
    ap.add_argument("--from-name")
    ap.add_argument("--from-addr")
    ap.add_argument("--to", action="append", default=[])
    ap.add_argument("--text-file")
    ap.add_argument("--html-file")
    ap.add_argument("--attach", action="append", default=[])
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--absent-header", action="append", default=[])
    a = ap.parse_args()
    errors = []
    raw = open(a.file, "rb").read()

    if re.search(rb"\r(?!\n)", raw):
        errors.append("bare CR in file")
    if re.search(rb"(?<!\r)\n", raw):
        errors.append("bare LF in file")
    for n, line in enumerate(raw.split(b"\r\n"), 1):
        if len(line) > 998:
            errors.append("line %d is %d octets (> 998)" % (n, len(line)))
    if not raw.endswith(b"\r\n"):
        errors.append("file does not end with CRLF")

    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for d in msg.defects:
        errors.append("defect: %r" % d)
    for name in ("Date", "Message-ID", "MIME-Version", "From"):
        if msg[name] is None:
            errors.append("missing %s header" % name)
    if a.subject is not None and msg["Subject"] != a.subject:
        errors.append("subject %r != %r" % (msg["Subject"], a.subject))
    if a.from_name is not None or a.from_addr is not None:
        addrs = msg["From"].addresses
        if a.from_name is not None and addrs[0].display_name != a.from_name:
            errors.append("from name %r != %r" % (addrs[0].display_name, a.from_name))
        if a.from_addr is not None and addrs[0].addr_spec != a.from_addr:
            errors.append("from addr %r != %r" % (addrs[0].addr_spec, a.from_addr))
    if a.to:
        got = sorted(x.addr_spec for x in msg["To"].addresses)
        if got != sorted(a.to):
            errors.append("to %r != %r" % (got, sorted(a.to)))
    for h in a.header:
        name, value = h.split("=", 1)
        if msg[name] != value:
            errors.append("header %s: %r != %r" % (name, msg[name], value))
    for name in a.absent_header:
        if msg[name] is not None:
            errors.append("header %s present: %r" % (name, msg[name]))

    def check_body(kind, path):
        want = open(path, encoding="utf-8", newline="").read()
        want = want.replace("\r\n", "\n").replace("\r", "\n")
        part = msg.get_body(preferencelist=(kind,))
        if part is None:
            errors.append("no text/%s part" % kind)
            return
        got = part.get_content().replace("\r\n", "\n")
        if got.rstrip("\n") != want.rstrip("\n"):
            errors.append("%s body differs: %r != %r" % (kind, got[:200], want[:200]))

    if a.text_file:
        check_body("plain", a.text_file)
    if a.html_file:
        check_body("html", a.html_file)

    atts = list(msg.iter_attachments())
    if len(atts) != len(a.attach):
        errors.append("%d attachments, expected %d" % (len(atts), len(a.attach)))
    for part, spec in zip(atts, a.attach):
        fname, ctype, path = spec.split("=", 2)
        if part.get_filename() != fname:
            errors.append("attachment filename %r != %r" % (part.get_filename(), fname))
        if part.get_content_type() != ctype:
            errors.append("attachment type %r != %r" % (part.get_content_type(), ctype))
        want = open(path, "rb").read()
        got = part.get_payload(decode=True)
        if got != want:
            errors.append("attachment %s: %d bytes differ from the %d sent"
                          % (fname, len(got or b""), len(want)))

    if errors:
        print("\n".join(errors))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
