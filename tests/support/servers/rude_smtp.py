#!/usr/bin/python3
"""tests/support/servers/rude_smtp.py - an SMTP server whose replies carry terminal
control sequences, for the CLI's escaping tests (tests/cli/test_doctor.c).

usage: rude_smtp.py [--reject-rcpt ADDR]...

Listens on 127.0.0.1 on an ephemeral port and writes the port and a newline
to $TU_PORT_FILE once it accepts connections.  Plain SMTP, no TLS, no AUTH.
Every reply text holds what a hostile or broken server might send: ESC [
(CSI), an OSC title change ended by BEL, a bare CR, DEL, a C1 CSI as UTF-8
(U+009B) and a lone 0x9B byte.  RCPT TO for a --reject-rcpt address gets a
550 with that text; the final dot gets "250 2.0.0 Ok: queued as ID" with it.
Each message is accepted and dropped; it stops on SIGTERM.
"""
import argparse
import asyncio
import os

RUDE = b"\x1b]0;pwned\x07\x1b[31mred\r\x7f \xc2\x9b2J \x9b0m"


async def session(reader, writer, reject):
    def reply(line):
        writer.write(line + b"\r\n")

    reply(b"220 rude.example ESMTP " + RUDE)
    in_data = False
    while True:
        line = await reader.readline()
        if not line:
            break
        if in_data:
            if line == b".\r\n":
                in_data = False
                reply(b"250 2.0.0 Ok: queued as RUDE1 " + RUDE)
            continue
        verb = line[:4].upper()
        if verb == b"EHLO":
            reply(b"250-rude.example " + RUDE)
            reply(b"250 8BITMIME")
        elif verb == b"HELO":
            reply(b"250 rude.example")
        elif verb == b"MAIL":
            reply(b"250 2.1.0 Ok " + RUDE)
        elif verb == b"RCPT":
            addr = line.partition(b"<")[2].partition(b">")[0].decode(errors="replace")
            if addr in reject:
                reply(b"550 5.1.1 <" + addr.encode() + b">: " + RUDE + b" no such user")
            else:
                reply(b"250 2.1.5 Ok " + RUDE)
        elif verb == b"DATA":
            in_data = True
            reply(b"354 go ahead " + RUDE)
        elif verb == b"RSET" or verb == b"NOOP":
            reply(b"250 2.0.0 Ok")
        elif verb == b"QUIT":
            reply(b"221 2.0.0 Bye " + RUDE)
            await writer.drain()
            break
        else:
            reply(b"502 5.5.2 not implemented " + RUDE)
        await writer.drain()
    writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reject-rcpt", action="append", default=[])
    args = ap.parse_args()
    server = await asyncio.start_server(
        lambda r, w: session(r, w, set(args.reject_rcpt)), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    path = os.environ["TU_PORT_FILE"]
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(path + ".tmp", path)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
