// ferry.yaml `accessLog.successes` with real Envoys: bob logs no success but
// every failure; alice (the default) logs everything; a bad value stops
// `ferry start` naming the field.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGrpcEcho, startHttpEcho, type Echo } from '../../examples/echo-services.ts';
import { TestNode, curl, docs, partnerDomain, routeTo, service, waitFor } from '../support/harness.ts';

describe('access-log policy: failures always, successes as the admin chooses', () => {
  let alice: TestNode, bob: TestNode;
  let echo: Echo, grpc: Echo;

  before(async () => {
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    appendFileSync(join(bob.home, 'ferry.yaml'), 'accessLog:\n  successes: none\n');
    [echo, grpc] = await Promise.all([startHttpEcho('echo@bob'), startGrpcEcho('greeter@bob')]);
    await Promise.all([alice.start(), bob.start()]);
    await alice.apply(docs(partnerDomain(bob), routeTo(alice, bob)));
    await bob.apply(docs(partnerDomain(alice), service('echo', echo.port, { access: 'alice' }), service('greeter', grpc.port, { access: 'alice', protocol: 'GRPC' })));
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await Promise.all([echo?.close(), grpc?.close()]);
    for (const n of [alice, bob]) n?.cleanup();
  });

  const logged = async (home: string, file: string, id: string) => (await readFile(join(home, 'logs', file), 'utf8').catch(() => '')).split('\n').find((l) => l.includes(id));

  test('a success is logged by alice only; a failure by both', async () => {
    const ok = `ok-${Date.now()}`;
    const failed = `failed-${Date.now()}`;
    const r1 = await curl(['-H', 'Host: echo.bob.svc', '-H', `x-request-id: ${ok}`, `http://127.0.0.1:${alice.ports.internal}/fine`]);
    assert.equal(r1.status, 200);
    const r2 = await curl(['-H', 'Host: nosuch.bob.svc', '-H', `x-request-id: ${failed}`, `http://127.0.0.1:${alice.ports.internal}/missing`]);
    assert.equal(r2.status, 404);
    // bob writes its log in order: once the later failure is there, the earlier success would be too.
    const line = await waitFor('bob to log the failure', () => logged(bob.home, 'access-public.log', failed));
    assert.equal((JSON.parse(line) as { status: string | number }).status, 404);
    assert.equal(await logged(bob.home, 'access-public.log', ok), undefined, 'bob logged a success with successes: none');
    // A gRPC call that fails inside an HTTP 200 (grpc-status 12, unknown method) is a failure too.
    const grpcFailed = `grpc-failed-${Date.now()}`;
    const r3 = await curl(['--http2-prior-knowledge', '-X', 'POST', '-H', 'Host: greeter.bob.svc', '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-H', `x-request-id: ${grpcFailed}`,
      '--data-binary', '@/dev/null', `http://127.0.0.1:${alice.ports.internal}/ferry.demo.Echo/NoSuchMethod`]);
    assert.equal(r3.status, 200);
    const grpcLine = await waitFor('bob to log the failed gRPC call', () => logged(bob.home, 'access-public.log', grpcFailed));
    assert.equal(String((JSON.parse(grpcLine) as { grpc_status: string | number }).grpc_status), '12');
    await waitFor('alice to log both', async () => ((await logged(alice.home, 'access-internal.log', ok)) && (await logged(alice.home, 'access-internal.log', failed))) || undefined);
  });

  test('a bad accessLog.successes stops the start, naming the field', async () => {
    const carol = await TestNode.init('carol');
    try {
      appendFileSync(join(carol.home, 'ferry.yaml'), 'accessLog:\n  successes: often\n');
      const r = carol.cli(['start']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /accessLog\.successes in ferry\.yaml: "often" is not all, none or a percentage such as "10%"/);
    } finally {
      carol.cleanup();
    }
  });
});
