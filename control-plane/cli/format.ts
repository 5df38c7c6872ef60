// Human-readable output for the CLI.
import YAML from 'yaml';
import type { NodeStatus } from '../api/status.ts';

/** Stored Kubernetes-style conditions, and the Kuscia-field ones of the last translation ({type, field, message}). */
type Condition = { type: string; status?: string; reason?: string; message: string; lastTransitionTime?: string; field?: string };
type Item = {
  kind: string;
  metadata: { name: string; generation?: number; resourceVersion?: string };
  status?: { ready?: boolean; reason?: string; fix?: string; observedGeneration?: number; conditions?: Condition[] };
};

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function formatList(items: Item[]): string {
  if (items.length === 0) return 'No resources found.';
  return table([['KIND', 'NAME', 'READY', 'GENERATION', 'OBSERVED', 'REASON'], ...items.map((i) => [
    i.kind, i.metadata.name, i.status?.ready ? 'True' : 'False', String(i.metadata.generation ?? '-'), String(i.status?.observedGeneration ?? '-'), i.status?.reason ?? '',
  ])]);
}

export function formatDescribe(item: Item & Record<string, unknown>): string {
  const { status, ...resource } = item;
  const lines = [
    `Name:    ${item.metadata.name}`,
    `Kind:    ${item.kind}`,
    `Ready:   ${status?.ready ? 'True' : 'False'}`,
    `Reason:  ${status?.reason ?? 'unknown'}`,
  ];
  if (status?.fix) lines.push(`Fix:     ${status.fix}`);
  lines.push(`Generation: ${item.metadata.generation ?? '-'} (observed ${status?.observedGeneration ?? '-'}), resourceVersion ${item.metadata.resourceVersion ?? '-'}`);
  if (status?.conditions?.length) {
    lines.push('Conditions:', ...table([['TYPE', 'STATUS', 'REASON', 'LAST TRANSITION', 'MESSAGE'], ...status.conditions.map((c) => [c.type, c.status ?? '-', c.reason ?? '-', c.lastTransitionTime ?? '-', c.field ? `${c.field} ${c.message}` : c.message])]).split('\n').map((l) => `  ${l}`));
  }
  const doc = resource as Record<string, unknown>;
  lines.push('Resource:', ...YAML.stringify(doc).trimEnd().split('\n').map((l) => `  ${l}`));
  return lines.join('\n');
}

export function formatStatus(s: NodeStatus): string {
  const lines = [
    `Domain:     ${s.domain}`,
    `Listeners:  public ${s.listeners.public}, internal ${s.listeners.internal}, api ${s.listeners.api}`,
    `Envoy:      ${s.envoy.ready ? 'ready' : 'NOT ready'} (pid ${s.envoy.pid ?? '-'}${s.envoy.adopted ? ', adopted from the previous run' : ''}, restarts ${s.envoy.restarts}${s.envoy.lastExit ? `, last exit ${s.envoy.lastExit.signal ?? s.envoy.lastExit.code} at ${s.envoy.lastExit.at}` : ''})`,
    `xDS:        snapshot ${s.xds.snapshotVersion ?? '-'}, ${s.xds.converged ? 'acknowledged by every proxy' : 'NOT yet acknowledged'}`,
  ];
  if (s.store) {
    lines.push(`Store:      ${s.store.backend} ${s.store.location}, revision ${s.store.revision}${s.store.reachable ? '' : `, NOT reachable: ${s.store.error}`}`);
    lines.push(`Leader:     ${s.store.leader ?? 'none'}${s.store.isLeader ? ' (this replica)' : ''}`);
    for (const r of s.store.replicas) lines.push(`  replica ${r.id}: api ${r.api}, xds ${r.xds}, last heartbeat ${r.heartbeatAt}${r.id === s.store.self ? ' (this one)' : ''}`);
  }
  if (s.translationError) lines.push(`Translation error: ${s.translationError}`);
  for (const c of s.conditions ?? []) lines.push(`WriteFailing: ${c.what}: ${c.message} (${c.failures} attempts since ${c.since}; the node serves on and retries)`);
  for (const p of s.xds.proxies) {
    const types = Object.entries(p.types).map(([t, v]) => `${t}=${v.ackedVersion ?? '-'}${v.pending ? '(pending)' : ''}${v.nack ? '(NACK)' : ''}`);
    lines.push(`  proxy ${p.node}: ${types.join(' ')}`);
  }
  for (const n of s.xds.recentNacks) lines.push(`  NACK ${n.node} ${n.type} at ${n.nack.at}: ${n.nack.message}`);
  lines.push('Resources:');
  if (s.resources.length === 0) lines.push('  none (apply Domains, routes and Services with `ferry apply`)');
  else lines.push(...table([['KIND', 'NAME', 'READY', 'REASON'], ...s.resources.map((r) => [r.kind, r.name, r.ready ? 'True' : 'False', r.reason])]).split('\n').map((l) => `  ${l}`));
  return lines.join('\n');
}

