// A Ferry node: store, translation, ADS server, Envoy supervisor and REST API,
// wired together. `ferry start` runs this in the foreground.
import { successLogPercent } from './translate/access-log-policy.ts';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { assertNoNodeRunning, homePaths, readConfig, type NodeConfig } from './config.ts';
import { prepareRun, readApiToken, readCa, xdsSecret } from './home.ts';
import { adminRequest } from '../envoy/admin.ts';
import { CertRenewer } from './cert-renewer.ts';
import { decodePartnerCa, parseDuration } from './resources/validate.ts';
import { inspectCertificate, splitPemCertificates } from '../certs/authority.ts';
import { openStore } from './store/open.ts';
import { StoreCache } from './store/cache.ts';
import { StatusWriter } from './store/conditions.ts';
import { Replication } from './replication.ts';
import { AdsServer } from './ads/server.ts';
import { Reconciler } from './reconciler.ts';
import { EnvoySupervisor } from './supervisor/envoy-supervisor.ts';
import { buildApi } from './api/server.ts';
import type { NodeStatus } from './api/status.ts';
import { locateEnvoy } from '../envoy/locate.ts';
import { ControlPlaneMetrics, routeReadiness } from './metrics.ts';
import { startRotation } from './logs/rotation.ts';
import { TokenManager } from './tokens/manager.ts';
import { publishedCaBundle } from './ca-rotation.ts';
import { TunnelManager } from './tunnels/manager.ts';
import { LinkProber } from './diagnose/prober.ts';
import { startDiagnoseServer } from './diagnose/server.ts';
import { datameshSocket, diagnoseSocket, interopSocket } from './translate/resources-to-ir.ts';
import { guardNode } from './process-guard.ts';
import { JobsController } from './jobs/controller.ts';
import { jobAdmission } from './jobs/task-data.ts';
import { InteropClient } from './jobs/interop-client.ts';
import { startInteropServer } from './jobs/interop-server.ts';
import { approvalPolicy } from './jobs/policy.ts';
import { RuntimeController } from './runtime/controller.ts';
import { resolveTaskUser } from './runtime/task-user.ts';
import { kusciaApiServers } from './kusciaapi/start.ts';
import { startNodeDataMesh } from './datamesh/node-part.ts';
import { dataSourceKey } from './datamesh/secrets.ts';
import type { DataMesh } from './datamesh/start.ts';
import { startGrantServer } from './datamesh/grant-server.ts';
import { GrantSync } from './datamesh/grant-sync.ts';

export interface RunningNode {
  config: NodeConfig;
  status: () => Promise<NodeStatus>;
  /** The DataMesh (docs/datamesh.md): issueTaskCredential for the runtime, admitJob for the jobs controller. */
  dataMesh: DataMesh;
  /** keepEnvoy: Envoy goes on serving, for the next start to adopt (a hitless restart or upgrade). */
  stop: (opts?: { keepEnvoy?: boolean }) => Promise<void>;
}

/** The file each node logger writes, so log rotation can make it reopen its path; and where its write errors go. */
const logFiles = new WeakMap<Logger, { reopen: () => void; ready: Promise<unknown>; onError?: (err: unknown) => void }>();

export function nodeLogger(home: string): Logger {
  const { logs } = homePaths(home);
  mkdirSync(logs, { recursive: true });
  const level = (process.env.FERRY_LOG_LEVEL ?? 'info') as pino.Level;
  const file = pino.destination({ dest: join(logs, 'ferry.log'), mkdir: true, sync: false });
  const logger = pino({ level, base: { app: 'ferry' } }, pino.multistream([{ level, stream: process.stdout }, { level, stream: file }]));
  // Opened asynchronously: exiting before it is open would throw from pino's exit hook.
  const ready = new Promise((resolve) => { file.once('ready', resolve); file.once('error', resolve); });
  const entry: { reopen: () => void; ready: Promise<unknown>; onError?: (err: unknown) => void } = { reopen: () => file.reopen(), ready };
  logFiles.set(logger, entry);
  // A full disk must not kill the node through its own log: the failure is counted, the node serves on.
  file.on('error', (err: unknown) => entry.onError?.(err));
  return logger;
}

export interface StartOptions {
  /** Envoy is run by someone else (a second container): write its bootstrap only. */
  externalEnvoy?: boolean;
}

