// Pure translation: stored resources + node config -> IR, with a status for
// every resource that says whether it works and, if not, why and what to do.
import type { NodeConfig } from '../config.ts';
import { successLogPercent } from './access-log-policy.ts';
import { trustedPartners, decodedCa, partnerProblem, partnerFix } from './partners.ts';
import { DATAMESH_SERVICE, DIAGNOSE_SERVICE, INTEROP_SERVICE, PROXY_ANNOTATION, ACCESS_DOMAIN_ANNOTATION, BANDWIDTH_ANNOTATION, IDLE_TIMEOUT_ANNOTATION, LOCAL_PORTS_ANNOTATION, PROTOCOL_ANNOTATION, TIMEOUT_ANNOTATION, type DomainResource, type ResourceSet, type RouteResource, type ServiceResource } from '../resources/types.ts';
import { parseProxy, parseAccessDomains, parseBandwidthKiBps, parseDuration, parseLocalPorts, type LocalPortMapping } from '../resources/validate.ts';
import type { BlockedPeer, HopOrigin, HopRelay, Ir, LocalService, PartnerTrust, Peer, Relay, ResourceStatus, ReverseDialer, ReverseTunnel, TokenPartner } from './ir.ts';
import { backendClusterName, sharedBackends } from './backends.ts';

/**
 * What the node knows besides the resources: the rolling tokens of the Kuscia
 * handshake (control-plane/tokens) and where its Unix sockets are.
 */
export interface TranslationRuntime {
  tokens: {
    /** Per source domain: tokens accepted now, newest first. */
    inbound: ReadonlyMap<string, readonly string[]>;
    /** Per destination domain: the token to send, or why there is none. */
    outbound: ReadonlyMap<string, { value: string } | { pending: string }>;
    /** A sentence for a Token route's status (revision, heartbeat): outbound to a destination, or inbound from a source. */
    describe?: (direction: 'outbound' | 'inbound', peer: string) => { ready: boolean; reason: string; fix?: string } | undefined;
  };
  /** Reverse tunnels this node dials, per partner (control-plane/tunnels), for route statuses. */
  tunnels?: { describe: (peer: string) => { ready: boolean; reason: string } | undefined };
  /** The last check of each partner link (control-plane/diagnose/prober.ts), for route statuses. */
  probes?: { describe: (peer: string) => { ok: boolean; reason: string; fix?: string; step?: string; detail?: string } | undefined };
  sockets: { handshake: string; egress: string; run: string };
  /** Local ports of running tasks mapped to a partner's task Service (control-plane/runtime/task-ports.ts). */
  taskPorts?: readonly { port: number; peer: string; service: string; task: string }[];
}

export const diagnoseSocket = (run: string) => `${run}/diagnose.sock`;
export const interopSocket = (run: string) => `${run}/interop.sock`;
export const datameshSocket = (run: string) => `${run}/datamesh.sock`;

export const NO_RUNTIME: TranslationRuntime = {
  tokens: { inbound: new Map(), outbound: new Map() },
  sockets: { handshake: '/run/ferry/handshake.sock', egress: '/run/ferry/egress.sock', run: '/run/ferry' },
};

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
/** A PSI party may wait a long time on its peer: an idle stream lives an hour unless the Service says otherwise. */
export const DEFAULT_IDLE_TIMEOUT_SECONDS = 3600;

