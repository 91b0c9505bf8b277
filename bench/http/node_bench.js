// bench/http/node_bench.js - the official Node SDKs sending N messages one
// at a time (each send awaited: concurrency 1) to nginx on loopback.
// Prints "node SDK N SECONDS MSG/S".  Run from a directory where
// `npm install @sendgrid/mail postmark` was done (run.sh does that).
//
//   node node_bench.js sendgrid|postmark PORT N
'use strict';

const [which, port, count] = process.argv.slice(2);
const n = Number(count);
const text = '/var on db-1 is at 91%; the nightly cleanup did not run.\n' +
    'This is a benchmark message from bench/http.\n';
const subject = 'bench: disk almost full on db-1';

function sendgrid() {
    const sgMail = require('@sendgrid/mail');
    // setApiKey resets baseUrl to the provider's, so the override comes after it.
    sgMail.setApiKey('SG.test');
    sgMail.client.setDefaultRequest('baseUrl', `http://127.0.0.1:${port}/`);
    const msg = {to: 'Ann <ann@example.com>', from: 'Bench <bench@example.com>', subject, text};
    return () => sgMail.send(msg);
}

function postmark() {
    const pm = require('postmark');
    const client = new pm.ServerClient('pm-test',
        {useHttps: false, requestHost: `127.0.0.1:${port}`});
    const msg = {From: 'Bench <bench@example.com>', To: 'Ann <ann@example.com>',
                 Subject: subject, TextBody: text};
    return () => client.sendEmail(msg);
}

async function main() {
    const send = {sendgrid, postmark}[which];
    if (!send || !(n > 0)) {
        console.error('usage: node node_bench.js sendgrid|postmark PORT N');
        process.exit(64);
    }
    const one = send();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++)
        await one();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`node ${which} ${n} ${secs.toFixed(3)} ${(n / secs).toFixed(0)}`);
}

main().catch((e) => {
    console.error('node_bench:', e && e.response ? JSON.stringify(e.response.body) : e);
    process.exit(1);
});
