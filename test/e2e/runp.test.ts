// RunP with real nodes and Envoys: a task's Cluster port is a Service that only
// the task's other parties may call, for the task's lifetime; each party's
// engine reaches the other's through a local port of its own node named in
// TASK_CLUSTER_DEFINE (no DNS, no proxy); carol (a partner of bob, not in the
// job) is refused; after the task the Service and the local port are gone.
// Faults: the engine killed at bob fails the job at both with the signal and
// bob's log tail; a memory limit below the engine's need says so.
import { testEngineAppImage } from '../support/test-engine-app.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { TestNode, curl, docs, partnerDomain, routeTo, service, tempDirForTasks, waitFor } from '../support/harness.ts';
import { readConfig, writeConfig } from '../../control-plane/config.ts';
import { TASK_DATAMESH_ENV } from '../../control-plane/datamesh/credentials.ts';

type PartyStatus = { domainID: string; phase: string; message?: string; logTail?: string[] };
type Job = { status?: { phase?: string; message?: string; partyTaskStatus?: Record<string, PartyStatus[]> } };
type Task = { status?: { runtime?: { phase: string; pid?: number; ports?: Record<string, number>; peerPorts?: Record<string, Record<string, number>>; services?: string[]; limits?: string; user?: string; message?: string } } };

function jobYaml(name: string, config: object, opts: { bobResources?: string } = {}): string {
  const input = JSON.stringify(JSON.stringify(config));
  return `apiVersion: kuscia.secretflow/v1alpha1
kind: KusciaJob
metadata: { name: ${name} }
spec:
  initiator: alice
  tasks:
    - alias: link
      taskID: ${name}-link
      appImage: test-engine
      taskInputConfig: ${input}
      parties: [{ domainID: alice }, { domainID: bob${opts.bobResources ? `, resources: ${opts.bobResources}` : ''} }]
`;
}

