#!/usr/bin/python3
"""providers.py - a local stand-in for six HTTP email APIs, for herald's tests.

    /usr/bin/python3 tests/support/servers/providers.py --cert CERT --key KEY [--plain]

Listens on 127.0.0.1:0 (HTTPS, or HTTP with --plain), HTTP/1.1 keep-alive,
and writes its port and a newline to $TU_PORT_FILE once it accepts
connections.  Each provider below checks what its documentation says a
request must carry (auth scheme and credential, content type, required
fields, field shapes) and answers with that provider's real success body or
its real error status and body.

Test credentials:
  mailgun   Basic api:key-test, domain mg.example.com
  sendgrid  Bearer SG.test
  ses       SigV4 AKIDTEST / secret-test, us-east-1, service "ses"
  resend    Bearer re_test (and a User-Agent)
  postmark  X-Postmark-Server-Token: pm-test
  mailtrap  Bearer mt-test or Api-Token: mt-test; sandbox inbox 1234

Control endpoints (never recorded):
  POST /_test/fault     {"path_prefix", "status", "headers", "body", "pad",
                         "mode": "status"|"reset"|"slow"|"truncate"|"endless"
                         |"reset_on_connect", "delay", "count"}
                        status: that status and body (the provider's error
                          body when none), "pad" bytes of "x" appended; in
                          the body and headers "{header:NAME}" stands for the
                          request's
                          header NAME (to echo a credential back);
                        reset: read the request, then RST, no answer;
                        slow: wait "delay" s, then answer normally;
                        truncate: status, headers and Content-Length, then
                          half the body and close;
                        endless: status and a chunked body that never ends
                          (stops after 64 MiB or when the client leaves);
                        reset_on_connect: RST the next "count" new TCP
                          connections before the TLS handshake (nothing of
                          the request is read)
  GET  /_test/requests  every request: method, path, query, headers (names
                         in lower case; repeated headers joined by ", "),
                         body_b64, conn_id (one per TCP connection), verdict
                         ("ok", the rejection reason, or "fault: ...")
  POST /_test/reset     forget requests, faults and idempotency keys
"""
import argparse
import base64
import binascii
import datetime
import email.parser
import email.policy
import email.utils
import hashlib
import hmac
import http.server
import itertools
import json
import os
import re
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import uuid

LOCK = threading.Lock()
RECORDS = []        # one dict per request, see /_test/requests
FAULTS = []         # pending faults, see /_test/fault
CONNECT_RESETS = [0]  # new connections still to reset (reset_on_connect)
FAULT_MODES = ("status", "reset", "slow", "truncate", "endless", "reset_on_connect")
IDEMPOTENCY = {}    # resend: key -> (body sha256, response id)
CONN_IDS = itertools.count(1)


class Reject(Exception):
    """A request the provider refuses: status, body, extra headers, reason."""

    def __init__(self, status, body, reason, headers=None):
        super().__init__(reason)
        self.status, self.body, self.reason = status, body, reason
        self.headers = headers or {}


class Reply:
    """A successful answer."""

    def __init__(self, status, body=b"", headers=None):
        self.status, self.body, self.headers = status, body, headers or {}


# ---------------------------------------------------------------- helpers

ADDR_RE = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
TAG_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def valid_addr(text):
    """An address alone or as "Name <addr>"."""
    if not isinstance(text, str):
        return False
    name, addr = email.utils.parseaddr(text)
    return bool(ADDR_RE.match(addr)) and (addr in text)


def addr_list(text):
    """Comma-separated addresses (Mailgun, Postmark); [] for empty."""
    return [a for a in (p.strip() for p in split_commas(text)) if a]


