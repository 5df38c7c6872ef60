// The source side of Kuscia's token handshake: per outbound Token route, obtain
// a token, roll it every rollingUpdatePeriod, and probe it with the 15 s
// heartbeat. Requests travel through this node's Envoy (a 0600 Unix socket
// listener, control-plane/xds: handshake-egress), so they take the peer link's
// TLS, path prefix and, later, relays and proxies like any request.
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  HALF_BYTES, HeartbeatState, MAX_HANDSHAKE_BODY_BYTES, decryptHalf, encryptHalf, handshakeHost, handshakeRequestBody, heartbeatStateName, parseHandshakeResponse, pubhash,
} from '../../interop/kuscia-handshake.ts';

export interface OutboundTokenRoute {
  /** Kind/name of the route resource. */
  id: string;
  destination: string;
  periodSeconds: number;
  /**
   * The destination's RSA public keys (PKCS#1 PEM), from its Domain.spec.cert,
   * newest first: during the destination's CA rotation its bundle holds two,
   * and after the rotation only the newest still decrypts.
   */
  destinationKeys: string[];
}

export interface ObtainedToken {
  token: string;
  revision: number;
  obtainedAt: number;
  expiresAt: number;
}

export interface ClientDeps {
  domain: string;
  privateKeys: () => string[];
  /** This domain's public key PEM (PKCS#1): its hash goes in the handshake. */
  publicKey: () => string;
  egressSocket: string;
  /** Puts the tokens into Envoy; resolves once Envoy runs them. */
  install: () => Promise<void>;
  persist: () => void;
  log: Logger;
  heartbeatMs?: number;
}

interface Session {
  route: OutboundTokenRoute;
  token?: ObtainedToken;
  timer?: NodeJS.Timeout;
  failures: number;
  lastError?: string;
  lastErrorAt?: number;
  lastHeartbeatOkAt?: number;
  heartbeatState?: number;
  stopped: boolean;
}

/** Kuscia marks a destination unreachable after 45 s without a heartbeat answer (three missed beats). */
const UNREACHABLE_BEATS = 3;

export class TokenClient {
  private readonly sessions = new Map<string, Session>();
  private readonly deps: ClientDeps;
  private readonly heartbeatMs: number;
  private readonly restored: Record<string, ObtainedToken>;

  constructor(deps: ClientDeps, restored: Record<string, ObtainedToken> = {}) {
    this.deps = deps;
    this.heartbeatMs = deps.heartbeatMs ?? 15_000;
    this.restored = restored;
  }

  /** Starts sessions for new routes, stops those of removed ones, restarts changed ones. */
  sync(routes: OutboundTokenRoute[]): void {
    const wanted = new Map(routes.map((r) => [r.destination, r]));
    for (const [dst, s] of this.sessions) {
      const r = wanted.get(dst);
      if (!r || r.id !== s.route.id || r.destinationKeys.join() !== s.route.destinationKeys.join() || r.periodSeconds !== s.route.periodSeconds) {
        this.stopSession(s);
        this.sessions.delete(dst);
      }
    }
    for (const r of routes) {
      if (this.sessions.has(r.destination)) continue;
      const restored = this.restored[r.destination];
      delete this.restored[r.destination];
      const s: Session = { route: r, failures: 0, stopped: false, ...(restored && restored.expiresAt > Date.now() ? { token: restored } : {}) };
      this.sessions.set(r.destination, s);
      this.schedule(s, 0);
    }
  }

  stop(): void {
    for (const s of this.sessions.values()) this.stopSession(s);
    this.sessions.clear();
  }

  /** Tokens to send now, or why there is none, per destination. */
  outbound(): Map<string, { value: string } | { pending: string }> {
    const out = new Map<string, { value: string } | { pending: string }>();
    for (const [dst, s] of this.sessions) {
      out.set(dst, s.token ? { value: s.token.token } : { pending: s.lastError ?? `the token handshake with ${dst} is in progress` });
    }
    return out;
  }

