// The reverse-tunnel broker and dialer on real sockets, without Envoy: the
// broker splices each call into one tunnel (or makes it wait for one), the
// dialer keeps its pool full and connects used tunnels to the gateway.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { TunnelBroker } from '../../control-plane/tunnels/broker.ts';
import { TunnelDialer } from '../../control-plane/tunnels/dialer.ts';
import { waitFor } from '../support/harness.ts';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'ferry-tunnels-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const open = (path: string) => new Promise<Socket>((resolve, reject) => { const s = connect({ path }, () => resolve(s)); s.once('error', reject); });
const next = (s: Socket) => new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));

describe('TunnelBroker', () => {
  test('a call is spliced into an idle tunnel; bytes flow both ways; counts follow', async () => {
    const broker = new TunnelBroker('bob', { inSocket: join(dir, 'a-in.sock'), outSocket: join(dir, 'a-out.sock') }, log);
    await broker.start();
    try {
      const tunnel = await open(join(dir, 'a-in.sock'));
      await waitFor('the tunnel to be idle', async () => (broker.counts().idle === 1 ? true : undefined), 5000);
      const call = await open(join(dir, 'a-out.sock'));
      call.write('hello from alice');
      assert.equal(await next(tunnel), 'hello from alice');
      tunnel.write('hello from bob');
      assert.equal(await next(call), 'hello from bob');
      assert.deepEqual({ ...broker.counts(), received: 1 }, { idle: 0, active: 1, waiting: 0, received: 1, spliced: 1 });
      call.destroy();
      await waitFor('the splice to end', async () => (broker.counts().active === 0 ? true : undefined), 5000);
    } finally {
      await broker.stop();
    }
  });

  test('a call waits for a tunnel that arrives later; an idle tunnel that closes is forgotten', async () => {
    const broker = new TunnelBroker('bob', { inSocket: join(dir, 'b-in.sock'), outSocket: join(dir, 'b-out.sock') }, log);
    await broker.start();
    try {
      const call = await open(join(dir, 'b-out.sock'));
      await waitFor('the call to wait', async () => (broker.counts().waiting === 1 ? true : undefined), 5000);
      const tunnel = await open(join(dir, 'b-in.sock'));
      call.write('x');
      assert.equal(await next(tunnel), 'x');
      const spare = await open(join(dir, 'b-in.sock'));
      await waitFor('a spare', async () => (broker.counts().idle === 1 ? true : undefined), 5000);
      spare.destroy();
      await waitFor('the spare to be forgotten', async () => (broker.counts().idle === 0 ? true : undefined), 5000);
      call.destroy();
    } finally {
      await broker.stop();
    }
  });
});

describe('TunnelDialer', () => {
  let envoy: Server, gateway: Server;
  const tunnels: Socket[] = [];

  after(() => { envoy?.close(); gateway?.close(); for (const t of tunnels) t.destroy(); });

  test('keeps `size` idle tunnels; a used one is connected to the gateway and replaced', async () => {
    // Stand-ins: a Unix socket server where Envoy's reverse-dial listener would be, and the gateway.
    envoy = createServer((s) => tunnels.push(s));
    await new Promise<void>((r) => envoy.listen(join(dir, 'dial.sock'), () => r()));
    gateway = createServer((s) => s.on('data', (d: Buffer) => s.write(`gateway got ${d.toString()}`)));
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', () => r()));
    const dialer = new TunnelDialer({ peer: 'alice', socketPath: join(dir, 'dial.sock'), publicListener: { host: '127.0.0.1', port: (gateway.address() as { port: number }).port }, size: 3, log });
    dialer.start();
    try {
      await waitFor('three idle tunnels', async () => (tunnels.length === 3 && dialer.counts().idle === 3 ? true : undefined), 5000);
      // The caller's first bytes arrive on one tunnel (as alice's TLS ClientHello would).
      tunnels[0]!.write('ClientHello');
      assert.equal(await next(tunnels[0]!), 'gateway got ClientHello');
      await waitFor('a replacement', async () => (tunnels.length === 4 && dialer.counts().idle === 3 && dialer.counts().active === 1 ? true : undefined), 5000);
      assert.equal(dialer.counts().used, 1);
    } finally {
      dialer.stop();
    }
  });
});