def split_commas(text):
    """Split on commas outside quotes and angle brackets."""
    out, cur, quote, angle = [], "", False, False
    for ch in text:
        if ch == '"':
            quote = not quote
        elif ch == "<" and not quote:
            angle = True
        elif ch == ">" and not quote:
            angle = False
        if ch == "," and not quote and not angle:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def is_b64(text):
    if not isinstance(text, str) or not text:
        return False
    try:
        base64.b64decode(text, validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


def split_multipart(body, ctype):
    """[(headers Message, content bytes)] of a multipart body, byte-exact;
    None when it is malformed."""
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    if not m:
        return None
    delim = b"\r\n--" + m.group(1).encode()
    pieces = (b"\r\n" + body).split(delim)
    if len(pieces) < 3 or not pieces[-1].startswith(b"--"):
        return None
    out = []
    for piece in pieces[1:-1]:
        head, sep, data = piece.partition(b"\r\n\r\n")
        if not sep:
            return None
        out.append((email.parser.BytesHeaderParser(policy=email.policy.HTTP).parsebytes(
            head.lstrip(b" \t").lstrip(b"\r\n") + b"\r\n\r\n"), data))
    return out


def jdump(obj):
    return json.dumps(obj).encode()


def json_body(req):
    """The request body as a JSON object, or None when it is not one."""
    try:
        obj = json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def media_type(req):
    return req.headers.get("content-type", "").split(";")[0].strip().lower()


def bearer(req):
    auth = req.headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else None


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


# ---------------------------------------------------------------- mailgun

class Mailgun:
    """Mailgun Messages API.  POST /v3/{domain_name}/messages, HTTP Basic
    api:KEY, body multipart/form-data (or urlencoded when there are no
    files).  Fields: from, to, subject (required); cc, bcc; at least one of
    text, html, amp-html, template; h:X-Header, o:tag, v:var; attachment and
    inline file parts (multipart only).  o:/h:/v:/t: options are limited to
    16 KB total.  200 {"id": "<...@domain>", "message": "Queued. Thank
    you."}; errors {"message": ...} (401 answers plain "Forbidden", an
    unknown domain 404 "Domain not found: D").  GET /v3/domains/{name}."""

    DOMAIN = "mg.example.com"

    @staticmethod
    def error(status, message):
        if status == 401:
            return b"Forbidden"
        return jdump({"message": message})

    def auth(self, req):
        auth = req.headers.get("authorization", "")
        ok = False
        if auth[:6].lower() == "basic ":
            try:
                user, _, key = base64.b64decode(auth[6:]).decode().partition(":")
                ok = user == "api" and key == "key-test"
            except (binascii.Error, UnicodeDecodeError):
                ok = False
        if not ok:
            raise Reject(401, b"Forbidden", "mailgun: Basic auth must be api:key-test",
                         {"Content-Type": "text/plain"})

    def domain(self, name):
        if name != self.DOMAIN:
            raise Reject(404, jdump({"message": "Domain not found: " + name}),
                         "mailgun: unknown domain " + name)

    def check(self, req, name):
        self.auth(req)
        self.domain(name)
        return Reply(200, jdump({"domain": {"name": name, "state": "active"},
                                 "receiving_dns_records": [], "sending_dns_records": []}))

    def send(self, req, name):
        self.auth(req)
        self.domain(name)
        fields = self.fields(req)
        names = [f[0] for f in fields]
        for required in ("from", "to", "subject"):
            if required not in names:
                self.bad("'%s' parameter is missing" % required)
        if not any(n in names for n in ("text", "html", "amp-html", "template")):
            self.bad("Need at least one of 'text', 'html', 'amp-html' or 'template' "
                     "parameters specified")
        for fname, value, filename, _ in fields:
            if fname in ("from", "to", "cc", "bcc"):
                addrs = addr_list(value.decode("utf-8", "replace"))
                if not addrs or not all(valid_addr(a) for a in addrs):
                    self.bad("%s parameter is not a valid address. please check "
                             "documentation" % fname)
            if fname in ("attachment", "inline") and filename is None:
                self.bad("%s must be a file part: use multipart/form-data with a "
                         "filename" % fname)
        options = sum(len(f[0]) + len(f[1]) for f in fields if f[0][:2] in ("o:", "h:", "v:", "t:"))
        if options > 16 * 1024:
            self.bad("Send options (parameters starting with o:, h:, v:, or t:) "
                     "are limited to 16 kB total")
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        msgid = "<%s.%s@%s>" % (stamp, uuid.uuid4().hex[:16], name)
        return Reply(200, jdump({"id": msgid, "message": "Queued. Thank you."}))

    @staticmethod
    def bad(message):
        raise Reject(400, jdump({"message": message}), "mailgun: " + message)

    def fields(self, req):
        """[(name, value bytes, filename or None, content type)]."""
        mtype = media_type(req)
        if mtype == "application/x-www-form-urlencoded":
            pairs = urllib.parse.parse_qsl(req.body.decode("latin-1"), keep_blank_values=True)
            return [(k, v.encode("latin-1"), None, None) for k, v in pairs]
        if mtype != "multipart/form-data":
            self.bad("Content-Type must be multipart/form-data or "
                     "application/x-www-form-urlencoded, not '%s'" % mtype)
        parts = split_multipart(req.body, req.headers["content-type"])
        if parts is None:
            self.bad("malformed multipart/form-data body")
        out = []
        for head, data in parts:
            disp = head.get("content-disposition", "")
            pname = head.get_param("name", header="content-disposition")
            if not disp.startswith("form-data") or pname is None:
                self.bad("every multipart part needs Content-Disposition: form-data; name=...")
            out.append((pname, data, head.get_filename(), head.get_content_type()))
        return out


# ---------------------------------------------------------------- sendgrid

class SendGrid:
    """SendGrid v3 Mail Send.  POST /v3/mail/send, Authorization: Bearer
    KEY, Content-Type: application/json.  Body: personalizations[] (each
    with to[] required, cc[], bcc[] of {email, name}; an address only once
    per personalization), from {email, name}, reply_to, subject (global or
    in every personalization), content[] of {type, value} with text/plain
    before text/html, attachments[] {content (base64), filename, type,
    disposition inline|attachment}, categories (at most 10 unique, 255
    chars each), custom_args and headers (string values; reserved headers
    refused), mail_settings.sandbox_mode.enable.  202 with an empty body and
    X-Message-Id (200 and no id in sandbox mode); errors 4xx {"errors":
    [{"message", "field", "help"}]}.  GET /v3/scopes."""

    HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.%s"
    RESERVED = {"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
                "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"}

    @staticmethod
    def error(status, message, field=None):
        return jdump({"errors": [{"message": message, "field": field,
                                  "help": SendGrid.HELP % field if field else None}]})

    def fail(self, status, message, field=None):
        raise Reject(status, self.error(status, message, field),
                     "sendgrid: %s%s" % (message, " (field %s)" % field if field else ""))

    def auth(self, req):
        key = bearer(req)
        if key is None:
            self.fail(401, "authorization required")
        if key != "SG.test":
            self.fail(401, "The provided authorization grant is invalid, expired, or revoked")

    def check(self, req):
        self.auth(req)
        return Reply(200, jdump({"scopes": ["mail.send"]}))

    def send(self, req):
        self.auth(req)
        if media_type(req) != "application/json":
            self.fail(415, "Content-Type should be application/json.")
        body = json_body(req)
        if body is None:
            self.fail(400, "Bad Request")
        self.personalizations(body.get("personalizations"))
        self.email_obj(body.get("from"), "from",
                       "The from object must be provided for every email send. It is an "
                       "object that requires the email parameter, but may also contain a "
                       "name parameter.")
        if "reply_to" in body:
            self.email_obj(body["reply_to"], "reply_to", "The reply_to email does not "
                           "contain a valid address.")
        if not body.get("subject") and not all(
                p.get("subject") for p in body["personalizations"]):
            self.fail(400, "The subject is required. You can get around this requirement "
                      "if you use a template with a subject defined or if every "
                      "personalization has a subject defined.", "subject")
        self.content(body)
        self.attachments(body.get("attachments", []))
        self.categories(body.get("categories", []))
        for name in ("custom_args", "headers"):
            self.string_map(body.get(name, {}), name)
        for hdr in body.get("headers", {}):
            if hdr.lower() in self.RESERVED:
                self.fail(400, "The following headers cannot be overridden: %s"
                          % ", ".join(sorted(self.RESERVED)), "headers")
        sandbox = ((body.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable")
        if sandbox is True:
            return Reply(200)
        return Reply(202, b"", {"X-Message-Id": uuid.uuid4().hex[:22]})

    def personalizations(self, pers):
        if not isinstance(pers, list) or not pers:
            self.fail(400, "The personalizations field is required and must have at least "
                      "one personalization.", "personalizations")
        for i, p in enumerate(pers):
            if not isinstance(p, dict) or not isinstance(p.get("to"), list) or not p["to"]:
                self.fail(400, "The to array is required for all personalization objects, "
                          "and must have at least one email object with a valid email "
                          "address.", "personalizations.%d.to" % i)
            seen = set()
            for kind in ("to", "cc", "bcc"):
                for j, r in enumerate(p.get(kind, [])):
                    field = "personalizations.%d.%s.%d.email" % (i, kind, j)
                    self.email_obj(r, field.rsplit(".", 1)[0], "Does not contain a valid address.")
                    if r["email"].lower() in seen:
                        self.fail(400, "Each email address in the personalization block "
                                  "should be unique between to, cc, and bcc. We found the "
                                  "first duplicate instance of [%s] in the "
                                  "personalizations.%d.%s field." % (r["email"], i, kind),
                                  "personalizations.%d" % i)
                    seen.add(r["email"].lower())

    def email_obj(self, obj, field, message):
        if not isinstance(obj, dict) or not valid_addr(obj.get("email")) \
                or "<" in obj["email"]:
            self.fail(400, message, field + ".email")

    def content(self, body):
        content = body.get("content")
        if not isinstance(content, list) or not content:
            self.fail(400, "Unless a valid template_id is provided, the content parameter "
                      "is required. There must be at least one defined content block. We "
                      "typically suggest both text/plain and text/html blocks are "
                      "included, but only one block is required.", "content")
        types = []
        for i, c in enumerate(content):
            if not isinstance(c, dict) or not c.get("type"):
                self.fail(400, "The content type must be a string at least one character "
                          "in length.", "content.%d.type" % i)
            if not isinstance(c.get("value"), str) or not c["value"]:
                self.fail(400, "The content value must be a string at least one character "
                          "in length.", "content.%d.value" % i)
            types.append(c["type"])
        if types.count("text/plain") > 1 or types.count("text/html") > 1:
            self.fail(400, "If present, text/plain and text/html may only be provided "
                      "once.", "content")
        order = [t for t in types if t in ("text/plain", "text/html")]
        if types[:len(order)] != order or order == ["text/html", "text/plain"]:
            self.fail(400, "If present, text/plain must be first, followed by text/html, "
                      "followed by any other content.", "content")

    def attachments(self, atts):
        if not isinstance(atts, list):
            self.fail(400, "The attachments field must be an array.", "attachments")
        for i, a in enumerate(atts):
            if not isinstance(a, dict) or not is_b64(a.get("content")):
                self.fail(400, "The attachment content must be base64 encoded.",
                          "attachments.%d.content" % i)
            if not isinstance(a.get("filename"), str) or not a["filename"]:
                self.fail(400, "The attachment filename parameter is required.",
                          "attachments.%d.filename" % i)
            if a.get("disposition", "attachment") not in ("inline", "attachment"):
                self.fail(400, "The content-disposition of your attachment can only be "
                          "inline or attachment.", "attachments.%d.disposition" % i)
            if "type" in a and (not isinstance(a["type"], str) or not a["type"]):
                self.fail(400, "The attachment type must be a string at least one "
                          "character in length.", "attachments.%d.type" % i)

    def categories(self, cats):
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            self.fail(400, "The categories param must be an array of strings.", "categories")
        if len(cats) > 10:
            self.fail(400, "Too many categories. Please limit to 10.", "categories")
        if len(set(cats)) != len(cats):
            self.fail(400, "Categories must be unique.", "categories")
        if any(len(c) > 255 for c in cats):
            self.fail(400, "A category cannot be more than 255 characters.", "categories")

    def string_map(self, obj, field):
        if not isinstance(obj, dict):
            self.fail(400, "Invalid type. Expected: object, given: %s."
                      % type(obj).__name__, field)
        for k, v in obj.items():
            if not isinstance(v, str):
                self.fail(400, "Invalid type. Expected: string, given: %s."
                          % type(v).__name__, "%s.%s" % (field, k))


# ---------------------------------------------------------------- ses

def sigv4_key(secret, date, region, service):
    """The SigV4 signing key (AWS General Reference, "Create a signature")."""
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def sigv4_canonical(req, signed_headers, payload_hash):
    """The canonical request: method, URI, query, headers, signed list, hash."""
    path = "/".join(urllib.parse.quote(urllib.parse.unquote(s), safe="-_.~")
                    for s in req.path.split("/")) or "/"
    pairs = urllib.parse.parse_qsl(req.query, keep_blank_values=True)
    query = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"),
                                urllib.parse.quote(v, safe="-_.~")) for k, v in sorted(pairs))
    lines = []
    for name in signed_headers:
        values = req.header_list.get(name, [])
        lines.append("%s:%s\n" % (name, ",".join(" ".join(v.split()) for v in values)))
    return "\n".join([req.method, path, query, "".join(lines),
                      ";".join(signed_headers), payload_hash])


class SES:
    """Amazon SES API v2 SendEmail.  POST /v2/email/outbound-emails on
    email.REGION.amazonaws.com, signed with AWS Signature Version 4 (service
    "ses"); JSON body: FromEmailAddress, Destination {ToAddresses,
    CcAddresses, BccAddresses}, ReplyToAddresses, Content with exactly one
    of Simple {Subject {Data}, Body {Text, Html}, Headers [{Name, Value}],
    Attachments [{FileName, RawContent (base64), ...}]} or Raw {Data: base64
    MIME}, ConfigurationSetName, EmailTags [{Name, Value}] (ASCII letters,
    digits, _ and -, at most 256 characters).  200 {"MessageId": ...};
    errors carry x-amzn-ErrorType and {"message": ...}.  GET
    /v2/email/account (signed) for the check.  The signature is checked
    over the Host the client sent (tests reach 127.0.0.1, not AWS)."""

    ACCESS_KEY, SECRET, REGION, SERVICE = "AKIDTEST", "secret-test", "us-east-1", "ses"

    @staticmethod
    def error(status, message):
        return jdump({"message": message})

    @staticmethod
    def fault_headers(status):
        etype = {400: "BadRequestException", 403: "AccessDeniedException",
                 404: "NotFoundException", 429: "TooManyRequestsException",
                 500: "InternalFailure", 503: "ServiceUnavailable"}.get(status, "InternalFailure")
        return {"x-amzn-ErrorType": etype, "x-amzn-RequestId": str(uuid.uuid4())}

    def fail(self, status, etype, message):
        raise Reject(status, jdump({"message": message}), "ses: %s: %s" % (etype, message),
                     {"x-amzn-ErrorType": etype, "x-amzn-RequestId": str(uuid.uuid4())})

    def verify(self, req):
        auth = req.headers.get("authorization")
        if not auth:
            self.fail(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        m = re.match(r"^AWS4-HMAC-SHA256 (.*)$", auth)
        params = dict(p.strip().split("=", 1) for p in m.group(1).split(",") if "=" in p) if m else {}
        for need in ("Credential", "SignedHeaders", "Signature"):
            if need not in params:
                self.fail(403, "IncompleteSignatureException", "Authorization header requires "
                          "'%s' parameter. Authorization=%s" % (need, auth))
        scope = params["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            self.fail(403, "IncompleteSignatureException",
                      "Credential must have exactly 5 slash-delimited elements, e.g. "
                      "keyid/date/region/service/term, got '%s'" % params["Credential"])
        key_id, date, region, service, _ = scope
        if key_id != self.ACCESS_KEY:
            self.fail(403, "UnrecognizedClientException",
                      "The security token included in the request is invalid.")
        amz_date = req.headers.get("x-amz-date", "")
        if not re.match(r"^\d{8}T\d{6}Z$", amz_date):
            self.fail(403, "IncompleteSignatureException", "Authorization header requires "
                      "existence of either a 'X-Amz-Date' or a 'Date' header.")
        if date != amz_date[:8]:
            self.fail(403, "SignatureDoesNotMatch", "Date in Credential scope does not match "
                      "YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from "
                      "'%s'." % (date, amz_date[:8], amz_date))
        if region != self.REGION:
            self.fail(403, "SignatureDoesNotMatch",
                      "Credential should be scoped to a valid region, not '%s'." % region)
        if service != self.SERVICE:
            self.fail(403, "SignatureDoesNotMatch",
                      "Credential should be scoped to correct service: '%s'." % self.SERVICE)
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
        skew = abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds())
        if skew > 15 * 60:
            self.fail(403, "InvalidSignatureException", "Signature expired: %s is now earlier "
                      "than the allowed 15 minutes of clock skew." % amz_date)
        signed = params["SignedHeaders"].split(";")
        if "host" not in signed:
            self.fail(403, "SignatureDoesNotMatch",
                      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
        body_hash = hashlib.sha256(req.body).hexdigest()
        claimed = req.headers.get("x-amz-content-sha256")
        if claimed is not None and claimed != body_hash:
            self.fail(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' "
                      "header does not match what was computed.")
        canonical = sigv4_canonical(req, signed, body_hash)
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, "/".join(scope[1:]),
                             hashlib.sha256(canonical.encode()).hexdigest()])
        want = hmac.new(sigv4_key(self.SECRET, date, region, service), to_sign.encode(),
                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, params["Signature"]):
            self.fail(403, "SignatureDoesNotMatch", "The request signature we calculated does "
                      "not match the signature you provided. Check your AWS Secret Access Key "
                      "and signing method. Consult the service documentation for details.\n\n"
                      "The Canonical String for this request should have been\n'%s'\n\nThe "
                      "String-to-Sign should have been\n'%s'\n" % (canonical, to_sign))

    def check(self, req):
        self.verify(req)
        return Reply(200, jdump({"SendingEnabled": True, "ProductionAccessEnabled": True,
                                 "EnforcementStatus": "HEALTHY",
                                 "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0,
                                               "SentLast24Hours": 0.0}}))

    def bad(self, message):
        self.fail(400, "BadRequestException", message)

    def send(self, req):
        self.verify(req)
        if media_type(req) != "application/json":
            self.fail(400, "SerializationException", "Content-Type must be application/json, "
                      "not '%s'" % media_type(req))
        body = json_body(req)
        if body is None:
            self.fail(400, "SerializationException", "Request body is not a JSON object")
        content = body.get("Content")
        if not isinstance(content, dict):
            self.bad("1 validation error detected: Value null at 'content' failed to satisfy "
                     "constraint: Member must not be null")
        kinds = [k for k in ("Simple", "Raw", "Template") if k in content]
        if len(kinds) != 1:
            self.bad("Content must contain exactly one of Simple, Raw or Template")
        self.addresses(body)
        if "Simple" in content:
            self.simple(content["Simple"])
            if not body.get("FromEmailAddress"):
                self.bad("Missing required parameter FromEmailAddress for a Simple message")
        elif "Raw" in content:
            self.raw(content["Raw"], body)
        else:
            self.bad("Template content is not supported by this test server")
        for i, tag in enumerate(body.get("EmailTags", [])):
            for part in ("Name", "Value"):
                if not isinstance(tag, dict) or not TAG_RE.match(str(tag.get(part, ""))):
                    self.bad("Invalid tag %s '%s' at EmailTags.%d: it can only contain ASCII "
                             "letters (a-z, A-Z), numbers (0-9), underscores (_), or dashes "
                             "(-), and no more than 256 characters."
                             % (part.lower(), (tag or {}).get(part), i))
        if "ConfigurationSetName" in body and not body["ConfigurationSetName"]:
            self.bad("ConfigurationSetName must not be empty")
        return Reply(200, jdump({"MessageId": "0100%x-%s-000000" % (
            int(time.time() * 1000), uuid.uuid4())}), {"x-amzn-RequestId": str(uuid.uuid4())})

    def addresses(self, body):
        dest = body.get("Destination", {})
        if not isinstance(dest, dict):
            self.bad("Destination must be an object")
        groups = [("Destination." + k, dest.get(k, [])) for k in
                  ("ToAddresses", "CcAddresses", "BccAddresses")]
        groups.append(("ReplyToAddresses", body.get("ReplyToAddresses", [])))
        if body.get("FromEmailAddress") is not None:
            groups.append(("FromEmailAddress", [body["FromEmailAddress"]]))
        for field, addrs in groups:
            if not isinstance(addrs, list):
                self.bad("%s must be a list of addresses" % field)
            for a in addrs:
                if not valid_addr(a):
                    self.bad("Missing final '@domain' in %s: '%s'" % (field, a))
        if "Raw" not in body["Content"] and not any(dest.get(k) for k in
                                                    ("ToAddresses", "CcAddresses", "BccAddresses")):
            self.bad("Missing required parameter: at least one address in Destination")

    def simple(self, simple):
        if not isinstance(simple, dict) or not isinstance(simple.get("Subject"), dict) \
                or not isinstance(simple["Subject"].get("Data"), str):
            self.bad("1 validation error detected: Value null at 'content.simple.subject' "
                     "failed to satisfy constraint: Member must not be null")
        body = simple.get("Body")
        if not isinstance(body, dict) or not any(
                isinstance(body.get(k), dict) and isinstance(body[k].get("Data"), str)
                for k in ("Text", "Html")):
            self.bad("Simple.Body must contain Text or Html with Data")
        for i, h in enumerate(simple.get("Headers", [])):
            if not isinstance(h, dict) or not h.get("Name") or not isinstance(h.get("Value"), str):
                self.bad("Simple.Headers.%d needs Name and Value" % i)
        for i, a in enumerate(simple.get("Attachments", [])):
            if not isinstance(a, dict) or not a.get("FileName"):
                self.bad("Simple.Attachments.%d: FileName is required" % i)
            if not is_b64(a.get("RawContent")):
                self.bad("Simple.Attachments.%d: RawContent must be base64" % i)
            if a.get("ContentDisposition", "ATTACHMENT") not in ("ATTACHMENT", "INLINE"):
                self.bad("Simple.Attachments.%d: ContentDisposition must be ATTACHMENT or "
                         "INLINE" % i)

    def raw(self, raw, body):
        data = raw.get("Data") if isinstance(raw, dict) else None
        if not is_b64(data):
            self.fail(400, "SerializationException", "Content.Raw.Data must be base64")
        msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            base64.b64decode(data))
        if not msg.get("From") and not body.get("FromEmailAddress"):
            self.bad("Raw message has no From header and there is no FromEmailAddress")
        dest = body.get("Destination", {})
        if not any(msg.get(h) for h in ("To", "Cc", "Bcc")) and not any(
                dest.get(k) for k in ("ToAddresses", "CcAddresses", "BccAddresses")):
            self.bad("Raw message has no recipients (no To/Cc/Bcc and no Destination)")


