// The Helm chart's test support: finds helm/kubeconform/schemas (installed by
// scripts/k8s-tools.sh), renders charts/ferry with given values and parses the
// manifests, validates them against the Kubernetes API schemas.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { ROOT } from '../support/harness.ts';

export const CHART = join(ROOT, 'charts', 'ferry');
/** The Kubernetes versions the manifests are checked against (oldest supported, newest). */
export const KUBE_VERSIONS = ['1.30.0', '1.37.0'];

export interface K8sTools { helm: string; kubeconform: string; schemas: string }

/** The tools, or why they are missing (the tests skip with that reason). */
export function k8sTools(): K8sTools | string {
  const dir = process.env.FERRY_K8S_TOOLS ?? join(ROOT, '.tools', 'k8s');
  const tools = { helm: join(dir, 'bin', 'helm'), kubeconform: join(dir, 'bin', 'kubeconform'), schemas: join(dir, 'schemas') };
  const missing = Object.entries(tools).filter(([, p]) => !existsSync(p)).map(([n, p]) => `${n} (${p})`);
  return missing.length ? `not installed: ${missing.join(', ')}; scripts/k8s-tools.sh installs them with Go and pip` : tools;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  data?: Record<string, string>;
  [key: string]: unknown;
}

export interface Rendered { text: string; objects: K8sObject[] }

function run(cmd: string, args: string[], input?: string) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 120_000, maxBuffer: 64 * 2 ** 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function withValues<T>(values: object, fn: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-helm-values-'));
  try {
    const file = join(dir, 'values.yaml');
    writeFileSync(file, YAML.stringify(values));
    return fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `helm template`: the manifests, or helm's error. */
export function template(tools: K8sTools, values: object, release = 'ferry', namespace = 'alice'): Rendered | { error: string } {
  return withValues(values, (file) => {
    const r = run(tools.helm, ['template', release, CHART, '-f', file, '--namespace', namespace, '--kube-version', KUBE_VERSIONS[0]!]);
    if (r.code !== 0) return { error: r.stderr.trim() };
    const objects = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).filter(Boolean);
    return { text: r.stdout, objects };
  });
}

export function render(tools: K8sTools, values: object, release?: string, namespace?: string): Rendered {
  const r = template(tools, values, release, namespace);
  if ('error' in r) throw new Error(`helm template failed: ${r.error}`);
  return r;
}

/** `helm lint --strict`: exit code and output. */
export function lint(tools: K8sTools, values: object): { code: number; output: string } {
  return withValues(values, (file) => {
    const r = run(tools.helm, ['lint', '--strict', CHART, '-f', file, '--kube-version', KUBE_VERSIONS[0]!]);
    return { code: r.code, output: r.stdout + r.stderr };
  });
}

/** kubeconform -strict against the offline schemas; kinds without a built-in schema (CRDs) listed in `skip`. */
export function kubeconform(tools: K8sTools, text: string, kubeVersion: string, skip: string[] = []) {
  const location = `${tools.schemas}/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json`;
  const r = run(tools.kubeconform, ['-strict', '-summary', '-output', 'json', '-kubernetes-version', kubeVersion, '-schema-location', location, ...(skip.length ? ['-skip', skip.join(',')] : []), '-'], text);
  const report = JSON.parse(r.stdout || '{}') as { resources?: { kind: string; name: string; status: string; msg: string }[]; summary?: { valid: number; invalid: number; errors: number; skipped: number } };
  return { code: r.code, report, stderr: r.stderr };
}

export const find = (objects: K8sObject[], kind: string, name?: string) => objects.filter((o) => o.kind === kind && (!name || o.metadata.name === name));

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
}
export interface Probe { httpGet?: { path: string; port: string | number }; tcpSocket?: { port: string | number } }
export interface Volume {
  name: string;
  emptyDir?: object;
  secret?: { secretName: string };
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string };
}
export interface PodSpec {
  securityContext?: Record<string, unknown>;
  initContainers?: Container[];
  containers: Container[];
  volumes?: Volume[];
}

/** The pod templates of the workloads (Deployments and Jobs). */
export function podSpecs(objects: K8sObject[]): { owner: string; spec: PodSpec }[] {
  return objects
    .filter((o) => ['Deployment', 'StatefulSet', 'Job', 'DaemonSet'].includes(o.kind))
    .map((o) => ({ owner: `${o.kind}/${o.metadata.name}`, spec: (o.spec as { template: { spec: PodSpec } }).template.spec }));
}
