// The intermediate representation between Ferry's resources and Envoy's:
// what the gateway must do, with every name decided, but nothing Envoy-specific.

export interface Listen {
  address: string;
  port: number;
}

/**
 * What runs at a partner: a Ferry node (SPIFFE identities, the multiplexed
 * HTTP/2 link, link checks) or a Kuscia gateway (certificates without SPIFFE
 * identity, each call forwarded in the protocol it arrived in).
 */
export type GatewayKind = 'ferry' | 'kuscia';

/** A partner whose CA this node trusts, for that partner's identity only. */
export interface PartnerTrust {
  domain: string;
  caPem: string;
  gateway: GatewayKind;
  /**
   * Kuscia partners: the issuer names (RFC 2253, as Envoy prints them) its
   * client certificates carry, the subjects of its CAs; undefined when it
   * cannot be identified by certificate (interop/kuscia-identity.ts).
   */
  issuers?: string[];
}

/**
 * How the connection to a peer's gateway is made. Whatever the path, the TLS
 * session (and its identity check) is between this node and the peer's gateway.
 */
export type PeerPath =
  | { kind: 'direct' }
  /** Through an HTTP forward proxy (HTTP/1.1 CONNECT), e.g. squid. */
  | { kind: 'proxy'; host: string; port: number }
  /** Through a relay domain: an HTTP/2 CONNECT over the link to the relay (its peer cluster). */
  | { kind: 'relay'; relay: string; relayCluster: string }
  /** The peer dials in (reverse tunnel): its connections, kept by this node, carry the TLS session. */
  | { kind: 'reverse' }
  /**
   * A Token route relayed hop by hop, as Kuscia relays: requests go to the
   * relay over this node's link to it (its cluster, its credential) naming
   * the destination in Kuscia-Host; the relay forwards them with its own. The
   * relay reads the traffic.
   */
  | { kind: 'hop'; relay: string };

/** An outbound route: local engines reach `*.<domain>.svc` through it. */
export interface Peer {
  domain: string;
  /** The route resource this came from, e.g. ClusterDomainRoute/alice-bob. */
  route: string;
  /** Kuscia naming: <src>-to-<dst>-<portName>. */
  cluster: string;
  host: string;
  port: number;
  /** SNI sent to the peer: its endpoint host when that is a name, else the domain id. */
  sni: string;
  pathPrefix: string;
  headersToAdd: [string, string][];
  /** The peer's CA, to verify its gateway certificate. */
  caPem: string;
  /** Ferry: HTTP/2 to the gateway, its SPIFFE identity checked. Kuscia: each call in its own protocol, the certificate chained to the peer's CA. */
  gateway: GatewayKind;
  /** Plain HTTP to the endpoint (a Token route with isTLS: false, as Kuscia's NOTLS deployments use): the token still authenticates, nothing is encrypted. */
  plaintext: boolean;
  /** A TLS-terminating gateway at the endpoint: its CA (spec.mTLSConfig.tlsCA); the peer is then identified by token only. */
  endpointCaPem?: string;
  path: PeerPath;
  /**
   * MTLS: this node's gateway certificate proves who sends. Token: no client
   * certificate; every request carries Kuscia-Token, obtained by the handshake.
   */
  auth: 'MTLS' | 'Token';
  /** Token routes: the current token (base64), or why there is none yet (requests get a 503 saying so). */
  token?: { value: string } | { pending: string };
  /** What the last link check learnt when the path itself refuses (a relay's own answer), told to engines whose calls fail. */
  linkProblem?: string;
  /** Cap on traffic to this peer, each direction, in KiB/s (undefined = none). */
  bandwidthKiBps?: number;
  /** 127.0.0.1:<port> -> <service>.<domain>.svc, for engines that cannot set Host or use a proxy. */
  localPorts: { port: number; service: string; tcp: boolean }[];
}

/** An outbound route that cannot work yet: requests get a 503 that says why. */
export interface BlockedPeer {
  domain: string;
  route: string;
  reason: string;
}