export function translateToIr(resources: ResourceSet, config: NodeConfig, ownCaPem: string, accessLogDir: string, runtime: TranslationRuntime = NO_RUNTIME): Ir {
  const self = config.domain;
  const statuses: ResourceStatus[] = [];
  const partners = trustedPartners(resources.domains, self, statuses);
  const trusted = new Map(partners.map((p) => [p.domain, p]));
  const peers: Peer[] = [];
  const tokenPartners: TokenPartner[] = [];
  const blockedPeers: BlockedPeer[] = [];
  const outboundByDestination = new Map<string, string>();
  // Ports already taken on this machine by the node, and by local-port mappings as they are handed out.
  const portOwners = new Map<number, string>(Object.entries(config.listeners).map(([name, l]) => [l.port, `the node's ${name} listener`]));

  const relays: Relay[] = [];
  const hopRelays: HopRelay[] = [];
  const hopOrigins: HopOrigin[] = [];
  const reverseDialers: ReverseDialer[] = [];
  const reverseTunnels: ReverseTunnel[] = [];
  const deferred: RouteResource[] = [];
  const isRelayed = (r: RouteResource) => r.spec.transit?.transitMethod === 'THIRD-DOMAIN';
  // Kuscia relays Token routes hop by hop; MTLS routes go through Ferry's relay with TLS end to end.
  const hopByHop = (r: RouteResource) => isRelayed(r) && r.spec.authenticationType === 'Token';

  const addOutbound = (route: RouteResource, path: Peer['path']): void => {
    const id = `${route.kind}/${route.metadata.name}`;
    const { destination } = route.spec;
    const partner = trusted.get(destination)!;
    const peer = outboundPeer(route, partner, path);
    if (path.kind === 'hop') Object.assign(peer, hopTransport(peers.find((p) => p.domain === path.relay)!));
    const clash = peer.localPorts.find((m) => portOwners.has(m.port));
    if (clash) {
      const reason = `local port ${clash.port} is already used by ${portOwners.get(clash.port)}`;
      blockedPeers.push({ domain: destination, route: id, reason });
      statuses.push(notReady(route, reason, `pick another port in the ${LOCAL_PORTS_ANNOTATION} annotation`));
      return;
    }
    // A relay that refuses this pair (its own answer, asked by the link check):
    // engines get the relay's reason with their 503, not only a TLS error.
    const probe = path.kind === 'relay' ? runtime.probes?.describe(destination) : undefined;
    if (probe && !probe.ok && probe.step === 'relay') peer.linkProblem = probe.detail ?? probe.reason;
    for (const m of peer.localPorts) portOwners.set(m.port, `${id} (${m.service}.${destination}.svc)`);
    // A running task's ports to this partner; a port someone else holds is left out (the task's engine then cannot connect, and its log says so).
    for (const t of runtime.taskPorts ?? []) {
      if (t.peer !== destination || portOwners.has(t.port)) continue;
      peer.localPorts.push({ port: t.port, service: t.service, tcp: false });
      portOwners.set(t.port, `task ${t.task} (${t.service}.${destination}.svc)`);
    }
    if (path.kind === 'hop') peer.token = peers.find((p) => p.domain === path.relay)!.token;
    else if (peer.auth === 'Token') peer.token = runtime.tokens.outbound.get(destination) ?? { pending: `the token handshake with ${destination} has not run yet` };
    peers.push(peer);
    if (path.kind === 'reverse') reverseTunnels.push({ peer: destination, inSocket: `${runtime.sockets.run}/tunnel-in-${destination}.sock`, outSocket: `${runtime.sockets.run}/tunnel-out-${destination}.sock` });
    const mapped = peer.localPorts.map((m) => `127.0.0.1:${m.port} -> ${m.service}.${destination}.svc${m.tcp ? ' (TCP)' : ''}`);
    const via = `outbound: engines reach *.${destination}.svc ${describePath(peer)}`;
    const token = peer.auth === 'Token' ? runtime.tokens.describe?.('outbound', destination) : undefined;
    const tunnels = path.kind === 'reverse' ? runtime.tunnels?.describe(destination) : undefined;
    if (path.kind === 'reverse') {
      statuses.push({ kind: route.kind, name: route.metadata.name, ready: tunnels?.ready ?? false, reason: `${via}: ${tunnels?.reason ?? 'the tunnel broker has not started'}`, ...(tunnels?.ready ? {} : { fix: `${destination}'s node must have a REVERSE-TUNNEL route ${self} -> ${destination}, a route to ${self}'s public port, and be running` }) });
      return;
    }
    const status: ResourceStatus = token
      ? { kind: route.kind, name: route.metadata.name, ready: token.ready, reason: `${via} with a rolling token: ${token.reason}`, ...(token.fix ? { fix: token.fix } : {}) }
      : { kind: route.kind, name: route.metadata.name, ready: peer.auth === 'MTLS', reason: `${via} with ${peer.auth === 'MTLS' ? 'mTLS' : 'a rolling token (handshake not started)'}${mapped.length ? `; ${mapped.join(', ')}` : ''}` };
    // Plain HTTP is Kuscia's NOTLS mode: it works, and the status says what it costs.
    const warned = peer.plaintext ? { ...status, reason: `${status.reason}; warning: plain HTTP (isTLS: false): the link is not encrypted, anyone on the path can read the traffic and the token` } : status;
    // Ferry's link checks call ferry-diagnose.<peer>.svc, which only a Ferry partner serves.
    statuses.push(peer.gateway === 'kuscia' ? warned : withProbe(warned, runtime.probes?.describe(destination)));
  };

  for (const route of resources.routes) {
    const id = `${route.kind}/${route.metadata.name}`;
    const { source, destination } = route.spec;
    if (source !== self && destination !== self) {
      deferred.push(route); // a relay rule: needs this node's own way to the destination
      continue;
    }
    if (source === self) {
      const taken = outboundByDestination.get(destination);
      if (taken) {
        statuses.push(notReady(route, `${taken} already routes ${self} -> ${destination}`, `delete one of the two routes`));
        continue;
      }
      outboundByDestination.set(destination, id);
      const partner = trusted.get(destination);
      if (!partner) {
        const reason = partnerProblem(resources.domains, destination);
        blockedPeers.push({ domain: destination, route: id, reason });
        statuses.push(notReady(route, reason, partnerFix(destination)));
        continue;
      }
      if (isRelayed(route)) {
        deferred.push(route); // needs the peer link to the relay, built first
        continue;
      }
      const proxy = parseProxy(route.metadata.annotations?.[PROXY_ANNOTATION] ?? '');
      addOutbound(route, route.spec.transit?.transitMethod === 'REVERSE-TUNNEL' ? { kind: 'reverse' } : proxy ? { kind: 'proxy', ...proxy } : { kind: 'direct' });
    } else {
      // Inbound (destination is this node): trust comes from the partner Domain,
      // access from each Service's access-domain annotation.
      if (route.spec.transit?.transitMethod === 'REVERSE-TUNNEL') {
        deferred.push(route); // this node dials the tunnels over its own route to the source
        continue;
      }
      const status = inboundStatusFor(route, self, trusted, resources.domains, runtime, tokenPartners);
      const relay = hopByHop(route) ? route.spec.transit!.domain!.domainID : undefined;
      if (relay && trusted.has(source) && trusted.has(relay)) {
        hopOrigins.push({ origin: source, relay, route: id });
        statuses.push({ kind: status.kind, name: status.name, ready: true, reason: `inbound, hop by hop through the relay ${relay} (Kuscia's Token relay): ${relay} authenticates and forwards ${source}'s requests with Kuscia-Origin-Source: ${source}; ${relay} reads the traffic` });
      } else if (relay) {
        statuses.push(notReady(route, trusted.has(source) ? partnerProblem(resources.domains, relay) : partnerProblem(resources.domains, source), partnerFix(trusted.has(source) ? relay : source)));
      } else {
        statuses.push(status);
      }
    }
  }

  // Relayed peers, in dependency order (a relay may itself be reached through a relay).
  let pending = deferred.filter((r) => r.spec.source === self);
  for (let pass = 0; pass < 4 && pending.length; pass++) {
    const waiting: RouteResource[] = [];
    for (const route of pending) {
      const relay = route.spec.transit!.domain!.domainID;
      if (hopByHop(route)) {
        const link = peers.find((p) => p.domain === relay && p.path.kind !== 'hop');
        if (!link) { waiting.push(route); continue; }
        addOutbound(route, { kind: 'hop', relay });
        continue;
      }
      const hop = peers.find((p) => p.domain === relay && p.auth === 'MTLS' && p.path.kind !== 'reverse');
      if (!hop) { waiting.push(route); continue; }
      addOutbound(route, { kind: 'relay', relay, relayCluster: hop.cluster });
    }
    pending = waiting;
  }
  for (const route of pending) {
    const relay = route.spec.transit!.domain!.domainID;
    const id = `${route.kind}/${route.metadata.name}`;
    const reason = hopByHop(route)
      ? `no route from ${self} to the relay ${relay} (a Token route is relayed hop by hop over ${self}'s own route to the relay)`
      : `no usable route from ${self} to the relay ${relay} (it must exist, be ready, use MTLS and not be a reverse tunnel)`;
    blockedPeers.push({ domain: route.spec.destination, route: id, reason });
    statuses.push(notReady(route, reason, `apply a route ${self} -> ${relay}${hopByHop(route) ? '' : ' (MTLS)'} and make it ready: the relay is reached over it`));
  }

  for (const route of deferred.filter((r) => r.spec.source !== self)) {
    const id = `${route.kind}/${route.metadata.name}`;
    const { source, destination } = route.spec;
    if (destination === self) {
      // REVERSE-TUNNEL, far end: this node dials tunnels to the source over its own route there.
      const out = peers.find((p) => p.domain === source && p.path.kind !== 'reverse');
      if (!trusted.has(source)) {
        statuses.push(notReady(route, partnerProblem(resources.domains, source), partnerFix(source)));
      } else if (!out) {
        statuses.push(notReady(route, `${self} has no usable route to ${source} to dial the tunnels over`, `apply a route ${self} -> ${source} with ${source}'s endpoint (${self} dials out; nothing dials in)`));
      } else {
        reverseDialers.push({ peer: source, cluster: out.cluster, socket: `${runtime.sockets.run}/reverse-${source}.sock` });
        const tunnels = runtime.tunnels?.describe(source);
        statuses.push({ kind: route.kind, name: route.metadata.name, ready: tunnels?.ready ?? false, reason: `inbound: ${source} reaches ${self} through tunnels ${self} dials over ${out.route}${tunnels ? `: ${tunnels.reason}` : ' (not started)'}`, ...(tunnels?.ready ? {} : { fix: `check ${out.route}: ${self} must reach ${source}'s public port` }) });
      }
      continue;
    }
    // A relay rule: carry origin -> destination.
    const out = peers.find((p) => p.domain === destination);
    if (hopByHop(route)) {
      if (!trusted.has(source)) { statuses.push(notReady(route, partnerProblem(resources.domains, source), partnerFix(source))); continue; }
      if (!out || out.path.kind === 'hop') {
        statuses.push(notReady(route, `${self} has no route of its own to ${destination}: a hop-by-hop relay forwards over it`, `apply a route ${self} -> ${destination}`));
        continue;
      }
      hopRelays.push({ origin: source, destination, route: id });
      statuses.push({ kind: route.kind, name: route.metadata.name, ready: true, reason: `relay, hop by hop (Kuscia's Token relay): ${self} forwards ${source}'s requests for *.${destination}.svc over ${out.route} with its own credential; ${self} reads the traffic` });
      continue;
    }
    if (!out || out.path.kind === 'reverse' || out.path.kind === 'proxy') {
      statuses.push(notReady(route, out ? `${self}'s route to ${destination} goes ${describePath(out)}: a relay forwards only to an endpoint or another relay` : `${self} has no route to ${destination}: a relay needs one to know where ${destination} is`, `apply a route ${self} -> ${destination} with its endpoint (or through another relay)`));
      continue;
    }
    relays.push({
      origin: source,
      destination,
      route: id,
      next: out.path.kind === 'relay' ? { kind: 'relay', relay: out.path.relay, cluster: out.path.relayCluster } : { kind: 'endpoint', host: out.host, port: out.port },
    });
    statuses.push({ kind: route.kind, name: route.metadata.name, ready: true, reason: `relay: ${self} carries ${source} -> ${destination} (TLS end to end: ${self} sees ciphertext) ${out.path.kind === 'relay' ? `on to the relay ${out.path.relay}` : `to ${out.host}:${out.port}`}` });
  }

  const services = sharedBackends(resources.services.map((s) => localService(s, self)));
  for (const s of services) {
    const strangers = s.allowed.filter((d) => !trusted.has(d));
    statuses.push({
      kind: 'Service',
      name: s.name,
      ready: true,
      reason: s.allowed.length === 0
        ? `reachable by local engines as ${s.host}; no partner may call it (no ${ACCESS_DOMAIN_ANNOTATION} annotation)`
        : `partners ${s.allowed.join(', ')} may call it as ${s.host}` +
          (strangers.length ? `; ${strangers.join(', ')} not trusted yet (no partner Domain with a CA)` : ''),
    });
  }

  // Last, so it never shadows a resource's status: the diagnose service, open to every trusted partner.
  if (partners.length) {
    const allowed = partners.map((p) => p.domain).sort();
    services.push(builtInService(DIAGNOSE_SERVICE, diagnoseSocket(runtime.sockets.run), self, allowed));
    // The job protocol (control-plane/jobs): partners propose jobs and exchange their records.
    services.push(builtInService(INTEROP_SERVICE, interopSocket(runtime.sockets.run), self, allowed));
    // The grant protocol (control-plane/datamesh): authors push signed DomainDataGrants to their grantees.
    services.push(builtInService(DATAMESH_SERVICE, datameshSocket(runtime.sockets.run), self, allowed));
  }

  return {
    domain: self,
    accessLogDir,
    accessLogSuccessPercent: successLogPercent(config),
    publicListener: config.listeners.public,
    internalListener: config.listeners.internal,
    ownCaPem,
    partners,
    tokenPartners,
    sockets: runtime.sockets,
    relays,
    hopRelays,
    hopOrigins,
    reverseDialers,
    reverseTunnels,
    publicPlaintext: config.publicPlaintext === true,
    peers,
    blockedPeers,
    services,
    statuses,
  };
}

