// Local exposure (issue 12, item 8): Envoy's admin API and the xDS server are
// Unix sockets (0600) in the node's 0700 home, not TCP ports, unless asked for;
// an unprivileged local user can reach neither them nor the home's files
// (store, logs, bootstrap, ferry.yaml, keys); and an xDS client that is not
// one of the node's own Envoys (no per-home secret) gets nothing and cannot
// hold /readyz at 503 (whether on the socket or on an optional TCP port).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startHttpEcho, type Echo } from '../../examples/echo-services.ts';
import { DeltaClient } from '../support/ads-client.ts';
import { TestNode, service, waitFor } from '../support/harness.ts';

const isRoot = process.getuid?.() === 0;
const asNobody = (cmd: string[]) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...cmd], { encoding: 'utf8', timeout: 20_000 });

/** An xDS client that asks for everything (the gateway key among it) and never ACKs. */
class Stranger extends DeltaClient {
  status: grpc.StatusObject | undefined;
  constructor(target: string) {
    super(target, 'alice-gateway'); // even with the node id of the node's own Envoy
    this.call.on('status', (s: grpc.StatusObject) => { this.status = s; });
    for (const t of ['Cluster', 'Listener', 'extensions.transport_sockets.tls.v3.Secret']) {
      const typeUrl = `type.googleapis.com/envoy.${t.includes('.') ? t : `config.${t.toLowerCase()}.v3.${t}`}`;
      this.subscribe(typeUrl, ['*']);
    }
  }
  protected override onResponse(): void {
    this.received.push({ typeUrl: '', nonce: '', names: [], removed: [], version: '' }); // never ACKed
  }
}

