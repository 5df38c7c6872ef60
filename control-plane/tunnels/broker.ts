// Reverse tunnels, calling side (alice, whose partner bob opens no port).
// bob's node dials tunnels into alice's public port (CONNECT
// ferry-tunnel.alice.svc, authenticated by bob's certificate); alice's Envoy
// ends each CONNECT and hands the tunnel to this broker on a Unix socket. When
// alice's Envoy connects to bob (its cluster points at the broker's other
// socket), the broker splices that connection into an idle tunnel: bytes are
// piped as they come (no buffering of bodies), and the TLS session inside is
// alice's own, to bob's gateway, as on a direct link.
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, rmSync } from 'node:fs';
import type { Logger } from 'pino';

/** How long a call waits for a tunnel before its connection is closed (Envoy then answers 503). */
const WAIT_FOR_TUNNEL_MS = 10_000;

export interface TunnelCounts {
  idle: number;
  active: number;
  waiting: number;
  /** Tunnels ever received, and calls ever spliced. */
  received: number;
  spliced: number;
}

export class TunnelBroker {
  readonly peer: string;
  private readonly idle: Socket[] = [];
  private readonly waiting: { socket: Socket; timer: NodeJS.Timeout }[] = [];
  private active = 0;
  private received = 0;
  private spliced = 0;
  private readonly servers: Server[] = [];
  private readonly log: Logger;
  private readonly sockets: { inSocket: string; outSocket: string };

  constructor(peer: string, sockets: { inSocket: string; outSocket: string }, log: Logger) {
    this.peer = peer;
    this.sockets = sockets;
    this.log = log;
  }

  async start(): Promise<void> {
    this.servers.push(await listen(this.sockets.inSocket, (s) => this.onTunnel(s)));
    this.servers.push(await listen(this.sockets.outSocket, (s) => this.onCall(s)));
  }

  async stop(): Promise<void> {
    for (const s of [...this.idle, ...this.waiting.map((w) => w.socket)]) s.destroy();
    for (const w of this.waiting) clearTimeout(w.timer);
    await Promise.all(this.servers.map((srv) => new Promise((r) => srv.close(r))));
    for (const path of [this.sockets.inSocket, this.sockets.outSocket]) rmSync(path, { force: true });
  }

  counts(): TunnelCounts {
    return { idle: this.idle.length, active: this.active, waiting: this.waiting.length, received: this.received, spliced: this.spliced };
  }

  /** A tunnel from the peer: serve a waiting call, or keep it for the next one. */
  private onTunnel(tunnel: Socket): void {
    this.received++;
    const call = this.waiting.shift();
    if (call) {
      clearTimeout(call.timer);
      this.splice(call.socket, tunnel);
      return;
    }
    this.idle.push(tunnel);
    const forget = () => {
      const i = this.idle.indexOf(tunnel);
      if (i >= 0) this.idle.splice(i, 1);
    };
    tunnel.once('close', forget);
    tunnel.once('error', forget);
  }

  /** Envoy connects to the peer: splice into an idle tunnel, or wait for one. */
  private onCall(call: Socket): void {
    const tunnel = this.idle.shift();
    if (tunnel) {
      tunnel.removeAllListeners('close');
      tunnel.removeAllListeners('error');
      this.splice(call, tunnel);
      return;
    }
    const timer = setTimeout(() => {
      const i = this.waiting.findIndex((w) => w.socket === call);
      if (i >= 0) this.waiting.splice(i, 1);
      this.log.warn({ peer: this.peer }, `no tunnel from ${this.peer} within ${WAIT_FOR_TUNNEL_MS / 1000} s: is ${this.peer}'s node running and able to reach this node?`);
      call.destroy();
    }, WAIT_FOR_TUNNEL_MS);
    this.waiting.push({ socket: call, timer });
    call.once('close', () => {
      const i = this.waiting.findIndex((w) => w.socket === call);
      if (i >= 0) { clearTimeout(this.waiting[i]!.timer); this.waiting.splice(i, 1); }
    });
  }

  private splice(call: Socket, tunnel: Socket): void {
    this.active++;
    this.spliced++;
    pipeBothWays(call, tunnel, () => { this.active--; });
  }

}

/**
 * Pipes a and b into each other until either closes or fails, then destroys
 * both and calls onEnd once. pipe() applies back-pressure both ways: a slow
 * reader slows the writer, nothing piles up in the node.
 */
export function pipeBothWays(a: Socket, b: Socket, onEnd: () => void): void {
  let done = false;
  const end = () => {
    if (done) return;
    done = true;
    a.destroy();
    b.destroy();
    onEnd();
  };
  for (const s of [a, b]) {
    s.once('close', end);
    s.once('error', end);
  }
  a.pipe(b);
  b.pipe(a);
}

/** A Unix-socket server only this node's user (and its Envoy) can reach. */
export async function listen(path: string, onConnection: (s: Socket) => void): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer({ allowHalfOpen: false, noDelay: true }, onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return server;
}
