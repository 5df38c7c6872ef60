// Many tasks on one port: 2,000 concurrent gRPC bidirectional streams from
// alice to bob through one public port, all complete without error.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { GRPC_CHAT_METHOD, json, startGrpcChat, type Echo } from '../../examples/echo-services.ts';
import { TestNode, docs, partnerDomain, routeTo, service } from '../support/harness.ts';


describe('2,000 concurrent streams through one public port', () => {
  let alice: TestNode, bob: TestNode;
  let chat: Echo;

  before(async () => {
    chat = await startGrpcChat();
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    await Promise.all([alice.start(), bob.start()]);
    await alice.apply(docs(partnerDomain(bob), routeTo(alice, bob)));
    await bob.apply(docs(partnerDomain(alice), service('chat', chat.port, { access: 'alice', protocol: 'GRPC' })));
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await chat?.close();
    alice?.cleanup();
    bob?.cleanup();
  });

  test('all 2,000 streams, open at the same time, complete their exchanges', { timeout: 120_000 }, async () => {
    const STREAMS = 2000;
    const MESSAGES = 3;
    const Client = grpc.makeGenericClientConstructor({}, 'Chat');
    // Several channels, as several engines would have; all go through alice's one link to bob.
    const clients = Array.from({ length: 4 }, () => new Client(`127.0.0.1:${alice.ports.internal}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'chat.bob.svc' }));
    let opened = 0;
    let allOpen!: () => void;
    const everyoneOpen = new Promise<void>((resolve) => { allOpen = resolve; });
    const run = (i: number) => new Promise<number>((resolve, reject) => {
      const call = clients[i % clients.length]!.makeBidiStreamRequest(GRPC_CHAT_METHOD, json.serialize, json.deserialize, new grpc.Metadata(), { deadline: Date.now() + 100_000 });
      let got = 0;
      call.on('data', (m: unknown) => {
        got++;
        if (got === 1 && ++opened === STREAMS) allOpen();
        const n = (m as { n: number }).n;
        // Hold every stream open until all of them are: they are truly concurrent.
        if (got < MESSAGES) {
          if (got === 1) void everyoneOpen.then(() => call.write({ n }));
          else call.write({ n });
        } else call.end();
      });
      call.on('error', reject);
      call.on('end', () => resolve(got));
      call.write({ n: 0 });
    });
    const results = await Promise.allSettled(Array.from({ length: STREAMS }, (_, i) => run(i)));
    for (const c of clients) c.close();
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    assert.equal(failed.length, 0, `failed streams: ${failed.length}, first: ${failed[0]?.reason}`);
    assert.ok(results.every((r) => r.status === 'fulfilled' && r.value === MESSAGES));
    // One TLS connection (or a few) carried them all: the peer cluster's connection count stays small.
    const stats = await (await fetch(`http://127.0.0.1:${alice.ports.admin}/stats?filter=cluster.alice-to-bob-https.upstream_cx_total`)).text();
    const connections = Number(/upstream_cx_total: (\d+)/.exec(stats)?.[1]);
    assert.ok(connections >= 1 && connections <= 8, `connections to bob: ${connections}`);
  });
});
