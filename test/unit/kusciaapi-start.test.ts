// KusciaAPI's listeners stay on loopback without TLS: shared with a loopback
// REST listener, refused on a wider one, and its own address must be loopback
// (beyond it only with TLS or MTLS: test/unit/kusciaapi-tls.test.ts).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { initHome } from '../../control-plane/home.ts';
import { join } from 'node:path';
import pino from 'pino';
import { defaultConfig } from '../../control-plane/config.ts';
import { kusciaApiServers, kusciaTokenPath } from '../../control-plane/kusciaapi/start.ts';
import { tempDir } from '../support/harness.ts';
import type { ServiceDeps } from '../../control-plane/kusciaapi/service.ts';

const deps = { store: {}, domain: 'alice', seen: async () => {} } as unknown as ServiceDeps;
const log = pino({ level: 'silent' });

const made: string[] = [];
after(() => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

function home(): string {
  const dir = tempDir('kusciaapi-start');
  made.push(dir);
  initHome(join(dir, 'h'), 'alice'); // the CA: the token is derived from its key, as Kuscia's
  return join(dir, 'h');
}

test('KusciaAPI HTTP shares a loopback REST listener and makes the token file', () => {
  const h = home();
  const servers = kusciaApiServers(h, defaultConfig('alice'), deps, log);
  assert.ok(servers?.plugin, 'registered on the REST listener');
  assert.match(kusciaTokenPath(h), /certs\/token$/);
});

test('not on a REST listener bound beyond loopback; not at all without the config block', () => {
  const config = defaultConfig('alice');
  config.listeners.api.address = '0.0.0.0';
  assert.equal(kusciaApiServers(home(), config, deps, log)?.plugin, undefined);
  const off = defaultConfig('alice');
  delete off.kusciaApi;
  assert.equal(kusciaApiServers(home(), off, deps, log), undefined);
});

test('its own address must be loopback', () => {
  const config = defaultConfig('alice');
  config.kusciaApi = { grpcPort: 8083, address: '0.0.0.0' };
  assert.throws(() => kusciaApiServers(home(), config, deps, log), /kusciaApi\.address in ferry\.yaml: 0\.0\.0\.0 is not a loopback address/);
});
