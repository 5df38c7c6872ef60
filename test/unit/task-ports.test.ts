// RunP's pure parts: Kuscia's task service names, the Services and local
// ports a task's Cluster ports become, and task limits from resources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { peerEndpoints, peerPortNames, taskPortMappings, taskServiceName, taskServices } from '../../control-plane/runtime/task-ports.ts';
import { wantedLimits } from '../../control-plane/runtime/limits.ts';
import { parseCpu, parseMemory } from '../../control-plane/runtime/cgroup.ts';
import type { AppImageSpec } from '../../control-plane/runtime/render.ts';

const app: AppImageSpec = {
  deployTemplates: [
    { role: 'server', spec: { containers: [{ name: 's', command: ['x'], ports: [{ name: 'psi', scope: 'Cluster' }, { name: 'admin', scope: 'Local' }, { name: 'rpc', protocol: 'GRPC', scope: 'Cluster' }] }] } },
    { spec: { containers: [{ name: 'c', command: ['x'], ports: [{ name: 'psi', scope: 'Cluster' }] }] } },
  ],
};

test('task service names follow Kuscia: <prefix>-<port>, svc- before a digit, hashed to 63 characters', () => {
  assert.equal(taskServiceName('job-a-psi', 'psi'), 'job-a-psi-psi');
  assert.equal(taskServiceName('1job', 'spu'), 'svc-1job-spu');
  const long = taskServiceName('x'.repeat(70), 'spu');
  assert.equal(long.length, 63);
  assert.match(long, /^svc-x{38}-[0-9a-f]{16}-spu$/);
  assert.notEqual(taskServiceName(`${'x'.repeat(70)}a`, 'spu'), long, 'different prefixes, different names');
});

test('a party Cluster ports become Services only the other parties may call; Local ports stay local', () => {
  const services = taskServices({ taskID: 'job-a', self: 'alice', role: 'server', app, parties: [{ domainID: 'alice', role: 'server' }, { domainID: 'carol' }, { domainID: 'bob' }], ports: { psi: 30001, admin: 30002, rpc: 30003 } });
  assert.deepEqual(services.map((s) => [s.metadata.name, s.spec.ports[0]!.port, s.metadata.annotations!['kuscia.secretflow/access-domain'], s.metadata.annotations!['kuscia.secretflow/protocol']]), [
    ['job-a-psi', 30001, 'bob,carol', 'HTTP'],
    ['job-a-rpc', 30003, 'bob,carol', 'GRPC'],
  ]);
  assert.equal(services[0]!.metadata.annotations!['ferry.secretflow/task'], 'job-a');
  assert.equal(services[0]!.spec.externalName, '127.0.0.1');
  // A task of one party exposes nothing.
  assert.deepEqual(taskServices({ taskID: 'solo', self: 'alice', role: '', app, parties: [{ domainID: 'alice' }], ports: { psi: 1 } }), []);
});

test('each other party Cluster port, by its role, gets a local port here; the engine dials it as host:port', () => {
  const names = peerPortNames(app, 'alice', [{ domainID: 'alice' }, { domainID: 'bob', role: 'server' }, { domainID: 'carol' }]);
  assert.deepEqual(names, [{ domainID: 'bob', port: 'psi' }, { domainID: 'bob', port: 'rpc' }, { domainID: 'carol', port: 'psi' }]);
  const peerPorts = { bob: { psi: 31001, rpc: 31002 }, carol: { psi: 31003 } };
  assert.deepEqual(taskPortMappings('job-a', peerPorts), [
    { port: 31001, peer: 'bob', service: 'job-a-psi', task: 'job-a' },
    { port: 31002, peer: 'bob', service: 'job-a-rpc', task: 'job-a' },
    { port: 31003, peer: 'carol', service: 'job-a-psi', task: 'job-a' },
  ]);
  assert.deepEqual(peerEndpoints('127.0.0.1', peerPorts), { bob: { psi: '127.0.0.1:31001', rpc: '127.0.0.1:31002' }, carol: { psi: '127.0.0.1:31003' } });
});

test('task limits: the party resources win over the AppImage; bad quantities name the field', () => {
  assert.deepEqual(wantedLimits({ resources: { limits: { cpu: '500m', memory: '2Gi' } } }, { resources: { limits: { cpu: 4, memory: '8Gi' } } }), { cpus: 0.5, memoryBytes: 2 * 1024 ** 3 });
  assert.deepEqual(wantedLimits({}, { resources: { limits: { memory: '512Mi' } } }), { memoryBytes: 512 * 1024 ** 2 });
  assert.deepEqual(wantedLimits({}, undefined), {});
  assert.throws(() => wantedLimits({ resources: { limits: { memory: '2 GB' } } }, undefined), /parties\[\]\.resources\.limits\.memory: "2 GB" is not a memory quantity/);
  assert.throws(() => wantedLimits({}, { resources: { limits: { cpu: '-1' } } }), /AppImage containers\[\]\.resources\.limits\.cpu: "-1" is not a CPU quantity/);
  assert.equal(parseCpu('2'), 2);
  assert.equal(parseCpu(0), undefined);
  assert.equal(parseMemory('1G'), 1e9);
  assert.equal(parseMemory(1024), undefined, 'below 1 MiB no process starts');
});

test('the task user: nobody by default for a root node, the node itself otherwise; bad values named', async () => {
  const { resolveTaskUser } = await import('../../control-plane/runtime/task-user.ts');
  const passwd = 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nengine:x:1001:1002::/home/engine:/bin/sh\n';
  assert.deepEqual(resolveTaskUser(undefined, 0, passwd), { uid: 65534, gid: 65534, describe: 'uid 65534 gid 65534 (nobody)' });
  assert.deepEqual(resolveTaskUser('engine', 0, passwd), { uid: 1001, gid: 1002, describe: 'uid 1001 gid 1002 (engine)' });
  assert.deepEqual(resolveTaskUser('2000:3000', 0, passwd), { uid: 2000, gid: 3000, describe: 'uid 2000 gid 3000 (2000:3000)' });
  assert.equal(resolveTaskUser('node', 0, passwd), undefined);
  assert.equal(resolveTaskUser(undefined, 1000, passwd), undefined, 'not root: tasks run as the node');
  assert.throws(() => resolveTaskUser('engine', 1000, passwd), /jobs\.taskUser: "engine" needs the node to run as root/);
  assert.throws(() => resolveTaskUser('ghost', 0, passwd), /jobs\.taskUser: no user "ghost" on this machine/);
  assert.throws(() => resolveTaskUser('root', 0, passwd), /jobs\.taskUser: "root" is root/);
});