  /** Per destination: the token's revision and the last good heartbeat (metrics). */
  states(): { peer: string; revision: number; lastHeartbeatAt?: number }[] {
    return [...this.sessions].map(([peer, s]) => ({ peer, revision: s.token?.revision ?? 0, ...(s.lastHeartbeatOkAt ? { lastHeartbeatAt: s.lastHeartbeatOkAt } : {}) }));
  }

  obtained(): Record<string, ObtainedToken> {
    return Object.fromEntries([...this.sessions].flatMap(([dst, s]) => (s.token ? [[dst, s.token]] : [])));
  }

  describe(destination: string): { ready: boolean; reason: string; fix?: string } | undefined {
    const s = this.sessions.get(destination);
    if (!s) return undefined;
    const iso = (t?: number) => (t ? new Date(t).toISOString() : 'never');
    if (!s.token) {
      return { ready: false, reason: `no token: ${s.lastError ?? 'handshake in progress'}`, fix: s.lastError ? fixFor(s, this.deps.domain) : undefined };
    }
    const silentFor = Date.now() - (s.lastHeartbeatOkAt ?? s.token.obtainedAt);
    if (silentFor > UNREACHABLE_BEATS * this.heartbeatMs) {
      return { ready: false, reason: `${destination} unreachable: no heartbeat answer since ${iso(s.lastHeartbeatOkAt ?? s.token.obtainedAt)} (${s.lastError ?? 'no answer'})`, fix: `check that ${destination}'s public port is reachable from this node (ferry status on both nodes)` };
    }
    return { ready: true, reason: `token revision ${s.token.revision} obtained ${iso(s.token.obtainedAt)}, heartbeat ${s.lastHeartbeatOkAt ? `ok ${iso(s.lastHeartbeatOkAt)}` : 'not yet'}${s.route.periodSeconds > 0 ? `, rolled every ${s.route.periodSeconds}s` : ''}` };
  }

  private stopSession(s: Session): void {
    s.stopped = true;
    clearTimeout(s.timer);
  }

  private schedule(s: Session, ms: number): void {
    clearTimeout(s.timer);
    if (s.stopped) return;
    s.timer = setTimeout(() => { void this.tick(s); }, ms);
    s.timer.unref?.();
  }

  private async tick(s: Session): Promise<void> {
    if (s.stopped) return;
    const rollAt = s.token && s.route.periodSeconds > 0 ? s.token.obtainedAt + s.route.periodSeconds * 1000 : Infinity;
    try {
      if (!s.token || Date.now() >= rollAt) {
        await this.handshake(s);
      } else {
        await this.heartbeat(s);
      }
      s.failures = 0;
    } catch (e) {
      s.failures++;
      s.lastError = (e as Error).message;
      s.lastErrorAt = Date.now();
      this.deps.log.warn({ destination: s.route.destination, err: s.lastError }, 'token handshake/heartbeat failed');
      if (!s.token) await this.deps.install().catch(() => undefined); // the 503 says why
    }
    if (s.stopped) return;
    if (!s.token) {
      this.schedule(s, Math.min(30_000, 200 * 2 ** Math.min(s.failures, 8)));
      return;
    }
    const nextRoll = s.route.periodSeconds > 0 ? s.token.obtainedAt + s.route.periodSeconds * 1000 - Date.now() : Infinity;
    this.schedule(s, Math.max(0, Math.min(this.heartbeatMs, nextRoll)));
  }