describe('local exposure', () => {
  let alice: TestNode, carol: TestNode;
  let echo: Echo;

  before(async () => {
    // alice: a new home as `ferry init` makes it (sockets only); carol: with the optional TCP xDS and admin ports.
    [alice, carol] = await Promise.all([TestNode.init('alice', { socketsOnly: true }), TestNode.init('carol')]);
    echo = await startHttpEcho('echo');
    await Promise.all([alice.start(), carol.start()]);
    await alice.apply(service('echo', echo.port));
  });

  after(async () => {
    await Promise.all([alice?.stop(), carol?.stop()]);
    await echo?.close();
    alice?.cleanup();
    carol?.cleanup();
  });

  test('admin and xDS are 0600 Unix sockets; Envoy and the node listen on no TCP port for them', () => {
    for (const s of ['admin.sock', 'xds.sock']) {
      const st = statSync(join(alice.home, 'run', s));
      assert.ok(st.isSocket(), s);
      assert.equal(st.mode & 0o777, 0o600, `${s} mode`);
    }
    const config = readFileSync(join(alice.home, 'ferry.yaml'), 'utf8');
    assert.doesNotMatch(config, /envoyAdmin|xds:/);
    const bootstrap = readFileSync(join(alice.home, 'run', 'envoy-bootstrap.json'), 'utf8');
    assert.match(bootstrap, /admin\.sock/);
    // alice's Envoy listens on TCP for its public and internal listeners only, its node for the API and KusciaAPI's gRPC (loopback) only.
    const envoyPid = Number(readFileSync(join(alice.home, 'run', 'envoy.pid'), 'utf8'));
    const listening = (pid: number) => [...new Set(spawnSync('ss', ['-Hltnp'], { encoding: 'utf8' }).stdout.split('\n')
      .filter((l) => l.includes(`pid=${pid},`)).map((l) => Number(/:(\d+)$/.exec(l.split(/\s+/)[3] ?? '')?.[1])))].sort(); // one socket per worker
    assert.deepEqual(listening(envoyPid), [alice.ports.public, alice.ports.internal].sort());
    // ... and the DataMesh (docs/datamesh.md), on loopback, for the node's tasks: its ports as the node logged them.
    const dm = /"address":"127\.0\.0\.1:(\d+)","http":"127\.0\.0\.1:(\d+)","grpc":"127\.0\.0\.1:(\d+)"[^\n]*DataMesh \(Arrow Flight\) listening/.exec(readFileSync(join(alice.home, 'logs', 'ferry.log'), 'utf8'));
    assert.ok(dm, 'the node logs the DataMesh ports');
    assert.deepEqual(listening(alice.pid!), [alice.ports.api, alice.ports.kusciaGrpc, ...dm.slice(1).map(Number)].sort());
    const loopbackOnly = spawnSync('ss', ['-Hltnp'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(`pid=${alice.pid},`)).every((l) => /\s127\.0\.0\.1:\d+\s/.test(l));
    assert.ok(loopbackOnly, 'the node listens on loopback only');
  });

  test('the home is 0700 (0711 with tasks under their own user) and nothing in it is readable by others', () => {
    // A root node runs tasks as nobody (control-plane/runtime/task-user.ts): they may pass through the home and data/ to their own directory, not list them.
    const passable = isRoot ? [alice.home, join(alice.home, 'data')] : [];
    assert.equal(statSync(alice.home).mode & 0o777, isRoot ? 0o711 : 0o700);
    const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [join(dir, e.name), ...walk(join(dir, e.name))] : [join(dir, e.name)]));
    for (const d of passable) assert.equal(statSync(d).mode & 0o777, 0o711, d);
    const loose = walk(alice.home).filter((f) => !passable.includes(f) && (statSync(f).mode & 0o077) !== 0 && !statSync(f).isSocket());
    assert.deepEqual(loose, [], 'files or directories readable by group or others');
    for (const f of ['ferry.yaml', 'data/ferry.db', 'logs/ferry.log', 'logs/envoy.log', 'run/envoy-bootstrap.json']) {
      assert.equal(statSync(join(alice.home, f)).mode & 0o077, 0, f);
    }
  });

  test('an unprivileged user can reach neither the sockets nor the files', { skip: isRoot ? false : 'needs root to act as nobody' }, () => {
    const admin = asNobody(['curl', '-sS', '--max-time', '5', '--unix-socket', join(alice.home, 'run', 'admin.sock'), 'http://envoy/ready']);
    assert.notEqual(admin.status, 0, `nobody reached the admin socket: ${admin.stdout}`);
    assert.match(admin.stderr, /Permission denied|Couldn't connect|Failed to connect/i);
    const quit = asNobody(['curl', '-sS', '--max-time', '5', '-X', 'POST', '--unix-socket', join(alice.home, 'run', 'admin.sock'), 'http://envoy/quitquitquit']);
    assert.notEqual(quit.status, 0);
    const xds = asNobody(['curl', '-sS', '--max-time', '5', '--http2-prior-knowledge', '--unix-socket', join(alice.home, 'run', 'xds.sock'), 'http://xds/']);
    assert.notEqual(xds.status, 0);
    for (const f of ['ferry.yaml', 'data/ferry.db', 'logs/ferry.log', 'run/envoy-bootstrap.json', 'certs/gateway.key', 'data/xds-secret']) {
      const r = asNobody(['cat', join(alice.home, f)]);
      assert.notEqual(r.status, 0, `nobody read ${f}`);
      assert.match(r.stderr, /Permission denied/, f);
    }
    // Envoy still answers its owner.
    assert.equal(spawnSync('curl', ['-sS', '--unix-socket', join(alice.home, 'run', 'admin.sock'), 'http://envoy/ready'], { encoding: 'utf8' }).stdout.trim(), 'LIVE');
  });

  test('an xDS client without the node\'s secret gets nothing and cannot hold /readyz at 503', async () => {
    // On alice's socket (as its own user) and on carol's optional TCP port.
    const strangers = [new Stranger(`unix:${join(alice.home, 'run', 'xds.sock')}`), new Stranger(`127.0.0.1:${carol.ports.xds}`)];
    try {
      for (const s of strangers) {
        await waitFor('the refusal', async () => s.status);
        assert.equal(s.status!.code, grpc.status.UNAUTHENTICATED, s.status!.details);
        assert.equal(s.received.length, 0, 'no resource (no key) was sent');
      }
      // A change: readiness follows the node's own Envoy alone.
      await alice.apply(service('echo2', echo.port));
      await carol.apply(service('echo', echo.port));
      assert.equal((await alice.readyz()).ready, true);
      assert.equal((await carol.readyz()).ready, true);
      const proxies = ((await alice.status()) as unknown as { xds: { proxies: unknown[] } }).xds.proxies;
      assert.equal(proxies.length, 1, 'only its own Envoy counts');
      const metrics = await (await alice.api('/metrics')).text();
      assert.match(metrics, /ferry_xds_refused_streams_total [1-9]/);
    } finally {
      for (const s of strangers) s.close();
    }
  });
});
