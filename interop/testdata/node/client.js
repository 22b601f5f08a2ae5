'use strict';
// client.js connects to a wsca relay with the Node.js `ws` package (a client certificate as PEM files or as a
// PKCS#12 bundle), sends one message and waits for its echo. It prints exactly one JSON line on stdout:
//   {"ok":true,"echo":"...","protocol":"TLSv1.3"}              the echo came back (exit 0)
//   {"ok":false,"status":403,"body":"...","error":"..."}      refused: HTTP status, TLS alert or close (exit 1)
// Usage errors exit 2. Driven by interop/node_test.go; every wait is bounded by --timeout.
const fs = require('node:fs');
const { parseArgs } = require('node:util');
const WebSocket = require('ws');

function main() {
  let opts;
  try {
    opts = parseArgs({
      options: {
        url: { type: 'string' },
        ca: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        pfx: { type: 'string' },
        'passphrase-file': { type: 'string' },
        message: { type: 'string', default: 'hello from node' },
        timeout: { type: 'string', default: '10000' },
      },
    }).values;
  } catch (err) {
    usage(err.message);
  }
  if (!opts.url || !opts.ca) usage('--url and --ca are required');
  if (opts.pfx && (opts.cert || opts.key)) usage('--pfx excludes --cert/--key');
  if (Boolean(opts.cert) !== Boolean(opts.key)) usage('--cert and --key go together');

  // The relay's server certificate is checked against the wsca root only (not the system store), and for an
  // IP address URL Node matches the IP SAN (tls.checkServerIdentity).
  const tlsOpts = { ca: fs.readFileSync(opts.ca), minVersion: 'TLSv1.2' };
  if (opts.cert) {
    tlsOpts.cert = fs.readFileSync(opts.cert);
    tlsOpts.key = fs.readFileSync(opts.key);
  }
  if (opts.pfx) {
    tlsOpts.pfx = fs.readFileSync(opts.pfx);
    if (opts['passphrase-file']) {
      // The password file ends with a newline, as `wsca issue --p12-password-file` reads it.
      tlsOpts.passphrase = fs.readFileSync(opts['passphrase-file'], 'utf8').replace(/\r?\n$/, '');
    }
  }

  let done = false;
  const finish = (result) => {
    if (done) return;
    done = true;
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exitCode = result.ok ? 0 : 1;
    clearTimeout(timer);
    ws.terminate();
  };
  const timer = setTimeout(() => finish({ ok: false, error: 'timeout' }), Number(opts.timeout));

  let ws;
  try {
    ws = new WebSocket(opts.url, tlsOpts);
  } catch (err) {
    usage(err.message); // a bad --pfx password or an unparsable key throws here
  }
  ws.on('unexpected-response', (req, res) => {
    // The relay refused the upgrade in HTTP (e.g. 403 "client certificate required").
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => { if (body.length < 1024) body += chunk; });
    res.on('end', () => finish({ ok: false, status: res.statusCode, body: body.trim() }));
    res.on('error', (err) => finish({ ok: false, status: res.statusCode, error: String(err.message) }));
  });
  ws.on('open', () => ws.send(opts.message));
  ws.on('message', (data) => {
    const echo = data.toString();
    const protocol = ws._socket && ws._socket.getProtocol ? ws._socket.getProtocol() : '';
    finish({ ok: echo === opts.message, echo, protocol });
  });
  ws.on('close', (code, reason) => finish({ ok: false, error: 'closed', code, reason: reason.toString() }));
  // Under TLS 1.3 a refused client certificate arrives as an alert after the client's handshake finished, so
  // it shows up here (e.g. ERR_SSL_TLSV13_ALERT_CERTIFICATE_REVOKED) rather than as a connect error.
  ws.on('error', (err) => finish({ ok: false, error: err.code || err.message, message: err.message }));
}

function usage(msg) {
  process.stderr.write(`client.js: ${msg}\n`);
  process.stdout.write(JSON.stringify({ ok: false, error: 'usage', message: msg }) + '\n');
  process.exit(2);
}

main();
