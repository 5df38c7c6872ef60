// Cross-domain jobs with real nodes and Envoys, and a small test engine
// (test/support/test-engine.mjs) run by each party's runtime: approval, a DAG
// to Succeeded with the same phases everywhere, rejection, a failure at one
// party seen with its cause at the others, three parties, a partner not in the
// job learning nothing, and a party that is down for a while.
import { testEngineAppImage } from '../support/test-engine-app.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { TestNode, docs, partnerDomain, routeTo, tempDirForTasks, waitFor } from '../support/harness.ts';
import { TASK_DATAMESH_ENV } from '../../control-plane/datamesh/credentials.ts';
import { readConfig, writeConfig } from '../../control-plane/config.ts';

const appImage = testEngineAppImage(['link']);

type Job = { status?: { conditions?: { type: string; status: string; message: string }[]; phase?: string; message?: string; waitingFor?: { domainID: string; action: string }[]; taskStatus?: Record<string, string>; partyTaskStatus?: Record<string, { domainID: string; phase: string; message?: string; logTail?: string[] }[]> } };

function jobYaml(name: string, parties: string[], config: object, opts: { tasks?: string; mode?: string } = {}): string {
  const p = parties.map((d) => `{ domainID: ${d} }`).join(', ');
  const input = JSON.stringify(JSON.stringify(config));
  const tasks = opts.tasks ?? `
    - { alias: psi, appImage: test-engine, priority: 10, taskInputConfig: ${input}, parties: [${p}] }
    - { alias: split, dependencies: [psi], appImage: test-engine, taskInputConfig: ${input}, parties: [${p}] }
    - { alias: stats, dependencies: [psi], appImage: test-engine, tolerable: true, taskInputConfig: ${input}, parties: [${p}] }
    - { alias: train, dependencies: [split, stats], appImage: test-engine, taskInputConfig: ${input}, parties: [${p}] }`;
  return `apiVersion: kuscia.secretflow/v1alpha1
kind: KusciaJob
metadata: { name: ${name} }
spec:
  initiator: ${parties[0]}
  scheduleMode: ${opts.mode ?? 'Strict'}
  maxParallelism: 2
  tasks:${tasks}
`;
}

