// Kuscia fields Ferry accepts but does not use: the status says so (issue 13.4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ignoredFields, noteIgnoredFields } from '../../control-plane/translate/kuscia-fields.ts';
import type { ResourceSet } from '../../control-plane/resources/types.ts';
import type { ResourceStatus } from '../../control-plane/translate/ir.ts';

test('Domain.spec.resourceQuota and interConnProtocols are named as ignored', () => {
  assert.deepEqual(ignoredFields('Domain', { role: 'partner', resourceQuota: { podMaxCount: 10 }, interConnProtocols: ['kuscia'] }).length, 2);
  assert.deepEqual(ignoredFields('Domain', { role: 'partner' }), []);
});

test('route key and client-certificate fields Kuscia writes are named as ignored', () => {
  const spec = { mTLSConfig: { tlsCA: 'x', sourceClientCert: 'c', sourceClientPrivateKey: 'k' }, tokenConfig: { tokenGenMethod: 'RSA-GEN', destinationPublicKey: 'd', sourcePublicKey: 's' } };
  const out = ignoredFields('ClusterDomainRoute', spec);
  assert.equal(out.length, 2);
  assert.match(out[0]!, /sourceClientCert/);
  assert.match(out[1]!, /destinationPublicKey/);
  assert.deepEqual(ignoredFields('ClusterDomainRoute', { tokenConfig: { tokenGenMethod: 'RSA-GEN' } }), []);
});

test('the note lands in the resource\'s status, without changing the status object it came from', () => {
  const original: ResourceStatus = { kind: 'ClusterDomainRoute', name: 'kalice-fbob', ready: true, reason: 'inbound: kalice authenticates with a rolling token' };
  const statuses = [original];
  const resources = { domains: [], routes: [{ kind: 'ClusterDomainRoute', metadata: { name: 'kalice-fbob' }, spec: { tokenConfig: { sourcePublicKey: 's' } } }], services: [] } as unknown as ResourceSet;
  noteIgnoredFields(resources, statuses);
  assert.match(statuses[0]!.reason, /; ignored: spec\.tokenConfig\.destinationPublicKey\/sourcePublicKey/);
  assert.equal(original.reason, 'inbound: kalice authenticates with a rolling token');
});
