// A Kuscia domain on the wire, for interop tests: a real Envoy configured the
// way Kuscia's gateway is (written from ../shared/KUSCIA-WIRE.md and issue 13,
// not from Kuscia's code), with Ferry's token handshake code on its side.
//
// - Its domain certificate is a self-signed RSA CA with CN=<domain> (what its
//   Domain.spec.cert carries); its gateway certificate has
//   CN=<domain>_ENVOY_EXTERNAL and only the IP SAN 127.0.0.1.
// - Sending: engines call http://<svc>.<peer>.svc on its internal port; Envoy
//   rewrites Host to the endpoint host and carries the target in Kuscia-Host,
//   with Kuscia-Source and Kuscia-Token, each call in the engine's protocol.
// - Receiving: routes by Kuscia-Host, restores Host, and forwards to the
//   service in the protocol the call arrived in (use_downstream_protocol_config);
//   Token mode checks Kuscia-Token (ext_authz against the issuer's tokens),
//   MTLS mode requires a client certificate from the partner's CA.
// - MTLS as a source: Kuscia presents spec.mTLSConfig.sourceClientCert with
//   its domain key (when sourceClientPrivateKey is empty): by default here its
//   domain certificate itself, as Kuscia's own scripts probe with
//   (--cert ca.crt --key ca.key); or a certificate its CA issued.
// - Transport: TLS with the gateway certificate, or plain HTTP (NOTLS).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import pino from 'pino';
import { locateEnvoy } from '../../envoy/locate.ts';
import { TokenIssuer } from '../../control-plane/tokens/issuer.ts';
import { startHandshakeServer } from '../../control-plane/tokens/handshake-server.ts';
import { decryptHalf, encryptHalf, handshakeHost, pubhash, rsaPublicKeyPem, parseHandshakeResponse } from '../../interop/kuscia-handshake.ts';
import { freePorts, tempDir, waitFor } from './harness.ts';

export interface KusciaPeerOptions {
  domain: string;
  /** Plain HTTP on its public port and toward the partner (Kuscia's NOTLS). */
  plaintext: boolean;
  /** MTLS: client certificates both ways; Token: Kuscia-Token both ways. */
  auth: 'MTLS' | 'Token';
  /** MTLS: the client certificate it presents (sourceClientCert): its domain certificate (default) or one its CA issued. */
  clientCert?: 'domain' | 'issued';
  /** Domains reached through the partner as a relay (Kuscia's THIRD-DOMAIN transit: the relay's route, cloned for *.<domain>.svc). */
  through?: string[];
  /** Local services partners may call: name -> port on 127.0.0.1, protocol. */
  services: Record<string, { port: number; grpc?: boolean }>;
}

export interface FerryPartner {
  domain: string;
  /** Ferry's CA (ferry cert export): trusted for its gateway and its token key. */
  caPem: string;
  publicPort: number;
}

/** Kuscia's domain certificate: a self-signed RSA CA, CN=<domain> (clientAuth and serverAuth, as Kuscia makes it). */
export function domainCertificate(domain: string): { certPem: string; keyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: domain }]);
  cert.setIssuer([{ name: 'commonName', value: domain }]);
  cert.setExtensions([{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, digitalSignature: true, critical: true }, { name: 'extKeyUsage', serverAuth: true, clientAuth: true }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** Kuscia's external gateway certificate: CN=<domain>_ENVOY_EXTERNAL, IP SAN 127.0.0.1 only. */
export function gatewayCertificate(domain: string, ca: { certPem: string; keyPem: string }, opts: { cn?: string; uri?: string; ca?: boolean } = {}): { certPem: string; keyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomBytes(8).toString('hex').replace(/^[89a-f]/, '1');
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 30 * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: opts.cn ?? `${domain}_ENVOY_EXTERNAL` }]);
  cert.setIssuer(forge.pki.certificateFromPem(ca.certPem).subject.attributes);
  cert.setExtensions(opts.ca
    ? [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, digitalSignature: true, critical: true }]
    : [
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, ...(opts.uri ? [{ type: 6, value: opts.uri }] : [])] },
    ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

const hdr = (key: string, value: string) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
const downstreamProtocol = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } } };
const staticCluster = (name: string, address: unknown, extra: Record<string, unknown> = {}) => ({ name, type: 'STATIC', connect_timeout: '5s', load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] }, ...extra });
const tcp = (port: number) => ({ socket_address: { address: '127.0.0.1', port_value: port } });

