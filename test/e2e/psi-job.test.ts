// SecretFlow's PSI engine (spu 0.9.5) as a Ferry job through real nodes and
// Envoys, its data through each node's DataMesh under the data owners' grants:
// alice submits, bob approves by policy, each party's input is a DomainData of
// its own domain that the engine downloads with its task's credential (PyPI
// kuscia's client), and the intersection becomes a new DomainData at both.
// No grant: the job is refused at admission naming the missing grant, nothing
// runs. A grant with useCount 1: the first job runs (its read records the
// use), the second is refused; an expired grant: refused. The brpc link
// crosses the two gateways through the task's Service and local ports.
// A task's credential reads only what its task input config names (403 with
// the reason) and dies with the task (401 after).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { ROOT, TestNode, docs, partnerDomain, routeTo, waitFor } from '../support/harness.ts';
import { idsOf, psiEngine } from '../support/psi-engine.ts';
import { readConfig, writeConfig } from '../../control-plane/config.ts';
import { domainDataFile, psiDatasets, psiDomainData, psiGrant, psiJob, psiResult, psiTaskInputConfig, writePsiCsv, type PsiProtocol } from '../../control-plane/cli/demo-psi.ts';

const { skip, appImage } = psiEngine();
const ROWS = 10_000;
const OVERLAP = 2_500;

type Condition = { type: string; status: string; reason?: string; message?: string };
type Job = { status?: { phase?: string; message?: string; conditions?: Condition[]; partyTaskStatus?: Record<string, { domainID: string; phase: string; message?: string; logTail?: string[] }[]> } };
type Grant = { status?: { phase?: string; use_records?: { grant_domain: string; component?: string; output?: string }[] } };

const yaml = (...objs: object[]) => objs.map((o) => YAML.stringify(o)).join('---\n');

