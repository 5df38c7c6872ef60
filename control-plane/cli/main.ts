// The `ferry` command line (shared/DESIGN.md "CLI contract").
// Every failure is one line naming the cause, with a non-zero exit code.
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { assertNoNodeRunning, defaultConfig, homePaths, readConfig, runningNodePid, DEFAULT_PORTS, type NodeConfig } from '../config.ts';
import { resolveKind } from '../resources/kinds.ts';
import { decodeUtf8, parseDocuments } from '../../interop/documents.ts';
import { ApiClient, NodeNotRunning } from './client.ts';
import { formatCerts, formatDescribe, formatDiagnosis, formatList, formatStatus } from './format.ts';
import type { NodeStatus } from '../api/status.ts';
import { JOB_USAGE } from './job.ts';

/** Same default as the API's (control-plane/api/server.ts); kept here so the CLI does not load Fastify. */
const DEFAULT_CA_OVERLAP = '72h';

// Heavy modules (Envoy protos, certificate code, the node itself) load only in
// the commands that need them, so get/describe/status answer quickly.
const home_ = () => import('../home.ts');

const USAGE = `ferry: cross-domain gateway mesh for privacy computing

  ferry init <domain> --home DIR [--public-port N] [--internal-port N] [--api-port N] [--admin-port N] [--xds-port N]
             [--bind ADDR] [--ca-cert FILE --ca-key FILE] [--api-token-file FILE]   (an existing CA/token, e.g. from a Kubernetes Secret)
             [--kusciaapi-http-port N] [--kusciaapi-grpc-port N]   KusciaAPI (default: HTTP on the API port; gRPC 8083 with the default API port, else only when given)
             [--kusciaapi-protocol NOTLS|TLS|MTLS] [--kusciaapi-address ADDR] [--kusciaapi-sans NAME,IP,...]
                 KusciaAPI's TLS as Kuscia's (default NOTLS, loopback); beyond loopback needs TLS or MTLS and an HTTP port of its own
             [--store etcd://HOST:2379[,HOST2:2379...] [--etcd-ca F --etcd-cert F --etcd-key F] --store-key-file F]
  ferry start --home DIR [--external-envoy]   (--external-envoy: Envoy runs elsewhere with <home>/run/envoy-bootstrap.json)
  ferry stop --home DIR [--keep-envoy]             --keep-envoy: Envoy serves on; the next start adopts it (hitless restart)
  ferry cert export --home DIR
  ferry cert status --home DIR [-o json]           expiries, issuers, next renewal
  ferry cert rotate --home DIR                     issue a new gateway certificate now
  ferry cert rotate --ca [--overlap 72h] --home DIR  start a CA rotation: export prints old+new until the new CA takes over
  ferry cert rotate --ca --finish --home DIR       the new CA takes over now (partners must trust it)
  ferry apply --home DIR -f FILE|- [--wait]   (--wait: until Envoy acknowledged it)
  ferry get <kind> [name] --home DIR [-o json|yaml]
  ferry describe <kind> <name> --home DIR
  ferry delete <kind> <name> --home DIR
  ferry status --home DIR [-o json|yaml]
  ferry store check --home DIR                     integrity of the store, and whether it is this node's
  ferry store migrate --to etcd://H:2379[,...]|embedded --home DIR [--force] [--etcd-ca F --etcd-cert F --etcd-key F] [--store-key-file F]
  ferry logs --home DIR [--peer DOMAIN] [--status 5xx|404|...] [--follow] [-o json]
  ferry diagnose network <peer> --home DIR [--bytes 16MiB] [--max-body 64MiB] [--idle 5s] [-o json]
  ferry demo [psi] [--keep]
${JOB_USAGE}

kinds: domain, clusterdomainroute (route, cdr), domainroute (dr), service (svc), kusciajob (job, kj), kusciatask (task, kt), appimage`;

