// A WebSocket echo backend built on the ws package: an implementation independent of the relay's Go code.
// It prints one JSON line when it listens ({"port": N}) and one per closed session
// ({"event": "close", "code": 1008, "reason": "..."}), and exits when its stdin closes (or after 60 s).
'use strict';
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('listening', () => console.log(JSON.stringify({ port: wss.address().port })));
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
  ws.on('close', (code, reason) => console.log(JSON.stringify({ event: 'close', code, reason: reason.toString() })));
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(3), 60000).unref();