# ---------------------------------------------------------------- resend

class Resend:
    """Resend Send Email.  POST /emails, Authorization: Bearer KEY, a
    User-Agent (without one the edge answers 403 "error code: 1010").  JSON:
    from, to (string or array, at most 50), subject (required), cc, bcc,
    reply_to, html and/or text, headers {}, attachments [{filename, content
    (base64) or path}], tags [{name, value}] (ASCII letters, numbers, _ and
    -, at most 256 characters).  Idempotency-Key (1-256 chars): the same key
    with the same body gets the same answer, with another body 409.  200
    {"id": ...}; errors {"statusCode", "name", "message"}.  GET /domains."""

    @staticmethod
    def error(status, message, name=None):
        names = {400: "validation_error", 401: "missing_api_key", 403: "invalid_api_key",
                 404: "not_found", 409: "invalid_idempotent_request",
                 422: "validation_error", 429: "rate_limit_exceeded"}
        return jdump({"statusCode": status, "name": name or names.get(status, "application_error"),
                      "message": message})

    def fail(self, status, name, message):
        raise Reject(status, self.error(status, message, name), "resend: %s: %s" % (name, message))

    def auth(self, req):
        if not req.headers.get("user-agent"):
            raise Reject(403, b"error code: 1010", "resend: requests need a User-Agent header",
                         {"Content-Type": "text/plain"})
        key = bearer(req)
        if key is None:
            self.fail(401, "missing_api_key", "Missing API key in the authorization header. "
                      "Include the following header Authorization: Bearer YOUR_API_KEY in "
                      "the request.")
        if key != "re_test":
            self.fail(403, "invalid_api_key", "API key is invalid")

    def check(self, req):
        self.auth(req)
        return Reply(200, jdump({"object": "list", "data": [
            {"id": str(uuid.uuid4()), "name": "example.com", "status": "verified",
             "created_at": now_iso(), "region": "us-east-1"}]}))

    def send(self, req):
        self.auth(req)
        key = req.headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 256:
            self.fail(400, "invalid_idempotency_key", "The key must be between 1-256 chars.")
        if media_type(req) != "application/json":
            self.fail(400, "validation_error", "Invalid `Content-Type` header: use "
                      "application/json")
        body = json_body(req)
        if body is None:
            self.fail(400, "validation_error", "Invalid JSON body")
        for field in ("from", "to", "subject"):
            if not body.get(field):
                self.fail(422, "missing_required_field", "Missing `%s` field." % field)
        if "html" not in body and "text" not in body:
            self.fail(422, "missing_required_field", "Missing `html` or `text` field.")
        self.fields(body)
        if key is not None:
            digest = hashlib.sha256(req.body).hexdigest()
            with LOCK:
                seen = IDEMPOTENCY.get(key)
                if seen is None:
                    IDEMPOTENCY[key] = seen = (digest, str(uuid.uuid4()))
            if seen[0] != digest:
                self.fail(409, "invalid_idempotent_request",
                          "Same idempotency key used with a different request payload.")
            return Reply(200, jdump({"id": seen[1]}))
        return Reply(200, jdump({"id": str(uuid.uuid4())}))

    def fields(self, body):
        if not valid_addr(body["from"]):
            self.fail(422, "validation_error", "Invalid `from` field. The email address needs "
                      "to follow the `email@example.com` or `Name <email@example.com>` format.")
        for field in ("to", "cc", "bcc", "reply_to"):
            value = body.get(field, [])
            addrs = [value] if isinstance(value, str) else value
            if not isinstance(addrs, list) or not all(valid_addr(a) for a in addrs):
                self.fail(422, "validation_error", "Invalid `%s` field. The email address "
                          "needs to follow the `email@example.com` or `Name "
                          "<email@example.com>` format." % field)
            if field == "to" and len(addrs) > 50:
                self.fail(422, "validation_error", "Too many recipients in `to`: max 50.")
        headers = body.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            self.fail(422, "validation_error", "`headers` must be an object of strings.")
        for att in body.get("attachments", []):
            if not isinstance(att, dict) or ("content" not in att and "path" not in att):
                self.fail(422, "invalid_attachment", "Attachment must have either a "
                          "`content` or `path`.")
            if "content" in att and not is_b64(att["content"]):
                self.fail(422, "invalid_attachment", "Attachment `content` must be base64.")
        tags = body.get("tags", [])
        if not isinstance(tags, list) or len(tags) > 75:
            self.fail(422, "validation_error", "`tags` must be an array of at most 75 tags.")
        for tag in tags:
            if not isinstance(tag, dict) or not all(
                    TAG_RE.match(str(tag.get(k, ""))) for k in ("name", "value")):
                self.fail(422, "validation_error", "Tags should only contain ASCII letters, "
                          "numbers, underscores, or dashes, at most 256 characters: %s"
                          % json.dumps(tag))