type CertView = { subject: string; issuer: string; serial: string; notBefore: string | Date; notAfter: string | Date; uris: string[]; dnsNames: string[] };

export function formatCerts(
  s: { ca: CertView; gateway: CertView & { renewAt: string; lifetimeSeconds: number }; rotation?: { startedAt: string; activateAt: string; next: CertView } },
  done?: 'gateway' | 'ca-started' | 'ca-finished',
): string {
  const left = (d: string | Date) => {
    const seconds = Math.round((new Date(d).getTime() - Date.now()) / 1000);
    return seconds > 86400 ? `${Math.round(seconds / 86400)} days` : seconds > 3600 ? `${Math.round(seconds / 3600)} h` : `${seconds} s`;
  };
  const one = (name: string, c: CertView) => [
    `${name}:`,
    `  subject:   ${c.subject}`,
    `  issuer:    ${c.issuer}`,
    `  serial:    ${c.serial}`,
    `  valid:     ${new Date(c.notBefore).toISOString()} .. ${new Date(c.notAfter).toISOString()} (expires in ${left(c.notAfter)})`,
    ...(c.uris.length || c.dnsNames.length ? [`  identity:  ${[...c.uris, ...c.dnsNames].join(', ')}`] : []),
  ];
  return [
    ...(done === 'gateway' ? ['gateway certificate renewed'] : []),
    ...(done === 'ca-started' ? ['CA rotation started: give every partner the bundle `ferry cert export` prints now (both CAs), before the new CA takes over'] : []),
    ...(done === 'ca-finished' ? ['CA rotation finished: the new CA signs the gateway certificate; partners may now drop the old CA'] : []),
    ...one('CA', s.ca),
    ...one('Gateway', s.gateway),
    `  renewal:   ${s.gateway.renewAt} (in ${left(s.gateway.renewAt)}; lifetime ${s.gateway.lifetimeSeconds} s, renewed at two thirds)`,
    ...(s.rotation ? [
      ...one('Next CA (rotation under way: partners must trust it)', s.rotation.next),
      `  takes over: ${s.rotation.activateAt} (in ${left(s.rotation.activateAt)}), or now with \`ferry cert rotate --ca --finish\``,
    ] : []),
  ].join('\n');
}

/** `ferry diagnose network`: one line per step, the fix under a failed one. */
export function formatDiagnosis(self: string, r: { peer: string; ok: boolean; steps: { step: string; ok: boolean; detail: string; fix?: string }[] }): string {
  return [
    `${self} -> ${r.peer}: ${r.ok ? 'OK' : 'PROBLEM'}`,
    ...r.steps.flatMap((s) => [`  ${s.ok ? 'ok  ' : 'FAIL'}  ${s.step}: ${s.detail}`, ...(s.fix ? [`        fix: ${s.fix}`] : [])]),
  ].join('\n');
}