export class KusciaPeer {
  readonly domain: string;
  readonly opts: KusciaPeerOptions;
  readonly ca: { certPem: string; keyPem: string };
  readonly gateway: { certPem: string; keyPem: string };
  readonly dir: string;
  ports = { public: 0, internal: 0, admin: 0, authz: 0 };
  /** The token this peer obtained from the Ferry partner (Token mode). */
  outboundToken = 'noop';
  private envoy: ChildProcess | undefined;
  private authz: Server | undefined;
  private handshake: { close: () => Promise<unknown> } | undefined;
  readonly issuer: TokenIssuer;
  private partner: FerryPartner | undefined;

  constructor(opts: KusciaPeerOptions) {
    this.opts = opts;
    this.domain = opts.domain;
    this.ca = domainCertificate(opts.domain);
    this.gateway = gatewayCertificate(opts.domain, this.ca);
    this.dir = tempDir(`kuscia-${opts.domain}`);
    this.issuer = new TokenIssuer({
      domain: opts.domain,
      privateKeys: () => [this.ca.keyPem],
      lookup: (source) => (this.partner && source === this.partner.domain
        ? { ok: true, periodSeconds: 3600, publicKeys: [rsaPublicKeyPem(this.partner.caPem)] }
        : { ok: false, message: `no route from ${source}` }),
      install: async () => {},
      persist: () => {},
    });
  }

  /** MTLS: what it presents as a client (spec.mTLSConfig.sourceClientCert on its route, with its domain key or the issued one). */
  get clientCertificate(): { certPem: string; keyPem: string } {
    return this.opts.clientCert === 'issued' ? this.gateway : this.ca;
  }

  /** base64 of the domain certificate: Domain.spec.cert on the Ferry side. */
  get certBase64(): string {
    return Buffer.from(this.ca.certPem).toString('base64');
  }

  /** Token mode: the RSA-GEN handshake as the source, straight to the partner's public port (before Envoy runs). */
  async handshakeWith(partner: FerryPartner): Promise<void> {
    const s = randomBytes(16);
    const body = JSON.stringify({
      domain_id: this.domain,
      type: 'RSA',
      token_config: { token: encryptHalf(createPublicKey(partner.caPem), s), revision: 1, pubhash: pubhash(rsaPublicKeyPem(this.ca.certPem)) },
      request_time: Date.now() * 1e6,
    });
    const headers = { host: '127.0.0.1', 'kuscia-host': handshakeHost(partner.domain), 'kuscia-source': this.domain, 'content-type': 'application/json' };
    const text = await new Promise<string>((resolve, reject) => {
      const options = { host: '127.0.0.1', port: partner.publicPort, method: 'POST', path: '/handshake', headers };
      const done = (res: import('node:http').IncomingMessage) => { let t = ''; res.setEncoding('utf8').on('data', (d: string) => { t += d; }).on('end', () => resolve(t)); };
      const req = this.opts.plaintext ? request(options, done) : httpsRequest({ ...options, ca: partner.caPem, servername: partner.domain, checkServerIdentity: () => undefined }, done);
      req.on('error', reject);
      req.end(body);
    });
    const answer = parseHandshakeResponse(JSON.parse(text));
    if (answer.status?.code) throw new Error(`handshake with ${partner.domain} refused: ${text}`);
    const d = decryptHalf([this.ca.keyPem], answer.token!.token);
    if (!d) throw new Error(`handshake answer from ${partner.domain} does not decrypt`);
    this.outboundToken = Buffer.concat([s, d]).toString('base64');
  }

