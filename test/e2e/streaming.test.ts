// Large transfers stream through both gateways without buffering: 1 GB up and
// 1 GB down with the Envoys' memory bounded, and a slow receiver holds the
// sender back (flow control end to end) instead of filling Envoy's memory.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { TestNode, docs, partnerDomain, routeTo, rssMb, service, startBulkService } from '../support/harness.ts';

const GB = 1024 ** 3;
const MB = 1024 ** 2;

describe('streaming without buffering', () => {
  let alice: TestNode, bob: TestNode;
  let bulk: { port: number; close: () => Promise<void> };
  let envoys: number[] = [];
  let peak = 0;
  let sampler: NodeJS.Timeout;

  before(async () => {
    bulk = await startBulkService();
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    await Promise.all([alice.start(), bob.start()]);
    await alice.apply(docs(partnerDomain(bob), routeTo(alice, bob)));
    await bob.apply(docs(partnerDomain(alice), service('bulk', bulk.port, { access: 'alice' })));
    envoys = [(await alice.status()).envoy.pid!, (await bob.status()).envoy.pid!];
  });

  after(async () => {
    clearInterval(sampler);
    await Promise.all([alice?.stop(), bob?.stop()]);
    await bulk?.close();
    alice?.cleanup();
    bob?.cleanup();
  });

  /** Downloads `bytes` from bob's bulk service through alice; resolves with the count received. */
  const download = (bytes: number) => new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: alice.ports.internal, path: `/bytes/${bytes}`, headers: { host: 'bulk.bob.svc' } }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => { n += d.length; }).on('end', () => resolve(n));
    });
    req.on('error', reject);
    req.end();
  });

  /** Watches the two Envoys' RSS; returns a function that gives the peak growth over the baseline in MB. */
  function watchMemory(): () => number {
    const base = envoys.map(rssMb);
    peak = 0;
    clearInterval(sampler);
    sampler = setInterval(() => { envoys.forEach((pid, i) => { peak = Math.max(peak, rssMb(pid) - base[i]!); }); }, 50);
    return () => { envoys.forEach((pid, i) => { peak = Math.max(peak, rssMb(pid) - base[i]!); }); return peak; };
  }

  test('1 GB upload', { timeout: 300_000 }, async () => {
    const growth = watchMemory();
    let sent = 0;
    const chunk = Buffer.alloc(256 * 1024, 1);
    const body = new Readable({ read() { if (sent >= GB) this.push(null); else { sent += chunk.length; this.push(chunk); } } });
    const answer = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: alice.ports.internal, method: 'POST', path: '/upload', headers: { host: 'bulk.bob.svc', 'content-length': String(GB) } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => { text += d; }).on('end', () => resolve(`${res.statusCode} ${text}`));
      });
      req.on('error', reject);
      body.pipe(req);
    });
    assert.equal(answer, `200 ${GB}`);
    const mb = growth();
    console.log(`1 GB upload: Envoy RSS grew by at most ${mb.toFixed(1)} MB`);
    assert.ok(mb < 32, `Envoy memory grew by ${mb.toFixed(1)} MB while streaming 1 GB`);
  });

  test('1 GB download', { timeout: 300_000 }, async () => {
    const growth = watchMemory();
    const received = await download(GB);
    assert.equal(received, GB);
    const mb = growth();
    console.log(`1 GB download: Envoy RSS grew by at most ${mb.toFixed(1)} MB`);
    assert.ok(mb < 32, `Envoy memory grew by ${mb.toFixed(1)} MB while streaming 1 GB`);
  });

  test('a receiver that stops reading holds the sender back', { timeout: 120_000 }, async () => {
    const growth = watchMemory();
    const total = 256 * MB;
    let n = 0;
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: alice.ports.internal, path: `/bytes/${total}`, headers: { host: 'bulk.bob.svc' } }, resolve);
      req.on('error', reject);
      req.end();
    });
    res.on('data', (d: Buffer) => { n += d.length; });
    // Read 16 MB, then stop reading for a while (the slow engine).
    await new Promise<void>((resolve) => { const check = () => (n >= 16 * MB ? resolve() : setImmediate(check)); check(); });
    res.pause();
    const atPause = n;
    await new Promise((r) => setTimeout(r, 1500));
    const held = growth();
    // The bytes in flight while paused are bounded by the windows and buffers on the way, not by the 240 MB left.
    assert.ok(held < 32, `Envoy memory grew by ${held.toFixed(1)} MB while the receiver was stalled`);
    res.resume();
    await new Promise<void>((resolve) => res.on('end', () => resolve()));
    assert.equal(n, total);
    assert.ok(atPause < total, 'the transfer was really held');
  });

  test('a bandwidth limit on the route to a peer caps its traffic', { timeout: 120_000 }, async () => {
    const limited = routeTo(alice, bob).replace('metadata: { name: alice-bob }', 'metadata: { name: alice-bob, annotations: { ferry.secretflow/bandwidth-limit: "4Mbit/s" } }');
    assert.notEqual(limited, routeTo(alice, bob));
    await alice.apply(limited);
    const size = 2 * MB; // 16,777 kbit at 4,000 kbit/s: about 4 s
    const started = performance.now();
    const received = await download(size);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(received, size);
    // A lower bound only: a loaded machine can be slower, never faster than the cap.
    assert.ok(seconds >= 2.5, `2 MB took ${seconds.toFixed(2)} s under a 4 Mbit/s cap`);
    const stats = await (await fetch(`http://127.0.0.1:${alice.ports.admin}/stats?filter=bandwidth_limit`)).text();
    assert.match(stats, /peer_bob/, 'the cap is the peer route\'s own');
    await alice.apply(routeTo(alice, bob));
  });
});