# ---------------------------------------------------------------- postmark

class Postmark:
    """Postmark Email API.  POST /email with X-Postmark-Server-Token,
    Accept and Content-Type application/json (otherwise 415).  JSON: From,
    To, Cc, Bcc (comma-separated strings, 50 recipients at most), Subject,
    ReplyTo, TextBody and/or HtmlBody, Headers [{Name, Value}], Tag (one
    string, 1000 chars), Metadata {} (10 fields, names 20 / values 80
    chars), Attachments [{Name, Content (base64), ContentType}],
    MessageStream (this server has "outbound" and "broadcast").  200 {"To",
    "SubmittedAt", "MessageID", "ErrorCode": 0, "Message": "OK"}; errors
    {"ErrorCode": N, "Message": ...}: 401 for the token, else 422 (300
    invalid request, 402 invalid JSON, 403 invalid field, 1235 unknown
    stream).  GET /server."""

    STREAMS = ("outbound", "broadcast")

    @staticmethod
    def error(status, message, code=None):
        return jdump({"ErrorCode": code if code is not None else
                      {401: 10, 422: 300, 429: 429, 500: 100}.get(status, status),
                      "Message": message})

    def fail(self, status, code, message):
        raise Reject(status, self.error(status, message, code),
                     "postmark: ErrorCode %d: %s" % (code, message))

    def auth(self, req):
        token = req.headers.get("x-postmark-server-token")
        if token is None:
            self.fail(401, 10, "No Account or Server API tokens were supplied in the HTTP "
                      "headers. Please add a header for either X-Postmark-Server-Token or "
                      "X-Postmark-Account-Token.")
        if token != "pm-test":
            self.fail(401, 10, "The Server Token you provided in the X-Postmark-Server-Token "
                      "header was invalid. Please verify that you are using a valid token.")

    def check(self, req):
        self.auth(req)
        return Reply(200, jdump({"ID": 1, "Name": "herald-test", "ApiTokens": ["pm-test"],
                                 "Color": "blue", "DeliveryType": "Live"}))

    def send(self, req):
        self.auth(req)
        accept = [a.split(";")[0].strip().lower()
                  for a in req.headers.get("accept", "").split(",")]
        if media_type(req) != "application/json" or "application/json" not in accept:
            self.fail(415, 409, "JSON required: send Accept: application/json and "
                      "Content-Type: application/json.")
        body = json_body(req)
        if body is None:
            self.fail(422, 402, "Received invalid JSON input.")
        string_fields = ("From", "To", "Cc", "Bcc", "Subject", "ReplyTo", "TextBody",
                         "HtmlBody", "Tag", "MessageStream")
        bad = [f for f in string_fields if f in body and not isinstance(body[f], str)]
        bad += [f for f in ("Headers", "Attachments") if f in body and not isinstance(body[f], list)]
        bad += [f for f in ("Metadata",) if f in body and not isinstance(body[f], dict)]
        if bad:
            self.fail(422, 403, "Invalid request field(s): %s" % ", ".join(bad))
        self.addresses(body)
        if not body.get("TextBody") and not body.get("HtmlBody"):
            self.fail(422, 300, "Provide either email TextBody or HtmlBody or both.")
        self.extras(body)
        stream = body.get("MessageStream", "outbound")
        if stream not in self.STREAMS:
            self.fail(422, 1235, "The message stream for the provided 'ID' was not found.")
        return Reply(200, jdump({"To": body.get("To", ""), "SubmittedAt": now_iso(),
                                 "MessageID": str(uuid.uuid4()), "ErrorCode": 0,
                                 "Message": "OK"}))

    def addresses(self, body):
        if not body.get("From") or not valid_addr(body["From"]):
            self.fail(422, 300, "Invalid 'From' address: '%s'." % body.get("From", ""))
        total = 0
        for field in ("To", "Cc", "Bcc", "ReplyTo"):
            addrs = addr_list(body.get(field, ""))
            for a in addrs:
                if not valid_addr(a):
                    self.fail(422, 300, "Error parsing '%s': Illegal email address '%s'. It "
                              "must contain the '@' symbol." % (field, a))
            if field != "ReplyTo":
                total += len(addrs)
        if total == 0:
            self.fail(422, 300, "Zero recipients specified")
        if total > 50:
            self.fail(422, 300, "Too many recipients: the limit is 50 (To, Cc and Bcc).")

    def extras(self, body):
        for h in body.get("Headers", []):
            if not isinstance(h, dict) or not h.get("Name") or not isinstance(h.get("Value"), str):
                self.fail(422, 403, "Invalid request field(s): Headers (each needs Name and "
                          "Value)")
        if len(body.get("Tag", "")) > 1000:
            self.fail(422, 300, "Tag is too long: the limit is 1000 characters.")
        meta = body.get("Metadata", {})
        if len(meta) > 10 or any(len(k) > 20 or not isinstance(v, str) or len(v) > 80
                                 for k, v in meta.items()):
            self.fail(422, 300, "Invalid metadata: at most 10 fields, names up to 20 and "
                      "string values up to 80 characters.")
        for a in body.get("Attachments", []):
            if not isinstance(a, dict) or not a.get("Name") or not a.get("ContentType") \
                    or not is_b64(a.get("Content")):
                self.fail(422, 300, "Invalid attachment: Name, Content (base64) and "
                          "ContentType are required.")


