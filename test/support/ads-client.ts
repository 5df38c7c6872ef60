// A scripted ADS client that follows Envoy's state machines (delta and
// state-of-the-world): subscribes, ACKs every response, or NACKs on demand.
// Used by protocol tests and by bench/xds to simulate many proxies.
import * as grpc from '@grpc/grpc-js';
import { messageType } from '../../envoy/protos.ts';

const DeltaReq = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
const DeltaRes = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
const SotwReq = messageType('envoy.service.discovery.v3.DiscoveryRequest');
const SotwRes = messageType('envoy.service.discovery.v3.DiscoveryResponse');
const SERVICE = '/envoy.service.discovery.v3.AggregatedDiscoveryService';
const decodeOpts = { defaults: false, longs: String, bytes: Buffer };

export interface Received {
  typeUrl: string;
  nonce: string;
  /** delta: changed resources; sotw: the whole set. name -> version (delta) or '' (sotw). */
  names: string[];
  removed: string[];
  version: string;
}

type Decide = (r: Received) => { nack?: string } | void;

abstract class BaseClient {
  readonly received: Received[] = [];
  /** name -> version per type, as this proxy holds them. */
  readonly held = new Map<string, Map<string, string>>();
  protected call!: grpc.ClientDuplexStream<Uint8Array, Uint8Array>;
  protected readonly client: grpc.Client;
  private waiters: (() => void)[] = [];
  decide: Decide = () => {};

  private readonly ownsClient: boolean;

  /** `target` is an address, or a channel shared with other simulated proxies. */
  constructor(target: string | grpc.Client) {
    this.ownsClient = typeof target === 'string';
    this.client = typeof target === 'string' ? new grpc.Client(target, grpc.credentials.createInsecure()) : target;
  }

  protected open(method: string): void {
    this.call = this.client.makeBidiStreamRequest(`${SERVICE}/${method}`, (b: Uint8Array) => Buffer.from(b), (b: Buffer) => b);
    this.call.on('data', (b: Buffer) => this.onResponse(b));
    this.call.on('error', () => {});
  }

  protected abstract onResponse(b: Buffer): void;

  protected notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `check` holds (re-checked after every response). */
  async until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('ADS client: condition not reached in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  count(typeUrl: string): number {
    return this.received.filter((r) => r.typeUrl === typeUrl).length;
  }

  close(): void {
    this.call?.cancel();
    if (this.ownsClient) this.client.close();
  }
}

export class DeltaClient extends BaseClient {
  readonly node: string;

  constructor(target: string | grpc.Client, node = 'test-proxy') {
    super(target);
    this.node = node;
    this.open('DeltaAggregatedResources');
  }

  send(msg: Record<string, unknown>): void {
    this.call.write(DeltaReq.encode(DeltaReq.fromObject({ node: { id: this.node }, ...msg })).finish());
  }

  subscribe(typeUrl: string, names: string[] = [], initial?: Record<string, string>): void {
    this.send({ type_url: typeUrl, resource_names_subscribe: names, ...(initial ? { initial_resource_versions: initial } : {}) });
  }

  protected onResponse(b: Buffer): void {
    const m = DeltaRes.toObject(DeltaRes.decode(b), decodeOpts) as { type_url: string; nonce: string; system_version_info?: string; resources?: { name: string; version: string }[]; removed_resources?: string[] };
    const r: Received = { typeUrl: m.type_url, nonce: m.nonce, names: (m.resources ?? []).map((x) => x.name), removed: m.removed_resources ?? [], version: m.system_version_info ?? '' };
    this.received.push(r);
    const verdict = this.decide(r);
    if (verdict?.nack) {
      this.send({ type_url: r.typeUrl, response_nonce: r.nonce, error_detail: { code: 3, message: verdict.nack } });
    } else {
      const held = this.held.get(r.typeUrl) ?? new Map<string, string>();
      for (const x of m.resources ?? []) held.set(x.name, x.version);
      for (const n of r.removed) held.delete(n);
      this.held.set(r.typeUrl, held);
      this.send({ type_url: r.typeUrl, response_nonce: r.nonce });
    }
    this.notify();
  }
}

export class SotwClient extends BaseClient {
  private readonly names = new Map<string, string[]>();
  private readonly versions = new Map<string, string>();

  readonly node: string;

  constructor(target: string | grpc.Client, node = 'test-proxy') {
    super(target);
    this.node = node;
    this.open('StreamAggregatedResources');
  }

  send(msg: Record<string, unknown>): void {
    this.call.write(SotwReq.encode(SotwReq.fromObject({ node: { id: this.node }, ...msg })).finish());
  }

  subscribe(typeUrl: string, names: string[] = []): void {
    this.names.set(typeUrl, names);
    this.send({ type_url: typeUrl, resource_names: names, version_info: this.versions.get(typeUrl) ?? '' });
  }

  protected onResponse(b: Buffer): void {
    const m = SotwRes.toObject(SotwRes.decode(b), decodeOpts) as { type_url: string; nonce: string; version_info: string; resources?: { value: Buffer }[] };
    const type = messageType(m.type_url.replace('type.googleapis.com/', ''));
    const names = (m.resources ?? []).map((a) => String((type.toObject(type.decode(a.value)) as { name: string }).name));
    const r: Received = { typeUrl: m.type_url, nonce: m.nonce, names, removed: [], version: m.version_info };
    this.received.push(r);
    const verdict = this.decide(r);
    const resource_names = this.names.get(r.typeUrl) ?? [];
    if (verdict?.nack) {
      this.send({ type_url: r.typeUrl, response_nonce: r.nonce, resource_names, version_info: this.versions.get(r.typeUrl) ?? '', error_detail: { code: 3, message: verdict.nack } });
    } else {
      this.versions.set(r.typeUrl, r.version);
      this.held.set(r.typeUrl, new Map(names.map((n) => [n, r.version])));
      this.send({ type_url: r.typeUrl, response_nonce: r.nonce, resource_names, version_info: r.version });
    }
    this.notify();
  }
}
