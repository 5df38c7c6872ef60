// bench/store: apply -> served, embedded store vs etcd, in one run. Embedded:
// one bob node, a Service applied through its API until its own Envoy has the
// Service's cluster. etcd: two bob replicas over one real etcd member, the
// Service applied through replica A until replica B's Envoy has it (the
// write crosses etcd and B's watch). The acceptance bar: p50 with etcd at
// most 1.5x the embedded store's. Writes bench/results/store.{json,md}.
// Run: npm run bench -- store
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestNode, tempDir, waitFor } from '../test/support/harness.ts';
import { startEtcd } from '../test/support/etcd.ts';
import { machine, percentile } from './machine.ts';
import { round } from './lib.ts';

const SAMPLES = Number(process.env.STORE_BENCH_SAMPLES ?? 30);
const doc = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ port: 8080 }] } });

/** Polls the Envoy admin /clusters until the Service's cluster is there; ms since `from`. */
async function servedAfter(envoyAdmin: number, name: string, from: number): Promise<number> {
  for (;;) {
    const text = await (await fetch(`http://127.0.0.1:${envoyAdmin}/clusters`)).text();
    if (text.includes(`service-${name}::`)) return performance.now() - from;
    if (performance.now() - from > 30_000) throw new Error(`service ${name} not served after 30 s`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function measure(label: string, writer: TestNode, server: TestNode): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < SAMPLES + 3; i++) {
    const name = `${label}-${i}`;
    const t0 = performance.now();
    const res = await writer.api('/api/v1/apply', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resources: [doc(name)] }) });
    if (!res.ok) throw new Error(`apply ${name}: ${res.status} ${await res.text()}`);
    const ms = await servedAfter(server.ports.admin, name, t0);
    if (i >= 3) times.push(ms); // the first few warm up caches and connections
  }
  return times;
}

const summary = (xs: number[]) => ({ p50: round(percentile(xs, 50), 1), p90: round(percentile(xs, 90), 1), max: round(Math.max(...xs), 1) });

const embedded = await TestNode.init('bob');
const etcd = await startEtcd(1);
const keyFile = join(tempDir('bench-store-key'), 'store.key');
writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
const initArgs = ['--store', etcd.url, '--store-key-file', keyFile];
const [a, b] = await Promise.all([TestNode.init('bob', { initArgs }), TestNode.init('bob', { initArgs })]);
try {
  await embedded.start();
  await a.start();
  await b.start();
  await waitFor('both replicas ready', async () => ((await b.readyz()).ready && (await a.readyz()).ready ? true : undefined));
  // Interleaved rounds, so a slow moment of the machine hits both alike.
  const emb: number[] = [];
  const ext: number[] = [];
  for (let round_ = 0; round_ < 3; round_++) {
    emb.push(...await measure(`emb${round_}`, embedded, embedded));
    ext.push(...await measure(`etcd${round_}`, a, b));
  }
  const result = {
    at: new Date().toISOString(),
    machine: machine(),
    samples: emb.length,
    embedded: summary(emb),
    etcdAcrossReplicas: summary(ext),
    ratioP50: round(percentile(ext, 50) / percentile(emb, 50), 2),
    bar: 1.5,
  };
  const dir = join(import.meta.dirname, 'results');
  writeFileSync(join(dir, 'store.json'), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(dir, 'store.md'), [
    '# Store: apply -> served (bench/store.ts)',
    '',
    `${result.at}, ${result.machine.cpu}; ${result.samples} applies each, interleaved in 3 rounds.`,
    '',
    '| path | p50 ms | p90 ms | max ms |',
    '| --- | --- | --- | --- |',
    `| embedded (SQLite): apply on bob, served by bob's Envoy | ${result.embedded.p50} | ${result.embedded.p90} | ${result.embedded.max} |`,
    `| etcd (1 member): apply on replica A, served by replica B's Envoy | ${result.etcdAcrossReplicas.p50} | ${result.etcdAcrossReplicas.p90} | ${result.etcdAcrossReplicas.max} |`,
    '',
    `p50 ratio etcd / embedded: **${result.ratioP50}** (bar: at most ${result.bar}).`,
    '',
  ].join('\n'));
  console.log(JSON.stringify(result, null, 2));
} finally {
  await Promise.all([embedded.stop(), a.stop(), b.stop()]);
  for (const n of [embedded, a, b]) n.cleanup();
  await etcd.stop();
}
