// Closed by default: everything but the public port binds to loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig, DEFAULT_PORTS } from '../../control-plane/config.ts';

test('only the public listener leaves loopback; Envoy admin and xDS are Unix sockets unless their ports are given', () => {
  const c = defaultConfig('alice');
  assert.deepEqual(c.listeners, {
    public: { address: '0.0.0.0', port: 1080 },
    internal: { address: '127.0.0.1', port: 1081 },
    api: { address: '127.0.0.1', port: 8082 },
  });
  assert.equal(defaultConfig('alice', { api: 9000 }).listeners.api.port, 9000);
  assert.deepEqual(defaultConfig('alice', { envoyAdmin: 10000, xds: 10001 }).listeners.envoyAdmin, { address: '127.0.0.1', port: 10000 });
  assert.deepEqual(defaultConfig('alice', { envoyAdmin: 10000, xds: 10001 }).listeners.xds, { address: '127.0.0.1', port: 10001 });
  assert.equal(DEFAULT_PORTS.public, 1080);
});
