// The destination side of Kuscia's token handshake: answers a partner's
// handshake with the second half of a fresh token, keeps the newest two tokens
// per partner (so rolling is hitless), and answers heartbeats.
import { randomBytes } from 'node:crypto';
import {
  HALF_BYTES, HandshakeFormatError, HeartbeatState, decryptHalf, encryptHalf, failedHandshake, parseHandshakeRequest, pubhash,
  type HandshakeResponse, type HeartbeatResponse,
} from '../../interop/kuscia-handshake.ts';

export interface IssuedToken {
  /** base64(s || d), what the partner sends as Kuscia-Token. */
  token: string;
  revision: number;
  issuedAt: number;
  expiresAt: number;
}

export interface PartnerTokens {
  revision: number;
  /** Newest first, at most two. */
  tokens: IssuedToken[];
  lastHandshakeAt?: number;
  lastHeartbeatAt?: number;
}

/** What the issuer needs to know about a source domain, from the stored resources. */
export type SourceLookup =
  | { ok: true; periodSeconds: number; publicKeys: string[] }
  | { ok: false; message: string };

export interface IssuerDeps {
  domain: string;
  /** This domain's RSA private keys (the CA key; during a CA rotation the old one too). */
  privateKeys: () => string[];
  lookup: (source: string) => SourceLookup;
  /** Puts the current tokens into Envoy and resolves once Envoy runs them. */
  install: () => Promise<void>;
  persist: () => void;
  /** A handshake here issued a token (replicas publish it for the others). */
  issued?: (source: string, state: PartnerTokens) => void;
  now?: () => number;
}

/** Without rolling (rollingUpdatePeriod 0) a token lives "forever", as in Kuscia (100 years). */
const FOREVER_MS = 100 * 365 * 24 * 3600 * 1000;

export interface HandshakeAnswer {
  httpStatus: number;
  body: HandshakeResponse;
}

export class TokenIssuer {
  readonly partners = new Map<string, PartnerTokens>();
  private readonly deps: IssuerDeps;
  private readonly now: () => number;

