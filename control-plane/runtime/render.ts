// What a task's process gets, rendered from the AppImage and the KusciaTask
// the way Kuscia gives it to a pod (docs/engines.md "Running an engine under
// Ferry"): Kuscia's environment names, config templates, its command line with
// Kubernetes' $(VAR) expansion. The environment is an allow-list: nothing of
// the node's own environment reaches a task. Pure.
import { isAbsolute, join, normalize, relative } from 'node:path';

export interface AppContainer {
  name: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: { name: string; value?: string }[];
  configVolumeMounts?: { mountPath: string; subPath: string }[];
  ports?: { name: string; port?: number; protocol?: 'HTTP' | 'GRPC'; scope?: 'Cluster' | 'Domain' | 'Local' }[];
  resources?: { limits?: { cpu?: string | number; memory?: string | number }; requests?: { cpu?: string | number; memory?: string | number } };
}

export interface AppImageSpec {
  image?: { name?: string; tag?: string; id?: string; sign?: string };
  configTemplates?: Record<string, string>;
  deployTemplates: { name?: string; role?: string; replicas?: number; spec: { containers: AppContainer[]; restartPolicy?: string } }[];
}

export interface TaskParty {
  domainID: string;
  role?: string;
}

export interface RenderInput {
  self: string;
  taskID: string;
  role: string;
  taskInputConfig: string;
  app: AppImageSpec;
  parties: TaskParty[];
  /** Ports allocated on this node, by port name. */
  ports: Record<string, number>;
  /** Where each other party's port is reached from here, by domain then port name ("host:port"). */
  peerEndpoints: Record<string, Record<string, string>>;
  /** The task's own directory on this node. */
  taskDir: string;
}

export interface RenderedTask {
  container: string;
  command: string[];
  cwd: string;
  env: Record<string, string>;
  /** Config files to write, path (absolute, inside taskDir) -> content. */
  files: Record<string, string>;
  ports: { name: string; port: number; protocol: string; scope: string }[];
}

export class RenderError extends Error {}

/** The deploy template for this party's role: the one naming it, else the one without a role. */
function templateFor(app: AppImageSpec, role: string) {
  return app.deployTemplates.find((t) => (t.role ?? '') === role) ?? app.deployTemplates.find((t) => !t.role);
}

/** KUSCIA_PORT_<NAME>_NUMBER, as Kuscia names it. */
export const portEnvName = (port: string) => `KUSCIA_PORT_${port.replace(/-/g, '_').toUpperCase()}_NUMBER`;

/** Kubernetes' $(VAR) expansion: known variables replaced, $$ escapes, unknown ones left as written. */
export function expandVars(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) => (m === '$$' ? '$' : name !== undefined && name in vars ? vars[name]! : m));
}

/**
 * Kuscia's config templates: {{.NAME}} inserts the value escaped for a quoted
 * string (Kuscia quotes values the way Go's strconv.Quote does, without the
 * quotes), {{{.NAME}}} inserts it raw. An unknown name is an error that names it.
 */
export function renderTemplate(file: string, text: string, vars: Record<string, string>): string {
  return text.replace(/\{\{(\{)?-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}(\})?/g, (whole, open: string | undefined, name: string, close: string | undefined) => {
    if (!(name in vars)) throw new RenderError(`configTemplates.${file}: ${whole} is not a task variable (known: ${Object.keys(vars).sort().join(', ')})`);
    const value = vars[name]!;
    if (open && close) return value;
    const quoted = JSON.stringify(value).slice(1, -1);
    return `${open ?? ''}${quoted}${close ?? ''}`;
  });
}

export function renderTask(input: RenderInput): RenderedTask {
  const template = templateFor(input.app, input.role);
  if (!template) throw new RenderError(`deployTemplates: none for role "${input.role}" (roles: ${input.app.deployTemplates.map((t) => JSON.stringify(t.role ?? '')).join(', ')})`);
  const [container, ...more] = template.spec.containers;
  if (!container) throw new RenderError(`deployTemplates[${template.name ?? ''}].spec.containers: give one container`);
  if (more.length) throw new RenderError(`deployTemplates[${template.name ?? ''}].spec.containers: RunP runs one process per party; give one container`);
  if (!container.command?.length) throw new RenderError(`containers[${container.name}].command: is required under RunP (the engine's executable on this node)`);

  const ports = (container.ports ?? []).map((p) => {
    const port = input.ports[p.name];
    if (port === undefined) throw new RenderError(`containers[${container.name}].ports[${p.name}]: no port allocated`);
    return { name: p.name, port, protocol: p.protocol ?? 'HTTP', scope: p.scope ?? 'Local' };
  });

  const clusterDefine = {
    parties: input.parties.map((p) => ({
      name: p.domainID,
      role: p.role ?? '',
      services: p.domainID === input.self
        ? ports.filter((x) => x.scope === 'Cluster').map((x) => ({ portName: x.name, endpoints: [`127.0.0.1:${x.port}`] }))
        : Object.entries(input.peerEndpoints[p.domainID] ?? {}).map(([portName, endpoint]) => ({ portName, endpoints: [endpoint] })),
    })),
    selfPartyIdx: input.parties.findIndex((p) => p.domainID === input.self && (p.role ?? '') === input.role),
    selfEndpointIdx: 0,
  };
  const allocatedPorts = { ports };
  const vars: Record<string, string> = {
    KUSCIA_DOMAIN_ID: input.self,
    TASK_ID: input.taskID,
    TASK_INPUT_CONFIG: input.taskInputConfig,
    TASK_CLUSTER_DEFINE: JSON.stringify(clusterDefine),
    ALLOCATED_PORTS: JSON.stringify(allocatedPorts),
    ...Object.fromEntries(ports.map((p) => [portEnvName(p.name), String(p.port)])),
  };

  // The container's working directory is the task directory; paths under it keep their place.
  const workingDir = container.workingDir ?? '/';
  const place = (mountPath: string): string => {
    if (!isAbsolute(mountPath)) return join(input.taskDir, normalize(mountPath));
    const rel = relative(workingDir, mountPath);
    const inside = !rel.startsWith('..') && !isAbsolute(rel);
    return inside ? join(input.taskDir, rel) : join(input.taskDir, 'root', normalize(mountPath));
  };
  const files: Record<string, string> = {};
  const rewrites: [string, string][] = [];
  for (const m of container.configVolumeMounts ?? []) {
    const text = input.app.configTemplates?.[m.subPath];
    if (text === undefined) throw new RenderError(`containers[${container.name}].configVolumeMounts[${m.mountPath}]: no configTemplates entry "${m.subPath}"`);
    const path = place(m.mountPath);
    if (!path.startsWith(input.taskDir)) throw new RenderError(`configVolumeMounts[${m.mountPath}]: leaves the task directory`);
    files[path] = renderTemplate(m.subPath, text, vars);
    if (isAbsolute(m.mountPath)) rewrites.push([m.mountPath, path]);
  }
  // An absolute mount path in the command line means the rendered file.
  const rewrite = (s: string) => rewrites.reduce((acc, [from, to]) => acc.split(from).join(to), s);

  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: input.taskDir,
    TMPDIR: join(input.taskDir, 'tmp'),
    LANG: 'C.UTF-8',
    ...vars,
  };
  for (const e of container.env ?? []) env[e.name] = rewrite(expandVars(e.value ?? '', env));
  const command = [...container.command, ...(container.args ?? [])].map((a) => rewrite(expandVars(a, env)));
  return { container: container.name, command, cwd: input.taskDir, env, files, ports };
}
