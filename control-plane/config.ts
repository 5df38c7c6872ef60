// The node's configuration file, <home>/ferry.yaml, written by `ferry init`.
import type { AutoApproveRule } from './jobs/policy.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreConfig } from './store/location.ts';
import YAML from 'yaml';

export interface NodeConfig {
  domain: string;
  listeners: {
    /** The one port partners reach. */
    public: { address: string; port: number };
    /** Local engines call peers here (Host: <svc>.<peer>.svc, or http_proxy). */
    internal: { address: string; port: number };
    /** REST API, /healthz, /readyz, /openapi.json. */
    api: { address: string; port: number };
    /**
     * Optional TCP ports for Envoy's admin API and for xDS (--admin-port,
     * --xds-port). The node itself always uses the Unix sockets in <home>/run
     * (0600); a TCP port is reachable by every local user, so it is off unless
     * asked for (docs/security.md "Local exposure").
     */
    envoyAdmin?: { address: string; port: number };
    xds?: { address: string; port: number };
  };
  /** ADS variant Envoy uses: delta (default) or sotw (state of the world). */
  xdsVariant?: 'delta' | 'sotw';
  /** Lifetime of the gateway certificate, renewed at two thirds of it ("24h" by default; "90s", "30m", ...). */
  gatewayCertLifetime?: string;
  /**
   * Accept plaintext HTTP on the public port, for a TLS-terminating gateway
   * (nginx) in front of it that forwards plain HTTP. Such requests carry no
   * certificate, so only Token routes can authenticate them. Off by default.
   */
  publicPlaintext?: boolean;
  /**
   * Envoy's access logs (docs/observability.md): `successes` is `all` (the
   * default), `none` or a percentage ("10%") of successful requests written;
   * failures (HTTP >= 400, any response flag, gRPC status not OK) always are.
   */
  accessLog?: { successes?: string };
  /** The shared store (etcd) replicas of this domain use; absent: the embedded file <home>/data/ferry.db. */
  store?: StoreConfig;
  /** File holding the key that encrypts secrets kept in a shared store (32 bytes, base64 or hex). */
  storeKeyFile?: string;
  /** Jobs (docs/jobs.md): which partners' jobs are approved without a person. None by default. */
  /**
   * taskLimits: cgroup limits for tasks from their resources (`auto`, the default: when the node can create cgroups; `off`).
   * taskUser: the user tasks run as when the node is root (default `nobody`; `node`: the node's own user).
   */
  jobs?: { autoApprove?: AutoApproveRule[]; partyTimeoutSeconds?: number; taskLimits?: 'auto' | 'off'; taskUser?: string };
  /**
   * KusciaAPI (docs/kusciaapi.md): HTTP on httpPort (on the REST listener
   * when equal or omitted: the paths differ), gRPC on grpcPort (none when
   * omitted), its own listeners on address (127.0.0.1 by default; beyond
   * loopback only with protocol TLS or MTLS, Kuscia's names; NOTLS by
   * default), sans: more names for its server certificate (Kuscia's
   * kusciaAPISans). No block: KusciaAPI is off.
   */
  kusciaApi?: { httpPort?: number; grpcPort?: number; address?: string; protocol?: 'NOTLS' | 'TLS' | 'MTLS'; sans?: string[] };
  /**
   * DataMesh (docs/datamesh.md): its ports on loopback (Kuscia's 8071 for
   * Flight and 8070 for HTTP when omitted and free, else free ones), and
   * data-source plugin files (relative to the home).
   */
  datamesh?: { port?: number; httpPort?: number; address?: string; plugins?: string[] };
}

/** KusciaAPI HTTP shares the API port unless given its own (kusciaApiHttp); gRPC on Kuscia's 8083. */
export const DEFAULT_PORTS = { public: 1080, internal: 1081, api: 8082, envoyAdmin: 10000, xds: 10001, kusciaApiHttp: 8082, kusciaApiGrpc: 8083 } as const;

/** A new node's configuration; the admin and xDS TCP ports only when given (the Unix sockets always exist). */
export function defaultConfig(domain: string, ports: Partial<Record<keyof typeof DEFAULT_PORTS, number>> = {}): NodeConfig {
  const p = { ...DEFAULT_PORTS, ...ports };
  return {
    domain,
    listeners: {
      public: { address: '0.0.0.0', port: p.public },
      internal: { address: '127.0.0.1', port: p.internal },
      api: { address: '127.0.0.1', port: p.api },
      ...(ports.envoyAdmin !== undefined ? { envoyAdmin: { address: '127.0.0.1', port: ports.envoyAdmin } } : {}),
      ...(ports.xds !== undefined ? { xds: { address: '127.0.0.1', port: ports.xds } } : {}),
    },
    // Kuscia's layout: HTTP shares Ferry's REST port (8082), gRPC on 8083.
    // gRPC on 8083 with the default API port; with another API port only when asked (two homes on one host would both take 8083).
    kusciaApi: { httpPort: ports.kusciaApiHttp ?? p.api, ...(ports.kusciaApiGrpc !== undefined || p.api === DEFAULT_PORTS.api ? { grpcPort: p.kusciaApiGrpc } : {}) },
  };
}

/** Paths inside a node's home directory (shared/DESIGN.md "Home directory"). */
export function homePaths(home: string) {
  return {
    config: join(home, 'ferry.yaml'),
    certs: join(home, 'certs'),
    caCert: join(home, 'certs', 'ca.crt'),
    caKey: join(home, 'certs', 'ca.key'),
    gatewayCert: join(home, 'certs', 'gateway.crt'),
    gatewayKey: join(home, 'certs', 'gateway.key'),
    apiToken: join(home, 'api-token'),
    data: join(home, 'data'),
    store: join(home, 'data', 'ferry.db'),
    logs: join(home, 'logs'),
    run: join(home, 'run'),
    bootstrap: join(home, 'run', 'envoy-bootstrap.json'),
    pid: join(home, 'run', 'ferry.pid'),
    /** Unix sockets (paths must stay short: 108 bytes at most). */
    handshakeSocket: join(home, 'run', 'handshake.sock'),
    egressSocket: join(home, 'run', 'egress.sock'),
    /** The control plane's xDS server and Envoy's admin API (0600, in the 0700 run directory). */
    xdsSocket: join(home, 'run', 'xds.sock'),
    adminSocket: join(home, 'run', 'admin.sock'),
    /** The secret Envoy presents on its xDS stream (bootstrap); the server serves no stream without it. */
    xdsSecret: join(home, 'data', 'xds-secret'),
    /** Kuscia tokens issued and obtained (secret: 0600), so a restart keeps them. */
    tokens: join(home, 'data', 'tokens.json'),
  };
}

/** The pid of the node running for this home, if one is (from <run>/ferry.pid). */
export function runningNodePid(home: string): number | undefined {
  try {
    const pid = Number(readFileSync(homePaths(home).pid, 'utf8').trim());
    if (!(pid > 0)) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Refuses a second node for one home: they would fight over ports, store and Envoy. */
export function assertNoNodeRunning(home: string): void {
  const pid = runningNodePid(home);
  if (pid && pid !== process.pid) throw new Error(`a node is already running for ${home} (pid ${pid}): stop it first, or use another --home`);
}

export function readConfig(home: string): NodeConfig {
  const path = homePaths(home).config;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new Error(`no Ferry node at --home ${home} (${path} missing): run \`ferry init <domain> --home ${home}\` first`);
  }
  return YAML.parse(text) as NodeConfig;
}

export function writeConfig(home: string, config: NodeConfig): void {
  writeFileSync(homePaths(home).config, YAML.stringify(config), { mode: 0o600 });
}
