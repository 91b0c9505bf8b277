#!/usr/bin/python3
"""tests/support/servers/smtpd.py - a real SMTP server (Debian's python3-aiosmtpd)
for tests/plugins/smtp/test_smtp.c.  Run it with /usr/bin/python3.

usage: smtpd.py --dir MSGDIR [--mode plain|starttls|implicit]
                [--certs DIR] [--cert NAME] [--auth USER:PASS]
                [--mechs PLAIN,LOGIN,CRAM-MD5,XOAUTH2] [--token TOKEN]
                [--pipelining] [--smtputf8] [--size N] [--no-queue-id]
                [--reject-rcpt ADDR]... [--reject-sender ADDR]
                [--count FILE] [--close-on-mail-after N] [--close-on-rset-after N]
                [--close-on-rcpt-after N] [--drop-after-data]
                [--drop-after-data-on N] [--no-ehlo] [--listen ADDR]

It listens on 127.0.0.1 on an ephemeral port and writes the port and a
newline to $TU_PORT_FILE once it accepts connections.

  --mode         plain (no TLS), starttls (STARTTLS offered and required
                 before MAIL), implicit (TLS from the first byte)
  --certs/--cert DIR/NAME.pem and DIR/NAME.key (as made by tu_make_certs)
  --auth         accept AUTH with this user and password (only over TLS)
                 and require it before MAIL
  --mechs        mechanisms offered (default PLAIN,LOGIN); CRAM-MD5 and
                 XOAUTH2 are implemented here
  --token        the bearer token XOAUTH2 accepts
  --pipelining   advertise PIPELINING (aiosmtpd reads commands in order,
                 so pipelined commands work)
  --smtputf8     advertise and accept SMTPUTF8
  --size N       advertise SIZE N and refuse bigger messages (0: no SIZE)
  --no-queue-id  final reply "250 OK" instead of "250 2.0.0 Ok: queued as ID"
  --reject-rcpt  answer RCPT TO for this address with 550
  --reject-sender answer MAIL FROM for this address with 553 5.7.1
  --count        file holding "CONNECTIONS QUITS MAILS": connections accepted,
                 QUIT commands received and MAIL FROM accepted so far
  --close-on-mail-after N
                 drop a connection when MAIL arrives after N messages on it
  --close-on-rset-after N
                 the same when RSET arrives (the first command of a
                 transaction on a kept connection)
  --close-on-rcpt-after N
                 the same when RCPT arrives (MAIL was accepted already)
  --drop-after-data
                 store the message, then drop the connection instead of
                 answering the final dot
  --drop-after-data-on N
                 the same for the Nth message received only (counted over
                 all connections, from 1); the others are answered
  --no-ehlo      answer EHLO with 502 (an old server: HELO only)
  --listen       the address to listen on (default 127.0.0.1; ::1 for IPv6)

Each message received becomes MSGDIR/NNNN.msg (written atomically):

  mail_from ADDR
  mail_option OPT         one per MAIL FROM parameter
  rcpt_to ADDR            one per accepted recipient
  auth MECH USER          when the session authenticated
  tls yes|no
  helo NAME
  pipelined yes|no        more commands were already waiting when MAIL came
  connection N            which connection (1-based) carried it
  queue_id ID
                          (a blank line)
  the message exactly as received (dot-unstuffed, CRLF line ends)
"""

import argparse
import asyncio
import base64
import hmac
import logging
import os
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, MISSING

ALL_MECHS = {"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"}


class State:
    connections = 0
    quits = 0
    mails = 0          # MAIL FROM commands accepted (transactions started)
    messages = 0
    count_file = None

    @classmethod
    def save(cls):
        if cls.count_file:
            write_atomic(cls.count_file, b"%d %d %d\n" % (cls.connections, cls.quits,
                                                       cls.mails))


def write_atomic(path, data):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


