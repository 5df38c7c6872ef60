// Translation statuses as Kubernetes-style conditions (control-plane/store/conditions.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextStatus } from '../../control-plane/store/conditions.ts';
import type { StoredResource } from '../../control-plane/store/store.ts';

const object = (generation: number, status?: StoredResource['status']): StoredResource => ({
  apiVersion: 'v1', kind: 'Service',
  metadata: { name: 'echo', generation, resourceVersion: '7', creationTimestamp: '2026-01-01T00:00:00.000Z' },
  spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ port: 80 }] },
  ...(status ? { status } : {}),
}) as StoredResource;

test('a first status writes a Ready condition for the current generation', () => {
  const s = nextStatus(object(3), { kind: 'Service', name: 'echo', ready: false, reason: 'no port', fix: 'add one' }, 'T1');
  assert.deepEqual(s, { observedGeneration: 3, conditions: [{ type: 'Ready', status: 'False', reason: 'NotReady', message: 'no port; fix: add one', lastTransitionTime: 'T1' }] });
});

test('the same status again is no write; a new generation is; lastTransitionTime moves only when status flips', () => {
  const first = nextStatus(object(1), { kind: 'Service', name: 'echo', ready: true, reason: 'serves' }, 'T1')!;
  assert.equal(nextStatus(object(1, first), { kind: 'Service', name: 'echo', ready: true, reason: 'serves' }, 'T2'), undefined);
  const newGen = nextStatus(object(2, first), { kind: 'Service', name: 'echo', ready: true, reason: 'serves' }, 'T2')!;
  assert.equal(newGen.observedGeneration, 2);
  assert.equal(newGen.conditions![0]!.lastTransitionTime, 'T1', 'still True: no transition');
  const reworded = nextStatus(object(2, newGen), { kind: 'Service', name: 'echo', ready: true, reason: 'serves 2 ports' }, 'T3')!;
  assert.equal(reworded.conditions![0]!.lastTransitionTime, 'T1');
  const flipped = nextStatus(object(2, reworded), { kind: 'Service', name: 'echo', ready: false, reason: 'down' }, 'T4')!;
  assert.equal(flipped.conditions![0]!.lastTransitionTime, 'T4');
  assert.equal(flipped.conditions!.length, 1);
});

test('other conditions are kept', () => {
  const other = { type: 'Probed', status: 'True' as const, reason: 'Reachable', message: 'ok', lastTransitionTime: 'T0' };
  const s = nextStatus(object(1, { conditions: [other] }), { kind: 'Service', name: 'echo', ready: true, reason: 'serves' }, 'T1')!;
  assert.deepEqual(s.conditions!.map((c) => c.type), ['Probed', 'Ready']);
});
