// bench/psi-exchange: Kuscia's 1C2G profile. alice's and bob's nodes (control
// plane + Envoy) each run in a 1 CPU / 2 GiB cgroup together with their
// domain's PSI-shaped engine (bench/psi-peer.ts): alice streams 1,000,000
// 32-byte items to bob, bob streams back 1,000,000 32-byte items as they
// arrive. The same exchange runs direct (engine to engine) and through Ferry
// (alice's internal listener -> mTLS -> bob's node), interleaved, with the
// nodes running in both cases. Writes bench/results/psi-exchange.{json,md}.
// Run: npm run bench -- psi-exchange
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { TestNode, docs, partnerDomain, routeTo, service } from '../test/support/harness.ts';
import { createCgroup, type Cgroup } from '../control-plane/runtime/cgroup.ts';
import { envoyPid, median, round, rss, runHeader, spread, startNode, stopNode } from './lib.ts';
import { machine } from './machine.ts';

const RESULTS = join(import.meta.dirname, 'results', 'psi-exchange.json');
const ITEMS = Number(process.env.PSI_ITEMS ?? 1_000_000);
/** Each exchange takes a fraction of a second: 7 runs for a stable median. */
const RUNS = Number(process.env.PSI_RUNS ?? 7);
const GiB = 2 ** 30;
const PEER = join(import.meta.dirname, 'psi-peer.ts');
const NODE_ARGS = ['--disable-warning=ExperimentalWarning'];

/** Spawns `node psi-peer.ts ...` inside a cgroup (it joins before exec). */
function spawnPeer(group: Cgroup | undefined, args: string[]): ChildProcess {
  const join_ = (group?.procs ?? []).map((f) => `echo $$ > '${f}'`).join(' && ');
  return spawn('sh', ['-c', `${join_ ? `${join_} && ` : ''}exec "$@"`, 'sh', process.execPath, ...NODE_ARGS, PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function output(child: ChildProcess, timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr }); });
  });
}

const cleanups: (() => Promise<void> | void)[] = [];
async function cleanup() {
  for (const c of cleanups.splice(0).reverse()) {
    try { await c(); } catch (e) { console.error(`cleanup: ${(e as Error).message}`); }
  }
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));

interface Exchange { ms: number; alicePeakMb: number; bobPeakMb: number; aliceCpuS?: number; bobCpuS?: number }