describe('cross-domain jobs', () => {
  let alice: TestNode, bob: TestNode, carol: TestNode;
  const marks = tempDirForTasks('job-marks');
  const secretEnv = { FERRY_TEST_SECRET: 'must-not-reach-a-task', FERRY_JOB_RESYNC_MS: '2000' };

  const job = async (n: TestNode, name: string): Promise<Job | undefined> => {
    const r = await n.api(`/api/v1/jobs/${name}`);
    return r.status === 200 ? ((await r.json()) as Job) : undefined;
  };
  const phaseAt = async (n: TestNode, name: string, want: string) =>
    waitFor(`${name} ${want} at ${n.domain}`, async () => {
      const j = await job(n, name);
      return j?.status?.phase === want ? j : undefined;
    }, 60_000);
  const create = (n: TestNode, yaml: string) => {
    const r = n.cli(['job', 'create', '-f', '-'], yaml);
    assert.equal(r.code, 0, r.stderr);
  };

  before(async () => {
    [alice, bob, carol] = await Promise.all([TestNode.init('alice'), TestNode.init('bob'), TestNode.init('carol')]);
    // carol approves alice's jobs by policy; bob approves by hand.
    const c = readConfig(carol.home);
    writeConfig(carol.home, { ...c, jobs: { autoApprove: [{ partners: ['alice'], appImages: ['test-engine', 'quick'] }] } });
    await Promise.all([alice, bob, carol].map((n) => n.start(secretEnv)));
    const nodes = [alice, bob, carol];
    await Promise.all(nodes.map((n) => n.apply(docs(appImage, ...nodes.filter((o) => o !== n).flatMap((o) => [partnerDomain(o), routeTo(n, o)])))));
  });

  after(async () => {
    await Promise.all([alice, bob, carol].map((n) => n?.stop()));
    for (const n of [alice, bob, carol]) n?.cleanup();
  });

  test('two parties, a DAG of 4 tasks: bob approves by hand, then it runs to Succeeded with the same states at both', async () => {
    create(alice, jobYaml('dag2', ['alice', 'bob'], { default: { lines: ['hello from the engine'], markDir: marks } }));
    const waiting = await waitFor('alice to see dag2 waiting for bob', async () => {
      const j = await job(alice, 'dag2');
      return j?.status?.waitingFor?.some((w) => w.domainID === 'bob' && w.action === 'approve the job') ? j : undefined;
    });
    assert.equal(waiting.status?.phase, 'AwaitingApproval');
    assert.match(alice.cli(['job', 'describe', 'dag2']).stdout, /Waiting:\s+bob to approve the job/);
    assert.match(bob.cli(['job', 'get']).stdout, /dag2\s+alice\s+AwaitingApproval/);
    assert.deepEqual(readdirSync(marks), [], 'nothing runs before every party approved');

    const r = bob.cli(['job', 'approve', 'dag2', '--reason', 'dataset cleared']);
    assert.equal(r.code, 0, r.stderr);
    const [a, b] = await Promise.all([phaseAt(alice, 'dag2', 'Succeeded'), phaseAt(bob, 'dag2', 'Succeeded')]);
    assert.deepEqual(a.status?.taskStatus, b.status?.taskStatus);
    assert.deepEqual(Object.values(a.status!.taskStatus!), ['Succeeded', 'Succeeded', 'Succeeded', 'Succeeded']);
    for (const t of Object.values(b.status!.partyTaskStatus!)) assert.deepEqual(t.map((p) => `${p.domainID}:${p.phase}`), ['alice:Succeeded', 'bob:Succeeded']);

    // The task's log at bob: the engine ran with Kuscia's variables and nothing of the node's environment.
    const logs = bob.cli(['job', 'logs', 'dag2', '--task', 'psi']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /test-engine bob dag2-psi started/);
    assert.match(logs.stdout, /hello from the engine/);
    const env = /env: (.*)/.exec(logs.stdout)![1]!.split(',');
    for (const name of ['KUSCIA_DOMAIN_ID', 'TASK_ID', 'TASK_INPUT_CONFIG', 'TASK_CLUSTER_DEFINE', 'ALLOCATED_PORTS', 'KUSCIA_PORT_LINK_NUMBER']) assert.ok(env.includes(name), name);
    // Only the task's own DataMesh credential (control-plane/datamesh/credentials.ts) is Ferry's.
    assert.ok(!env.includes('FERRY_TEST_SECRET') && !env.some((e) => e.startsWith('FERRY_') && !(TASK_DATAMESH_ENV as readonly string[]).includes(e)), `the node's environment stays out: ${env.join(',')}`);
  });

  test('bob rejects: ApprovalReject at both, nothing started anywhere', async () => {
    const dir = join(marks, 'rejected');
    create(alice, jobYaml('rej', ['alice', 'bob'], { default: { markDir: dir } }));
    await waitFor('rej at bob', () => job(bob, 'rej'));
    assert.equal(bob.cli(['job', 'reject', 'rej', '--reason', 'not this dataset']).code, 0);
    const [a] = await Promise.all([phaseAt(alice, 'rej', 'ApprovalReject'), phaseAt(bob, 'rej', 'ApprovalReject')]);
    assert.match(a.status?.message ?? '', /bob rejected the job: not this dataset/);
    assert.ok(!existsSync(dir), 'no task started');
  });

  test('a task that exits 3 at bob fails the job at both, with bob\'s exit code and its last log lines visible at alice', async () => {
    create(alice, jobYaml('fail', ['alice', 'bob'], { bob: { lines: ['reading input', 'ValueError: no column id2'], exitCode: 3 } }, { tasks: `
    - { alias: psi, appImage: test-engine, taskInputConfig: ${JSON.stringify(JSON.stringify({ bob: { lines: ['reading input', 'ValueError: no column id2'], exitCode: 3 } }))}, parties: [{ domainID: alice }, { domainID: bob }] }` }));
    await waitFor('fail at bob', () => job(bob, 'fail'));
    assert.equal(bob.cli(['job', 'approve', 'fail']).code, 0);
    const a = await phaseAt(alice, 'fail', 'Failed');
    assert.match(a.status?.message ?? '', /task psi failed: bob: exit code 3/);
    const bobSide = a.status!.partyTaskStatus!['fail-psi']!.find((p) => p.domainID === 'bob')!;
    assert.ok(bobSide.logTail?.includes('ValueError: no column id2'), JSON.stringify(bobSide));
    const logs = alice.cli(['job', 'logs', 'fail', '--party', 'bob']);
    assert.match(logs.stdout, /\[psi@bob\] ValueError: no column id2/);
    await phaseAt(bob, 'fail', 'Failed');
  });

  test('three parties: carol approves by policy, bob by hand; every party sees the same phases', async () => {
    create(alice, jobYaml('dag3', ['alice', 'bob', 'carol'], { default: { lines: ['three'] } }));
    const waiting = await waitFor('dag3 to wait for bob only', async () => {
      const j = await job(alice, 'dag3');
      const w = j?.status?.waitingFor ?? [];
      return w.length === 1 && w[0]!.domainID === 'bob' ? j : undefined;
    });
    assert.match(waiting.status?.message ?? '', /waiting for bob to approve the job/);
    assert.equal(bob.cli(['job', 'approve', 'dag3']).code, 0);
    const views = await Promise.all([alice, bob, carol].map((n) => phaseAt(n, 'dag3', 'Succeeded')));
    for (const v of views) assert.deepEqual(v.status?.taskStatus, views[0]!.status?.taskStatus);
  });

  test('carol, a partner of alice but not in the job, learns nothing of it, whatever header it sends; a local engine cannot pose as a partner', async () => {
    const ask = (headers: Record<string, string>) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: carol.ports.internal, path: '/v1/jobs/dag2/records/self', headers: { host: 'ferry-interop.alice.svc', ...headers } }, (res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(await ask({}), { status: 404, body: JSON.stringify({ error: 'no such job' }) });
    const claimed = await ask({ 'kuscia-source': 'bob', 'kuscia-origin-source': 'bob' });
    assert.equal(claimed.status, 404, 'a header claiming bob is overwritten with carol\'s identity');

    // A local engine at alice cannot pose as a partner to alice's own node: not through the internal listener, whatever it claims.
    const forged = JSON.stringify({ domainID: 'bob', seq: 999, specHash: (await job(alice, 'dag2') as { status?: { specHash?: string } })?.status?.specHash ?? '', approval: { decision: 'Rejected', at: new Date().toISOString() } });
    const local = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: alice.ports.internal, method: 'PUT', path: '/v1/jobs/dag2/records/bob', headers: { host: 'ferry-interop.alice.svc', 'kuscia-source': 'bob', 'kuscia-origin-source': 'bob', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(forged)) } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
      req.on('error', reject);
      req.end(forged);
    });
    assert.notEqual(local, 200);
    const bobAtAlice = ((await job(alice, 'dag2')) as { status?: { partyRecords?: Record<string, { seq: number }> } })?.status?.partyRecords?.bob;
    assert.ok(bobAtAlice && bobAtAlice.seq < 999, 'bob\'s record at alice is bob\'s own, not the forged one');
  });

  test('bob is down for 30 s mid-job and comes back: the job converges at both, from the records kept in the stores, nothing lost or repeated', async () => {
    const hold = join(tempDirForTasks('job-hold'), 'go');
    create(alice, jobYaml('part', ['alice', 'bob'], { default: { holdFile: hold } }, { tasks: `
    - { alias: only, appImage: test-engine, taskInputConfig: ${JSON.stringify(JSON.stringify({ default: { holdFile: hold } }))}, parties: [{ domainID: alice }, { domainID: bob }] }` }));
    await waitFor('part at bob', () => job(bob, 'part'));
    assert.equal(bob.cli(['job', 'approve', 'part']).code, 0);
    await waitFor('the task running at both', async () => {
      const j = await job(alice, 'part');
      return j?.status?.partyTaskStatus?.['part-only']?.every((p) => p.phase === 'Running') ? true : undefined;
    });
    await bob.stop();
    mkdirSync(join(hold, '..'), { recursive: true });
    writeFileSync(hold, 'go'); // both engines end while bob's node is down
    await waitFor('alice to see its side succeed', async () => {
      const j = await job(alice, 'part');
      return j?.status?.partyTaskStatus?.['part-only']?.find((p) => p.domainID === 'alice')?.phase === 'Succeeded' ? true : undefined;
    });
    const waiting = await waitFor('alice to say bob is unreachable', async () => {
      const j = await job(alice, 'part');
      return j?.status?.conditions?.find((c) => c.type === 'PartiesReachable' && c.status === 'False') ? j : undefined;
    });
    assert.equal(waiting.status?.phase, 'Running', 'alice waits for bob\'s record');
    assert.match(waiting.status!.conditions!.find((c) => c.type === 'PartiesReachable')!.message, /^bob unreachable since /);
    // The partition lasts 30 s as alice sees it (her own condition says since when), then bob comes back.
    await waitFor('alice to have seen bob unreachable for 30 s', async () => {
      const j = await job(alice, 'part');
      const since = /^bob unreachable since (\S+):/.exec(j?.status?.conditions?.find((c) => c.type === 'PartiesReachable')?.message ?? '')?.[1];
      return since && Date.now() - Date.parse(since) >= 30_000 ? true : undefined;
    }, 90_000);
    assert.equal((await job(alice, 'part'))?.status?.phase, 'Running');
    await bob.start(secretEnv);
    await Promise.all([phaseAt(alice, 'part', 'Succeeded'), phaseAt(bob, 'part', 'Succeeded')]);
    const a = await waitFor('alice to see bob reachable again', async () => {
      const j = await job(alice, 'part');
      return j?.status?.conditions?.find((c) => c.type === 'PartiesReachable')?.status === 'True' ? j : undefined;
    });
    // Nothing lost, nothing twice: each of bob's states reached alice once.
    const bobEvents = ((a.status as { events?: { party: string; message: string }[] }).events ?? []).filter((e) => e.party === 'bob').map((e) => e.message);
    assert.deepEqual(bobEvents.filter((m) => m.startsWith('task only:')), [...new Set(bobEvents.filter((m) => m.startsWith('task only:')))]);
    assert.ok(bobEvents.includes('task only: Succeeded'), bobEvents.join(' | '));
  });

  test('suspend stops every side; restart runs the job again from its unfinished task, to Succeeded', async () => {
    const hold = join(tempDirForTasks('job-hold'), 'go');
    const input = JSON.stringify(JSON.stringify({ default: { holdFile: hold } }));
    create(alice, jobYaml('susp', ['alice', 'bob'], {}, { tasks: `
    - { alias: first, appImage: test-engine, parties: [{ domainID: alice }, { domainID: bob }] }
    - { alias: held, dependencies: [first], appImage: test-engine, taskInputConfig: ${input}, parties: [{ domainID: alice }, { domainID: bob }] }` }));
    await waitFor('susp at bob', () => job(bob, 'susp'));
    assert.equal(bob.cli(['job', 'approve', 'susp']).code, 0);
    await waitFor('held running at both', async () => ((await job(bob, 'susp'))?.status?.partyTaskStatus?.['susp-held']?.every((p) => p.phase === 'Running') ? true : undefined));
    assert.equal(bob.cli(['job', 'restart', 'susp']).code, 1, 'restart applies to a failed or suspended job only');
    const r = bob.cli(['job', 'suspend', 'susp', '--reason', 'maintenance']);
    assert.equal(r.code, 0, r.stderr);
    const [a] = await Promise.all([phaseAt(alice, 'susp', 'Suspended'), phaseAt(bob, 'susp', 'Suspended')]);
    assert.match(a.status?.message ?? '', /suspended by bob: maintenance/);
    await waitFor('both sides stopped', async () => ((await job(alice, 'susp'))?.status?.partyTaskStatus?.['susp-held']?.every((p) => p.phase === 'Failed') ? true : undefined));
    mkdirSync(join(hold, '..'), { recursive: true });
    writeFileSync(hold, 'go');
    assert.equal(alice.cli(['job', 'restart', 'susp']).code, 0);
    const [done] = await Promise.all([phaseAt(alice, 'susp', 'Succeeded'), phaseAt(bob, 'susp', 'Succeeded')]);
    assert.equal(done.status?.taskStatus?.['susp-first'], 'Succeeded');
  });

  test('cancel is final, everywhere', async () => {
    create(alice, jobYaml('canc', ['alice', 'bob'], {}));
    await waitFor('canc at bob', () => job(bob, 'canc'));
    assert.equal(alice.cli(['job', 'cancel', 'canc', '--reason', 'wrong inputs']).code, 0);
    const [, b] = await Promise.all([phaseAt(alice, 'canc', 'Cancelled'), phaseAt(bob, 'canc', 'Cancelled')]);
    assert.match(b.status?.message ?? '', /cancelled by alice: wrong inputs/);
    const approve = bob.cli(['job', 'approve', 'canc']);
    assert.equal(approve.code, 1);
    assert.match(approve.stderr, /cancelled/);
  });

  test('a record for another spec is refused; a job cannot be changed once created', async () => {
    const put = (body: object) => new Promise<number>((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = request({ host: '127.0.0.1', port: bob.ports.internal, method: 'PUT', path: '/v1/jobs/dag2/records/bob', headers: { host: 'ferry-interop.alice.svc', 'content-type': 'application/json', 'content-length': String(data.length) } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
      req.on('error', reject);
      req.end(data);
    });
    assert.equal(await put({ domainID: 'bob', seq: 999, specHash: '0'.repeat(64) }), 409);
    assert.equal(await put({ domainID: 'alice', seq: 999, specHash: '0'.repeat(64) }), 400, 'the path names the writer: bob cannot send a record as alice');
    const changed = alice.cli(['apply', '-f', '-'], jobYaml('dag2', ['alice', 'bob'], { default: { lines: ['changed'] } }));
    assert.equal(changed.code, 1);
    assert.match(changed.stderr, /a job's spec cannot change once created/);
  });

  test('100 jobs submitted at once, each with maxParallelism 1, all end Succeeded at both parties', async () => {
    const quick = `apiVersion: kuscia.secretflow/v1alpha1
kind: AppImage
metadata: { name: quick }
spec: { deployTemplates: [{ spec: { containers: [{ name: q, command: [/bin/sh, -c, 'echo "$TASK_ID done"'] }] } }] }
`;
    await Promise.all([alice.apply(quick), carol.apply(quick)]);
    const names = Array.from({ length: 100 }, (_, i) => `many-${i}`);
    await Promise.all(names.map(async (name) => {
      const body = { apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'KusciaJob', metadata: { name }, spec: { initiator: 'alice', maxParallelism: 1, tasks: [
        { alias: 'a', appImage: 'quick', parties: [{ domainID: 'alice' }, { domainID: 'carol' }] },
        { alias: 'b', dependencies: ['a'], appImage: 'quick', parties: [{ domainID: 'alice' }, { domainID: 'carol' }] },
      ] } };
      const r = await alice.api('/api/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(r.status, 201, await r.text());
    }));
    let last = '';
    for (const n of [alice, carol]) {
      await waitFor(`100 jobs Succeeded at ${n.domain}`, async () => {
        const { items } = (await (await n.api('/api/v1/jobs')).json()) as { items: { name: string; phase: string }[] };
        const phases = items.filter((j) => j.name.startsWith('many-')).map((j) => j.phase);
        last = `${n.domain}: ${phases.length} jobs, ${JSON.stringify(Object.fromEntries([...new Set(phases)].map((p) => [p, phases.filter((x) => x === p).length])))}`;
        return phases.filter((p) => p === 'Succeeded').length === 100 ? true : undefined;
      }, 300_000).catch((e: Error) => { throw new Error(`${e.message} (${last})`); });
    }
  });
});
