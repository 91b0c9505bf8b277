#!/usr/bin/python3
"""tests/support/servers/hostile_smtp.py - a scriptable, misbehaving SMTP server.

Used by tests/plugins/smtp/test_smtp_security.c to check the SMTP driver against
STARTTLS attacks (R1-R4), to capture exactly what reaches the wire (R5,
R6) and to provoke the wrong-TLS-mode and timeout diagnoses.

It listens on 127.0.0.1 on an ephemeral port, writes the port (and a
newline) to $TU_PORT_FILE once it accepts connections, and appends to the
--capture file, in order, one entry per line:

    -- connect N --              a client connected (N counts from 1)
    S: text                      a line the server sent (without CRLF)
    C: text                      a line the client sent (without CRLF)
    C~ text                      bytes the client sent without a final CRLF
    -- TLS handshake done --     the STARTTLS / implicit handshake finished
    -- ... --                    other events (violations are spelled out)
    -- close N --                connection N is closed and fully logged

Lines are split at CRLF only.  Every byte outside printable ASCII, and the
backslash, is written as \\xNN, so a bare CR shows as \\x0d and a bare LF as
\\x0a anywhere in the capture.  Client lines longer than 998 octets and
lines holding a bare CR or LF, and commands pipelined when PIPELINING was
not offered, also get a "-- VIOLATION ... --" entry.

Modes (--mode):
  normal              STARTTLS, AUTH PLAIN LOGIN, PIPELINING, accepts all
  r1-inject-line      STARTTLS answered "220 ready\\r\\n250 injected\\r\\n"
  r1-inject-fragment  STARTTLS answered "220 ready\\r\\n250 inj"
  r2-auth-change      before TLS: PIPELINING, SIZE 100, AUTH PLAIN; after
                      it: no PIPELINING, SIZE 10485760, AUTH LOGIN only
  r3-no-starttls      EHLO does not offer STARTTLS (but offers AUTH)
  r3-refuse-starttls  STARTTLS is offered and answered 454
  r4-pipelining       like normal; waits 300 ms after STARTTLS before its 220
                      and records whether anything arrived meanwhile
  greeting-silent     accepts and never speaks (a 465 port to a plain client)
  implicit-vs-plain   plain SMTP; meant for a client set to tls = implicit
  tls-implicit-only   TLS from the first byte (implicit TLS, like port 465)
  backlog-full        listen(0) with the accept queue filled by the server
                      itself and never accepted: new SYNs are dropped, so a
                      client's connect times out
  auth-reject         AUTH is answered 535 (bad credentials)
  mail-reject         MAIL is answered 553; RCPT and DATA then 503
  ehlo-reject         EHLO and HELO are answered 550
  greeting-554        the greeting is 554; every command but QUIT gets 503
  garbage-ehlo        EHLO is answered with a line that is no SMTP reply,
                      then nothing is answered any more (a QUIT would hang)
  tls-garbage         STARTTLS 220, then plain text in answer to the TLS
                      ClientHello, then nothing is answered any more
  greeting-no-crlf    the greeting comes without its CRLF, then silence
  ehlo-long           EHLO is answered with a reply of 600 lines
  dot-garbage         the final dot is answered with a line that is no
                      SMTP reply, then nothing is answered any more
  dot-silent          the final dot is never answered
  dot-354             the final dot is answered "354" (no verdict)
  data-drop           the connection is closed when DATA arrives, before
                      the message

--listen ADDR picks the address (default 127.0.0.1; ::1 for IPv6).

Scripted answers (any mode; for the core's retry tests):
  --greetings "R1;R2"   connection N (from 1) is greeted with reply N of
                        the list instead of 220; a 4xx/5xx greeting is
                        followed by closing the connection (a 421)
  --dot-replies "R1;R2" final dot N (counted over all connections) is
                        answered with reply N of the list instead of 250;
                        past the list, 250 as usual

Only the standard library is used.
"""

import argparse
import base64
import os
import select
import socket
import ssl
import sys
import threading
import time

MAX_LINE = 998


class Capture:
    """The wire-capture file; one lock for all connections."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", encoding="ascii") if path else None

    def write(self, entry):
        if not self.f:
            return
        with self.lock:
            self.f.write(entry + "\n")
            self.f.flush()


def escape(data):
    """Printable ASCII as is; every other byte and '\\' as \\xNN."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else "\\x%02x" % b
                   for b in data)