class UsageError extends Error {}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === '') throw new UsageError(`missing ${what}`);
  return value;
}

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${flag}: "${value}" is not a port number (1-65535)`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(argv);
  const [command, ...args] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  await run(command, args, values);
}

function parseCommandLine(argv: string[]) {
  try {
    return parseOptions(argv);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}`);
  }
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      home: { type: 'string' },
      file: { type: 'string', short: 'f' },
      output: { type: 'string', short: 'o' },
      keep: { type: 'boolean' },
      'keep-envoy': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      'public-port': { type: 'string' },
      'internal-port': { type: 'string' },
      'api-port': { type: 'string' },
      'admin-port': { type: 'string' },
      'xds-port': { type: 'string' },
      bind: { type: 'string' },
      'ca-cert': { type: 'string' },
      'ca-key': { type: 'string' },
      'api-token-file': { type: 'string' },
      'external-envoy': { type: 'boolean' },
      'kusciaapi-http-port': { type: 'string' },
      'kusciaapi-grpc-port': { type: 'string' },
      'kusciaapi-protocol': { type: 'string' },
      'kusciaapi-address': { type: 'string' },
      'kusciaapi-sans': { type: 'string' },
      wait: { type: 'boolean' },
      peer: { type: 'string' },
      status: { type: 'string' },
      follow: { type: 'boolean' },
      ca: { type: 'boolean' },
      overlap: { type: 'string' },
      finish: { type: 'boolean' },
      bytes: { type: 'string' },
      'max-body': { type: 'string' },
      store: { type: 'string' },
      'etcd-ca': { type: 'string' },
      'etcd-cert': { type: 'string' },
      'etcd-key': { type: 'string' },
      'store-key-file': { type: 'string' },
      to: { type: 'string' },
      force: { type: 'boolean' },
      idle: { type: 'string' },
      reason: { type: 'string' },
      task: { type: 'string' },
      party: { type: 'string' },
    },
  });
}

