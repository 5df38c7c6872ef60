// Starting KusciaAPI on a node: its token file, the HTTP calls (on Ferry's
// REST listener when they share a port, else on a listener of their own) and
// the gRPC server, with TLS or mTLS as configured (tls.ts). Configured by ferry.yaml `kusciaApi` (docs/kusciaapi.md).
import { createSign } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.ts';
import { readCa, writeSecretFile } from '../home.ts';
import { kusciaHttp } from './http.ts';
import { startKusciaGrpc } from './grpc.ts';
import { kusciaCalls, kusciaStreams, type ServiceDeps } from './service.ts';
import { kusciaApiSettings, kusciaServerTls } from './tls.ts';
import { dataSourceKey } from '../datamesh/secrets.ts';

/** Where Kuscia keeps the KusciaAPI token (<root>/var/certs/token); Ferry: <home>/certs/token. */
export const kusciaTokenPath = (home: string) => join(home, 'certs', 'token');

/**
 * The token, made on first use as Kuscia makes it: the first 32 characters of
 * base64(RSA-SHA256 signature of the domain id with the domain's key). The
 * signature is deterministic, so every replica of a domain (and a pod made
 * again from the same CA Secret) has the same token. Kept in a 0600 file.
 */
export function kusciaToken(home: string, domain: string): string {
  const path = kusciaTokenPath(home);
  if (!existsSync(path)) writeSecretFile(path, createSign('sha256').update(domain).sign(readCa(home).keyPem).toString('base64').slice(0, 32));
  const token = readFileSync(path, 'utf8').trim();
  if (!token) throw new Error(`${path} is empty: remove it and restart the node to get the KusciaAPI token again`);
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
  const settings = kusciaApiSettings(config);
  const token = kusciaToken(home, config.domain);
  // The DataMesh's sealing key and the domain key (grant signatures), as the REST API and the grant sync use them.
  const full: ServiceDeps = { sourceKey: dataSourceKey(home, config), domainKey: () => readCa(home).keyPem, ...deps };
  const calls = kusciaCalls(full);
  const streams = kusciaStreams(full);
  const httpLog = log.child({ component: 'kusciaapi' });
  const tls = kusciaServerTls(home, config, settings, (msg) => httpLog.info(msg));
  const { address, shared } = settings;
  // Without TLS, KusciaAPI stays on loopback: a REST listener bound wider (ferry init --bind) does not carry it.
  if (settings.sharedButExposed) {
    log.warn({ api: config.listeners.api.address }, `KusciaAPI HTTP is not served on the API listener ${config.listeners.api.address}: it is not a loopback address and the REST listener has no TLS; give kusciaApi.httpPort a port of its own (on kusciaApi.address, with kusciaApi.protocol MTLS or TLS to listen beyond loopback)`);
  }
  const closers: (() => Promise<void>)[] = [];
  return {
    ...(shared && !settings.sharedButExposed ? { plugin: (app: FastifyInstance) => app.register(kusciaHttp, { calls, streams, token, log: httpLog }) as unknown as Promise<void> } : {}),
    listen: async () => {
      if (!shared) {
        const app = tls
          ? Fastify({ bodyLimit: 32 * 1024 * 1024, https: { key: tls.keyPem, cert: tls.certPem, minVersion: 'TLSv1.2', ...(tls.mtls ? { ca: tls.caPem, requestCert: true, rejectUnauthorized: false } : {}) } })
          : Fastify({ bodyLimit: 32 * 1024 * 1024 });
        const typed = app as unknown as FastifyInstance;
        // A refused handshake (no client certificate, one from another CA) is the client's fault: said once, in the log.
        typed.server.on('tlsClientError', (err: Error & { code?: string }, socket: { remoteAddress?: string }) => httpLog.warn({ from: socket.remoteAddress, code: err.code }, `KusciaAPI HTTPS: handshake refused: ${err.message}`));
        await typed.register(kusciaHttp, { calls, streams, token, log: httpLog, clientCertRequired: tls?.mtls ?? false });
        await typed.listen({ host: address, port: k.httpPort! });
        closers.push(() => typed.close());
      }
      if (k.grpcPort !== undefined) {
        const grpc = await startKusciaGrpc({ calls, streams, token, log: httpLog, address, port: k.grpcPort, ...(tls ? { tls } : {}) });
        closers.push(grpc.close);
      }
      httpLog.info({ protocol: settings.protocol, address, http: shared ? config.listeners.api.port : k.httpPort, grpc: k.grpcPort }, 'KusciaAPI listening');
    },
    close: async () => {
      for (const c of closers.splice(0).reverse()) await c();
    },
  };
}