const portOpen = (port: number) => new Promise<boolean>((resolve) => {
  const s = connect(port, '127.0.0.1');
  s.once('connect', () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});

describe('RunP: task ports, isolation, faults', () => {
  let alice: TestNode, bob: TestNode, carol: TestNode;
  const marks = tempDirForTasks('runp-marks');
  const isRoot = process.getuid?.() === 0;

  const get = async <T>(n: TestNode, path: string): Promise<T | undefined> => {
    const r = await n.api(path);
    return r.status === 200 ? ((await r.json()) as T) : undefined;
  };
  const task = (n: TestNode, id: string) => get<Task>(n, `/api/v1/resources/KusciaTask/${id}`);
  const phaseAt = (n: TestNode, name: string, want: string) =>
    waitFor(`${name} ${want} at ${n.domain}`, async () => {
      const j = await get<Job>(n, `/api/v1/jobs/${name}`);
      return j?.status?.phase === want ? j : undefined;
    }, 90_000);
  const runningAt = (n: TestNode, id: string) =>
    waitFor(`${id} running at ${n.domain}`, async () => {
      const t = await task(n, id);
      return t?.status?.runtime?.phase === 'Running' ? t : undefined;
    }, 60_000);
  const create = (yaml: string) => {
    const r = alice.cli(['job', 'create', '-f', '-'], yaml);
    assert.equal(r.code, 0, r.stderr);
  };

  before(async () => {
    [alice, bob, carol] = await Promise.all([TestNode.init('alice'), TestNode.init('bob'), TestNode.init('carol')]);
    const c = readConfig(bob.home);
    writeConfig(bob.home, { ...c, jobs: { autoApprove: [{ partners: ['alice'], appImages: ['test-engine'] }] } });
    await Promise.all([alice, bob, carol].map((n) => n.start({ FERRY_TEST_SECRET: 'must-not-reach-a-task' })));
    const app = testEngineAppImage(['link']);
    await alice.apply(docs(app, partnerDomain(bob), routeTo(alice, bob)));
    await bob.apply(docs(app, partnerDomain(alice), routeTo(bob, alice), partnerDomain(carol)));
    await carol.apply(docs(partnerDomain(bob), routeTo(carol, bob)));
  });

  after(async () => {
    await Promise.all([alice, bob, carol].map((n) => n?.stop()));
    for (const n of [alice, bob, carol]) n?.cleanup();
  });

  test('each engine reaches the other through its own node; only the task\'s parties may call the task\'s Service, and only while it runs', async () => {
    const hold = join(marks, 'ports.hold');
    create(jobYaml('ports', { default: { serve: true, callPeers: true, markDir: marks, holdFile: hold } }));
    const [ta, tb] = await Promise.all([runningAt(alice, 'ports-link'), runningAt(bob, 'ports-link')]);
    assert.deepEqual(tb.status?.runtime?.services, ['ports-link-link']);
    const alicePeerPort = ta.status!.runtime!.peerPorts!.bob!.link!;
    assert.ok(alicePeerPort > 0, 'alice has a local port for bob\'s link port');

    // Both engines got their partner's answer through the gateways (TASK_CLUSTER_DEFINE endpoints are local ports).
    for (const [me, peer] of [['alice', 'bob'], ['bob', 'alice']] as const) {
      const file = join(marks, `${me}-ports-link.peers`);
      const got = await waitFor(`${me}'s engine to hear from ${peer}`, async () => (existsSync(file) ? readFileSync(file, 'utf8') : undefined), 60_000);
      assert.equal(got, `${peer}=hello from ${peer} ports-link`);
    }
    // A partner of bob that is not in the task is refused, by name or by any header it sends.
    const byCarol = await curl(['-H', 'Host: ports-link-link.bob.svc', `http://127.0.0.1:${carol.ports.internal}/`]);
    assert.equal(byCarol.status, 403, byCarol.body);
    assert.doesNotMatch(byCarol.body, /hello from/);
    // alice (a party) may, by name too.
    const byAlice = await curl(['-H', 'Host: ports-link-link.bob.svc', `http://127.0.0.1:${alice.ports.internal}/`]);
    assert.equal(byAlice.status, 200);
    assert.equal(byAlice.body, 'hello from bob ports-link');
    // The link traffic shows in bob's access log (Envoy flushes it about every second) and metrics as that task's Service.
    await waitFor('bob\'s access log to show alice\'s calls to the task Service', async () => {
      const log = readFileSync(join(bob.home, 'logs', 'access-public.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { service?: string; source?: string; status?: number });
      return log.some((e) => e.service === 'ports-link-link' && e.source === 'alice' && Number(e.status) === 200) ? true : undefined;
    });
    await waitFor('bob\'s metrics to count the task Service\'s calls', async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${bob.ports.api}/metrics`)).text();
      return /direction="inbound"[^}]*service="ports-link-link"[^}]*\} [1-9]/.test(metrics) || /service="ports-link-link"[^}]*direction="inbound"[^}]*\} [1-9]/.test(metrics) ? true : undefined;
    });

    writeFileSync(hold, '');
    await Promise.all([phaseAt(alice, 'ports', 'Succeeded'), phaseAt(bob, 'ports', 'Succeeded')]);
    // After the task: bob's Service is gone (alice gets 404), alice's local port closes.
    await waitFor('bob\'s task Service to go', async () => {
      const r = await curl(['-H', 'Host: ports-link-link.bob.svc', `http://127.0.0.1:${alice.ports.internal}/`]);
      return r.status === 404 ? r : undefined;
    });
    assert.equal(await get(bob, '/api/v1/resources/Service/ports-link-link'), undefined);
    await waitFor('alice\'s local port for the task to close', async () => ((await portOpen(alicePeerPort)) ? undefined : true));
  });

  test('a task reads neither the node\'s keys, tokens and store nor its environment', async () => {
    const secrets = ['certs/ca.key', 'certs/gateway.key', 'api-token', 'data/xds-secret', 'data/ferry.db', 'ferry.yaml'].map((f) => join(bob.home, f));
    create(jobYaml('peek', { default: { lines: ['peeking'] }, bob: { tryRead: secrets } }));
    await Promise.all([phaseAt(alice, 'peek', 'Succeeded'), phaseAt(bob, 'peek', 'Succeeded')]);
    const log = readFileSync(join(bob.home, 'logs', 'tasks', 'peek-link.log'), 'utf8');
    const env = /^env: (.*)$/m.exec(log)?.[1]?.split(',') ?? [];
    assert.ok(env.includes('KUSCIA_DOMAIN_ID') && env.includes('TASK_CLUSTER_DEFINE'), log);
    // The task's own DataMesh credential is there (control-plane/datamesh/credentials.ts); nothing of the node's.
    for (const k of TASK_DATAMESH_ENV) assert.ok(env.includes(k), `the task's DataMesh credential: ${k}`);
    assert.deepEqual(env.filter((k) => (k.startsWith('FERRY') || /TOKEN|SECRET|PROXY/i.test(k)) && !(TASK_DATAMESH_ENV as readonly string[]).includes(k)), [], 'nothing of the node\'s environment');
    const t = await task(bob, 'peek-link');
    if (!isRoot) {
      assert.match(t?.status?.runtime?.user ?? '', /the node's own user/);
      return;
    }
    assert.match(t?.status?.runtime?.user ?? '', /^uid 65534 gid \d+ \(nobody\)$/);
    for (const f of secrets) assert.match(log, new RegExp(`read ${f}: (EACCES|ENOENT)`), log);
    assert.doesNotMatch(log, /: ok$/m);
  });

  test('a task whose Service name is taken by one of bob\'s own Services fails and leaves that Service as it was', async () => {
    // A partner picks task ids: alice's task "clash-link" would expose its port as bob's "clash-link-link".
    await bob.apply(service('clash-link-link', 9, {}));
    create(jobYaml('clash', { default: { lines: ['never'] } }));
    const jb = await phaseAt(bob, 'clash', 'Failed');
    const atBob = jb.status!.partyTaskStatus!['clash-link']!.find((p) => p.domainID === 'bob')!;
    assert.match(atBob.message ?? '', /Service name clash-link-link is a Service of this domain; nothing was changed: give the task another taskID/);
    await phaseAt(alice, 'clash', 'Failed');
    const svc = await get<{ metadata: { annotations?: Record<string, string> }; spec: { ports: { port: number }[] } }>(bob, '/api/v1/resources/Service/clash-link-link');
    assert.equal(svc?.spec.ports[0]!.port, 9);
    assert.equal(svc?.metadata.annotations?.['kuscia.secretflow/access-domain'], undefined, 'no partner was let in');
  });

  test('the engine killed at bob: the job fails at both, with the signal and bob\'s last log lines', async () => {
    const hold = join(marks, 'killed.hold');
    create(jobYaml('killed', { default: { lines: ['bob was here before the kill'], holdFile: hold } }));
    await runningAt(alice, 'killed-link');
    const tb = await runningAt(bob, 'killed-link');
    const bobLog = join(bob.home, 'logs', 'tasks', 'killed-link.log');
    await waitFor('bob\'s engine to have written its line', async () => (existsSync(bobLog) && readFileSync(bobLog, 'utf8').includes('bob was here') ? true : undefined));
    process.kill(-tb.status!.runtime!.pid!, 'SIGKILL');
    const [ja] = await Promise.all([phaseAt(alice, 'killed', 'Failed'), phaseAt(bob, 'killed', 'Failed')]);
    const atBob = ja.status!.partyTaskStatus!['killed-link']!.find((p) => p.domainID === 'bob')!;
    assert.equal(atBob.phase, 'Failed');
    assert.match(atBob.message ?? '', /SIGKILL/);
    assert.ok(atBob.logTail?.some((l) => l.includes('bob was here before the kill')), JSON.stringify(atBob));
    writeFileSync(hold, '');
  });

  test('a memory limit below the engine\'s need: Failed, "killed by the memory limit", with the limit the status names', async () => {
    create(jobYaml('oom', { default: { lines: ['fine'] }, bob: { allocateMB: 400 } }, { bobResources: '{ limits: { memory: 96Mi } }' }));
    const [, jb] = await Promise.all([phaseAt(alice, 'oom', 'Failed'), phaseAt(bob, 'oom', 'Failed')]);
    const atBob = jb.status!.partyTaskStatus!['oom-link']!.find((p) => p.domainID === 'bob')!;
    const tail = () => `${readFileSync(join(bob.home, 'logs', 'tasks', 'oom-link.log'), 'utf8')}\n${readFileSync(join(bob.home, 'logs', 'ferry.log'), 'utf8').split('\n').filter((l) => l.includes('runtime')).join('\n')}`;
    assert.match(atBob.message ?? '', /killed by the memory limit/, tail());
    const t = await task(bob, 'oom-link');
    assert.match(t?.status?.runtime?.limits ?? '', /memory 100663296 bytes: cgroup/);
  });
});