const builtIns = new Map<string, LocalService>();

/**
 * A built-in service (diagnose, job protocol), open to every trusted partner,
 * on a Unix socket of the node. The same object while nothing about it
 * changes, so its Envoy JSON (memoized per object) is not rebuilt and
 * re-encoded on every push.
 */
function builtInService(name: string, socketPath: string, self: string, allowed: string[]): LocalService {
  const known = builtIns.get(name);
  if (known && known.domain === self && known.socketPath === socketPath && known.allowed.join() === allowed.join()) return known;
  const service: LocalService = {
    name, domain: self, host: `${name}.${self}.svc`, cluster: name,
    addresses: [], socketPath, port: 0, protocol: 'HTTP', allowed, idleTimeoutSeconds: 3600, timeoutSeconds: 0,
  };
  builtIns.set(name, service);
  return service;
}

function inboundStatusFor(route: RouteResource, self: string, trusted: Map<string, PartnerTrust>, domains: DomainResource[], runtime: TranslationRuntime, tokenPartners: TokenPartner[]): ResourceStatus {
  const { source } = route.spec;
  if (trusted.has(source) && route.spec.authenticationType === 'Token') {
    const tokens = runtime.tokens.inbound.get(source) ?? [];
    tokenPartners.push({ domain: source, tokens: [...tokens] });
    const token = runtime.tokens.describe?.('inbound', source);
    return {
      kind: route.kind, name: route.metadata.name, ready: tokens.length > 0,
      reason: token?.reason ?? (tokens.length ? `inbound: ${source} authenticates with a rolling token` : `inbound: waiting for ${source} to complete the token handshake`),
      ...(tokens.length ? {} : { fix: token?.fix ?? `${source}'s node must have a Token route to ${self} and this node's CA certificate in its Domain ${self}` }),
    };
  }
  if (trusted.has(source)) {
    return { kind: route.kind, name: route.metadata.name, ready: true, reason: `inbound: ${source} authenticates with a certificate from its CA; it may call the Services whose ${ACCESS_DOMAIN_ANNOTATION} names it` };
  }
  return notReady(route, partnerProblem(domains, source), partnerFix(source));
}

