// The ADS gRPC server: both variants (delta, the default of Ferry's Envoys,
// and state-of-the-world) on one port, fed from one Snapshot. Several proxies
// (gateway replicas) may connect; encoded resources are shared by all.
import { EventEmitter } from 'node:events';
import { timingSafeEqual } from 'node:crypto';
import { chmodSync, rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { XDS_SECRET_HEADER } from '../../envoy/bootstrap.ts';
import type { Logger } from 'pino';
import type { ControlPlaneMetrics } from '../metrics.ts';
import { SHORT_TYPE_NAME, type ResourceTypeUrl } from '../xds/envoy-types.ts';
import type { Snapshot } from './snapshot.ts';
import type { AdsStream, Nack, ProxyStatus, StreamHost } from './stream.ts';
import { DeltaRequest, DeltaStream, type DeltaRequestMsg } from './delta-stream.ts';
import { SotwRequest, SotwStream, type SotwRequestMsg } from './sotw-stream.ts';

export type { Nack, ProxyStatus } from './stream.ts';

const SERVICE = '/envoy.service.discovery.v3.AggregatedDiscoveryService';
const toBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

export class AdsServer extends EventEmitter implements StreamHost {
  snapshot: Snapshot | undefined;
  readonly log: Logger;
  readonly nacks: { node: string; type: string; nack: Nack }[] = [];
  private readonly metrics: ControlPlaneMetrics | undefined;
  private readonly streams = new Set<AdsStream>();
  private readonly grpcServer = new grpc.Server({ 'grpc.max_send_message_length': 256 * 1024 * 1024, 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  /** When the configuration now being rolled out was changed (for the convergence histogram). */
  private changeStartedAt: number | undefined;

  /** When set, only streams presenting it (Ferry's own Envoys: see envoy/bootstrap.ts) are served or counted. */
  private readonly secret: Buffer | undefined;

  constructor(log: Logger, metrics?: ControlPlaneMetrics, local: { secret?: string } = {}) {
    super();
    this.log = log;
    this.metrics = metrics;
    this.secret = local.secret === undefined ? undefined : Buffer.from(local.secret);
    const method = (name: string, decode: (b: Buffer) => unknown) => ({
      path: `${SERVICE}/${name}`,
      requestStream: true,
      responseStream: true,
      requestSerialize: () => { throw new Error('server side only'); },
      requestDeserialize: decode,
      responseSerialize: toBuffer,
      responseDeserialize: (b: Buffer) => b,
    });
    const opts = { defaults: false, longs: String };
    this.grpcServer.addService(
      {
        DeltaAggregatedResources: method('DeltaAggregatedResources', (b) => DeltaRequest.toObject(DeltaRequest.decode(b), opts)),
        StreamAggregatedResources: method('StreamAggregatedResources', (b) => SotwRequest.toObject(SotwRequest.decode(b), opts)),
      },
      {
        DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaRequestMsg, Uint8Array>) =>
          this.serve(call, new DeltaStream(call as grpc.ServerDuplexStream<unknown, Uint8Array>, this), (s, r) => (s as DeltaStream).handle(r)),
        StreamAggregatedResources: (call: grpc.ServerDuplexStream<SotwRequestMsg, Uint8Array>) =>
          this.serve(call, new SotwStream(call as grpc.ServerDuplexStream<unknown, Uint8Array>, this), (s, r) => (s as SotwStream).handle(r)),
      },
    );
  }

  /** Whether the call presents this node's xDS secret (constant-time compare). */
  private trusted(call: grpc.ServerDuplexStream<unknown, Uint8Array>): boolean {
    if (!this.secret) return true;
    const given = call.metadata.get(XDS_SECRET_HEADER)[0];
    const b = Buffer.from(typeof given === 'string' ? given : '');
    return b.length === this.secret.length && timingSafeEqual(b, this.secret);
  }

  private serve<R>(call: grpc.ServerDuplexStream<R, Uint8Array>, stream: AdsStream, handle: (s: AdsStream, req: R) => void): void {
    // A stranger gets nothing (no keys, no configuration) and is not a proxy readiness waits for.
    if (!this.trusted(call as grpc.ServerDuplexStream<unknown, Uint8Array>)) {
      this.metrics?.xdsRefused.inc();
      this.log.warn({ peer: call.getPeer() }, 'xDS stream refused: it does not present this node\'s xDS secret (not one of its own Envoys)');
      call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: `not one of this node's Envoys: the ${XDS_SECRET_HEADER} header is missing or wrong` });
      return;
    }
    this.streams.add(stream);
    this.metrics?.xdsProxies.inc({ variant: stream.variant });
    const close = () => {
      if (!this.streams.delete(stream)) return;
      this.metrics?.xdsProxies.dec({ variant: stream.variant });
      this.log.info({ node: stream.node, variant: stream.variant }, 'xDS stream closed');
      this.progress();
    };
    call.on('data', (req: R) => {
      const isNew = stream.node === 'unknown';
      try {
        handle(stream, req);
      } catch (e) {
        this.log.error({ err: e, node: stream.node }, 'xDS request handling failed');
      }
      if (isNew && stream.node !== 'unknown') this.log.info({ node: stream.node, variant: stream.variant }, 'xDS stream opened');
    });
    call.on('end', () => { close(); call.end(); });
    call.on('error', close);
    call.on('cancelled', close);
  }

  /** Installs a new snapshot and pushes the differences to every proxy. */
  setSnapshot(snapshot: Snapshot, changedAt = Date.now()): void {
    if (this.snapshot?.version === snapshot.version) return;
    this.snapshot = snapshot;
    this.changeStartedAt ??= changedAt;
    for (const s of this.streams) s.push();
    this.progress();
  }

  onAnswer(stream: AdsStream, typeUrl: ResourceTypeUrl, nack: Nack | undefined): void {
    if (nack) {
      this.log.error({ node: stream.node, type: SHORT_TYPE_NAME[typeUrl], error: nack.message }, 'Envoy rejected the configuration (NACK); it keeps serving its last good configuration');
      this.nacks.push({ node: stream.node, type: SHORT_TYPE_NAME[typeUrl], nack });
      if (this.nacks.length > 50) this.nacks.shift();
      this.metrics?.xdsNacks.inc({ type: SHORT_TYPE_NAME[typeUrl] });
      this.emit('nack', { node: stream.node, type: SHORT_TYPE_NAME[typeUrl], nack });
    }
    this.progress();
  }

  onPush(stream: AdsStream, typeUrl: ResourceTypeUrl, updates: number, removed: number): void {
    this.metrics?.xdsPushes.inc({ variant: stream.variant, type: SHORT_TYPE_NAME[typeUrl] });
    this.log.debug({ node: stream.node, type: SHORT_TYPE_NAME[typeUrl], updates, removed }, 'xDS push');
  }

  private progress(): void {
    if (this.changeStartedAt !== undefined && this.converged()) {
      this.metrics?.xdsConvergence.observe((Date.now() - this.changeStartedAt) / 1000);
      this.changeStartedAt = undefined;
      this.emit('converged', this.snapshot!.version);
    }
    this.emit('progress');
  }

  proxies(): ProxyStatus[] {
    return [...this.streams].map((s) => s.status());
  }

  /** True when at least one proxy is connected and every proxy acknowledged the current snapshot. */
  converged(): boolean {
    const version = this.snapshot?.version;
    return version !== undefined && this.streams.size > 0 && [...this.streams].every((s) => s.isCurrent(version));
  }

  /** Binds the gRPC port; returns the bound port (useful with port 0). */
  listen(address: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.grpcServer.bindAsync(`${address}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
  }

  /**
   * Binds a Unix socket, mode 0600 (the node's own Envoy connects there). A
   * socket left by a previous run is replaced: the caller made sure no node
   * runs for this home.
   */
  async listenUnix(path: string): Promise<void> {
    rmSync(path, { force: true });
    await new Promise<number>((resolve, reject) => {
      this.grpcServer.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
    chmodSync(path, 0o600);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      const force = setTimeout(() => { this.grpcServer.forceShutdown(); resolve(); }, 1000);
      force.unref();
      this.grpcServer.tryShutdown(() => { clearTimeout(force); resolve(); });
    });
  }
}