# ---------------------------------------------------------------- mailtrap

class Mailtrap:
    """Mailtrap Email Sending API.  POST /api/send (send.api.mailtrap.io) or
    POST /api/send/{inbox_id} (sandbox.api.mailtrap.io), Authorization:
    Bearer TOKEN or Api-Token: TOKEN.  JSON: from {email, name} (required),
    to/cc/bcc [{email, name}] (one at least), reply_to, subject, text and/or
    html, attachments [{content (base64), filename, type, disposition}],
    category (255 chars), custom_variables {} and headers {} of strings.
    200 {"success": true, "message_ids": [one per recipient]}; errors
    {"success": false, "errors": [...]}.  GET /api/accounts."""

    INBOX = "1234"

    @staticmethod
    def error(status, message):
        return jdump({"success": False, "errors": [message]})

    def fail(self, status, message):
        raise Reject(status, self.error(status, message), "mailtrap: " + message)

    def token_ok(self, req):
        return "mt-test" in (bearer(req), req.headers.get("api-token"))

    def check(self, req):
        if not self.token_ok(req):
            raise Reject(401, jdump({"error": "Incorrect API token"}),
                         "mailtrap: bad API token")
        return Reply(200, jdump([{"id": 1, "name": "herald-test", "access_levels": [1000]}]))

    def send(self, req, inbox=None):
        if not self.token_ok(req):
            self.fail(401, "Unauthorized")
        if inbox is not None and inbox != self.INBOX:
            self.fail(404, "Not Found: inbox %s does not exist" % inbox)
        if media_type(req) != "application/json":
            self.fail(400, "Content-Type must be application/json")
        body = json_body(req)
        if body is None:
            self.fail(400, "Invalid JSON")
        if "from" not in body:
            self.fail(400, "'from' is required")
        if not self.address(body["from"]):
            self.fail(400, "'from' address is invalid")
        count = 0
        for field in ("to", "cc", "bcc"):
            value = body.get(field, [])
            if not isinstance(value, list) or not all(self.address(a) for a in value):
                self.fail(400, "'%s' address is invalid" % field)
            count += len(value)
        if count == 0:
            self.fail(400, "'to', 'cc' or 'bcc' address is required")
        if "reply_to" in body and not self.address(body["reply_to"]):
            self.fail(400, "'reply_to' address is invalid")
        if not isinstance(body.get("subject"), str) or not body["subject"]:
            self.fail(400, "'subject' is required")
        if not body.get("text") and not body.get("html"):
            self.fail(400, "must specify either text or html body")
        self.extras(body)
        return Reply(200, jdump({"success": True,
                                 "message_ids": [str(uuid.uuid4()) for _ in range(count)]}))

    @staticmethod
    def address(obj):
        return isinstance(obj, dict) and isinstance(obj.get("email"), str) \
            and bool(ADDR_RE.match(obj["email"])) and isinstance(obj.get("name", ""), str)

    def extras(self, body):
        for i, a in enumerate(body.get("attachments", [])):
            if not isinstance(a, dict) or not a.get("filename"):
                self.fail(400, "'attachments[%d].filename' is required" % i)
            if not is_b64(a.get("content")):
                self.fail(400, "'attachments[%d].content' must be base64" % i)
            if a.get("disposition", "attachment") not in ("attachment", "inline"):
                self.fail(400, "'attachments[%d].disposition' must be attachment or inline" % i)
        if len(body.get("category", "")) > 255:
            self.fail(400, "'category' is too long (255 characters at most)")
        for field in ("custom_variables", "headers"):
            value = body.get(field, {})
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                self.fail(400, "'%s' must be an object of strings" % field)