describe('SecretFlow PSI as a Ferry job, two domains, data through the DataMesh under grants', { skip }, () => {
  let alice: TestNode, bob: TestNode;
  const data = psiDatasets(ROWS, OVERLAP, 1);

  before(async () => {
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    const c = readConfig(bob.home);
    writeConfig(bob.home, { ...c, jobs: { autoApprove: [{ partners: ['alice'], appImages: ['secretflow-psi'] }] } });
    await Promise.all([alice, bob].map((n) => n.start()));
    const app = readFileSync(appImage, 'utf8');
    // Each party's table, a DomainData of its own domain in its default data source; no grant yet.
    for (const n of [alice, bob]) writePsiCsv(domainDataFile(n.home, `${n.domain}-ids.csv`), n.domain, data[n.domain as 'alice' | 'bob']);
    await alice.apply(docs(app, partnerDomain(bob), routeTo(alice, bob), yaml(psiDomainData('alice-ids', 'alice', 'alice-ids.csv'))));
    await bob.apply(docs(app, partnerDomain(alice), routeTo(bob, alice), yaml(psiDomainData('bob-ids', 'bob', 'bob-ids.csv'))));
  });

  after(async () => {
    await Promise.all([alice, bob].map((n) => n?.stop()));
    for (const n of [alice, bob]) n?.cleanup();
  });

  const get = async <T>(n: TestNode, path: string): Promise<T | undefined> => {
    const r = await n.api(path);
    return r.status === 200 ? ((await r.json()) as T) : undefined;
  };
  const phaseAt = (n: TestNode, name: string, want: string) =>
    waitFor(`${name} ${want} at ${n.domain}`, async () => {
      const j = await get<Job>(n, `/api/v1/jobs/${name}`);
      if (j?.status?.phase && ['Failed', 'ApprovalReject', 'Succeeded'].includes(j.status.phase) && j.status.phase !== want) throw new Error(`${name} ${j.status.phase} at ${n.domain}, not ${want}: ${j.status.message} ${JSON.stringify(j.status.partyTaskStatus)}`);
      return j?.status?.phase === want ? j : undefined;
    }, 240_000);
  const submit = (name: string, inputs: string[], protocol: PsiProtocol = 'PROTOCOL_ECDH') => {
    const config = psiTaskInputConfig(protocol, 'alice', ['alice', 'bob'], { inputs, outputs: [`${name}-alice`, `${name}-bob`] });
    const r = alice.cli(['job', 'create', '-f', '-'], YAML.stringify(psiJob(name, 'alice', ['alice', 'bob'], config)));
    assert.equal(r.code, 0, r.stderr);
  };
  /** Refused at admission: ApprovalReject at both, alice's DataGranted condition naming the grant, no task at either. */
  const refused = async (name: string, why: RegExp) => {
    const [atAlice] = await Promise.all([phaseAt(alice, name, 'ApprovalReject'), phaseAt(bob, name, 'ApprovalReject')]);
    const cond = atAlice.status?.conditions?.find((c) => c.type === 'DataGranted');
    assert.equal(cond?.status, 'False', JSON.stringify(atAlice.status?.conditions));
    assert.equal(cond?.reason, 'MissingGrant');
    assert.match(cond!.message!, why);
    assert.match(atAlice.status!.message!, /alice rejected the job: job .* is not admitted at alice/);
    for (const n of [alice, bob]) {
      assert.equal((await n.api(`/api/v1/resources/KusciaTask/${name}-psi`)).status, 404, `no task of ${name} at ${n.domain}`);
      assert.equal(existsSync(join(n.home, 'logs', 'tasks', `${name}-psi.log`)), false, `nothing ran for ${name} at ${n.domain}`);
    }
    return cond!.message!;
  };

  test('no grant: refused at admission naming the DomainData and the grantee; nothing runs', async () => {
    submit('psi-nogrant', ['alice-ids', 'bob-ids']);
    const msg = await refused('psi-nogrant', /no DomainDataGrant gives bob DomainData alice-ids \(create one: author alice, domainDataID alice-ids, grantDomain bob\)/);
    assert.match(msg, /task psi-nogrant-psi/);
  });

  test('grant with useCount 1: the first job runs through the DataMesh (one use recorded), the second is refused as used up; an RR22 job at the same time over other grants', async () => {
    await alice.apply(yaml(psiGrant('alice-ids-bob', 'alice', 'alice-ids', 'bob', { useCount: 1 })));
    await bob.apply(yaml(psiGrant('bob-ids-alice', 'bob', 'bob-ids', 'alice')));
    // The same tables under other ids, granted without limit, for a second job over the one public port at once.
    await alice.apply(yaml(psiDomainData('alice-rr', 'alice', 'alice-ids.csv'), psiGrant('alice-rr-bob', 'alice', 'alice-rr', 'bob')));
    await bob.apply(yaml(psiDomainData('bob-rr', 'bob', 'bob-ids.csv'), psiGrant('bob-rr-alice', 'bob', 'bob-rr', 'alice')));
    const runs = [{ name: 'psi-granted', protocol: 'PROTOCOL_ECDH' as const, inputs: ['alice-ids', 'bob-ids'] }, { name: 'psi-rr22', protocol: 'PROTOCOL_RR22' as const, inputs: ['alice-rr', 'bob-rr'] }];
    for (const r of runs) submit(r.name, r.inputs, r.protocol);
    for (const { name, protocol, inputs } of runs) {
      await Promise.all([phaseAt(alice, name, 'Succeeded'), phaseAt(bob, name, 'Succeeded')]);
      // The intersection is a new DomainData at each party, written through its DataMesh.
      const expected = [...data.shared].sort();
      const atAlice = idsOf(domainDataFile(alice.home, `${name}-alice.csv`));
      assert.deepEqual([...atAlice].sort(), expected, `${name}: alice's result DomainData holds the intersection`);
      assert.deepEqual(idsOf(domainDataFile(bob.home, `${name}-bob.csv`)), atAlice, `${name}: bob's holds the same rows in the same order`);
      for (const [i, n] of [alice, bob].entries()) {
        const dd = await get<{ spec: { author: string } }>(n, `/api/v1/resources/DomainData/${name}-${n.domain}`);
        assert.equal(dd?.spec.author, n.domain);
        const log = readFileSync(join(n.home, 'logs', 'tasks', `${name}-psi.log`), 'utf8');
        assert.match(log, new RegExp(`read DomainData ${inputs[i]} through the DataMesh`));
        const result = psiResult(log);
        assert.ok(result, `${n.domain} logged its psi-result line`);
        assert.equal(result.intersection_count, OVERLAP);
        assert.equal(result.protocol, protocol);
        assert.equal(result.output, `domaindata:${name}-${n.domain}`);
      }
      // The engines' link went through the gateways as the task's Service: each party serves its own, the other calls it.
      for (const [server, caller] of [[bob, alice], [alice, bob]] as const) {
        await waitFor(`${server.domain}'s access log shows ${caller.domain}'s ${name} link calls to the task Service`, async () => {
          const lines = readFileSync(join(server.home, 'logs', 'access-public.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { service?: string; source?: string });
          return lines.some((e) => e.service === `${name}-psi-psi` && e.source === caller.domain) ? true : undefined;
        });
      }
    }
    // Each read recorded one use on the grant it relied on, naming the grantee, the component and the task.
    const g = await get<Grant>(alice, '/api/v1/resources/DomainDataGrant/alice-ids-bob');
    assert.deepEqual(g?.status?.use_records?.map((r) => [r.grant_domain, r.component, r.output]), [['bob', 'secretflow-psi', 'psi-granted-psi']]);
    const gb = await get<Grant>(bob, '/api/v1/resources/DomainDataGrant/bob-ids-alice');
    assert.deepEqual(gb?.status?.use_records?.map((r) => r.grant_domain), ['alice']);

    submit('psi-again', ['alice-ids', 'bob-ids']);
    await refused('psi-again', /DomainDataGrant alice-ids-bob is used up \(1 of useCount 1 uses\)/);
  });

  test('an expired grant: refused at admission', async () => {
    writePsiCsv(domainDataFile(alice.home, 'alice-old.csv'), 'alice', data.alice);
    await alice.apply(yaml(psiDomainData('alice-old', 'alice', 'alice-old.csv'), psiGrant('alice-old-bob', 'alice', 'alice-old', 'bob', { expirationTime: '2021-01-01T00:00:00Z' })));
    submit('psi-expired', ['alice-old', 'bob-ids']);
    await refused('psi-expired', /DomainDataGrant alice-old-bob expired at 2021-01-01T00:00:00Z/);
  });

  test('a task\'s credential reads only the DomainData its task names (403 with the reason) and dies with the task (401)', async () => {
    // A one-party job at alice whose engine is a probe with the PSI's DataMesh client: it names alice-ids, tries alice-old too.
    const psiApp = YAML.parse(readFileSync(appImage, 'utf8')) as { spec: { deployTemplates: { spec: { containers: { command: string[]; env?: unknown[]; ports?: unknown }[] } }[] } };
    const container = psiApp.spec.deployTemplates[0]!.spec.containers[0]!;
    const probe = { ...psiApp, metadata: { name: 'datamesh-probe' } } as Record<string, unknown> & typeof psiApp;
    probe.spec = { ...psiApp.spec, deployTemplates: [{ ...psiApp.spec.deployTemplates[0]!, spec: { ...psiApp.spec.deployTemplates[0]!.spec, containers: [{ ...container, command: [container.command[0]!, '-u', join(ROOT, 'test', 'support', 'datamesh_task_probe.py')], ports: [] }] } }] };
    await alice.apply(yaml(probe));
    const job = psiJob('probe', 'alice', ['alice'], { sf_input_ids: ['alice-ids'], probe_also: 'alice-old' }) as { spec: { tasks: { appImage: string }[] } };
    job.spec.tasks[0]!.appImage = 'datamesh-probe';
    const r = alice.cli(['job', 'create', '-f', '-'], YAML.stringify(job));
    assert.equal(r.code, 0, r.stderr);
    await phaseAt(alice, 'probe', 'Succeeded');
    const lines = readFileSync(join(alice.home, 'logs', 'tasks', 'probe-psi.log'), 'utf8').trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const step = Object.fromEntries(lines.map((l) => [l.step as string, l]));
    assert.equal(step.named?.ok, true, JSON.stringify(step.named));
    assert.equal(step.named?.rows, ROWS);
    assert.equal(step.unnamed?.ok, false);
    assert.match(String(step.unnamed?.error), /task probe-psi may not use DomainData alice-old: its task input config names only alice-ids/);
    // After the task, its token is refused.
    const env = step.env as { token: string; http: string };
    const after = await fetch(`${env.http}/api/v1/datamesh/domaindata/query`, { method: 'POST', headers: { authorization: `Bearer ${env.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ domaindata_id: 'alice-ids' }) });
    assert.equal(after.status, 401);
    assert.match(((await after.json()) as { status: { message: string } }).status.message, /no valid DataMesh credential/);
  });
});