/** The last check of the link decides, when it failed: the route is configured but does not work. */
function withProbe(status: ResourceStatus, probe: { ok: boolean; reason: string; fix?: string } | undefined): ResourceStatus {
  if (!probe) return status;
  if (probe.ok) return { ...status, reason: `${status.reason}; ${probe.reason}` };
  return { ...status, ready: false, reason: `${status.reason}; but ${probe.reason}`, ...(probe.fix ? { fix: probe.fix } : {}) };
}

function describePath(p: Peer): string {
  switch (p.path.kind) {
    case 'direct': return `through ${p.host}:${p.port}`;
    case 'proxy': return `through ${p.host}:${p.port} via the forward proxy ${p.path.host}:${p.path.port}`;
    case 'relay': return `through the relay ${p.path.relay} (TLS end to end to ${p.domain})`;
    case 'reverse': return `through the tunnels ${p.domain} dials in (reverse tunnel)`;
    case 'hop': return `through the relay ${p.path.relay}, hop by hop over ${p.cluster} (the relay reads the traffic)`;
  }
}

/**
 * A hop-by-hop peer travels on the link to its relay: that route's cluster,
 * endpoint and TLS (and its token: addOutbound). Its own auth stays Token: the
 * node still runs the handshake with the destination through the relay, as
 * Kuscia does, which proves the whole path in the route's status.
 */
