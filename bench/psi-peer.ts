// A PSI-shaped peer for bench/psi-exchange.ts, run as its own process (so it can
// live in its domain's cgroup):
//   psi-peer.ts serve            answers POST /psi: for every 32-byte item received, one 32-byte
//                                item back (the item XOR a key: a stand-in for the peer's masking),
//                                streamed while the request still arrives; prints its port
//   psi-peer.ts send <port> <host> <items>
//                                POSTs <items> 32-byte items (streamed, 1,024 a write) to
//                                127.0.0.1:<port> with Host <host>, reads the answer, prints
//                                {"ms":..,"sent":..,"received":..} (time from the first byte sent to the last received)
import { createServer, request, Agent } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

const ITEM = 32;
const BATCH = 1024;
const [mode, ...rest] = process.argv.slice(2);

if (mode === 'serve') {
  const key = randomBytes(ITEM);
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    let carry = Buffer.alloc(0);
    req.on('data', (d: Buffer) => {
      const data = carry.length ? Buffer.concat([carry, d]) : d;
      const whole = data.length - (data.length % ITEM);
      carry = Buffer.from(data.subarray(whole));
      const out = Buffer.allocUnsafe(whole);
      for (let i = 0; i < whole; i++) out[i] = data[i]! ^ key[i % ITEM]!;
      if (!res.write(out)) {
        req.pause();
        res.once('drain', () => req.resume());
      }
    });
    req.on('end', () => res.end());
  });
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })));
  process.on('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)); });
} else if (mode === 'send') {
  const [port, host, itemsArg] = rest;
  const items = Number(itemsArg);
  const batch = randomBytes(ITEM * BATCH);
  let sent = 0;
  let received = 0;
  const t0 = performance.now();
  const req = request({ host: '127.0.0.1', port: Number(port), method: 'POST', path: '/psi', headers: { host, 'content-type': 'application/octet-stream', 'content-length': String(items * ITEM) }, agent: new Agent({ keepAlive: false }) }, (res) => {
    if (res.statusCode !== 200) {
      console.error(`psi-peer: HTTP ${res.statusCode} ${String(res.headers['kuscia-error-message'] ?? '')}`);
      process.exit(1);
    }
    res.on('data', (d: Buffer) => { received += d.length; });
    res.on('end', () => {
      const ms = performance.now() - t0;
      console.log(JSON.stringify({ ms, sent: sent / ITEM, received: received / ITEM }));
      process.exit(received === items * ITEM ? 0 : 1);
    });
  });
  req.on('error', (e) => { console.error(`psi-peer: ${e.message}`); process.exit(1); });
  const pump = () => {
    while (sent < items * ITEM) {
      const n = Math.min(batch.length, items * ITEM - sent);
      sent += n;
      if (!req.write(n === batch.length ? batch : batch.subarray(0, n))) return void req.once('drain', pump);
    }
    req.end();
  };
  pump();
} else {
  console.error('usage: psi-peer.ts serve | send <port> <host> <items>');
  process.exit(2);
}