  constructor(deps: IssuerDeps, restored: Record<string, PartnerTokens> = {}) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    for (const [source, state] of Object.entries(restored)) this.partners.set(source, state);
  }

  /** POST [pathPrefix]/handshake. `claimedSource` is the Kuscia-Source header. */
  async handshake(body: unknown, claimedSource: string | undefined): Promise<HandshakeAnswer> {
    let req;
    try {
      req = parseHandshakeRequest(body);
    } catch (e) {
      if (e instanceof HandshakeFormatError) return { httpStatus: 400, body: failedHandshake(`malformed handshake: ${e.message}`, 400) };
      throw e;
    }
    const source = req.domain_id;
    const fail = (message: string): HandshakeAnswer => ({ httpStatus: 200, body: failedHandshake(message) });
    if (claimedSource !== undefined && claimedSource !== source) {
      return fail(`Kuscia-Source "${claimedSource}" does not match domain_id "${source}"`);
    }
    const known = this.deps.lookup(source);
    if (!known.ok) return fail(known.message);
    const sourceKey = known.publicKeys.find((k) => pubhash(k) === req.token_config.pubhash);
    if (!sourceKey) {
      return fail(`source domain ${source}: pubhash does not match the public key of its certificate in Domain ${source} on ${this.deps.domain}; the partner must send the hash of the key its Domain.spec.cert holds`);
    }
    const s = decryptHalf(this.deps.privateKeys(), req.token_config.token);
    if (!s) {
      return fail(`the token does not decrypt with ${this.deps.domain}'s key: ${source} must encrypt to the public key of ${this.deps.domain}'s current CA certificate`);
    }
    const d = randomBytes(HALF_BYTES);
    const now = this.now();
    const state = this.partners.get(source) ?? { revision: 0, tokens: [] };
    const issued: IssuedToken = {
      token: Buffer.concat([s, d]).toString('base64'),
      revision: state.revision + 1,
      issuedAt: now,
      expiresAt: now + (known.periodSeconds > 0 ? 2 * known.periodSeconds * 1000 : FOREVER_MS),
    };
    // The newest two: a partner that just rolled still has requests in flight with the previous token.
    const next: PartnerTokens = { ...state, revision: issued.revision, tokens: [issued, ...state.tokens.filter((t) => t.expiresAt > now)].slice(0, 2), lastHandshakeAt: now };
    this.partners.set(source, next);
    this.deps.persist();
    this.deps.issued?.(source, next);
    // Answer only once Envoy accepts the token: the partner uses it at once.
    await this.deps.install();
    return {
      httpStatus: 200,
      body: { status: {}, token: { token: encryptHalf(sourceKey, d), expiration_time: issued.expiresAt * 1e6, revision: issued.revision } },
    };
  }

  /** GET [pathPrefix]/handshake with Kuscia-Source and Kuscia-Token-Revision. */
  heartbeat(source: string | undefined, revisionHeader: string | undefined): HeartbeatResponse {
    const answer = (state: number): HeartbeatResponse => ({ namespace: this.deps.domain, state });
    if (!source) return answer(HeartbeatState.DomainIDInputInvalid);
    if (!this.deps.lookup(source).ok) return answer(HeartbeatState.NoAuthentication);
    if (!revisionHeader || !/^\d+$/.test(revisionHeader)) return answer(HeartbeatState.TokenRevisionInputInvalid);
    const state = this.partners.get(source);
    const now = this.now();
    const token = state?.tokens.find((t) => t.revision === Number(revisionHeader) && t.expiresAt > now);
    if (!state || !token) return answer(HeartbeatState.TokenNotFound);
    state.lastHeartbeatAt = now;
    return answer(HeartbeatState.TokenReady);
  }

  /**
   * Another replica's state for a source: both replicas' tokens stay valid
   * (the newest two live ones), so a partner may use any replica. True when
   * this changed what is accepted.
   */
  merge(source: string, other: PartnerTokens): boolean {
    const now = this.now();
    const mine = this.partners.get(source) ?? { revision: 0, tokens: [] };
    const byToken = new Map([...mine.tokens, ...other.tokens].filter((t) => t.expiresAt > now).map((t) => [t.token, t]));
    const tokens = [...byToken.values()].sort((a, b) => b.revision - a.revision || b.issuedAt - a.issuedAt).slice(0, 2);
    const max = (a?: number, b?: number) => (a === undefined ? b : b === undefined ? a : Math.max(a, b));
    const lastHandshakeAt = max(mine.lastHandshakeAt, other.lastHandshakeAt);
    const lastHeartbeatAt = max(mine.lastHeartbeatAt, other.lastHeartbeatAt);
    const next: PartnerTokens = { revision: Math.max(mine.revision, other.revision), tokens, ...(lastHandshakeAt ? { lastHandshakeAt } : {}), ...(lastHeartbeatAt ? { lastHeartbeatAt } : {}) };
    const changed = tokens.map((t) => t.token).join() !== mine.tokens.filter((t) => t.expiresAt > now).map((t) => t.token).join();
    this.partners.set(source, next);
    return changed;
  }

  /** Tokens Envoy must accept now, per source, newest first. */
  accepted(): Map<string, string[]> {
    const now = this.now();
    const out = new Map<string, string[]>();
    for (const [source, state] of this.partners) {
      const live = state.tokens.filter((t) => t.expiresAt > now).map((t) => t.token);
      if (live.length) out.set(source, live);
    }
    return out;
  }

  /** The next moment a token expires (to re-translate then), if any. */
  nextExpiry(): number | undefined {
    const now = this.now();
    const times = [...this.partners.values()].flatMap((s) => s.tokens.map((t) => t.expiresAt)).filter((t) => t > now);
    return times.length ? Math.min(...times) : undefined;
  }

  /** Forgets partners that no longer have a Token route here (their tokens stop working). */
  retain(sources: Set<string>): boolean {
    let changed = false;
    for (const source of [...this.partners.keys()]) {
      if (!sources.has(source)) {
        this.partners.delete(source);
        changed = true;
      }
    }
    return changed;
  }

  describe(source: string): { ready: boolean; reason: string; fix?: string } {
    const state = this.partners.get(source);
    const now = this.now();
    const live = state?.tokens.filter((t) => t.expiresAt > now) ?? [];
    if (!state || live.length === 0) {
      return { ready: false, reason: `inbound: no valid token from ${source} yet (no handshake${state ? ' since the last token expired' : ''})`, fix: `${source}'s node must have a Token route to ${this.deps.domain} and reach this node's public port; see its route status` };
    }
    const iso = (t?: number) => (t ? new Date(t).toISOString() : 'never');
    return {
      ready: true,
      reason: `inbound: ${source} authenticates with a rolling token (revision ${state.revision}, handshake ${iso(state.lastHandshakeAt)}, heartbeat ${iso(state.lastHeartbeatAt)}, ${live.length} token(s) accepted)`,
    };
  }
}
