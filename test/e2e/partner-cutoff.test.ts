// Trust changes take effect at once: removing a partner, or replacing its CA,
// refuses its new connections and closes its open ones within the drain time
// (1 s), while other partners' streams go on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { GRPC_CHAT_METHOD, json, startGrpcChat, type Echo } from '../../examples/echo-services.ts';
import { TestNode, docs, partnerDomain, routeTo, service, waitFor } from '../support/harness.ts';

/** A gRPC stream from `from`'s engines to bob's chat, with a way to talk and to see it end. */
function openStream(from: TestNode) {
  const client = new grpc.Client(`127.0.0.1:${from.ports.internal}`, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(GRPC_CHAT_METHOD, json.serialize, json.deserialize, new grpc.Metadata(), { host: 'chat.bob.svc' } as grpc.CallOptions);
  const replies: number[] = [];
  let endedAt: number | undefined;
  call.on('data', (m: unknown) => replies.push((m as { n: number }).n));
  call.on('error', () => { endedAt ??= Date.now(); });
  call.on('end', () => { endedAt ??= Date.now(); });
  return {
    /** Sends n; resolves on the reply, rejects if the stream ends first. */
    async talk(n: number): Promise<void> {
      const before = replies.length;
      call.write({ n });
      await waitFor('a reply or the end', async () => (replies.length > before || endedAt ? true : undefined), 10_000);
      if (replies.length === before) throw new Error('the stream ended without a reply');
    },
    get endedAt() { return endedAt; },
    close() { call.cancel(); client.close(); },
  };
}

describe('partner trust changes take effect at once', () => {
  let alice: TestNode, bob: TestNode, carol: TestNode, dave: TestNode;
  let chat: Echo;

  before(async () => {
    [alice, bob, carol, dave] = await Promise.all([TestNode.init('alice'), TestNode.init('bob'), TestNode.init('carol'), TestNode.init('dave')]);
    chat = await startGrpcChat();
    await Promise.all([alice.start(), bob.start(), carol.start()]);
    await Promise.all([alice.apply(docs(partnerDomain(bob), routeTo(alice, bob))), carol.apply(docs(partnerDomain(bob), routeTo(carol, bob)))]);
    await bob.apply(docs(partnerDomain(alice), partnerDomain(carol), service('chat', chat.port, { access: 'alice,carol', protocol: 'GRPC' })));
  });

  after(async () => {
    await Promise.all([alice, bob, carol].map((n) => n?.stop()));
    await chat?.close();
    for (const n of [alice, bob, carol, dave]) n?.cleanup();
  });

  for (const change of ['removed', 'CA replaced'] as const) {
    test(`partner ${change}: its open stream is closed within the drain time, others go on, new calls are refused`, async () => {
      const fromAlice = openStream(alice);
      const fromCarol = openStream(carol);
      await Promise.all([fromAlice.talk(1), fromCarol.talk(1)]);

      const changedAt = Date.now();
      const r = change === 'removed'
        ? bob.cli(['delete', 'domain', 'carol'])
        : bob.cli(['apply', '-f', '-'], partnerDomain(dave).replace('name: dave }', 'name: carol }')); // carol's Domain now holds another CA
      assert.equal(r.code, 0, r.stderr);
      await waitFor("carol's stream to end", async () => fromCarol.endedAt, 10_000);
      const seconds = (fromCarol.endedAt! - changedAt) / 1000;
      console.log(`partner ${change}: carol's open stream closed ${seconds.toFixed(2)} s after the change`);
      assert.ok(seconds < 5, `closed after ${seconds.toFixed(2)} s`);

      await fromAlice.talk(2); // alice's stream, on its own filter chain, is untouched
      const again = openStream(carol);
      await assert.rejects(again.talk(1), 'a new call from carol is refused');
      again.close();
      fromAlice.close();
      fromCarol.close();
      await bob.apply(partnerDomain(carol)); // trust carol again for the next case
    });
  }
});