export async function startNode(home: string, log: Logger = nodeLogger(home), opts: StartOptions = {}): Promise<RunningNode> {
  const config = readConfig(home);
  const paths = homePaths(home);
  assertNoNodeRunning(home);
  await logFiles.get(log)?.ready;
  successLogPercent(config); // a bad accessLog.successes stops the start, naming the field
  const taskUser = resolveTaskUser(config.jobs?.taskUser, process.getuid?.() ?? 0);
  const { notOurs } = prepareRun(home, { traversable: taskUser !== undefined });
  if (notOurs.length) log.warn({ paths: notOurs }, 'not owned by this user, so left as they are: make sure only this user can read them');
  const envoy = opts.externalEnvoy ? { bin: undefined, version: 'external' } : locateEnvoy();
  const store = await openStore(home, config);
  const cache = new StoreCache(store);
  cache.on('stale', (err: Error) => log.warn({ err: err.message }, 'store: could not list again after missing changes; serving what this node has, retrying'));
  try {
    await cache.start();
  } catch (e) {
    await store.close();
    throw e;
  }
  // With a shared store, the domain's certificates come from it: before anything reads them.
  const replication = await Replication.open(home, config, store, log.child({ component: 'replication' }));
  const metrics = new ControlPlaneMetrics();
  metrics.observeStore(store, cache);
  const statusWriter = new StatusWriter(store, (kind, name) => cache.get(kind, name), (err) => log.warn({ err: (err as Error).message }, 'could not write resource conditions to the store'));
  const { failures, removeGuard } = guardNode(log, metrics);
  const logEntry = logFiles.get(log);
  if (logEntry) logEntry.onError = (err) => failures.record('log', err);
  const secret = xdsSecret(home);
  const ads = new AdsServer(log.child({ component: 'xds' }), metrics, { secret });
  metrics.envoyAdmin = { socket: paths.adminSocket };
  const lifetimeSeconds = parseDuration(config.gatewayCertLifetime ?? '24h');
  if (!lifetimeSeconds || lifetimeSeconds < 10) throw new Error(`gatewayCertLifetime in ${paths.config}: "${config.gatewayCertLifetime}" is not a duration of 10s or more, e.g. "24h"`);
  const taskLimitsMode = config.jobs?.taskLimits ?? 'auto';
  if (taskLimitsMode !== 'auto' && taskLimitsMode !== 'off') throw new Error(`jobs.taskLimits in ${paths.config}: ${JSON.stringify(taskLimitsMode)} is not "auto" or "off"`);
  let reconciler: Reconciler | undefined;
  let taskRuntime: RuntimeController | undefined; // the RunP runtime, created below; its task ports join the translation
  const tokens = new TokenManager({
    home, domain: config.domain, store: cache, log: log.child({ component: 'tokens' }),
    install: () => reconciler!.installNow(),
    ...(process.env.FERRY_HEARTBEAT_MS ? { heartbeatMs: Number(process.env.FERRY_HEARTBEAT_MS) } : {}),
    ...(replication.sharedTokens ? { shared: replication.sharedTokens } : {}),
  });
  const renewer = new CertRenewer({ home, domain: config.domain, lifetimeSeconds, failures, log: log.child({ component: 'certs' }), onRenewed: (gw) => { reconciler?.setGateway(gw); replication.publishCerts(); }, onCaChanged: (pem) => { reconciler?.setOwnCa(pem); replication.publishCerts(); } });
  const tunnels = new TunnelManager({
    publicListener: config.listeners.public,
    log: log.child({ component: 'tunnels' }),
    ...(process.env.FERRY_REVERSE_TUNNELS ? { size: Number(process.env.FERRY_REVERSE_TUNNELS) } : {}),
    onChange: () => reconciler?.schedule(true),
  });
  const internalHost = ['0.0.0.0', '::'].includes(config.listeners.internal.address) ? '127.0.0.1' : config.listeners.internal.address;
  const prober = new LinkProber({
    gateway: { host: internalHost, port: config.listeners.internal.port, domain: config.domain },
    log: log.child({ component: 'probe' }),
    ...(process.env.FERRY_PROBE_MS ? { intervalMs: Number(process.env.FERRY_PROBE_MS) } : {}),
    onChange: () => reconciler?.schedule(true),
    credentials: () => renewer.gateway,
  });
  reconciler = new Reconciler({
    store: cache, config, ads, metrics, log: log.child({ component: 'translator' }),
    ownCaPem: publishedCaBundle(home),
    accessLogDir: paths.logs,
    gateway: renewer.gateway,
    runtime: () => ({ ...tokens.runtime(), tunnels, probes: prober, taskPorts: taskRuntime?.taskPorts() ?? [] }),
    onTranslated: (ir) => {
      void tunnels.sync(ir).catch((err) => log.error({ err }, 'reverse tunnels: could not start'));
      if (replication.leadership.isLeader) prober.sync(ir); // link probes: singleton work
    },
    // One writer of conditions per domain (the leader): replicas' views differ (probes run on the leader only).
    onStatuses: (statuses) => { if (replication.leadership.isLeader) statusWriter.write(statuses); },
  });
  reconciler.reconcile();
  let jobsLeader: { start: () => Promise<void>; stop: () => Promise<void> } | undefined; // set once the jobs parts exist, below
  await replication.start({
    elected: () => { renewer.reload(); renewer.start(); tokens.leadershipChanged(); reconciler!.schedule(); void jobsLeader?.start().catch((err: unknown) => log.error({ err }, 'jobs: could not start on this leader')); },
    deposed: () => { renewer.stop(); prober.pause(); tokens.leadershipChanged(); void jobsLeader?.stop().catch((err: unknown) => log.error({ err }, 'jobs: could not stop on losing leadership')); },
    tokensChanged: () => reconciler!.schedule(),
    issuedTokensChanged: (source, state) => tokens.issuedElsewhere(source, state),
    certsChanged: () => { renewer.reload(); reconciler!.setGateway(renewer.gateway); reconciler!.setOwnCa(publishedCaBundle(home)); },
  });
  metrics.tokens = () => tokens.states();
  metrics.certificates = () => {
    const s = renewer.status();
    const partners = cache.list('Domain').flatMap((d) => {
      const cert = (d.spec as { cert?: string }).cert;
      if (!cert || d.metadata.name === config.domain) return [];
      try {
        const notAfter = Math.min(...splitPemCertificates(decodePartnerCa(cert)).map((c) => inspectCertificate(c).notAfter.getTime()));
        return [{ cert: `partner-${d.metadata.name}`, notAfter: new Date(notAfter) }];
      } catch {
        return [];
      }
    });
    return [{ cert: 'gateway', notAfter: s.gateway.notAfter }, { cert: 'ca', notAfter: s.ca.notAfter }, ...partners];
  };
  metrics.routes = () => routeReadiness(config.domain, cache.list(), reconciler.outcome.statuses);
  await ads.listenUnix(paths.xdsSocket);
  if (config.listeners.xds) await ads.listen(config.listeners.xds.address, config.listeners.xds.port); // optional, secret required too
  await tokens.start();
  const diagnose = await startDiagnoseServer(diagnoseSocket(paths.run), config.domain, log);

  // The DataMesh: engines' data through Ferry, on loopback, with per-task credentials (docs/datamesh.md).
  const dataMesh = await startNodeDataMesh(home, config, store, log.child({ component: 'datamesh' }));
  // Jobs and their runtime: controllers over the store, like the gateway. Every
  // replica answers partners (the inbox writes to the store); the leader alone
  // runs the controllers (started and stopped with leadership, below).
  const interopClient = new InteropClient({ host: internalHost, port: config.listeners.internal.port });
  const jobs = new JobsController({
    store, self: config.domain,
    // A job is admitted only when the grants allow its tasks' reads of this domain's data.
    admit: async (name, spec) => {
      const local = new Set((await store.list('DomainData')).items.map((d) => d.metadata.name));
      return dataMesh.admitJob(jobAdmission(config.domain, name, spec, (id) => local.has(id)));
    }, client: interopClient, policy: approvalPolicy(config.jobs?.autoApprove), log: log.child({ component: 'jobs' }),
    ...(process.env.FERRY_JOB_RESYNC_MS ? { resyncMs: Number(process.env.FERRY_JOB_RESYNC_MS) } : {}),
    ...(config.jobs?.partyTimeoutSeconds ? { partyTimeoutMs: config.jobs.partyTimeoutSeconds * 1000 } : {}),
  });
  const runtime = new RuntimeController({
    store, self: config.domain, tasksDir: join(paths.data, 'tasks'), logsDir: join(paths.logs, 'tasks'), log: log.child({ component: 'runtime' }),
    internalHost, onPortsChanged: () => reconciler?.schedule(true),
    gatewayReady: async () => { await cache.waitFor(await store.revision()); await reconciler!.installNow(); }, limits: { mode: taskLimitsMode }, ...(taskUser ? { taskUser } : {}), dataMesh,
  });
  taskRuntime = runtime;
  const interop = await startInteropServer(interopSocket(paths.run), config.domain, jobs, log);
  // Grants: pushed signed to their grantees (ferry-datamesh.<peer>.svc), received from authors here.
  const grantServer = await startGrantServer(datameshSocket(paths.run), config.domain, store, log);
  const grantSync = new GrantSync({ store, self: config.domain, gateway: { host: internalHost, port: config.listeners.internal.port }, domainKey: () => readCa(home).keyPem, log: log.child({ component: 'datamesh-grants' }) });
  await grantSync.start();
  jobsLeader = { start: async () => { await runtime.start(); await jobs.start(); }, stop: async () => { await jobs.stop(); await runtime.stop(); } };
  if (replication.leadership.isLeader) await jobsLeader.start();

  const supervisor = new EnvoySupervisor({ ...(envoy.bin ? { envoyBin: envoy.bin } : { external: true }), bootstrapPath: paths.bootstrap, logDir: paths.logs, config, local: { adminSocket: paths.adminSocket, xdsSocket: paths.xdsSocket, xdsSecret: secret }, log: log.child({ component: 'supervisor' }), onRestart: () => metrics.envoyRestarts.inc(), onWriteError: (what, err) => failures.record(what, err) });
  await supervisor.start();

  const status = async (): Promise<NodeStatus> => {
    const l = config.listeners;
    return {
      domain: config.domain,
      listeners: { public: `${l.public.address}:${l.public.port}`, internal: `${l.internal.address}:${l.internal.port}`, api: `${l.api.address}:${l.api.port}` },
      envoy: { pid: supervisor.pid, ready: await supervisor.envoyReady(), adopted: supervisor.adopted, restarts: supervisor.restarts, lastExit: supervisor.lastExit },
      xds: { snapshotVersion: reconciler.outcome.snapshotVersion, converged: ads.converged() && !reconciler.pending, proxies: ads.proxies(), recentNacks: ads.nacks.slice(-10) },
      ...(reconciler.outcome.error ? { translationError: reconciler.outcome.error } : {}),
      conditions: failures.conditions(),
      resources: reconciler.outcome.statuses,
      store: await replication.status(cache.revision),
    };
  };

  // KusciaAPI (docs/kusciaapi.md): its HTTP calls on the REST listener unless given a port of their own.
  const kusciaApi = kusciaApiServers(home, config, { store, domain: config.domain, seen: async () => { await cache.waitFor(await store.revision()); }, resolveData: (id) => dataMesh.mesh.resolve(id) }, log);
  const api = await buildApi({ config, store, cache, apiToken: readApiToken(home), status, metrics, certs: renewer, log, taskLogs: runtime.logsDir, sourceKey: dataSourceKey(home, config), linkCheck: (peer) => prober.describe(peer), ...(process.env.FERRY_TRAFFIC_SAMPLE_MS ? { trafficIntervalMs: Number(process.env.FERRY_TRAFFIC_SAMPLE_MS) } : {}), ...(kusciaApi?.plugin ? { plugins: [kusciaApi.plugin] } : {}) });
  await api.listen({ host: config.listeners.api.address, port: config.listeners.api.port });
  await kusciaApi?.listen();
  const stopRotation = startRotation({
    dir: paths.logs,
    maxBytes: Number(process.env.FERRY_LOG_MAX_BYTES ?? 64 * 1024 * 1024),
    keep: 5,
    checkEveryMs: Number(process.env.FERRY_LOG_CHECK_MS ?? 30_000),
    reopen: {
      envoy: async () => {
        await adminRequest({ socket: paths.adminSocket }, '/reopen_logs', { method: 'POST', timeoutMs: 5000 });
      },
      node: () => logFiles.get(log)?.reopen(),
    },
    log: log.child({ component: 'logs' }),
  });
  writeFileSync(paths.pid, `${process.pid}\n`);
  log.info({ domain: config.domain, envoy: envoy.version, api: `http://${config.listeners.api.address}:${config.listeners.api.port}` }, 'Ferry node started');

  let stopped = false;
  return {
    config,
    status,
    dataMesh,
    stop: async ({ keepEnvoy = false } = {}) => {
      if (stopped) return;
      stopped = true;
      await replication.stop();
      reconciler.stop();
      renewer.stop();
      stopRotation();
      await tokens.stop();
      await tunnels.stop();
      prober.stop();
      await diagnose.close();
      await jobsLeader.stop();
      await interop.close();
      await grantSync.stop();
      await grantServer.close();
      await dataMesh.close();
      interopClient.close();
      if (keepEnvoy) supervisor.detach();
      else await supervisor.stop();
      await kusciaApi?.close();
      await api.close();
      await ads.close();
      cache.stop();
      await statusWriter.idle();
      await store.close();
      rmSync(paths.pid, { force: true });
      log.info(keepEnvoy ? 'Ferry node stopped; Envoy serves on for the next start to adopt' : 'Ferry node stopped');
      removeGuard();
    },
  };
}