function hopTransport(link: Peer): Partial<Peer> {
  const { cluster, host, port, sni, pathPrefix, gateway, plaintext, endpointCaPem } = link;
  return { cluster, host, port, sni, pathPrefix, gateway, plaintext, ...(endpointCaPem ? { endpointCaPem } : {}) };
}

function notReady(route: RouteResource, reason: string, fix: string): ResourceStatus {
  return { kind: route.kind, name: route.metadata.name, ready: false, reason, fix };
}

function outboundPeer(route: RouteResource, partner: PartnerTrust, path: Peer['path']): Peer {
  const { source, destination } = route.spec;
  // Relayed and reverse-tunnel routes may have no endpoint: the TLS session still goes to the destination's gateway.
  // A REVERSE-TUNNEL route dials nothing: an endpoint Kuscia keeps on it is ignored (a condition says so).
  const endpoint = (path.kind !== 'reverse' ? route.spec.endpoint : undefined) ?? { host: destination, ports: [{ name: path.kind === 'reverse' ? 'tunnel' : 'relay', port: 443, protocol: 'HTTP' as const }] };
  const port = endpoint.ports[0]!;
  // Kuscia writes tlsCA on every route; it means a TLS-terminating gateway only on a Token route over TLS (validate.ts).
  const tlsCA = route.spec.authenticationType === 'Token' && port.isTLS !== false ? route.spec.mTLSConfig?.tlsCA || undefined : undefined;
  return {
    domain: destination,
    route: `${route.kind}/${route.metadata.name}`,
    cluster: `${source}-to-${destination}-${port.name}`,
    host: endpoint.host,
    port: port.port,
    sni: IPV4.test(endpoint.host) || endpoint.host.includes(':') ? destination : endpoint.host,
    path,
    ...(tlsCA ? { endpointCaPem: decodedCa(tlsCA) } : {}),
    pathPrefix: (port.pathPrefix ?? '').replace(/\/+$/, ''),
    headersToAdd: Object.entries(route.spec.requestHeadersToAdd ?? {}).sort(([a], [b]) => a.localeCompare(b)),
    caPem: partner.caPem,
    gateway: partner.gateway,
    auth: route.spec.authenticationType === 'Token' ? 'Token' : 'MTLS',
    plaintext: route.spec.authenticationType === 'Token' && port.isTLS === false && path.kind === 'direct',
    localPorts: parseLocalPorts(route.metadata.annotations?.[LOCAL_PORTS_ANNOTATION] ?? '').filter((m): m is LocalPortMapping => typeof m !== 'string'),
    ...(route.metadata.annotations?.[BANDWIDTH_ANNOTATION] ? { bandwidthKiBps: parseBandwidthKiBps(route.metadata.annotations[BANDWIDTH_ANNOTATION]) } : {}),
  };
}

