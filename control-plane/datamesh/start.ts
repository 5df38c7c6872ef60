// The DataMesh part of a node: makes sure the default data source exists,
// serves Flight (gRPC, behind the front on the DataMesh port) on loopback, and
// gives the runtime and the jobs controller their interface:
// issueTaskCredential (per task, revoked when the task ends) and admitJob.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ResourceStore } from '../store/store.ts';
import type { StoreKey } from '../store/secrets.ts';
import { applyDocuments } from '../resources/apply.ts';
import { KUSCIA_API_VERSION } from '../resources/types.ts';
import { admitJob, type AdmissionDecision, type JobAdmission, type TaskCredential } from './access.ts';
import { TaskCredentials, taskEnvironment, type IssuedCredential } from './credentials.ts';
import { flightDefinition, flightService } from './flight.ts';
import { startFront, type Front } from './front.ts';
import { Mesh } from './mesh.ts';
import { dataMeshHttp } from './http.ts';
import { SourceStatus } from './source-status.ts';
import type { DataSourceDriver } from './sources.ts';
import { DEFAULT_DATA_SOURCE } from './spec.ts';

/** Kuscia's DataMesh ports. */
export const DEFAULT_DATAMESH_GRPC_PORT = 8071;
export const DEFAULT_DATAMESH_HTTP_PORT = 8070;

export interface DataMeshOptions {
  store: ResourceStore;
  self: string;
  sourceKey: StoreKey;
  /** The directory of default-data-source (<home>/data/domaindata). */
  dataDir: string;
  log: Logger;
  /** Loopback only. */
  host?: string;
  /** The DataMesh port (0: any free one). */
  port: number;
  /** The HTTP calls' port (0: any free one; undefined: no HTTP). */
  httpPort?: number;
  drivers?: DataSourceDriver[];
  /** How often every source is checked again (its condition); 60 s by default. */
  checkEveryMs?: number;
}

/** What the runtime asks a task's credential for: exactly what the credential carries. */
export type TaskCredentialRequest = TaskCredential;

export interface TaskDataMeshAccess extends IssuedCredential {
  /** Environment for the task's process: DATAMESH_ADDRESS, grpc_proxy carrying the token, FERRY_DATAMESH_TOKEN. */
  env: Record<string, string>;
}

export interface DataMesh {
  /** host:port of the DataMesh (what kuscia.datamesh.init takes). */
  address: string;
  port: number;
  /** host:port of the HTTP calls, when served. */
  httpAddress?: string;
  mesh: Mesh;
  /** A credential for one task: reads only the DomainData named, under the grants; revoke() when the task ends. */
  issueTaskCredential(req: TaskCredentialRequest): TaskDataMeshAccess;
  revokeTask(taskID: string): number;
  /** Before a job runs here: every read of this domain's data by the job's tasks is granted (or what is missing). */
  admitJob(job: JobAdmission): Promise<AdmissionDecision>;
  close(): Promise<void>;
}

/** The default source: localfs under the home's data directory (created once, never overwritten). */
export async function ensureDefaultSource(store: ResourceStore, self: string, key: StoreKey, dir: string): Promise<void> {
  if (await store.get('DomainDataSource', DEFAULT_DATA_SOURCE)) return;
  await applyDocuments(store, [{
    apiVersion: KUSCIA_API_VERSION, kind: 'DomainDataSource', metadata: { name: DEFAULT_DATA_SOURCE },
    spec: { type: 'localfs', name: DEFAULT_DATA_SOURCE, uri: dir, info: { localfs: { path: dir } }, accessDirectly: true },
  }], { domain: self, sourceKey: key });
}

