// A real Envoy fed by Ferry's ADS server, with the translation inputs the
// golden tests use (alice's CA and gateway certificate): for tests of what
// Envoy accepts from the translator, without a whole node.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { AdsServer } from '../../control-plane/ads/server.ts';
import { defaultConfig, type NodeConfig } from '../../control-plane/config.ts';
import { EnvoySupervisor } from '../../control-plane/supervisor/envoy-supervisor.ts';
import { locateEnvoy } from '../../envoy/locate.ts';
import { freePorts, tempDir, waitFor } from './harness.ts';

const certDir = join(import.meta.dirname, '..', 'golden', 'testdata', 'certs');
export const fixturePem = (name: string) => readFileSync(join(certDir, name), 'utf8');
export const ALICE = {
  caPem: fixturePem('alice-ca.pem'),
  gateway: { certPem: fixturePem('alice-gateway.pem'), keyPem: fixturePem('alice-gateway.key') },
  bobCaB64: Buffer.from(fixturePem('bob-ca.pem')).toString('base64'),
  carolCaB64: Buffer.from(fixturePem('carol-ca.pem')).toString('base64'),
};

export interface EnvoyUnderXds {
  ads: AdsServer;
  config: NodeConfig;
  admin: number;
  dir: string;
  /** Envoy's own view: the names of the clusters it runs. */
  clusters(): Promise<string[]>;
  stop(): Promise<void>;
}

/** Starts the ADS server and an Envoy for `domain` (every listener on loopback). Envoy waits for the first snapshot. */
export async function startEnvoyUnderXds(domain: string, variant: 'delta' | 'sotw' = 'delta'): Promise<EnvoyUnderXds> {
  const [xds, admin, pub, internal] = (await freePorts(4)) as [number, number, number, number];
  const config = { ...defaultConfig(domain, { xds, envoyAdmin: admin, public: pub, internal }), xdsVariant: variant };
  config.listeners.public.address = '127.0.0.1';
  const ads = new AdsServer(pino({ level: 'silent' }));
  await ads.listen('127.0.0.1', xds);
  const dir = tempDir(`xds-${domain}`);
  const sup = new EnvoySupervisor({ envoyBin: locateEnvoy().bin, bootstrapPath: join(dir, 'bootstrap.json'), logDir: dir, config, log: pino({ level: 'silent' }) });
  sup.start();
  await waitFor('Envoy to connect to the ADS server', async () => (ads.proxies().length > 0 ? true : undefined));
  return {
    ads, config, admin, dir,
    async clusters() {
      const body = (await (await fetch(`http://127.0.0.1:${admin}/clusters?format=json`)).json()) as { cluster_statuses?: { name: string }[] };
      return (body.cluster_statuses ?? []).map((c) => c.name);
    },
    async stop() {
      await sup.stop();
      await ads.close();
    },
  };
}
