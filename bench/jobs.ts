// bench/jobs: how fast a cross-domain job gets going, and how fast parties
// learn of each other's states. Two real nodes on loopback; bob approves
// alice's jobs by policy; each job has one task at both parties whose engine
// is `sh -c 'exit 0'`. For each of N jobs, one after the other:
//  - submit -> all parties running: from alice's POST to the later of the two
//    parties' startedAt (when each runtime spawned its side), both from this
//    machine's one clock;
//  - phase sync delay: for each state a party recorded (Reserved, Running,
//    Succeeded), the time until the other party's job status showed it (its
//    event), in both directions.
// Writes bench/results/jobs.{json,md}. Run: npm run bench -- jobs
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { TestNode, docs, partnerDomain, routeTo, waitFor } from '../test/support/harness.ts';
import { readConfig, writeConfig } from '../control-plane/config.ts';
import { machine, percentile } from './machine.ts';
import type { JobStatus } from '../control-plane/jobs/job-status.ts';

const JOBS = Number(process.env.JOBS_BENCH_N ?? 30);

const appImage = `apiVersion: kuscia.secretflow/v1alpha1
kind: AppImage
metadata: { name: quick }
spec: { deployTemplates: [{ spec: { containers: [{ name: q, command: [/bin/sh, -c, 'exit 0'] }] } }] }
`;

async function main() {
  const [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
  const c = readConfig(bob.home);
  writeConfig(bob.home, { ...c, jobs: { autoApprove: [{ partners: ['alice'] }] } });
  const startLatency: number[] = [];
  const sync: number[] = [];
  try {
    await Promise.all([alice.start(), bob.start()]);
    await Promise.all([
      alice.apply(docs(appImage, partnerDomain(bob), routeTo(alice, bob))),
      bob.apply(docs(appImage, partnerDomain(alice), routeTo(bob, alice))),
    ]);
    for (let i = 0; i < JOBS; i++) {
      const name = `bench-${i}`;
      const body = { apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'KusciaJob', metadata: { name }, spec: { initiator: 'alice', tasks: [{ alias: 't', appImage: 'quick', parties: [{ domainID: 'alice' }, { domainID: 'bob' }] }] } };
      const t0 = Date.now();
      const res = await alice.api('/api/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${await res.text()}`);
      const statusAt = async (n: TestNode) => ((await (await n.api(`/api/v1/jobs/${name}`)).json()) as { status?: JobStatus }).status;
      const [a, b] = await Promise.all([alice, bob].map((n) => waitFor(`${name} Succeeded at ${n.domain}`, async () => {
        const s = await statusAt(n);
        return s?.phase === 'Succeeded' ? s : undefined;
      }, 60_000)));
      const started = ['alice', 'bob'].map((d) => Date.parse(a!.partyRecords![d]!.tasks![`${name}-t`]!.startedAt!));
      startLatency.push(Math.max(...started) - t0);
      // When did each party learn of the other's states? Its events say, the writer's record says when they happened.
      for (const [viewer, other] of [[a!, 'bob'], [b!, 'alice']] as const) {
        const rec = viewer.partyRecords![other]!.tasks![`${name}-t`]!;
        for (const e of viewer.events ?? []) {
          if (e.party !== other) continue;
          if (/^task t: Succeeded/.test(e.message)) sync.push(Date.parse(e.at) - Date.parse(rec.at));
          if (/^task t: Running/.test(e.message) && rec.startedAt) sync.push(Date.parse(e.at) - Date.parse(rec.startedAt));
        }
      }
    }
  } finally {
    await Promise.all([alice.stop(), bob.stop()]);
    alice.cleanup();
    bob.cleanup();
  }
  const positive = sync.filter((x) => x >= 0);
  const result = {
    machine: machine(),
    /** The machine was shared with other work: its load average when the run ended. */
    loadAverage: loadavg().map((x) => Number(x.toFixed(1))),
    jobs: JOBS,
    submitToAllRunning: { p50Ms: percentile(startLatency, 50), p90Ms: percentile(startLatency, 90), maxMs: Math.max(...startLatency), goalMs: 200 },
    phaseSyncDelay: { samples: positive.length, p50Ms: percentile(positive, 50), p90Ms: percentile(positive, 90), maxMs: Math.max(...positive), goalMs: 100 },
  };
  const dir = join(import.meta.dirname, 'results');
  writeFileSync(join(dir, 'jobs.json'), `${JSON.stringify(result, null, 2)}\n`);
  const m = result.machine as Record<string, unknown>;
  writeFileSync(join(dir, 'jobs.md'), `# bench/jobs

Two nodes on loopback, bob approving alice's jobs by policy, ${JOBS} one-task
jobs one after the other (engine: \`sh -c 'exit 0'\`). Machine: ${JSON.stringify(m)};
load average at the end ${result.loadAverage.join(', ')} (other work was running on the 2 cores).

| measure | p50 | p90 | max | goal |
| --- | --- | --- | --- | --- |
| submit -> every party's side running | ${result.submitToAllRunning.p50Ms} ms | ${result.submitToAllRunning.p90Ms} ms | ${result.submitToAllRunning.maxMs} ms | <= 200 ms plus engine start |
| phase sync delay between parties (${positive.length} samples) | ${result.phaseSyncDelay.p50Ms} ms | ${result.phaseSyncDelay.p90Ms} ms | ${result.phaseSyncDelay.maxMs} ms | <= 100 ms p50 |

"Running" is when each party's runtime spawned its side (engine start not
included). The sync delay runs from the time a party recorded a state to the
event at the other party that shows it; both come from this machine's clock.
`);
  console.log(JSON.stringify(result, null, 2));
}

await main();
