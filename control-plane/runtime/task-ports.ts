// How a task's ports cross domains (docs/engines.md "Running an engine under
// Ferry"). Each Cluster-scope port of this party becomes a Service that only
// the task's other parties may call, for the task's lifetime; each other
// party's Cluster-scope port becomes a local port of this node's internal
// listener mapped to that party's Service, so an engine dials host:port with
// no DNS and no proxy (brpc cannot use one). Pure.
import { createHash } from 'node:crypto';
import { ACCESS_DOMAIN_ANNOTATION, PROTOCOL_ANNOTATION, type ServiceResource } from '../resources/types.ts';
import type { AppContainer, AppImageSpec, TaskParty } from './render.ts';

/** The annotation naming the task a Service was made for: the runtime deletes it when the task ends. */
export const TASK_SERVICE_ANNOTATION = 'ferry.secretflow/task';

/** Kuscia's service name for a task's port: "<prefix>-<port>", "svc-" before a digit, hashed down to 63 characters. */
export function taskServiceName(prefix: string, portName: string): string {
  const p = prefix.replace(/^-+|-+$/g, '');
  const port = portName.replace(/^-+|-+$/g, '');
  let name = `${p}-${port}`;
  if (/^[0-9]/.test(name)) name = `svc-${name}`;
  if (name.length > 63) {
    const hash = createHash('sha256').update(p).digest('hex').slice(0, 16);
    name = `svc-${p.slice(0, 63 - 16 - port.length - 6)}-${hash}-${port}`;
  }
  return name;
}

/** The one container of the AppImage's deploy template for a role (render.ts picks the same). */
export function containerFor(app: AppImageSpec, role: string): AppContainer | undefined {
  const t = app.deployTemplates.find((x) => (x.role ?? '') === role) ?? app.deployTemplates.find((x) => !x.role);
  return t?.spec.containers[0];
}

/** A role's Cluster-scope ports: the ones other parties reach. */
export function clusterPorts(app: AppImageSpec, role: string): { name: string; protocol: 'HTTP' | 'GRPC' }[] {
  return (containerFor(app, role)?.ports ?? []).filter((p) => p.scope === 'Cluster').map((p) => ({ name: p.name, protocol: p.protocol ?? 'HTTP' }));
}

/** The Services that expose this party's Cluster-scope ports to the task's other parties only. */
export function taskServices(input: { taskID: string; self: string; role: string; app: AppImageSpec; parties: TaskParty[]; ports: Record<string, number> }): ServiceResource[] {
  const others = [...new Set(input.parties.map((p) => p.domainID).filter((d) => d !== input.self))].sort();
  return clusterPorts(input.app, input.role).flatMap((p) => {
    const port = input.ports[p.name];
    if (port === undefined || !others.length) return [];
    const svc: ServiceResource = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: taskServiceName(input.taskID, p.name),
        labels: { 'kuscia.secretflow/task-id': input.taskID },
        annotations: { [ACCESS_DOMAIN_ANNOTATION]: others.join(','), [PROTOCOL_ANNOTATION]: p.protocol, [TASK_SERVICE_ANNOTATION]: input.taskID },
      },
      spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ name: p.name, port }] },
    };
    return [svc];
  });
}

/** Per other party, the names of its Cluster-scope ports (each gets a local port here). */
export function peerPortNames(app: AppImageSpec, self: string, parties: TaskParty[]): { domainID: string; port: string }[] {
  return parties
    .filter((p) => p.domainID !== self)
    .flatMap((p) => clusterPorts(app, p.role ?? '').map((x) => ({ domainID: p.domainID, port: x.name })));
}

/** A local port of the internal listener mapped to a partner's task Service. */
export interface TaskPortMapping {
  port: number;
  peer: string;
  service: string;
  task: string;
}

/** peerPorts {domain: {portName: localPort}} of a task as mappings. */
export function taskPortMappings(taskID: string, peerPorts: Record<string, Record<string, number>>): TaskPortMapping[] {
  return Object.entries(peerPorts).flatMap(([peer, byName]) => Object.entries(byName).map(([name, port]) => ({ port, peer, service: taskServiceName(taskID, name), task: taskID })));
}

/** peerPorts as the engine sees them in TASK_CLUSTER_DEFINE: host:port on the internal listener. */
export function peerEndpoints(host: string, peerPorts: Record<string, Record<string, number>>): Record<string, Record<string, string>> {
  return Object.fromEntries(Object.entries(peerPorts).map(([d, byName]) => [d, Object.fromEntries(Object.entries(byName).map(([n, port]) => [n, `${host}:${port}`]))]));
}
