// Reverse tunnel (REVERSE-TUNNEL) with real Envoys on loopback: bob opens no
// inbound route (alice's route to bob has no endpoint: alice cannot dial bob);
// bob's node dials tunnels into alice's public port, and alice's calls to bob
// ride them with TLS alice<->bob end to end: HTTP, gRPC streaming, 256 MB each
// way without buffering, several tunnels, re-established after a failure.
// With the network enforcing "no inbound to bob": reverse-tunnel-netns.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { GRPC_CHAT_METHOD, json, startGrpcChat, startHttpEcho, type Echo, type EchoReply } from '../../examples/echo-services.ts';
import { TestNode, curl, docs, partnerDomain, routeTo, rssMb, service, startBulkService, waitFor } from '../support/harness.ts';
import { reverseRoute } from '../support/routes.ts';

const MB = 1024 * 1024;

/** Bytes of a download through `via`'s internal listener, counted as they stream. */
function download(via: TestNode, host: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: via.ports.internal, path: `/bytes/${bytes}`, headers: { host } }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => { n += d.length; });
      res.on('end', () => resolve(n));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function upload(via: TestNode, host: string, bytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: via.ports.internal, method: 'POST', path: '/upload', headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve(body));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(MB, 0x33);
    let left = bytes / MB;
    const pump = () => {
      while (left > 0) {
        left--;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('reverse tunnel: bob dials out, alice calls in', () => {
  let alice: TestNode, bob: TestNode;
  let echo: Echo, chat: Echo, bulk: { port: number; close: () => Promise<void> };

  before(async () => {
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    [echo, chat, bulk] = await Promise.all([startHttpEcho('echo@bob'), startGrpcChat(), startBulkService()]);
    await Promise.all([alice.start(), bob.start()]);
    await alice.apply(docs(partnerDomain(bob), reverseRoute(alice, bob)));
    await bob.apply(docs(partnerDomain(alice), routeTo(bob, alice), reverseRoute(alice, bob),
      service('echo', echo.port, { access: 'alice' }), service('chat', chat.port, { access: 'alice', protocol: 'GRPC' }), service('bulk', bulk.port, { access: 'alice' })));
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await Promise.all([echo?.close(), chat?.close(), bulk?.close()]);
    alice?.cleanup();
    bob?.cleanup();
  });

  test('alice calls bob over tunnels bob dialled; both route statuses count the tunnels', async () => {
    const r = await waitFor('a 200 over the reverse tunnel', async () => {
      const x = await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/reversed`]);
      return x.status === 200 ? x : undefined;
    }, 30_000);
    assert.equal((JSON.parse(r.body) as EchoReply).kuscia['kuscia-source'], 'alice');
    await waitFor('alice\'s route status to count the tunnels', async () => (/ready:\s+true/i.test(alice.cli(['describe', 'clusterdomainroute', 'alice-bob']).stdout) ? true : undefined), 10_000);
    const atAlice = alice.cli(['describe', 'clusterdomainroute', 'alice-bob']).stdout;
    assert.match(atAlice, /through the tunnels bob dials in \(reverse tunnel\): \d+ idle and \d+ busy tunnel\(s\) from bob/);
    const atBob = bob.cli(['describe', 'clusterdomainroute', 'alice-bob']).stdout;
    assert.match(atBob, /inbound: alice reaches bob through tunnels bob dials over ClusterDomainRoute\/bob-alice: [1-9]\d* idle and \d+ busy tunnel\(s\) open to alice/);
  });

  test('gRPC bidirectional streaming over the tunnel', async () => {
    const client = new grpc.Client(`127.0.0.1:${alice.ports.internal}`, grpc.credentials.createInsecure());
    const call = client.makeBidiStreamRequest(GRPC_CHAT_METHOD, json.serialize, json.deserialize, new grpc.Metadata(), { host: 'chat.bob.svc' } as grpc.CallOptions);
    const replies: number[] = [];
    call.on('data', (m: unknown) => replies.push((m as { n: number }).n));
    for (let i = 1; i <= 50; i++) call.write({ n: i });
    await waitFor('50 streamed replies', async () => (replies.length >= 50 ? true : undefined), 15_000);
    call.end();
    client.close();
    assert.equal(replies.length, 50);
  });

  test('256 MB each way streams through without the nodes buffering it', async () => {
    const status = async (n: TestNode) => (await n.api('/api/v1/status').then((r) => r.json())) as { envoy: { pid: number } };
    const before = { alice: rssMb(alice.pid!), bob: rssMb(bob.pid!) };
    const t0 = performance.now();
    assert.equal(await download(alice, 'bulk.bob.svc', 256 * MB), 256 * MB);
    const t1 = performance.now();
    assert.equal(await upload(alice, 'bulk.bob.svc', 256 * MB), String(256 * MB));
    const t2 = performance.now();
    const growth = { alice: rssMb(alice.pid!) - before.alice, bob: rssMb(bob.pid!) - before.bob };
    console.log(`reverse tunnel, 256 MB each way: down ${(256 / ((t1 - t0) / 1000)).toFixed(0)} MB/s, up ${(256 / ((t2 - t1) / 1000)).toFixed(0)} MB/s; control-plane RSS growth alice ${growth.alice.toFixed(1)} MB, bob ${growth.bob.toFixed(1)} MB; Envoy pids ${(await status(alice)).envoy.pid}/${(await status(bob)).envoy.pid}`);
    // A node that held a body would grow by 256 MB; piping keeps it to buffers and garbage not yet collected.
    assert.ok(growth.alice < 128 && growth.bob < 128, `the nodes piped the bytes without keeping them (growth ${JSON.stringify(growth)})`);
  });

  test('the tunnels come back after alice\'s Envoy dies (killed; the node restarts it)', async () => {
    const { envoy } = (await alice.api('/api/v1/status').then((r) => r.json())) as { envoy: { pid: number } };
    process.kill(envoy.pid, 'SIGKILL');
    const r = await waitFor('a 200 over re-dialled tunnels', async () => {
      const s = (await alice.api('/api/v1/status').then((x) => x.json()).catch(() => undefined)) as { envoy?: { pid?: number } } | undefined;
      if (!s?.envoy?.pid || s.envoy.pid === envoy.pid) return undefined;
      const x = await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/after-failure`]);
      return x.status === 200 ? x : undefined;
    }, 60_000);
    assert.equal((JSON.parse(r.body) as EchoReply).path, '/after-failure');
  });

  test('a tunnel is accepted only while alice has a REVERSE-TUNNEL route from that partner', async () => {
    // Dial a tunnel by hand with bob's own gateway certificate, as bob's Envoy does.
    const dial = () => new Promise<number>((resolve, reject) => {
      const req = httpsRequest({
        host: '127.0.0.1', port: alice.ports.public, servername: 'alice', method: 'CONNECT', path: 'ferry-tunnel.alice.svc:443',
        ca: alice.cli(['cert', 'export']).stdout,
        cert: readFileSync(join(bob.home, 'certs', 'gateway.crt')), key: readFileSync(join(bob.home, 'certs', 'gateway.key')),
        headers: { 'kuscia-host': 'ferry-tunnel.alice.svc', 'kuscia-source': 'bob' },
      });
      req.on('connect', (res, socket) => { socket.destroy(); resolve(res.statusCode ?? 0); });
      req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      req.end();
    });
    assert.equal(await dial(), 200, 'bob may dial: alice\'s route alice-bob is REVERSE-TUNNEL');
    assert.equal(alice.cli(['delete', 'clusterdomainroute', 'alice-bob']).code, 0);
    await alice.waitReady();
    const refused = await dial();
    assert.ok(refused === 403 || refused === 404, `without the route, bob's tunnel is refused (${refused})`);
  });
});