async function main() {
  const loadBefore = loadavg().map((x) => round(x, 2));
  const t0 = Date.now();
  const groups: { alice?: Cgroup; bob?: Cgroup } = {};
  let limitNote: string;
  try {
    groups.alice = createCgroup(`ferry-bench-alice-${process.pid}`, 1, 2 * GiB);
    cleanups.push(() => groups.alice!.remove());
    groups.bob = createCgroup(`ferry-bench-bob-${process.pid}`, 1, 2 * GiB);
    cleanups.push(() => groups.bob!.remove());
    limitNote = groups.alice.describe;
  } catch (e) {
    limitNote = `NO LIMIT: could not create cgroups (${(e as Error).message}); the numbers below are unconstrained`;
    console.error(`psi-exchange: ${limitNote}`);
  }
  try {
    const [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    cleanups.push(() => { alice.cleanup(); bob.cleanup(); });
    const [aliceChild, bobChild] = await Promise.all([startNode(alice, groups.alice?.procs), startNode(bob, groups.bob?.procs)]);
    cleanups.push(() => Promise.all([stopNode(alice, aliceChild), stopNode(bob, bobChild)]).then(() => undefined));
    const server = spawnPeer(groups.bob, ['serve']);
    cleanups.push(() => { if (server.exitCode === null) server.kill('SIGTERM'); });
    const port = await new Promise<number>((resolve, reject) => {
      server.stdout!.setEncoding('utf8').once('data', (d: string) => resolve((JSON.parse(d) as { port: number }).port));
      server.once('exit', (c) => reject(new Error(`psi peer exited ${c}`)));
    });
    await alice.apply(docs(partnerDomain(bob), routeTo(alice, bob)));
    await bob.apply(docs(partnerDomain(alice), service('psi', port, { access: 'alice' })));
    const idle = {
      alice: { controlPlaneMb: round(rss(aliceChild.pid!), 0), envoyMb: round(rss(envoyPid(alice)!), 0) },
      bob: { controlPlaneMb: round(rss(bobChild.pid!), 0), envoyMb: round(rss(envoyPid(bob)!), 0) },
    };
    const startupPeakMb = { alice: round((groups.alice?.peakBytes() ?? NaN) / 2 ** 20, 0), bob: round((groups.bob?.peakBytes() ?? NaN) / 2 ** 20, 0) };
    const exchange = async (path: 'direct' | 'ferry', items: number): Promise<Exchange> => {
      groups.alice?.resetPeak();
      groups.bob?.resetPeak();
      const cpu0 = [groups.alice?.cpuSeconds(), groups.bob?.cpuSeconds()];
      const sender = spawnPeer(groups.alice, path === 'direct' ? ['send', String(port), 'psi', String(items)] : ['send', String(alice.ports.internal), 'psi.bob.svc', String(items)]);
      const r = await output(sender, 300_000);
      if (r.code !== 0) throw new Error(`exchange ${path} failed (${r.code}): ${r.stderr}${r.stdout}`);
      const res = JSON.parse(r.stdout) as { ms: number; received: number };
      const cpu1 = [groups.alice?.cpuSeconds(), groups.bob?.cpuSeconds()];
      const d = (i: number) => (cpu0[i] !== undefined && cpu1[i] !== undefined ? round(cpu1[i]! - cpu0[i]!, 2) : undefined);
      return {
        ms: round(res.ms, 0),
        alicePeakMb: round((groups.alice?.peakBytes() ?? NaN) / 2 ** 20, 0),
        bobPeakMb: round((groups.bob?.peakBytes() ?? NaN) / 2 ** 20, 0),
        aliceCpuS: d(0),
        bobCpuS: d(1),
      };
    };
    await exchange('direct', 10_000); // warm-up: connections, JIT
    await exchange('ferry', 10_000);
    const runs: Record<'direct' | 'ferry', Exchange[]> = { direct: [], ferry: [] };
    for (let i = 0; i < RUNS; i++) {
      for (const path of ['direct', 'ferry'] as const) {
        const x = await exchange(path, ITEMS);
        runs[path].push(x);
        console.log(`psi ${path} run ${i + 1}: ${x.ms} ms, peak alice ${x.alicePeakMb} MB, bob ${x.bobPeakMb} MB, CPU alice ${x.aliceCpuS} s, bob ${x.bobCpuS} s`);
      }
    }
    const summary = (xs: Exchange[]) => ({
      ms: { median: median(xs.map((x) => x.ms)), ...spread(xs.map((x) => x.ms)) },
      alicePeakMb: Math.max(...xs.map((x) => x.alicePeakMb)),
      bobPeakMb: Math.max(...xs.map((x) => x.bobPeakMb)),
      aliceCpuS: median(xs.map((x) => x.aliceCpuS ?? NaN)),
      bobCpuS: median(xs.map((x) => x.bobCpuS ?? NaN)),
    });
    const results = {
      ...runHeader(loadBefore, t0),
      limit: limitNote,
      items: ITEMS,
      itemBytes: 32,
      runs: RUNS,
      idle,
      startupPeakMb,
      direct: summary(runs.direct),
      ferry: summary(runs.ferry),
      raw: runs,
    };
    writeFileSync(RESULTS, JSON.stringify(results, null, 2) + '\n');
    writeFileSync(RESULTS.replace(/json$/, 'md'), report(results));
    console.log(`wrote ${RESULTS} and psi-exchange.md`);
  } finally {
    await cleanup();
  }
}

type Summary = { ms: { median: number; min: number; max: number }; alicePeakMb: number; bobPeakMb: number; aliceCpuS: number; bobCpuS: number };

function report(r: { machine: ReturnType<typeof machine>; loadavgBefore: number[]; loadavgAfter: number[]; durationS: number; limit: string; items: number; runs: number; idle: Record<string, { controlPlaneMb: number; envoyMb: number }>; startupPeakMb: { alice: number; bob: number }; direct: Summary; ferry: Summary }): string {
  const m = r.machine;
  const ratio = r.ferry.ms.median / r.direct.ms.median;
  const row = (name: string, s: Summary) => `| ${name} | ${s.ms.median} (${s.ms.min}–${s.ms.max}) | ${s.alicePeakMb} | ${s.bobPeakMb} | ${s.aliceCpuS} | ${s.bobCpuS} |`;
  const MiB = (r.items * 32) / 2 ** 20;
  return `# 1C2G profile: a PSI-shaped exchange through Ferry on 1 CPU / 2 GiB per domain

Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, Envoy ${m.envoy}; ${m.date}.
Load average (1/5/15 min) before: ${r.loadavgBefore.join(' / ')}, after: ${r.loadavgAfter.join(' / ')} (shared machine; the figure after includes this benchmark's own load). Took ${r.durationS} s.
Generated by \`npm run bench -- psi-exchange\` (bench/psi-exchange.ts, bench/psi-peer.ts); raw numbers in psi-exchange.json.

Limit per domain: ${r.limit}. Each domain's cgroup holds its node (control plane + Envoy, started inside it)
and its engine. \`systemd-run\` is not usable here (systemd is not PID 1), so the groups are made directly.

The exchange: alice's engine streams ${r.items.toLocaleString('en')} 32-byte items (${MiB.toFixed(1)} MiB) in one HTTP/1.1 POST;
bob's engine answers every item with a 32-byte item (the item XOR a key, standing in for its masking) on the
same request's response, streamed while the upload still arrives (${MiB.toFixed(1)} MiB back). **direct**: engine to
engine on loopback; **ferry**: alice's engine -> alice's internal listener -> HTTP/2 over mTLS -> bob's public
listener -> bob's engine. Both nodes run (idle) during the direct runs too. Time from the first byte sent to the
last byte received; ${r.runs} runs each, interleaved, after a 10,000-item warm-up; median (min–max).
Peak memory: the cgroup's peak (all its processes, page cache included) during the exchange. CPU: the
cgroup's CPU time during the exchange (cpuacct), including the start of alice's sending engine process
(Node start-up, ~0.1 s). With a 100 ms CFS period, an exchange this short spans only a few quota periods:
a run that lands badly on throttling shows up in the spread.

| path | time (ms) | alice peak (MB) | bob peak (MB) | alice CPU (s) | bob CPU (s) |
| --- | --- | ---: | ---: | ---: | ---: |
${row('direct', r.direct)}
${row('ferry', r.ferry)}

Idle nodes inside the limit: alice control plane ${r.idle.alice!.controlPlaneMb} MB + Envoy ${r.idle.alice!.envoyMb} MB RSS,
bob ${r.idle.bob!.controlPlaneMb} + ${r.idle.bob!.envoyMb} MB; cgroup peak while the nodes started: alice ${r.startupPeakMb.alice} MB, bob ${r.startupPeakMb.bob} MB.

| goal | measured | verdict |
| --- | --- | --- |
| exchange through Ferry within 1.2x of direct | ${ratio.toFixed(2)}x (${r.ferry.ms.median} vs ${r.direct.ms.median} ms) | ${ratio <= 1.2 ? 'met' : '**missed**'} |
| fits 1 CPU / 2 GiB per domain | peak ${Math.max(r.ferry.alicePeakMb, r.ferry.bobPeakMb, r.startupPeakMb.alice, r.startupPeakMb.bob)} MB of 2048 | ${Math.max(r.ferry.alicePeakMb, r.ferry.bobPeakMb) <= 2048 ? 'met' : '**missed**'} |

**Reading the ratio.** This exchange is transport and nothing else: the engines' per-item work is an XOR, so
the direct run is two processes copying ${(2 * MiB).toFixed(0)} MiB over loopback in ${r.direct.ms.median} ms. Ferry adds ${(r.ferry.ms.median - r.direct.ms.median).toFixed(0)} ms to it
(two Envoys, TLS and HTTP/2 framing, each Envoy sharing its domain's one CPU with the engine: the cgroups'
CPU time grows from ${r.direct.aliceCpuS} to ${r.ferry.aliceCpuS} s for alice and from ${r.direct.bobCpuS} to ${r.ferry.bobCpuS} s for bob). ${ratio <= 1.2 ? '' : `Hence the ${ratio.toFixed(2)}x: the 1.2x goal
is missed for a bare transfer of this size. `}A PSI engine's own work per item (hashing, elliptic-curve
operations) is added to both paths alike and shrinks the ratio; Ferry's absolute cost is the ${(r.ferry.ms.median - r.direct.ms.median).toFixed(0)} ms above for
1,000,000 items each way.
`;
}

if (process.argv.includes('--report')) {
  // Rewrites psi-exchange.md from psi-exchange.json (after a change to the text), measuring nothing.
  writeFileSync(RESULTS.replace(/json$/, 'md'), report(JSON.parse(readFileSync(RESULTS, 'utf8')) as Parameters<typeof report>[0]));
} else await main();