export async function startDataMesh(o: DataMeshOptions): Promise<DataMesh> {
  const host = o.host ?? '127.0.0.1';
  if (!/^127\.\d+\.\d+\.\d+$/.test(host)) throw new Error(`datamesh.address ${host}: the DataMesh listens on loopback only (127.0.0.0/8): the node's tasks run on this host`);
  await ensureDefaultSource(o.store, o.self, o.sourceKey, o.dataDir);
  const credentials = new TaskCredentials();
  const mesh = new Mesh({ store: o.store, self: o.self, sourceKey: o.sourceKey, log: o.log, drivers: new Map((o.drivers ?? []).map((d) => [d.type, d])) });
  const sourceStatus = new SourceStatus({ store: o.store, key: o.sourceKey, drivers: mesh.drivers, log: o.log, ...(o.checkEveryMs ? { everyMs: o.checkEveryMs } : {}) });
  await sourceStatus.start();
  let front: Front | undefined;
  const grpcServer = new grpc.Server({ 'grpc.max_receive_message_length': 64 << 20 });
  grpcServer.addService(flightDefinition(), flightService({
    mesh, log: o.log,
    caller: (call) => {
      const auth = call.metadata.get('authorization')[0];
      const bearer = typeof auth === 'string' && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : undefined;
      if (bearer) {
        const credential = credentials.lookup(bearer);
        return credential ? { credential, token: bearer } : undefined;
      }
      return front?.byPeer(call.getPeer());
    },
  }));
  // The gRPC server itself on a free loopback port, reached through the front.
  const grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  let port = o.port;
  try {
    front = await startFront({ host, port: o.port, grpcPort, lookup: (t) => credentials.lookup(t), self: { host, port: () => port } });
  } catch (e) {
    grpcServer.forceShutdown();
    sourceStatus.stop();
    throw new Error(`DataMesh: cannot listen on ${host}:${o.port} (${(e as Error).message}): give datamesh.port another port in ferry.yaml`);
  }
  port = (front.server.address() as { port: number }).port;
  const http = o.httpPort === undefined ? undefined : dataMeshHttp(mesh, (t) => credentials.lookup(t), o.log);
  let httpPort: number | undefined;
  if (http) {
    try {
      await http.listen({ host, port: o.httpPort! });
    } catch (e) {
      await front.close();
      grpcServer.forceShutdown();
      sourceStatus.stop();
      throw new Error(`DataMesh HTTP: cannot listen on ${host}:${o.httpPort} (${(e as Error).message}): give datamesh.httpPort another port in ferry.yaml`);
    }
    httpPort = (http.server.address() as { port: number }).port;
  }
  // Every TCP port the DataMesh holds, all on loopback: Flight (the front), HTTP, and the gRPC server behind the front.
  o.log.info({ address: `${host}:${port}`, ...(httpPort ? { http: `${host}:${httpPort}` } : {}), grpc: `127.0.0.1:${grpcPort}` }, 'DataMesh (Arrow Flight) listening');
  return {
    address: `${host}:${port}`,
    port,
    ...(httpPort ? { httpAddress: `${host}:${httpPort}` } : {}),
    mesh,
    issueTaskCredential: (req) => {
      const credential: TaskCredential = { taskID: req.taskID, jobID: req.jobID, initiator: req.initiator, parties: [...req.parties], domainDataIDs: [...req.domainDataIDs], ...(req.component ? { component: req.component } : {}), ...(req.flowID ? { flowID: req.flowID } : {}) };
      const issued = credentials.issue(credential);
      return { ...issued, env: taskEnvironment({ host, port, ...(httpPort ? { httpPort } : {}) }, req.taskID, issued.token) };
    },
    revokeTask: (taskID) => credentials.revokeTask(taskID),
    admitJob: async (job) => {
      const known = new Set((await o.store.list('DomainData')).items.map((d) => d.metadata.name));
      return admitJob(o.self, job, await mesh.grants(), known, new Date());
    },
    close: async () => {
      sourceStatus.stop();
      await http?.close();
      await front?.close();
      await new Promise<void>((r) => grpcServer.tryShutdown(() => r()));
      grpcServer.forceShutdown();
    },
  };
}

export function defaultDataDir(dataDir: string): string {
  return join(dataDir, 'domaindata');
}