  private async handshake(s: Session): Promise<void> {
    const { route } = s;
    const half = randomBytes(HALF_BYTES);
    const body = handshakeRequestBody({
      domain_id: this.deps.domain,
      type: 'RSA',
      // After a failure, the next key: a partner may still list a CA it has retired.
      token_config: { token: encryptHalf(route.destinationKeys[s.failures % route.destinationKeys.length]!, half), revision: s.token?.revision ?? 0, pubhash: pubhash(this.deps.publicKey()) },
      request_time: Date.now() * 1e6,
    });
    const { status, json } = await this.call(route.destination, 'POST', JSON.stringify(body), {});
    if (status !== 200) throw new Error(`${route.destination} refused the handshake with HTTP ${status}: ${describeBody(json)}`);
    const answer = parseHandshakeResponse(json);
    if (answer.status.code) throw new Error(`${route.destination} refused the handshake: ${answer.status.message ?? `code ${answer.status.code}`}`);
    const d = decryptHalf(this.deps.privateKeys(), answer.token!.token);
    if (!d) throw new Error(`${route.destination}'s handshake answer does not decrypt with ${this.deps.domain}'s key: ${route.destination} has another public key for ${this.deps.domain}`);
    const now = Date.now();
    s.token = {
      token: Buffer.concat([half, d]).toString('base64'),
      revision: answer.token!.revision ?? 0,
      obtainedAt: now,
      expiresAt: answer.token!.expiration_time ? Math.floor(answer.token!.expiration_time / 1e6) : now + 100 * 365 * 24 * 3600 * 1000,
    };
    s.lastError = undefined;
    s.lastHeartbeatOkAt = now;
    this.deps.persist();
    await this.deps.install();
    this.deps.log.info({ destination: route.destination, revision: s.token.revision }, 'token obtained');
  }

  private async heartbeat(s: Session): Promise<void> {
    const { status, json } = await this.call(s.route.destination, 'GET', undefined, { 'Kuscia-Token-Revision': String(s.token!.revision) });
    const state = (json as { state?: unknown } | undefined)?.state;
    if (status !== 200 || typeof state !== 'number') throw new Error(`heartbeat to ${s.route.destination}: HTTP ${status}: ${describeBody(json)}`);
    s.heartbeatState = state;
    if (state === HeartbeatState.TokenReady) {
      s.lastHeartbeatOkAt = Date.now();
      s.lastError = undefined;
      return;
    }
    if (state === HeartbeatState.TokenNotFound) {
      // The destination lost or expired our token: a new handshake, now.
      this.deps.log.info({ destination: s.route.destination }, 'destination does not know our token: new handshake');
      await this.handshake(s);
      return;
    }
    throw new Error(`heartbeat to ${s.route.destination}: ${heartbeatStateName(state)}${state === HeartbeatState.NoAuthentication ? ` (${s.route.destination} has no Token route from ${this.deps.domain})` : ''}`);
  }

  private call(destination: string, method: string, body: string | undefined, headers: Record<string, string>): Promise<{ status: number; json: unknown }> {
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.deps.egressSocket,
        method,
        path: '/handshake',
        headers: { host: handshakeHost(destination), ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}), ...headers },
        timeout: 20_000,
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_HANDSHAKE_BODY_BYTES) req.destroy(new Error('handshake answer too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = text;
          try { json = JSON.parse(text); } catch { /* keep the text for the error */ }
          resolve({ status: res.statusCode ?? 0, json });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${destination} within 20 s`)));
      req.on('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'this node\'s Envoy is not ready yet' : e.message)));
      req.end(body);
    });
  }
}

function describeBody(json: unknown): string {
  if (typeof json === 'string') return json.slice(0, 300) || '(empty body)';
  const j = json as { message?: string; status?: { message?: string } } | undefined;
  return j?.status?.message ?? j?.message ?? JSON.stringify(json).slice(0, 300);
}

function fixFor(s: Session, self: string): string {
  const e = s.lastError ?? '';
  const dst = s.route.destination;
  if (/pubhash/.test(e)) return `${dst} has another certificate for ${self}: give ${dst} the CA that \`ferry cert export\` prints here`;
  if (/does not decrypt/.test(e)) return `update Domain ${dst} here (or ${self} there) with the partner's current CA certificate`;
  if (/no Token route|not a partner|no route/i.test(e)) return `${dst} must apply a Token route from ${self} and a partner Domain ${self}`;
  if (/HTTP 401|HTTP 403/.test(e)) return `${dst} refused this node at the gateway: check that it has a Token route from ${self}`;
  return `check that ${dst}'s public port is reachable from this node and that ${dst} runs Ferry or Kuscia with a Token route from ${self}`;
}
