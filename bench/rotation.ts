// bench/rotation: identity rotation under load, counted request by request.
// alice -> bob by mTLS with a 15 s gateway certificate (renewed every 10 s),
// carol -> bob by Kuscia token rolled every 5 s, and bob rotates its CA in the
// middle (start, partners apply the bundle, finish, partners drop the old CA).
// Every request through both links is counted; latency is compared with a
// quiet baseline in the same run. Writes bench/results/rotation.{json,md}.
// Run: npm run bench -- rotation
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { startHttpEcho } from '../examples/echo-services.ts';
import { TestNode, docs, partnerDomain, routeTo, service, waitFor } from '../test/support/harness.ts';
import { machine, percentile } from './machine.ts';
import { tokenRoute } from '../test/support/routes.ts';

const DURATION_S = Number(process.env.ROTATION_BENCH_SECONDS ?? 60);
const BASELINE_S = 10;
const CONCURRENCY = 4;

interface Sample { ms: number; status: number; error?: string }

/** Keep-alive requests, CONCURRENCY at a time, until `until`; every answer recorded with its latency. */
async function load(port: number, host: string, until: number, samples: Sample[]): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const one = () => new Promise<void>((resolve) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path: '/bench', agent, headers: { host }, timeout: 10_000 }, (res) => {
      res.resume().on('end', () => { samples.push({ ms: performance.now() - t0, status: res.statusCode ?? 0 }); resolve(); });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => { samples.push({ ms: performance.now() - t0, status: 0, error: e.message }); resolve(); });
    req.end();
  });
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (Date.now() < until) await one(); }));
  agent.destroy();
}

function summary(samples: Sample[]) {
  const ok = samples.filter((s) => s.status === 200).map((s) => s.ms);
  return {
    requests: samples.length,
    failed: samples.length - ok.length,
    failures: [...new Set(samples.filter((s) => s.status !== 200).map((s) => s.error ?? String(s.status)))].slice(0, 5),
    p50Ms: Number(percentile(ok, 50).toFixed(2)),
    p99Ms: Number(percentile(ok, 99).toFixed(2)),
  };
}

