// Starting KusciaAPI on a node: its token file, the HTTP calls (on Ferry's
// REST listener when they share a port, else on a listener of their own) and
// the gRPC server. Configured by ferry.yaml `kusciaApi` (docs/kusciaapi.md).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.ts';
import { writeSecretFile } from '../home.ts';
import { kusciaHttp } from './http.ts';
import { startKusciaGrpc } from './grpc.ts';
import { kusciaCalls, kusciaStreams, type ServiceDeps } from './service.ts';

/** Where Kuscia keeps the KusciaAPI token (<root>/var/certs/token); Ferry: <home>/certs/token. */
export const kusciaTokenPath = (home: string) => join(home, 'certs', 'token');

/** The token, made (random, 0600) on first use. */
export function kusciaToken(home: string): string {
  const path = kusciaTokenPath(home);
  if (!existsSync(path)) writeSecretFile(path, randomBytes(32).toString('hex') + '\n');
  const token = readFileSync(path, 'utf8').trim();
  if (!token) throw new Error(`${path} is empty: remove it and restart the node to get a new KusciaAPI token`);
  return token;
}

export interface KusciaApiServers {
  /** Registers the HTTP calls on Ferry's REST app when they share its port. */
  plugin?: (app: FastifyInstance) => Promise<void>;
  /** Starts what listens on its own (gRPC, HTTP on its own port). */
  listen: () => Promise<void>;
  close: () => Promise<void>;
}

export function kusciaApiServers(home: string, config: NodeConfig, deps: ServiceDeps, log: Logger): KusciaApiServers | undefined {
  const k = config.kusciaApi;
  if (!k) return undefined;
  const token = kusciaToken(home);
  const calls = kusciaCalls(deps);
  const streams = kusciaStreams(deps);
  // Its own listeners are loopback only: KusciaAPI with TLS is not served yet, and a token in clear must not leave the host.
  const address = k.address ?? '127.0.0.1';
  if (!isLoopback(address)) throw new Error(`kusciaApi.address in ferry.yaml: ${address} is not a loopback address; KusciaAPI without TLS listens on loopback only (127.0.0.1 or ::1)`);
  const httpLog = log.child({ component: 'kusciaapi' });
  const shared = k.httpPort === undefined || k.httpPort === config.listeners.api.port;
  // Without TLS, KusciaAPI stays on loopback: a REST listener bound wider (ferry init --bind) does not carry it.
  const exposed = shared && !isLoopback(config.listeners.api.address);
  if (exposed) {
    log.warn({ api: config.listeners.api.address }, `KusciaAPI HTTP is not served on the API listener ${config.listeners.api.address}: it is not a loopback address and KusciaAPI has no TLS yet; give kusciaApi.httpPort a port of its own (it listens on kusciaApi.address, loopback)`);
  }
  const closers: (() => Promise<void>)[] = [];
  return {
    ...(shared && !exposed ? { plugin: (app: FastifyInstance) => app.register(kusciaHttp, { calls, streams, token, log: httpLog }) as unknown as Promise<void> } : {}),
    listen: async () => {
      if (!shared) {
        const app = Fastify({ bodyLimit: 32 * 1024 * 1024 });
        await app.register(kusciaHttp, { calls, streams, token, log: httpLog });
        await app.listen({ host: address, port: k.httpPort! });
        closers.push(() => app.close());
      }
      if (k.grpcPort !== undefined) {
        const grpc = await startKusciaGrpc({ calls, streams, token, log: httpLog, address, port: k.grpcPort });
        closers.push(grpc.close);
      }
    },
    close: async () => {
      for (const c of closers.splice(0).reverse()) await c();
    },
  };
}

function isLoopback(address: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(address) || address === '::1' || address === 'localhost';
}