async function run(command: string, args: string[], values: ReturnType<typeof parseOptions>['values']): Promise<void> {
  const home = () => need(values.home, '--home DIR');
  const output = values.output;
  if (output !== undefined && !['json', 'yaml'].includes(output)) throw new UsageError(`-o: "${output}" is not an output format: use json or yaml`);

  switch (command) {
    case 'init': {
      const domain = need(args[0], '<domain>');
      const { initHome } = await home_();
      // Checked before anything is written: a bad --store leaves no half-made home.
      const storeConfig = values.store ? (await import('./store-flags.ts')).storeFromFlags(values.store, domain, values) : undefined;
      if (!values['ca-cert'] !== !values['ca-key']) throw new UsageError('--ca-cert and --ca-key go together (the CA certificate and its key)');
      if (values.bind !== undefined && !isIP(values.bind)) throw new UsageError(`--bind: "${values.bind}" is not an IP address (e.g. 0.0.0.0 or 127.0.0.1)`);
      const read = (flag: 'ca-cert' | 'ca-key' | 'api-token-file') => {
        try {
          return readFileSync(values[flag]!, 'utf8');
        } catch (e) {
          throw new UsageError(`--${flag}: cannot read ${values[flag]} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
        }
      };
      const ports = {
        public: port(values['public-port'], '--public-port') ?? DEFAULT_PORTS.public,
        internal: port(values['internal-port'], '--internal-port') ?? DEFAULT_PORTS.internal,
        api: port(values['api-port'], '--api-port') ?? DEFAULT_PORTS.api,
        // Envoy admin and xDS: Unix sockets in <home>/run; a TCP port only when asked for.
        ...(values['admin-port'] !== undefined ? { envoyAdmin: port(values['admin-port'], '--admin-port')! } : {}),
        ...(values['xds-port'] !== undefined ? { xds: port(values['xds-port'], '--xds-port')! } : {}),
        // Kuscia's 8083 beside Kuscia's 8082; a node on other ports (several homes on one host) serves gRPC only when given a port.
        ...(values['kusciaapi-grpc-port'] !== undefined || values['api-port'] === undefined || Number(values['api-port']) === DEFAULT_PORTS.api
          ? { kusciaApiGrpc: port(values['kusciaapi-grpc-port'], '--kusciaapi-grpc-port') ?? DEFAULT_PORTS.kusciaApiGrpc }
          : {}),
        ...(values['kusciaapi-http-port'] ? { kusciaApiHttp: port(values['kusciaapi-http-port'], '--kusciaapi-http-port')! } : {}),
      };
      // KusciaAPI's protocol and address, checked on the config they make before anything is written.
      const kusciaTls = {
        ...(values['kusciaapi-protocol'] !== undefined ? { protocol: values['kusciaapi-protocol'].toUpperCase() as 'NOTLS' } : {}),
        ...(values['kusciaapi-address'] !== undefined ? { address: values['kusciaapi-address'] } : {}),
        ...(values['kusciaapi-sans'] !== undefined ? { sans: values['kusciaapi-sans'].split(',').map((x) => x.trim()) } : {}),
      };
      const withKuscia = (c: NodeConfig): NodeConfig => (Object.keys(kusciaTls).length ? { ...c, kusciaApi: { ...c.kusciaApi, ...kusciaTls } } : c);
      if (Object.keys(kusciaTls).length) {
        const { kusciaApiSettings } = await import('../kusciaapi/tls.ts');
        const planned = defaultConfig(domain, ports);
        if (values.bind) planned.listeners.internal.address = planned.listeners.api.address = values.bind;
        try {
          kusciaApiSettings(withKuscia(planned));
        } catch (e) {
          throw new UsageError((e as Error).message.replace(/^kusciaApi\.(\w+) in ferry\.yaml/, (_m, f: string) => `--kusciaapi-${({ httpPort: 'http-port', address: 'address', protocol: 'protocol', sans: 'sans' } as Record<string, string>)[f] ?? f}`));
        }
      }
      const made = initHome(home(), domain, ports, {
        ...(values['ca-cert'] ? { ca: { certPem: read('ca-cert'), keyPem: read('ca-key') } } : {}),
        ...(values['api-token-file'] ? { apiToken: read('api-token-file').trim() } : {}),
        ...(values.bind ? { bind: values.bind } : {}),
      });
      const config = withKuscia(made);
      if (config !== made && !storeConfig) (await import('../config.ts')).writeConfig(home(), config);
      if (storeConfig) {
        const { writeConfig } = await import('../config.ts');
        writeConfig(home(), { ...config, ...storeConfig });
        console.log(`store: ${values.store} (keys under ${storeConfig.store.prefix}); secrets in it sealed with ${storeConfig.storeKeyFile}`);
      }
      console.log(`initialised domain ${config.domain} in ${home()}: CA and gateway certificate in ${homePaths(home()).certs}`);
      console.log(`next: \`ferry start --home ${home()}\`, and give partners the output of \`ferry cert export --home ${home()}\``);
      return;
    }
    case 'start': {
      const h = home();
      readConfig(h); // fail early, in one line, when the home is not initialised
      assertNoNodeRunning(h);
      // A full or read-only disk: say so in one line, not as a bare errno (or as a store "disk I/O error").
      const { errorCode, describeWriteError } = await import('../write-failures.ts');
      const diskProblem = (e: unknown) => errorCode(e) !== 'error' && Boolean((e as NodeJS.ErrnoException).syscall);
      const cannotStart = (e: unknown) => new Error(`cannot start the node for ${h}: ${describeWriteError(e)}; free space (or fix the filesystem) and start again`);
      try {
        writeFileSync(homePaths(h).pid, `${process.pid}\n`); // the node writes it first anyway: a probe that the home takes writes
      } catch (e) {
        (e as NodeJS.ErrnoException).path ??= homePaths(h).pid;
        if (diskProblem(e)) throw cannotStart(e);
        throw e;
      }
      // Refuse a store the node must not start on before the log file opens: an exit
      // while the asynchronous log stream is still opening printed a stray stack trace.
      await (await (await import('../store/open.ts')).openStore(h, readConfig(h))).close();
      const { startNode, nodeLogger } = await import('../node.ts');
      let node: Awaited<ReturnType<typeof startNode>>;
      try {
        node = await startNode(h, nodeLogger(h), { externalEnvoy: values['external-envoy'] ?? false });
      } catch (e) {
        if (!diskProblem(e)) throw e;
        throw cannotStart(e);
      }
      // SIGTERM, SIGINT: stop the node and its Envoy. SIGUSR2 (`ferry stop --keep-envoy`):
      // stop the node only; Envoy serves on and the next start adopts it (docs/operations.md).
      const stop = (keepEnvoy: boolean) => () => { node.stop({ keepEnvoy }).then(() => process.exit(0), () => process.exit(1)); };
      process.once('SIGINT', stop(false));
      process.once('SIGTERM', stop(false));
      process.once('SIGUSR2', stop(true));
      return;
    }
    case 'stop': {
      const h = home();
      readConfig(h);
      await stopNode(h, Boolean(values['keep-envoy']));
      return;
    }
    case 'cert': {
      const h = home();
      if (args[0] === 'export') {
        // During a CA rotation: the current and the next CA, which partners must both trust.
        process.stdout.write((await import('../ca-rotation.ts')).publishedCaBundle(h));
        return;
      }
      if (args[0] !== 'rotate' && (values.ca || values.overlap || values.finish)) throw new UsageError('--ca, --overlap and --finish belong to `ferry cert rotate`');
      if (!values.ca && (values.overlap || values.finish)) throw new UsageError('--overlap and --finish apply to a CA rotation: add --ca');
      if (args[0] !== 'status' && args[0] !== 'rotate') throw new UsageError(`unknown cert command "${args[0] ?? ''}": use export, status or rotate`);
      const rotate = args[0] === 'rotate';
      let status: import('../cert-renewer.ts').CertStatus;
      try {
        const body = values.ca ? { ca: true, ...(values.finish ? { finish: true } : { overlap: values.overlap ?? DEFAULT_CA_OVERLAP }) } : undefined;
        status = await new ApiClient(h).call(rotate ? 'POST' : 'GET', rotate ? '/api/v1/certs/rotate' : '/api/v1/certs', body);
      } catch (e) {
        if (!(e instanceof NodeNotRunning) || runningNodePid(h)) throw e;
        // No node runs for this home: read (or renew) the files directly.
        const { CertRenewer } = await import('../cert-renewer.ts');
        const { parseDuration } = await import('../resources/validate.ts');
        const { parseOverlap } = await import('../api/server.ts');
        const config = readConfig(h);
        const pino = (await import('pino')).default;
        const renewer = new CertRenewer({ home: h, domain: config.domain, lifetimeSeconds: parseDuration(config.gatewayCertLifetime ?? '24h') ?? 86400, log: pino({ level: 'silent' }), onRenewed: () => {} });
        if (rotate && values.ca && values.finish) renewer.finishCaRotation('ferry cert rotate --ca --finish');
        else if (rotate && values.ca) renewer.startCaRotation(parseOverlap(values.overlap));
        else if (rotate) renewer.renew('ferry cert rotate');
        renewer.stop();
        status = renewer.status();
      }
      if (output === 'json') console.log(JSON.stringify(status, null, 2));
      else console.log(formatCerts(status, rotate ? (values.ca ? (values.finish ? 'ca-finished' : 'ca-started') : 'gateway') : undefined));
      return;
    }
    case 'apply': {
      const file = need(values.file, '-f FILE (or -f - for standard input)');
      const text = decodeUtf8(readFileSync(file === '-' ? 0 : file), file === '-' ? 'stdin' : file); // invalid UTF-8 is refused, not turned into U+FFFD
      const docs = parseDocuments(text, file === '-' ? 'stdin' : file);
      const h = home();
      let results: { kind: string; name: string; action: string }[];
      let online = true;
      try {
        results = (await new ApiClient(h).call<{ results: typeof results }>('POST', '/api/v1/apply', { resources: docs })).results;
      } catch (e) {
        if (!(e instanceof NodeNotRunning)) throw e;
        const pid = runningNodePid(h);
        if (pid) throw new Error(`the node for ${h} is running (pid ${pid}) but its API does not answer (${e.message.split(' (')[1]?.split(')')[0] ?? 'no answer'}); retry when \`ferry status\` answers`);
        // No node runs for this home: write to its store; it takes effect at start.
        const { openStore } = await import('../store/open.ts');
        const { applyDocuments } = await import('../resources/apply.ts');
        const store = await openStore(h, readConfig(h));
        try {
          const { dataSourceKey } = await import('../datamesh/secrets.ts');
          results = await applyDocuments(store, docs, { domain: readConfig(h).domain, sourceKey: dataSourceKey(h, readConfig(h)) });
        } finally {
          await store.close();
        }
        online = false;
        console.error('node not running: applied to its store; takes effect when it starts');
      }
      for (const r of results) console.log(`${r.kind.toLowerCase()}/${r.name} ${r.action}`);
      if (values.wait && online) await waitApplied(new ApiClient(h), results);
      return;
    }
    case 'get': {
      const kind = resolveKind(need(args[0], '<kind>'));
      const name = args[1];
      const client = new ApiClient(home());
      const items = name
        ? [await client.call<Record<string, unknown>>('GET', `/api/v1/resources/${kind}/${encodeURIComponent(name)}`)]
        : (await client.call<{ items: Record<string, unknown>[] }>('GET', `/api/v1/resources/${kind}`)).items;
      if (output === 'json') console.log(JSON.stringify(name ? items[0] : items, null, 2));
      else if (output === 'yaml') console.log(items.map((i) => YAML.stringify(i)).join('---\n').trimEnd());
      else console.log(formatList(items as never));
      return;
    }
    case 'describe': {
      const kind = resolveKind(need(args[0], '<kind>'));
      const name = need(args[1], '<name>');
      const item = await new ApiClient(home()).call<Record<string, unknown>>('GET', `/api/v1/resources/${kind}/${encodeURIComponent(name)}`);
      console.log(formatDescribe(item as never));
      return;
    }
    case 'delete': {
      const kind = resolveKind(need(args[0], '<kind>'));
      const name = need(args[1], '<name>');
      await new ApiClient(home()).call('DELETE', `/api/v1/resources/${kind}/${encodeURIComponent(name)}`);
      console.log(`${kind.toLowerCase()}/${name} deleted`);
      return;
    }
    case 'store': {
      const h = home();
      if (args[0] === 'check') {
        const { checkStore, checkSharedStore } = await import('../store/check.ts');
        const shared = readConfig(h).store;
        const result = shared ? await checkSharedStore(h, shared) : checkStore(h);
        console.log(result.lines.join('\n'));
        if (!result.ok) process.exitCode = 1;
        return;
      }
      if (args[0] === 'migrate') {
        const to = need(values.to, '--to etcd://HOST:2379[,...] or --to embedded');
        assertNoNodeRunning(h);
        const { migrateStore } = await import('./store-flags.ts');
        console.log(await migrateStore(h, to, values));
        return;
      }
      throw new UsageError(`store: "${args[0] ?? ''}" is not a store command: use check or migrate`);
    }
    case 'job': {
      const { jobCommand } = await import('./job.ts');
      return jobCommand(args, { home: home(), ...(values.file ? { file: values.file } : {}), ...(output ? { output } : {}), ...(values.reason ? { reason: values.reason } : {}), ...(values.task ? { task: values.task } : {}), ...(values.party ? { party: values.party } : {}), ...(values.follow ? { follow: true } : {}) }, (m) => new UsageError(m));
    }
    case 'status': {
      const s = await new ApiClient(home()).call<NodeStatus>('GET', '/api/v1/status');
      console.log(output === 'json' ? JSON.stringify(s, null, 2) : output === 'yaml' ? YAML.stringify(s) : formatStatus(s));
      return;
    }
    case 'diagnose': {
      if (args[0] !== 'network') throw new UsageError(`unknown diagnose command "${args[0] ?? ''}": use \`ferry diagnose network <peer>\``);
      const peer = need(args[1], '<peer> (the partner domain to check)');
      if (output === 'yaml') throw new UsageError('-o: diagnose prints a report, or json with -o json');
      const h = home();
      const config = readConfig(h);
      const { diagnoseNetwork, DIAGNOSE_DEFAULTS } = await import('../diagnose/client.ts');
      const { parseDuration } = await import('../resources/validate.ts');
      const size = (v: string | undefined, flag: string, fallback: number) => {
        if (v === undefined) return fallback;
        const m = /^(\d+)(KiB|MiB|GiB|B)?$/.exec(v);
        if (!m || Number(m[1]) < 1) throw new UsageError(`${flag}: "${v}" is not a size such as 16MiB, 512KiB or 1GiB`);
        return Number(m[1]) * ({ B: 1, KiB: 1024, MiB: 2 ** 20, GiB: 2 ** 30 }[m[2] ?? 'B'] ?? 1);
      };
      const idle = values.idle === undefined ? DIAGNOSE_DEFAULTS.idleSeconds : parseDuration(values.idle);
      if (idle === undefined || idle > 3600) throw new UsageError(`--idle: "${values.idle}" is not a duration up to 1h, such as 5s or 2m`);
      const host = ['0.0.0.0', '::'].includes(config.listeners.internal.address) ? '127.0.0.1' : config.listeners.internal.address;
      const report = await diagnoseNetwork({ host, port: config.listeners.internal.port, domain: config.domain }, peer, {
        ...DIAGNOSE_DEFAULTS,
        downloadBytes: Math.min(size(values.bytes, '--bytes', DIAGNOSE_DEFAULTS.downloadBytes), 256 * 2 ** 20),
        maxBodyBytes: Math.min(size(values['max-body'], '--max-body', DIAGNOSE_DEFAULTS.maxBodyBytes), 1024 * 2 ** 20),
        idleSeconds: idle,
      });
      if (output === 'json') console.log(JSON.stringify(report, null, 2));
      else console.log(formatDiagnosis(config.domain, report));
      if (!report.ok) process.exitCode = 1;
      return;
    }
    case 'logs': {
      const h = home();
      readConfig(h);
      if (output === 'yaml') throw new UsageError('-o: logs prints text or json lines (-o json)');
      const { showLogs, parseStatusFilter } = await import('./logs.ts');
      try {
        parseStatusFilter(values.status);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      await showLogs(h, { peer: values.peer, status: values.status, follow: values.follow, json: output === 'json' });
      return;
    }
    case 'demo':
      if (args[0] !== undefined && args[0] !== 'psi') throw new UsageError(`demo: "${args[0]}" is not a demo part: give none (everything) or psi`);
      await (await import('./demo.ts')).runDemo({ keep: Boolean(values.keep), part: args[0] === 'psi' ? 'psi' : 'all' });
      return;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/**
 * Stops the node running for `home` (SIGTERM, or SIGUSR2 to keep Envoy) and
 * waits until it is gone. Without a node, `ferry stop` stops an Envoy that a
 * `--keep-envoy` stop (or a crash) left running, unless told to keep it.
 */
async function stopNode(home: string, keepEnvoy: boolean): Promise<void> {
  const { processAlive } = await import('../supervisor/envoy-supervisor.ts');
  const gone = async (pid: number, what: string, seconds: number) => {
    const deadline = Date.now() + seconds * 1000;
    while (processAlive(pid)) {
      if (Date.now() > deadline) throw new Error(`${what} (pid ${pid}) did not stop within ${seconds} s; look at ${homePaths(home).logs}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const pid = runningNodePid(home);
  if (pid) {
    process.kill(pid, keepEnvoy ? 'SIGUSR2' : 'SIGTERM');
    await gone(pid, 'the node', 30);
    console.log(keepEnvoy ? `node stopped (pid ${pid}); Envoy serves on until the next \`ferry start --home ${home}\` adopts it` : `node stopped (pid ${pid})`);
    return;
  }
  const leftEnvoy = (): number | undefined => {
    try {
      const p = Number(readFileSync(`${homePaths(home).run}/envoy.pid`, 'utf8').trim());
      return p > 0 && processAlive(p) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(homePaths(home).bootstrap) ? p : undefined;
    } catch {
      return undefined;
    }
  };
  const envoyPid = leftEnvoy();
  if (!keepEnvoy && envoyPid) {
    process.kill(envoyPid, 'SIGTERM');
    await gone(envoyPid, 'Envoy', 15);
    console.log(`no node was running; stopped its Envoy (pid ${envoyPid})`);
    return;
  }
  console.log(`no node is running for ${home}`);
}

/**
 * Waits (60 s at most) until the node reports its Envoy acknowledged the
 * current configuration, then fails with the cause (Envoy's own message) if
 * one of the applied resources was left out of it. A refusal that nothing
 * could be blamed for fails after 5 s with Envoy's message, not after 60 s.
 */
async function waitApplied(client: ApiClient, applied: { kind: string; name: string }[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  let refusedSince: number | undefined;
  for (;;) {
    const r = await client.request<{ ready: boolean; reasons: string[] }>('GET', '/readyz');
    if (r.body?.ready) break;
    const refusal = r.body?.reasons?.find((x) => x.startsWith('Envoy refused'));
    refusedSince = refusal ? (refusedSince ?? Date.now()) : undefined;
    if (refusal && Date.now() - refusedSince! > 5_000) throw new Error(`not applied: ${refusal}`);
    if (Date.now() > deadline) throw new Error(`not applied after 60 s: ${r.body?.reasons?.join('; ') ?? 'no answer'}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const left: string[] = [];
  for (const a of applied) {
    const item = await client.call<{ status?: { reason?: string; fix?: string; isolated?: boolean } }>('GET', `/api/v1/resources/${a.kind}/${encodeURIComponent(a.name)}`).catch(() => undefined);
    if (item?.status?.isolated) left.push(`${a.kind.toLowerCase()}/${a.name}: ${item.status.reason}${item.status.fix ? ` (fix: ${item.status.fix})` : ''}`);
  }
  if (left.length) throw new Error(`applied, but left out of Envoy's configuration (everything else is served): ${left.join('; ')}`);
}

main(process.argv.slice(2)).catch((e: Error) => {
  const message = e.message.split('\n')[0];
  console.error(`ferry: error: ${message}${e instanceof UsageError ? ' (`ferry --help` lists the commands)' : ''}`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