async function main() {
  const [alice, bob, carol] = await Promise.all([TestNode.init('alice'), TestNode.init('bob'), TestNode.init('carol')]);
  const nodes = [alice, bob, carol];
  const echo = await startHttpEcho('echo');
  const events: { atS: number; event: string }[] = [];
  try {
    const config = join(alice.home, 'ferry.yaml');
    writeFileSync(config, `${readFileSync(config, 'utf8')}gatewayCertLifetime: 15s\n`);
    await Promise.all(nodes.map((n) => n.start()));
    await bob.apply(docs(partnerDomain(alice), partnerDomain(carol), tokenRoute(carol, bob, { period: 5 }), service('echo', echo.port, { access: 'alice,carol' })));
    await alice.apply(docs(partnerDomain(bob), routeTo(alice, bob)));
    await carol.apply(docs(partnerDomain(bob), tokenRoute(carol, bob, { period: 5, endpoint: { host: '127.0.0.1', port: bob.ports.public } })));
    await waitFor('carol\'s token', async () => ((await carol.status()).resources as { name: string; ready: boolean }[]).find((r) => r.name === 'carol-bob' && r.ready), 30_000);

    // Baseline: the same load with nothing rotating (alice's certificate is young, carol's token too).
    const base = { alice: [] as Sample[], carol: [] as Sample[] };
    const baseEnd = Date.now() + BASELINE_S * 1000;
    await Promise.all([load(alice.ports.internal, 'echo.bob.svc', baseEnd, base.alice), load(carol.ports.internal, 'echo.bob.svc', baseEnd, base.carol)]);

    const during = { alice: [] as Sample[], carol: [] as Sample[] };
    const start = Date.now();
    const end = start + DURATION_S * 1000;
    const at = (event: string) => events.push({ atS: Number(((Date.now() - start) / 1000).toFixed(1)), event });
    const running = Promise.all([load(alice.ports.internal, 'echo.bob.svc', end, during.alice), load(carol.ports.internal, 'echo.bob.svc', end, during.carol)]);
    const serials = new Set<string>();
    const tokenRevisions = new Set<number>();
    const watch = setInterval(() => {
      void alice.api('/api/v1/certs').then((r) => r.json()).then((c: { gateway: { serial: string } }) => serials.add(c.gateway.serial)).catch(() => undefined);
    }, 1000);
    const tokenWatch = setInterval(() => {
      try {
        const t = JSON.parse(readFileSync(join(carol.home, 'data', 'tokens.json'), 'utf8')) as { obtained?: Record<string, { revision: number }> };
        if (t.obtained?.bob) tokenRevisions.add(t.obtained.bob.revision);
      } catch { /* being rewritten */ }
    }, 500);
    await waitUntil(start + DURATION_S * 300);
    at('bob: ferry cert rotate --ca --overlap 1h');
    const started = bob.cli(['cert', 'rotate', '--ca', '--overlap', '1h']);
    if (started.code !== 0) throw new Error(started.stderr);
    await Promise.all([alice.apply(partnerDomain(bob)), carol.apply(partnerDomain(bob))]);
    at('alice and carol apply bob\'s CA bundle (old + new)');
    await waitUntil(start + DURATION_S * 550);
    const finished = bob.cli(['cert', 'rotate', '--ca', '--finish']);
    if (finished.code !== 0) throw new Error(finished.stderr);
    at('bob: ferry cert rotate --ca --finish (new CA signs bob\'s gateway certificate)');
    await waitUntil(start + DURATION_S * 750);
    await Promise.all([alice.apply(partnerDomain(bob)), carol.apply(partnerDomain(bob))]);
    at('alice and carol drop bob\'s old CA');
    await running;
    clearInterval(watch);
    clearInterval(tokenWatch);

    const result = {
      machine: machine(),
      durationSeconds: DURATION_S,
      concurrencyPerLink: CONCURRENCY,
      events,
      gatewayCertificatesServedByAlice: serials.size,
      carolTokenRevisionsSeen: tokenRevisions.size,
      baseline: { aliceMtls: summary(base.alice), carolToken: summary(base.carol) },
      duringRotation: { aliceMtls: summary(during.alice), carolToken: summary(during.carol) },
    };
    writeFileSync(join(import.meta.dirname, 'results', 'rotation.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(import.meta.dirname, 'results', 'rotation.md'), markdown(result));
    console.log(markdown(result));
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await echo.close();
    for (const n of nodes) n.cleanup();
  }
}

const waitUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

function markdown(r: {
  machine: ReturnType<typeof machine>; durationSeconds: number; concurrencyPerLink: number; events: { atS: number; event: string }[];
  gatewayCertificatesServedByAlice: number; carolTokenRevisionsSeen: number;
  baseline: Record<string, ReturnType<typeof summary>>; duringRotation: Record<string, ReturnType<typeof summary>>;
}): string {
  const m = r.machine;
  const row = (name: string, s: ReturnType<typeof summary>, b: ReturnType<typeof summary>) =>
    `| ${name} | ${s.requests} | **${s.failed}** | ${s.p50Ms} (${b.p50Ms}) | ${s.p99Ms} (${b.p99Ms}) |`;
  return `# Identity rotation under load

Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, Envoy ${m.envoy}; ${m.date}.

${r.durationSeconds} s of keep-alive load (${r.concurrencyPerLink} concurrent requests per link) through real Envoys while:
alice's gateway certificate (15 s lifetime) was renewed (${r.gatewayCertificatesServedByAlice} certificates seen), carol's
Kuscia token rolled every 5 s (${r.carolTokenRevisionsSeen} revisions seen), and bob rotated its CA:

${r.events.map((e) => `- ${e.atS} s: ${e.event}`).join('\n')}

| link | requests | failed | p50 ms (baseline) | p99 ms (baseline) |
| --- | --- | --- | --- | --- |
${row('alice -> bob (mTLS)', r.duringRotation.aliceMtls!, r.baseline.aliceMtls!)}
${row('carol -> bob (token)', r.duringRotation.carolToken!, r.baseline.carolToken!)}

Goal: zero failed requests. Baseline: ${BASELINE_S} s of the same load just before, nothing rotating.
`;
}

await main();