class Handler:
    def __init__(self, args):
        self.args = args
        self.user, _, self.password = (args.auth or ":").partition(":")

    # ---- authentication ------------------------------------------------
    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login.decode() == self.user and
              auth_data.password.decode() == self.password)
        return AuthResult(success=ok, handled=False,
                          auth_data=(mechanism, self.user) if ok else None)

    async def auth_CRAM__MD5(self, server, args):
        challenge = ("<%d.%d@herald-test>" % (os.getpid(), time.time_ns())).encode()
        resp = await server.challenge_auth(challenge)
        if resp is MISSING:
            return AuthResult(success=False, handled=True)
        user, _, digest = resp.decode(errors="replace").rpartition(" ")
        want = hmac.new(self.password.encode(), challenge, "md5").hexdigest()
        ok = user == self.user and hmac.compare_digest(digest, want)
        return AuthResult(success=ok, handled=False,
                          auth_data=("CRAM-MD5", user) if ok else None)

    async def auth_XOAUTH2(self, server, args):
        if len(args) == 2:
            blob = base64.b64decode(args[1])
        else:
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        fields = dict(f.split("=", 1) for f in blob.decode().split("\x01") if "=" in f)
        ok = (fields.get("user") == self.user and
              fields.get("auth") == "Bearer " + (self.args.token or ""))
        if ok:
            return AuthResult(success=True, auth_data=("XOAUTH2", self.user))
        # like Gmail: a JSON error as a challenge, then 535 after the
        # client's empty answer
        await server.challenge_auth('{"status":"401","schemes":"bearer"}')
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not accepted")

    # ---- the dialogue --------------------------------------------------
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        if self.args.no_ehlo:
            return ["502 5.5.1 EHLO not implemented"]
        session.host_name = hostname
        if self.args.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        limit = self.args.close_on_mail_after
        if limit is not None and getattr(session, "x_count", 0) >= limit:
            server.transport.abort()
            return "421 4.3.0 closing"
        envelope.x_pipelined = len(server._reader._buffer) > 0
        if address in self.args.reject_sender:
            return "553 5.7.1 <%s>: Sender address rejected: not owned by user %s" % (
                address, self.user or "anonymous")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        State.mails += 1
        State.save()
        return "250 2.1.0 Ok"

    async def handle_RSET(self, server, session, envelope):
        limit = self.args.close_on_rset_after
        if limit is not None and getattr(session, "x_count", 0) >= limit:
            server.transport.abort()  # found closed at the first command
        return MISSING

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        limit = self.args.close_on_rcpt_after
        if limit is not None and getattr(session, "x_count", 0) >= limit:
            server.transport.abort()  # after MAIL was accepted
            return "421 4.3.0 closing"
        if address in self.args.reject_rcpt:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_QUIT(self, server, session, envelope):
        State.quits += 1
        State.save()
        return "221 2.0.0 Bye"

    async def handle_DATA(self, server, session, envelope):
        State.messages += 1
        session.x_count = getattr(session, "x_count", 0) + 1
        qid = "HRLD%04d" % State.messages
        head = ["mail_from %s" % envelope.mail_from]
        head += ["mail_option %s" % o for o in envelope.mail_options]
        head += ["rcpt_to %s" % r for r in envelope.rcpt_tos]
        if session.auth_data:
            head.append("auth %s %s" % session.auth_data)
        head.append("tls %s" % ("yes" if session.ssl or self.args.mode == "implicit"
                                else "no"))
        head.append("helo %s" % session.host_name)
        head.append("pipelined %s" % ("yes" if getattr(envelope, "x_pipelined", False)
                                      else "no"))
        head.append("connection %d" % session.x_connection)
        head.append("queue_id %s" % qid)
        data = ("\n".join(head) + "\n\n").encode() + envelope.original_content
        write_atomic(os.path.join(self.args.dir, "%04d.msg" % State.messages), data)
        if self.args.drop_after_data or self.args.drop_after_data_on == State.messages:
            server.transport.abort()
            return "250 OK"
        if self.args.no_queue_id:
            return "250 OK"
        return "250 2.0.0 Ok: queued as %s" % qid


class CountingSMTP(SMTP):
    """Numbers its connection; connection_made runs again after STARTTLS
    (with a new session), so the count is taken once, in __init__."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        State.connections += 1
        self.x_connection = State.connections
        State.save()

    def connection_made(self, transport):
        super().connection_made(transport)
        self.session.x_connection = self.x_connection


def tls_context(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    base = os.path.join(args.certs, args.cert)
    ctx.load_cert_chain(base + ".pem", base + ".key")
    return ctx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--mode", choices=("plain", "starttls", "implicit"), default="plain")
    ap.add_argument("--certs")
    ap.add_argument("--cert", default="server")
    ap.add_argument("--auth")
    ap.add_argument("--mechs", default="PLAIN,LOGIN")
    ap.add_argument("--token")
    ap.add_argument("--pipelining", action="store_true")
    ap.add_argument("--smtputf8", action="store_true")
    ap.add_argument("--size", type=int, default=10 * 1024 * 1024)
    ap.add_argument("--no-queue-id", action="store_true")
    ap.add_argument("--reject-rcpt", action="append", default=[])
    ap.add_argument("--reject-sender", action="append", default=[])
    ap.add_argument("--count")
    ap.add_argument("--close-on-mail-after", type=int)
    ap.add_argument("--close-on-rset-after", type=int)
    ap.add_argument("--close-on-rcpt-after", type=int)
    ap.add_argument("--drop-after-data", action="store_true")
    ap.add_argument("--drop-after-data-on", type=int)
    ap.add_argument("--no-ehlo", action="store_true")
    ap.add_argument("--listen", default="127.0.0.1")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    handler = Handler(args)
    ctx = tls_context(args) if args.mode != "plain" else None
    offered = set(args.mechs.split(",")) if args.auth else set()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    State.count_file = args.count
    State.save()

    def factory():
        return CountingSMTP(
            handler, hostname="herald-test.localhost", loop=loop,
            data_size_limit=args.size or None,
            enable_SMTPUTF8=args.smtputf8,
            tls_context=ctx if args.mode == "starttls" else None,
            require_starttls=args.mode == "starttls",
            authenticator=handler.authenticator if args.auth else None,
            auth_required=bool(args.auth),
            # implicit TLS is invisible to aiosmtpd: it would hide AUTH
            auth_require_tls=args.mode != "implicit",
            auth_exclude_mechanism=ALL_MECHS - offered,
            timeout=30)

    server = loop.run_until_complete(loop.create_server(
        factory, args.listen, 0, ssl=ctx if args.mode == "implicit" else None))
    port = server.sockets[0].getsockname()[1]
    with open(os.environ["TU_PORT_FILE"], "w") as f:
        f.write("%d\n" % port)

    # a test that crashes never stops us: leave when our parent is gone
    parent = os.getppid()

    def watch_parent():
        if os.getppid() != parent:
            loop.stop()
        else:
            loop.call_later(0.5, watch_parent)

    loop.call_later(0.5, watch_parent)
    loop.run_forever()


if __name__ == "__main__":
    main()