  async start(partner: FerryPartner): Promise<void> {
    this.partner = partner;
    const [pub, internal, admin, authz] = await freePorts(4);
    this.ports = { public: pub!, internal: internal!, admin: admin!, authz: authz! };
    const handshakeSocket = join(this.dir, 'handshake.sock');
    this.handshake = await startHandshakeServer(handshakeSocket, this.issuer, pino({ level: 'silent' }));
    // Token check: the tokens this peer issued to the partner (its handshake code's state).
    this.authz = createServer((req, res) => {
      const tokens = this.issuer.accepted().get(String(req.headers['kuscia-source'] ?? '')) ?? [];
      res.writeHead(tokens.includes(String(req.headers['kuscia-token'] ?? '')) ? 200 : 401).end();
    });
    await new Promise<void>((r) => this.authz!.listen(this.ports.authz, '127.0.0.1', () => r()));
    writeFileSync(join(this.dir, 'envoy.json'), JSON.stringify(this.config(partner, handshakeSocket)));
    this.envoy = spawn(locateEnvoy().bin, ['-c', join(this.dir, 'envoy.json'), '--disable-hot-restart', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    this.envoy.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    await waitFor(`Kuscia peer ${this.domain} Envoy ready${stderr ? `: ${stderr}` : ''}`, async () => {
      const r = await fetch(`http://127.0.0.1:${this.ports.admin}/ready`).catch(() => undefined);
      return r?.ok ? true : undefined;
    }, 20_000);
  }

  private config(partner: FerryPartner, handshakeSocket: string): unknown {
    const { plaintext, auth } = this.opts;
    const token = auth === 'Token';
    const tlsCert = { certificate_chain: { inline_string: this.gateway.certPem }, private_key: { inline_string: this.gateway.keyPem } };
    const downstreamTls = plaintext ? {} : {
      transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        require_client_certificate: auth === 'MTLS',
        common_tls_context: { alpn_protocols: ['h2', 'http/1.1'], tls_certificates: [tlsCert], ...(auth === 'MTLS' ? { validation_context: { trusted_ca: { inline_string: partner.caPem } } } : {}) },
      } },
    };
    const upstreamTls = plaintext ? {} : {
      transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        common_tls_context: { validation_context: { trusted_ca: { inline_string: partner.caPem } }, ...(auth === 'MTLS' ? { tls_certificates: [{ certificate_chain: { inline_string: this.clientCertificate.certPem }, private_key: { inline_string: this.clientCertificate.keyPem } }] } : {}) },
      } },
    };
    const hcm = (name: string, routeConfig: unknown, filters: unknown[] = []) => ({
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: name, codec_type: 'AUTO', route_config: routeConfig,
        http_filters: [...filters, { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      },
    });
    const extAuthz = { name: 'envoy.filters.http.ext_authz', typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz', transport_api_version: 'V3',
      http_service: { server_uri: { uri: `http://127.0.0.1:${this.ports.authz}`, cluster: 'token-check', timeout: '2s' }, authorization_request: { allowed_headers: { patterns: [{ exact: 'kuscia-source' }, { exact: 'kuscia-token' }] } } },
    } };
    const noAuthz = { typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute', disabled: true } } };
    const services = Object.entries(this.opts.services);
    return {
      admin: { address: tcp(this.ports.admin) },
      static_resources: {
        listeners: [
          {
            name: 'external',
            address: tcp(this.ports.public),
            filter_chains: [{ ...downstreamTls, filters: [hcm('external', {
              virtual_hosts: [{
                name: 'by-kuscia-host', domains: ['*'],
                routes: [
                  { match: { prefix: '/', headers: [{ name: 'kuscia-host', string_match: { exact: handshakeHost(this.domain) } }] }, route: { cluster: 'handshake' }, ...noAuthz },
                  ...services.map(([name]) => ({
                    match: { prefix: '/', headers: [{ name: 'kuscia-host', string_match: { exact: `${name}.${this.domain}.svc` } }] },
                    route: { cluster: `svc-${name}`, host_rewrite_literal: `${name}.${this.domain}.svc`, timeout: '30s' },
                  })),
                  { match: { prefix: '/' }, direct_response: { status: 404, body: { inline_string: 'no such service' } }, ...noAuthz },
                ],
              }],
            }, token ? [extAuthz] : [])] }],
          },
          {
            name: 'internal',
            address: tcp(this.ports.internal),
            filter_chains: [{ filters: [hcm('internal', {
              virtual_hosts: [{
                name: partner.domain, domains: [partner.domain, ...(this.opts.through ?? [])].map((d) => `*.${d}.svc`),
                routes: [{
                  match: { prefix: '/' },
                  // Kuscia's peer clusters rewrite Host to the endpoint host (auto_host_rewrite); the target travels in Kuscia-Host.
                  route: { cluster: 'to-partner', host_rewrite_literal: '127.0.0.1', timeout: '30s' },
                  request_headers_to_add: [hdr('Kuscia-Host', '%REQ(:authority)%'), hdr('Kuscia-Source', this.domain), hdr('Kuscia-Origin-Source', this.domain), hdr('Kuscia-Token', this.outboundToken), hdr('x-interconn-protocol', 'kuscia')],
                }],
              }],
            })] }],
          },
        ],
        clusters: [
          staticCluster('to-partner', tcp(partner.publicPort), { typed_extension_protocol_options: downstreamProtocol, ...upstreamTls }),
          staticCluster('handshake', { pipe: { path: handshakeSocket } }),
          staticCluster('token-check', tcp(this.ports.authz)),
          ...services.map(([name, s]) => staticCluster(`svc-${name}`, tcp(s.port), { typed_extension_protocol_options: downstreamProtocol })),
        ],
      },
    };
  }

  async stop(): Promise<void> {
    const envoy = this.envoy;
    this.envoy = undefined;
    if (envoy && envoy.exitCode === null) {
      const exited = new Promise((r) => envoy.once('exit', r));
      envoy.kill('SIGTERM');
      await exited;
    }
    await new Promise((r) => (this.authz ? this.authz.close(r) : r(undefined)));
    await this.handshake?.close();
  }
}