# ---------------------------------------------------------------- routing

MAILGUN, SENDGRID, SES_, RESEND, POSTMARK, MAILTRAP = (
    Mailgun(), SendGrid(), SES(), Resend(), Postmark(), Mailtrap())

# (method, path regex, provider, handler): first match wins.
ROUTES = [
    ("POST", r"/v3/mail/send", SENDGRID, SENDGRID.send),
    ("GET", r"/v3/scopes", SENDGRID, SENDGRID.check),
    ("GET", r"/v3/domains/([^/]+)", MAILGUN, MAILGUN.check),
    ("POST", r"/v3/([^/]+)/messages", MAILGUN, MAILGUN.send),
    ("POST", r"/v2/email/outbound-emails", SES_, SES_.send),
    ("GET", r"/v2/email/account", SES_, SES_.check),
    ("POST", r"/emails", RESEND, RESEND.send),
    ("GET", r"/domains", RESEND, RESEND.check),
    ("POST", r"/email", POSTMARK, POSTMARK.send),
    ("GET", r"/server", POSTMARK, POSTMARK.check),
    ("POST", r"/api/send", MAILTRAP, MAILTRAP.send),
    ("POST", r"/api/send/([^/]+)", MAILTRAP, MAILTRAP.send),
    ("GET", r"/api/accounts", MAILTRAP, MAILTRAP.check),
]