// The store hands out the same object for a resource until it changes, so
// per-object memos make a translation cost what changed, not what exists.
const serviceMemo = new WeakMap<ServiceResource, LocalService>();

function localService(s: ServiceResource, self: string): LocalService {
  const known = serviceMemo.get(s);
  if (known?.domain === self) return known;
  const value = buildLocalService(s, self);
  serviceMemo.set(s, value);
  return value;
}

function buildLocalService(s: ServiceResource, self: string): LocalService {
  const protocol = (s.metadata.annotations?.[PROTOCOL_ANNOTATION] ?? 'HTTP') as LocalService['protocol'];
  const service: LocalService = {
    name: s.metadata.name,
    domain: self,
    host: `${s.metadata.name}.${self}.svc`,
    cluster: '', // set below: it depends on the backend
    statName: `service-${s.metadata.name}`,
    addresses: [s.spec.externalName, ...(s.spec.externalIPs ?? [])],
    port: s.spec.ports[0]!.port,
    protocol,
    allowed: [...new Set(parseAccessDomains(s.metadata.annotations?.[ACCESS_DOMAIN_ANNOTATION]))].sort(),
    idleTimeoutSeconds: parseDuration(s.metadata.annotations?.[IDLE_TIMEOUT_ANNOTATION] ?? '') ?? DEFAULT_IDLE_TIMEOUT_SECONDS,
    timeoutSeconds: parseDuration(s.metadata.annotations?.[TIMEOUT_ANNOTATION] ?? '') ?? 0,
  };
  service.cluster = backendClusterName(service);
  return service;
}
