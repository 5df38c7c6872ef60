// SecretFlow's PSI engine (spu 0.9.5) as a Ferry job through real nodes and
// Envoys: alice submits, bob approves by policy, each node's RunP runtime
// starts the engine with Kuscia's task environment, and the brpc link crosses
// the two gateways through the task's Service and local ports. Two jobs
// (ECDH and RR22, 10k × 10k) run at once over the one public port; both end
// Succeeded at both parties with the intersection the test chose.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { TestNode, docs, partnerDomain, routeTo, waitFor } from '../support/harness.ts';
import { idsOf, psiEngine } from '../support/psi-engine.ts';
import { readConfig, writeConfig } from '../../control-plane/config.ts';
import { psiDatasets, psiJob, psiResult, psiTaskInputConfig, writePsiCsv, type PsiProtocol } from '../../control-plane/cli/demo-psi.ts';

const { skip, appImage } = psiEngine();
const ROWS = 10_000;
const OVERLAP = 2_500;

type Job = { status?: { phase?: string; message?: string; partyTaskStatus?: Record<string, { domainID: string; phase: string; message?: string; logTail?: string[] }[]> } };

describe('SecretFlow PSI as a Ferry job, two domains', { skip }, () => {
  let alice: TestNode, bob: TestNode;

  before(async () => {
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    const c = readConfig(bob.home);
    writeConfig(bob.home, { ...c, jobs: { autoApprove: [{ partners: ['alice'], appImages: ['secretflow-psi'] }] } });
    await Promise.all([alice, bob].map((n) => n.start()));
    const app = readFileSync(appImage, 'utf8');
    await alice.apply(docs(app, partnerDomain(bob), routeTo(alice, bob)));
    await bob.apply(docs(app, partnerDomain(alice), routeTo(bob, alice)));
  });

  after(async () => {
    await Promise.all([alice, bob].map((n) => n?.stop()));
    for (const n of [alice, bob]) n?.cleanup();
  });

  const phaseAt = (n: TestNode, name: string, want: string) =>
    waitFor(`${name} ${want} at ${n.domain}`, async () => {
      const r = await n.api(`/api/v1/jobs/${name}`);
      const j = r.status === 200 ? ((await r.json()) as Job) : undefined;
      if (j?.status?.phase === 'Failed' && want !== 'Failed') throw new Error(`${name} failed at ${n.domain}: ${j.status.message} ${JSON.stringify(j.status.partyTaskStatus)}`);
      return j?.status?.phase === want ? j : undefined;
    }, 240_000);

  test('ECDH and RR22 at once, 10k × 10k: Succeeded at both, the right intersection at both, the link seen as the task\'s Service', async () => {
    const runs: { name: string; protocol: PsiProtocol; shared: string[]; out: Record<string, string> }[] = [];
    for (const [i, protocol] of (['PROTOCOL_ECDH', 'PROTOCOL_RR22'] as const).entries()) {
      const name = `psi-${protocol.slice('PROTOCOL_'.length).toLowerCase()}`;
      const data = psiDatasets(ROWS, OVERLAP, i + 1);
      const io: Record<string, { input: string; output: string }> = {};
      const out: Record<string, string> = {};
      for (const n of [alice, bob]) {
        const input = join(n.home, 'data', 'psi', `${name}.csv`);
        writePsiCsv(input, n.domain, data[n.domain as 'alice' | 'bob']);
        // A relative output path is inside the party's task directory.
        io[n.domain] = { input, output: 'result.csv' };
        out[n.domain] = join(n.home, 'data', 'tasks', `${name}-psi`, 'result.csv');
      }
      const job = YAML.stringify(psiJob(name, 'alice', ['alice', 'bob'], psiTaskInputConfig(protocol, 'alice', io)));
      const r = alice.cli(['job', 'create', '-f', '-'], job);
      assert.equal(r.code, 0, r.stderr);
      runs.push({ name, protocol, shared: data.shared, out });
    }
    for (const run of runs) {
      await Promise.all([phaseAt(alice, run.name, 'Succeeded'), phaseAt(bob, run.name, 'Succeeded')]);
      const expected = [...run.shared].sort();
      const atAlice = idsOf(run.out.alice!);
      assert.deepEqual([...atAlice].sort(), expected, `${run.protocol}: alice has the intersection`);
      assert.deepEqual(idsOf(run.out.bob!), atAlice, `${run.protocol}: bob has the same rows in the same order`);
      for (const n of [alice, bob]) {
        const log = readFileSync(join(n.home, 'logs', 'tasks', `${run.name}-psi.log`), 'utf8');
        const result = psiResult(log);
        assert.ok(result, `${n.domain} logged its psi-result line`);
        assert.equal(result.intersection_count, OVERLAP);
        assert.equal(result.original_count, ROWS);
        assert.equal(result.protocol, run.protocol);
      }
      // The engines' link went through the gateways as the task's Service: each party serves its own, the other calls it.
      for (const [server, caller] of [[bob, alice], [alice, bob]] as const) {
        await waitFor(`${run.name}: ${server.domain}'s access log shows ${caller.domain}'s link calls to the task Service`, async () => {
          const lines = readFileSync(join(server.home, 'logs', 'access-public.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { service?: string; source?: string });
          return lines.some((e) => e.service === `${run.name}-psi-psi` && e.source === caller.domain) ? true : undefined;
        });
      }
    }
    for (const n of [alice, bob]) {
      const metrics = await (await fetch(`http://127.0.0.1:${n.ports.api}/metrics`)).text();
      for (const run of runs) assert.match(metrics, new RegExp(`service="${run.name}-psi-psi"`), `${n.domain}'s metrics count ${run.name}'s link`);
    }
  });
});