def route(method, path):
    """(provider, handler, path args) or (provider or None, None, why)."""
    known = None
    for m, pattern, provider, handler in ROUTES:
        match = re.fullmatch(pattern, path)
        if match:
            if m == method:
                return provider, handler, match.groups()
            known = provider
    return known, None, "405" if known else "404"


def take_fault(path):
    """The first pending fault that matches @path, consuming one use."""
    with LOCK:
        for fault in FAULTS:
            if path.startswith(fault.get("path_prefix", "")):
                fault["count"] -= 1
                if fault["count"] <= 0:
                    FAULTS.remove(fault)
                return fault
    return None


class Request:
    """What a provider sees: method, path, query, headers, body."""

    def __init__(self, method, path, query, header_items, body):
        self.method, self.path, self.query, self.body = method, path, query, body
        self.header_list = {}
        for k, v in header_items:
            self.header_list.setdefault(k.lower(), []).append(v)
        self.headers = {k: ", ".join(v) for k, v in self.header_list.items()}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "herald-provider-test/1"

    def setup(self):
        super().setup()
        # Headers and body leave in separate writes: without TCP_NODELAY the
        # body waits for the client's delayed ACK (40 ms per answer).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn_id = next(CONN_IDS)
        self.was_reset = False

    def log_message(self, fmt, *args):
        sys.stderr.write("[conn %d] %s\n" % (self.conn_id, fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        req = Request(self.command, url.path, url.query, self.headers.items(), self.read_body())
        if url.path.startswith("/_test/"):
            return self.control(req)
        record = {"method": req.method, "path": req.path, "query": req.query,
                  "headers": req.headers, "body_b64": base64.b64encode(req.body).decode(),
                  "conn_id": self.conn_id, "verdict": "ok"}
        with LOCK:
            RECORDS.append(record)
        provider, handler, args = route(req.method, req.path)
        fault = take_fault(req.path)
        if fault and fault.get("mode") == "reset":
            record["verdict"] = "fault: connection reset"
            return self.reset()
        if fault and fault.get("mode") == "slow":
            time.sleep(float(fault.get("delay", 5)))
        if fault and fault.get("mode", "status") in ("status", "truncate", "endless"):
            mode = fault.get("mode", "status")
            status = int(fault.get("status", 500 if mode == "status" else 200))
            body = fault.get("body")
            if body is None:
                body = provider.error(status, "injected fault %d" % status) if provider \
                    else jdump({"message": "injected fault %d" % status})
            def echo(text):
                return re.sub(r"\{header:([A-Za-z0-9-]+)\}",
                              lambda m: req.headers.get(m.group(1).lower(), ""), text)
            if isinstance(body, bytes):
                body = body.decode("utf-8", "replace")
            body = echo(body).encode() + b"x" * int(fault.get("pad", 0))
            record["verdict"] = "fault: %s %d" % (mode, status)
            headers = dict(getattr(provider, "fault_headers", lambda s: {})(status))
            headers.update({k: echo(str(v)) for k, v in fault.get("headers", {}).items()})
            if mode == "truncate":
                return self.truncated(status, body, headers)
            if mode == "endless":
                return self.endless(status, headers)
            return self.answer(status, body, headers)
        if handler is None:
            record["verdict"] = "no such endpoint: %s %s" % (req.method, req.path)
            status = int(args)
            return self.answer(status, jdump({"message": "%s %s: %s" % (
                req.method, req.path, "method not allowed" if status == 405 else "not found")}))
        try:
            reply = handler(req, *args)
        except Reject as rej:
            record["verdict"] = rej.reason
            return self.answer(rej.status, rej.body, rej.headers)
        return self.answer(reply.status, reply.body, reply.headers)

    def answer(self, status, body, headers=None):
        headers = headers or {}
        self.send_response(status)
        names = {k.lower() for k in headers}
        if "content-type" not in names and body:
            ctype = "application/json"
            try:
                json.loads(body)
            except ValueError:
                ctype = "text/plain"
            self.send_header("Content-Type", ctype)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def truncated(self, status, body, headers):
        """Promise the whole body, send half of it, close."""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body) + 10))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def endless(self, status, headers):
        """A chunked body that does not end (64 MiB at most)."""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        try:
            self.wfile.write(b"1\r\n{\r\n")
            for _ in range(1024):
                self.wfile.write(chunk)
        except OSError:
            pass
        self.close_connection = True

    def reset(self):
        """Close the TCP connection with an RST and no answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.was_reset = True
        self.close_connection = True
        for f in (self.wfile, self.rfile):
            try:
                f.close()
            except OSError:
                pass
        self.connection.close()

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except ValueError:      # the files were closed by reset()
            if not self.was_reset:
                raise

    def finish(self):
        if not self.was_reset:
            try:
                super().finish()
            except OSError:
                pass

    def control(self, req):
        if req.path == "/_test/requests" and req.method == "GET":
            with LOCK:
                return self.answer(200, jdump(RECORDS), {})
        if req.path == "/_test/reset" and req.method == "POST":
            with LOCK:
                RECORDS.clear()
                FAULTS.clear()
                CONNECT_RESETS[0] = 0
                IDEMPOTENCY.clear()
            return self.answer(200, jdump({"ok": True}), {})
        if req.path == "/_test/fault" and req.method == "POST":
            fault = json_body(req)
            try:
                if fault.get("mode", "status") not in FAULT_MODES:
                    raise ValueError(fault.get("mode"))
                fault["count"] = int(fault.get("count", 1))
                int(fault.get("status", 500))
                float(fault.get("delay", 5))
                if int(fault.get("pad", 0)) < 0 or not isinstance(fault.get("body", ""), str):
                    raise ValueError("pad")
            except (AttributeError, TypeError, ValueError):
                return self.answer(400, jdump({"message": "fault: a JSON object with mode "
                                               "one of %s, numeric status, delay and count, "
                                               "a string body and pad >= 0"
                                               % ", ".join(FAULT_MODES)}), {})
            with LOCK:
                if fault.get("mode") == "reset_on_connect":
                    CONNECT_RESETS[0] += fault["count"]
                else:
                    FAULTS.append(fault)
            return self.answer(200, jdump({"ok": True}), {})
        return self.answer(404, jdump({"message": "unknown control endpoint"}), {})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    tls = None

    def finish_request(self, request, client_address):
        with LOCK:
            doomed = CONNECT_RESETS[0] > 0
            CONNECT_RESETS[0] -= doomed
        if doomed:
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            request.close()
            return
        # The TLS handshake runs in the connection's own thread.
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                sys.stderr.write("TLS handshake failed: %s\n" % e)
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        sys.stderr.write("connection error from %s: %s\n" % (client_address, sys.exc_info()[1]))


class TrapHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sys.stderr.write("trap: connection from %s\n" % (self.client_address,))
        sys.stderr.flush()
        try:
            self.request.recv(4096)
        except OSError:
            pass


class Trap(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--plain", action="store_true", help="HTTP instead of HTTPS")
    ap.add_argument("--bind", default="127.0.0.1", help="address to listen on (::1 too)")
    ap.add_argument("--trap", action="store_true",
                    help="a proxy stand-in: log \"trap: connection\" for each TCP "
                         "connection (to stderr) and close it; nothing else")
    opts = ap.parse_args()
    family = socket.AF_INET6 if ":" in opts.bind else socket.AF_INET
    Server.address_family = family
    if opts.trap:
        server = Trap((opts.bind, 0), TrapHandler)
        opts.plain = True
    else:
        server = Server((opts.bind, 0), Handler)
    if not opts.plain:
        if not opts.cert or not opts.key:
            ap.error("--cert and --key are required unless --plain")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts.cert, opts.key)
        server.tls = ctx
    port_file = os.environ.get("TU_PORT_FILE")
    if port_file:
        with open(port_file + ".tmp", "w") as f:
            f.write("%d\n" % server.server_address[1])
        os.rename(port_file + ".tmp", port_file)
    else:
        print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
