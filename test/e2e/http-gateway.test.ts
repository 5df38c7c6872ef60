// An institution's HTTP-only gateway in front of bob: a real nginx terminates
// TLS with the bank's own certificate and forwards plain HTTP/1.1 under a path
// prefix to bob's public port (publicPlaintext). No certificate reaches bob, so
// alice authenticates by Kuscia token (the handshake goes through nginx too).
// Streams are not buffered; requests without a token get 401 through nginx.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDomainCa, issueGatewayCert } from '../../certs/authority.ts';
import { startHttpEcho, type Echo, type EchoReply } from '../../examples/echo-services.ts';
import { TestNode, curl, docs, partnerDomain, service, startBulkService, waitFor } from '../support/harness.ts';
import { NGINX, startNginx, type Nginx } from '../support/nginx.ts';
import { tokenRoute } from '../support/routes.ts';

const MB = 1024 * 1024;

describe('bob behind an HTTP-only TLS-terminating gateway (nginx), alice by token', { skip: NGINX ? false : 'nginx is not installed (Debian package nginx)' }, () => {
  let alice: TestNode, bob: TestNode;
  let echo: Echo, bulk: { port: number; close: () => Promise<void> };
  let nginx: Nginx;
  let bankCaPem: string;
  // A service that sends its first bytes and then waits for the test: if anything on the way buffered the response, the test would never see them.
  let held: ServerResponse | undefined;
  const drip = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.write('first\n'); held = res; });

  before(async () => {
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    const config = join(bob.home, 'ferry.yaml');
    writeFileSync(config, `${readFileSync(config, 'utf8')}publicPlaintext: true\n`);
    [echo, bulk] = await Promise.all([startHttpEcho('echo@bob'), startBulkService()]);
    await new Promise<void>((r) => drip.listen(0, '127.0.0.1', () => r()));
    // The bank's own CA and gateway certificate (not Ferry's): what alice sees at the endpoint.
    const bankCa = createDomainCa('bank');
    bankCaPem = bankCa.certPem;
    const gw = issueGatewayCert(bankCa, 'gw-bank', { ipAddresses: ['127.0.0.1'] });
    nginx = await startNginx({ certPem: gw.certPem, keyPem: gw.keyPem, prefix: '/bob-gw', upstream: `127.0.0.1:${bob.ports.public}` });
    await Promise.all([alice.start({ FERRY_HEARTBEAT_MS: '1000' }), bob.start({ FERRY_HEARTBEAT_MS: '1000' })]);
    await bob.apply(docs(partnerDomain(alice), tokenRoute(alice, bob), service('echo', echo.port, { access: 'alice' }), service('bulk', bulk.port, { access: 'alice' }), service('drip', (drip.address() as AddressInfo).port, { access: 'alice' })));
    await alice.apply(docs(partnerDomain(bob), tokenRoute(alice, bob, {
      endpoint: { host: '127.0.0.1', port: nginx.port, pathPrefix: '/bob-gw' },
      extra: `mTLSConfig: { tlsCA: ${Buffer.from(bankCaPem).toString('base64')} }`,
    })));
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await Promise.all([echo?.close(), bulk?.close(), nginx?.stop()]);
    drip.closeAllConnections();
    drip.close();
    alice?.cleanup();
    bob?.cleanup();
  });

  test('alice obtains a token through nginx and calls bob; bob sees the token\'s identity', async () => {
    const r = await waitFor('a 200 through nginx', async () => {
      const x = await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/through-nginx`]);
      return x.status === 200 ? x : undefined;
    }, 30_000);
    const reply = JSON.parse(r.body) as EchoReply;
    assert.equal(reply.kuscia['kuscia-source'], 'alice');
    assert.equal(reply.path, '/through-nginx', 'nginx stripped the /bob-gw prefix');
    assert.match(alice.cli(['describe', 'clusterdomainroute', 'alice-bob']).stdout, /token revision \d+ obtained/);
  });

  test('without a token, a request through nginx gets 401 from bob', async () => {
    const r = await curl(['--cacert', '/dev/stdin', '-k', '-H', 'Host: echo.bob.svc', '-H', 'Kuscia-Host: echo.bob.svc', '-H', 'Kuscia-Source: alice', `https://127.0.0.1:${nginx.port}/bob-gw/x`]);
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.body).reason, 'unauthorized.');
  });

  test('a streamed response is not buffered on the way: its first bytes arrive before it ends', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: alice.ports.internal, path: '/drip', headers: { host: 'drip.bob.svc' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.once('data', (d: string) => { body += d; held?.end('last\n'); }); // only now does the service finish
        res.on('end', () => resolve(body));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(15_000, () => req.destroy(new Error('no first bytes: the response was buffered on the way')));
      req.end();
    });
    assert.match(text, /^first\n/);
  });

  test('a 64 MB download streams through nginx (no buffering) and a 64 MB upload too', async () => {
    const n = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: alice.ports.internal, path: `/bytes/${64 * MB}`, headers: { host: 'bulk.bob.svc' } }, (res) => {
        let got = 0;
        res.on('data', (d: Buffer) => { got += d.length; }).on('end', () => resolve(got)).on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(n, 64 * MB);
    const up = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: alice.ports.internal, method: 'POST', path: '/up', headers: { host: 'bulk.bob.svc' } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end(Buffer.alloc(64 * MB, 1));
    });
    assert.equal(up, String(64 * MB));
  });
});