/** A local service partners may call as <name>.<domain>.svc. */
export interface LocalService {
  name: string;
  /** This node's domain. */
  domain: string;
  /** <name>.<domain>.svc */
  host: string;
  /** Named by the backend (resources-to-ir.ts backendClusterName): the same while the Service's backend is. */
  cluster: string;
  /** The name Envoy's statistics and access logs give the cluster (alt_stat_name): service-<name> while no other Service shares the backend. */
  statName?: string;
  /** Endpoints (externalName, then spec.externalIPs), all on `port`. */
  addresses: string[];
  /** Served by the node itself on this Unix socket instead (the built-in diagnose service). */
  socketPath?: string;
  port: number;
  /** TCP: reached by HTTP CONNECT (the gateway ends the tunnel and opens a TCP connection). */
  protocol: 'HTTP' | 'GRPC' | 'TCP';
  /** Partner domains allowed to call it (access-domain annotation); empty = nobody. */
  allowed: string[];
  /** Idle limit of one request or stream, in seconds (0 = none). */
  idleTimeoutSeconds: number;
  /** Total limit of one request, in seconds (0 = none: streams run as long as they need). */
  timeoutSeconds: number;
}

/**
 * This node relays origin -> destination (THIRD-DOMAIN): CONNECT
 * ferry-relay.<destination>.svc from a partner, carried on to the destination's
 * endpoint as TCP, or to the next relay as CONNECT. It sees only ciphertext.
 */
export interface Relay {
  origin: string;
  destination: string;
  route: string;
  next: { kind: 'endpoint'; host: string; port: number } | { kind: 'relay'; relay: string; cluster: string };
}

/**
 * Hop by hop (Token routes through a relay, Kuscia's way). As the relay:
 * requests from `origin` (authenticated) for *.<destination>.svc are
 * forwarded over this node's route to `destination`, with this node's
 * credential and Kuscia-Origin-Source: origin.
 */
export interface HopRelay {
  origin: string;
  destination: string;
  route: string;
}

/** As the destination: requests `relay` forwards (authenticated as `relay`) are from `origin` when they say so. */
export interface HopOrigin {
  origin: string;
  relay: string;
  route: string;
}

/** A partner that reaches this node through tunnels this node dials (REVERSE-TUNNEL, on the tunnel's far end). */
export interface ReverseDialer {
  /** The partner that calls this node over the tunnels. */
  peer: string;
  /** This node's peer cluster to that partner: the tunnels ride on it. */
  cluster: string;
  /** Unix socket of the Envoy listener that opens one tunnel per connection. */
  socket: string;
}

/** Calling side of a reverse tunnel: the peer's tunnels arrive on inSocket; Envoy's connections to the peer go to outSocket. */
export interface ReverseTunnel {
  peer: string;
  inSocket: string;
  outSocket: string;
}

/** A partner whose inbound route authenticates by Kuscia token (it may connect without a client certificate). */
export interface TokenPartner {
  domain: string;
  /** Tokens accepted from it now (base64, newest first; at most two). */
  tokens: string[];
}

export interface ResourceStatus {
  kind: string;
  name: string;
  ready: boolean;
  /** Why it is not ready (or what it does when ready). */
  reason: string;
  /** What fixes it, when not ready. */
  fix?: string;
  /** Kuscia fields kept and not used, warnings (control-plane/resources/conditions.ts). */
  conditions?: { type: string; field: string; message: string }[];
  /** Left out of Envoy's configuration because it failed (Envoy refused it, or its translation failed): control-plane/isolation.ts. */
  isolated?: boolean;
}

export interface Ir {
  domain: string;
  /** Where Envoy writes the JSON access logs (access-<listener>.log). */
  accessLogDir: string;
  /** Percent of successful requests logged (failures always are); 100 unless ferry.yaml says otherwise. */
  accessLogSuccessPercent: number;
  publicListener: Listen;
  internalListener: Listen;
  /** CA of this domain: trusted for its own identity (lets the node reach itself). */
  ownCaPem: string;
  partners: PartnerTrust[];
  /** Partners with an inbound Token route: the public port then accepts TLS without client certificates. */
  tokenPartners: TokenPartner[];
  /** Unix sockets: the node's handshake server (behind the public port) and Envoy's handshake egress; tunnel sockets live in `run`. */
  sockets: { handshake: string; egress: string; run: string };
  relays: Relay[];
  /** Token routes relayed hop by hop through this node, and into this node (HopRelay, HopOrigin). */
  hopRelays: HopRelay[];
  hopOrigins: HopOrigin[];
  reverseDialers: ReverseDialer[];
  /** Partners that dial tunnels into this node (REVERSE-TUNNEL outbound routes here), with the broker's sockets. */
  reverseTunnels: ReverseTunnel[];
  /** Accept plaintext HTTP on the public port (behind a TLS-terminating gateway; token routes only). */
  publicPlaintext: boolean;
  peers: Peer[];
  blockedPeers: BlockedPeer[];
  services: LocalService[];
  statuses: ResourceStatus[];
}