class Session:
    """One client connection."""

    def __init__(self, server, sock, num):
        self.server = server
        self.mode = server.mode
        self.cap = server.cap
        self.sock = sock
        self.num = num
        self.buf = b""
        self.tls = False
        self.auth_mechs = []
        self.pipelining = False

    # -- wire helpers -------------------------------------------------
    def event(self, text):
        self.cap.write("-- %s --" % text)

    def send(self, data):
        """Send raw bytes in one call; log each CRLF-terminated line."""
        for part in data.split(b"\r\n"):
            if part:
                self.cap.write("S: " + escape(part))
        self.sock.sendall(data)

    def reply(self, *lines):
        """A (possibly multi-line) reply: reply("250-a", "250 b")."""
        self.send(b"".join(line.encode() + b"\r\n" for line in lines))

    def recv_more(self):
        try:
            data = self.sock.recv(65536)
        except (ConnectionError, socket.timeout, ssl.SSLError, OSError):
            data = b""
        self.buf += data
        return bool(data)

    def readline(self):
        """The next CRLF-terminated line without its CRLF; None at EOF."""
        while b"\r\n" not in self.buf:
            if not self.recv_more():
                if self.buf:
                    self.cap.write("C~ " + escape(self.buf))
                    self.buf = b""
                return None
        line, self.buf = self.buf.split(b"\r\n", 1)
        self.cap.write("C: " + escape(line))
        if len(line) > MAX_LINE:
            self.event("VIOLATION line of %d octets (over %d)"
                       % (len(line), MAX_LINE))
        if b"\r" in line or b"\n" in line:
            self.event("VIOLATION bare CR or LF in a line")
        if b"\0" in line:
            self.event("VIOLATION NUL in a line")
        return line

    def drain_until_close(self):
        while self.readline() is not None:
            pass

    def go_silent(self):
        """Answer nothing any more; log what the client still sends."""
        self.event("silent from now on")
        self.drain_until_close()
        return False

    # -- TLS ------------------------------------------------------------
    def handshake(self):
        if not self.server.tls_ctx:
            self.event("TLS requested but the server has no --cert/--key")
            return False
        try:
            self.sock = self.server.tls_ctx.wrap_socket(self.sock,
                                                        server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.event("TLS handshake failed: %s" % e)
            return False
        self.tls = True
        self.buf = b""
        self.event("TLS handshake done")
        return True

    def after_starttls_220(self):
        """The client was told to start TLS.  A client that follows R1 may
        instead drop the connection.  Log which of the three happened:
        closed, TLS ClientHello, or plain text (then keep serving in clear
        so that whatever it sends next shows up in the capture)."""
        r, _, _ = select.select([self.sock], [], [], 5)
        if not r:
            self.event("client neither started TLS nor closed within 5s")
            return False
        try:
            first = self.sock.recv(1, socket.MSG_PEEK)
        except OSError:
            first = b""
        if not first:
            self.event("client closed before the TLS handshake")
            return False
        if first == b"\x16" and self.mode == "tls-garbage":
            self.sock.recv(65536)  # the ClientHello, answered with no TLS
            self.send(b"this is not TLS\r\n")
            return self.go_silent()
        if first == b"\x16":
            return self.handshake()
        self.event("client sent plain text after the STARTTLS 220")
        return True

    # -- SMTP -------------------------------------------------------------
    def ehlo_lines(self, name):
        mode = self.mode
        if mode == "r2-auth-change" and not self.tls:
            # A client that keeps this list after STARTTLS pipelines without
            # PIPELINING, refuses a 300-byte message, or uses PLAIN.
            caps = ["PIPELINING", "8BITMIME", "SIZE 100"]
            mechs = ["PLAIN"]
        elif mode == "r2-auth-change":
            caps = ["8BITMIME", "SIZE 10485760"]
            mechs = ["LOGIN"]
        else:
            caps = ["PIPELINING", "8BITMIME", "SIZE 10485760"]
            mechs = ["PLAIN", "LOGIN"]
        if not self.tls and mode not in ("r3-no-starttls", "implicit-vs-plain",
                                         "tls-implicit-only"):
            caps.append("STARTTLS")
        caps.append("AUTH " + " ".join(mechs))
        self.pipelining = "PIPELINING" in caps
        self.auth_mechs = mechs
        lines = ["250-hostile.test greets " + name]
        lines += ["250-" + c for c in caps[:-1]]
        lines.append("250 " + caps[-1])
        return lines

    def starttls(self):
        if self.tls:
            self.reply("503 5.5.1 TLS already active")
            return True
        if self.mode in ("r3-no-starttls", "implicit-vs-plain"):
            self.reply("502 5.5.1 STARTTLS not offered")
            return True
        if self.mode == "r3-refuse-starttls":
            self.reply("454 4.7.0 TLS not available due to temporary reason")
            return True
        if self.mode == "r4-pipelining":
            time.sleep(0.3)
            if select.select([self.sock], [], [], 0)[0]:
                self.recv_more()
        if self.buf:
            self.event("VIOLATION bytes after STARTTLS before the 220: %s"
                       % escape(self.buf))
            self.buf = b""
        elif self.mode == "r4-pipelining":
            self.event("nothing arrived after STARTTLS before the 220")
        if self.mode == "r1-inject-line":
            self.send(b"220 2.0.0 ready to start TLS\r\n250 injected\r\n")
        elif self.mode == "r1-inject-fragment":
            self.send(b"220 2.0.0 ready to start TLS\r\n250 inj")
        else:
            self.send(b"220 2.0.0 ready to start TLS\r\n")
        return self.after_starttls_220()

    def auth(self, args):
        if self.mode == "auth-reject":
            self.reply("535 5.7.8 Authentication credentials invalid")
            return True
        words = args.split()
        mech = words[0].upper() if words else ""
        initial = words[1] if len(words) > 1 else None
        if mech not in self.auth_mechs:
            self.event("AUTH with a mechanism not offered: %s" % mech)
            self.reply("504 5.5.4 mechanism not offered")
            return True
        if mech == "PLAIN":
            if initial is None:
                self.reply("334 ")
                if self.readline() is None:
                    return False
        elif mech == "LOGIN":
            if initial is None:
                self.reply("334 " + base64.b64encode(b"Username:").decode())
                if self.readline() is None:
                    return False
            self.reply("334 " + base64.b64encode(b"Password:").decode())
            if self.readline() is None:
                return False
        self.reply("235 2.7.0 Authentication successful")
        return True

    def data(self):
        if self.mode == "data-drop":
            self.event("closing at DATA")
            return False
        if self.mode == "mail-reject":
            self.reply("503 5.5.1 Error: need MAIL command")
            return True
        self.reply("354 End data with <CR><LF>.<CR><LF>")
        while True:
            line = self.readline()
            if line is None:
                return False
            if line == b".":
                break
        self.server.queued += 1
        scripted = self.server.script("dot_replies")
        if scripted:
            self.reply(scripted)
            return True
        if self.mode == "dot-garbage":
            self.send(b"thanks, got it\r\n")
            return self.go_silent()
        if self.mode == "dot-silent":
            return self.go_silent()
        if self.mode == "dot-354":
            self.reply("354 go on")
            return True
        self.reply("250 2.0.0 Ok: queued as HOSTILE%d" % self.server.queued)
        return True

    def command(self, line):
        """Handle one command; False ends the session."""
        text = line.decode("latin-1")
        verb, _, args = text.partition(" ")
        verb = verb.upper()
        if self.mode == "greeting-554" and verb != "QUIT":
            self.reply("503 5.5.1 no service: say QUIT")
        elif verb in ("EHLO", "HELO") and self.mode == "ehlo-reject":
            self.reply("550 5.7.1 this client is not welcome")
        elif verb == "EHLO" and self.mode == "garbage-ehlo":
            self.send(b"hello there, this is no SMTP reply\r\n")
            return self.go_silent()
        elif verb == "EHLO" and self.mode == "ehlo-long":
            self.reply(*(["250-hostile.test greets " + args] +
                         ["250-X-FILLER-%d" % i for i in range(598)] +
                         ["250 8BITMIME"]))
        elif verb == "EHLO":
            self.reply(*self.ehlo_lines(args))
        elif verb == "HELO":
            self.reply("250 hostile.test")
        elif verb == "MAIL" and self.mode == "mail-reject":
            self.reply("553 5.7.1 <%s>: Sender address rejected"
                       % args.partition(":")[2].strip("<> "))
        elif verb == "RCPT" and self.mode == "mail-reject":
            self.reply("503 5.5.1 Error: need MAIL command")
        elif verb == "STARTTLS":
            return self.starttls()
        elif verb == "AUTH":
            return self.auth(args)
        elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
            if self.buf and not self.pipelining:
                self.event("VIOLATION commands pipelined without PIPELINING "
                           "offered: %s" % escape(self.buf))
            self.reply("250 2.0.0 Ok")
        elif verb == "DATA":
            return self.data()
        elif verb == "QUIT":
            self.reply("221 2.0.0 Bye")
            return False
        else:
            self.reply("500 5.5.2 command not recognized")
        return True

    def run(self):
        self.event("connect %d" % self.num)
        try:
            self.sock.settimeout(10)
            if self.mode == "greeting-silent":
                self.drain_until_close()
                return
            if self.mode == "tls-implicit-only" and not self.handshake():
                return
            if self.mode == "greeting-no-crlf":
                self.send(b"220 hostile.test ESMTP")
                self.go_silent()
                return
            greeting = self.server.script("greetings")
            if greeting:
                self.reply(greeting)
                if greeting[:1] in ("4", "5"):
                    return
            elif self.mode == "greeting-554":
                self.reply("554 5.7.1 no SMTP service for you here")
            else:
                self.reply("220 hostile.test ESMTP")
            while True:
                line = self.readline()
                if line is None or not self.command(line):
                    break
        except (OSError, ssl.SSLError) as e:
            self.event("connection error: %s" % e)
        finally:
            try:
                self.sock.close()
            except OSError:
                pass
            self.event("close %d" % self.num)


class Server:
    def __init__(self, args):
        self.mode = args.mode
        self.listen = args.listen
        self.cap = Capture(args.capture)
        self.queued = 0
        self.tls_ctx = None
        if args.cert:
            self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_ctx.load_cert_chain(args.cert, args.key)
        self.keep = []
        self.lock = threading.Lock()
        self.scripts = {
            "greetings": [r for r in (args.greetings or "").split(";") if r],
            "dot_replies": [r for r in (args.dot_replies or "").split(";") if r],
        }

    def script(self, name):
        """The next scripted reply of list @name, or None when used up."""
        with self.lock:
            lst = self.scripts[name]
            return lst.pop(0) if lst else None

    def fill_backlog(self, lsock):
        """Connect to our own never-accepting listener until a connect
        stalls: the accept queue is then full and SYNs are dropped."""
        port = lsock.getsockname()[1]
        for _ in range(64):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.settimeout(0.3)
            try:
                c.connect(("127.0.0.1", port))
            except (socket.timeout, OSError):
                c.close()
                return
            self.keep.append(c)
        sys.exit("backlog-full: the accept queue never filled up")

    def serve(self):
        family = socket.AF_INET6 if ":" in self.listen else socket.AF_INET
        lsock = socket.socket(family, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((self.listen, 0))
        if self.mode == "backlog-full":
            lsock.listen(0)
            self.fill_backlog(lsock)
        else:
            lsock.listen(16)
        port = lsock.getsockname()[1]
        path = os.environ.get("TU_PORT_FILE")
        if path:
            with open(path + ".tmp", "w") as f:
                f.write("%d\n" % port)
            os.rename(path + ".tmp", path)
        else:
            print(port, flush=True)
        if self.mode == "backlog-full":
            while True:
                time.sleep(3600)
        num = 0
        while True:
            conn, _ = lsock.accept()
            num += 1
            t = threading.Thread(target=Session(self, conn, num).run,
                                 daemon=True)
            t.start()


MODES = ("normal", "r1-inject-line", "r1-inject-fragment", "r2-auth-change",
         "r3-no-starttls", "r3-refuse-starttls", "r4-pipelining",
         "greeting-silent", "implicit-vs-plain", "tls-implicit-only",
         "backlog-full", "auth-reject", "mail-reject", "ehlo-reject",
         "greeting-554", "garbage-ehlo", "tls-garbage", "greeting-no-crlf",
         "ehlo-long", "dot-garbage", "dot-silent", "dot-354", "data-drop")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=MODES, default="normal")
    ap.add_argument("--capture", help="wire-capture file (appended to)")
    ap.add_argument("--greetings", help="scripted greetings, ';'-separated")
    ap.add_argument("--dot-replies", help="scripted final-dot replies, ';'-separated")
    ap.add_argument("--cert", help="server certificate (PEM)")
    ap.add_argument("--key", help="server private key (PEM)")
    ap.add_argument("--listen", default="127.0.0.1",
                    help="address to listen on (::1 for IPv6)")
    args = ap.parse_args()
    if bool(args.cert) != bool(args.key):
        ap.error("--cert and --key go together")
    if args.mode == "tls-implicit-only" and not args.cert:
        ap.error("tls-implicit-only needs --cert and --key")
    Server(args).serve()


if __name__ == "__main__":
    main()
