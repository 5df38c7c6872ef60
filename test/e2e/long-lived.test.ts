// Long-lived sessions, time scaled down: an idle gRPC stream survives an idle
// period under the default (1 h) idle timeout, and a Service's own idle
// timeout (annotation ferry.secretflow/idle-timeout) cuts idle streams.
// bench/results/idle.md records one real 30-minute idle run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { GRPC_CHAT_METHOD, json, startGrpcChat, type Echo } from '../../examples/echo-services.ts';
import { TestNode, docs, partnerDomain, routeTo, service } from '../support/harness.ts';

const IDLE_MS = 3000;

describe('long-lived sessions', () => {
  let alice: TestNode, bob: TestNode;
  let chat: Echo;
  let client: grpc.Client;

  before(async () => {
    chat = await startGrpcChat();
    const port = chat.port;
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    await Promise.all([alice.start(), bob.start()]);
    await alice.apply(docs(partnerDomain(bob), routeTo(alice, bob)));
    const brief = service('brief', port, { access: 'alice', protocol: 'GRPC' }).replace('annotations: {', 'annotations: { ferry.secretflow/idle-timeout: "1s",');
    await bob.apply(docs(partnerDomain(alice), service('chat', port, { access: 'alice', protocol: 'GRPC' }), brief));
    client = new grpc.Client(`127.0.0.1:${alice.ports.internal}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await Promise.all([alice?.stop(), bob?.stop()]);
    await chat?.close();
    alice?.cleanup();
    bob?.cleanup();
  });

  /** Opens a stream to `svc`, exchanges one message, stays idle IDLE_MS, then tries another. */
  async function idleExchange(svc: string): Promise<{ second?: number; error?: grpc.ServiceError }> {
    const md = new grpc.Metadata();
    const call = client.makeBidiStreamRequest(GRPC_CHAT_METHOD, json.serialize, json.deserialize, md, { host: `${svc}.bob.svc` } as grpc.CallOptions);
    const replies: number[] = [];
    let error: grpc.ServiceError | undefined;
    let notify = () => {};
    call.on('data', (m: unknown) => { replies.push((m as { n: number }).n); notify(); });
    call.on('error', (e: grpc.ServiceError) => { error = e; notify(); });
    const next = (count: number) => new Promise<void>((resolve) => { notify = () => { if (replies.length >= count || error) resolve(); }; notify(); });
    call.write({ n: 1 });
    await next(1);
    assert.equal(replies[0], 2);
    // The idle period itself is what is tested here.
    await new Promise((r) => setTimeout(r, IDLE_MS));
    if (!error) {
      call.write({ n: 10 });
      await next(2);
    }
    call.end();
    return { second: replies[1], error };
  }

  test('an idle stream survives (default idle timeout: 1 hour)', async () => {
    const r = await idleExchange('chat');
    assert.equal(r.error, undefined);
    assert.equal(r.second, 11);
  });

  test("a Service's idle timeout cuts a stream idle for longer", async () => {
    const r = await idleExchange('brief');
    assert.ok(r.error, 'the idle stream was cut');
    assert.equal(r.second, undefined);
  });
});
