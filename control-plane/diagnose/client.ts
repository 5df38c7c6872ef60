// Checks a partner link from this node, through this node's own gateway (the
// path engines use: relays, reverse tunnels, proxies and tokens included), to
// the partner's diagnose service. Each step says what failed and what fixes it.
import { request } from 'node:http';
import { DIAGNOSE_SERVICE } from '../resources/types.ts';

export interface Step {
  step: string;
  ok: boolean;
  detail: string;
  fix?: string;
  data?: Record<string, number | string | boolean>;
}

export interface Gateway {
  /** This node's internal listener. */
  host: string;
  port: number;
  domain: string;
}

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string; firstByteMs: number; totalMs: number; bytes: number }

function call(gw: Gateway, peer: string, method: string, path: string, opts: { body?: number; timeoutMs?: number; keepBody?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: gw.host, port: gw.port, method, path, agent: false, headers: { host: `${DIAGNOSE_SERVICE}.${peer}.svc`, ...(opts.body !== undefined ? { 'content-length': String(opts.body), 'content-type': 'application/octet-stream' } : {}) } }, (res) => {
      let firstByteMs = -1;
      let bytes = 0;
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => {
        if (firstByteMs < 0) firstByteMs = performance.now() - t0;
        bytes += d.length;
        if (opts.keepBody !== false && bytes <= 64 * 1024) chunks.push(d);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), firstByteMs, totalMs: performance.now() - t0, bytes }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`no answer within ${(opts.timeoutMs ?? 30_000) / 1000} s`)));
    req.on('error', reject);
    if (opts.body !== undefined) {
      const chunk = Buffer.alloc(Math.min(opts.body, 1024 * 1024), 0x41);
      let left = opts.body;
      const pump = () => {
        while (left > 0) {
          const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= piece.length;
          if (!req.write(piece)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    } else {
      req.end();
    }
  });
}

const errorMessage = (a: Answer) => String(a.headers['kuscia-error-message'] ?? '');

/**
 * One GET /echo through the gateway, read as the steps it proves or breaks:
 * route configured, DNS, TCP connect, TLS (our verification of the peer, the
 * peer's of us), authentication, authorisation.
 */
export async function checkPeer(gw: Gateway, peer: string): Promise<Step> {
  let a: Answer;
  try {
    a = await call(gw, peer, 'GET', '/echo', { timeoutMs: 15_000 });
  } catch (e) {
    return { step: 'local gateway', ok: false, detail: `this node's gateway (${gw.host}:${gw.port}) did not answer: ${(e as Error).message}`, fix: 'check `ferry status`: is the node running and Envoy ready?' };
  }
  const msg = errorMessage(a);
  const ownError = msg.startsWith(`${gw.domain}/`);
  if (a.status === 200) {
    let who = '';
    try { who = (JSON.parse(a.body) as { domain?: string }).domain ?? ''; } catch { /* not JSON */ }
    if (who !== peer) return { step: 'identity', ok: false, detail: `the diagnose service answered as "${who}", not ${peer}`, fix: `the route's endpoint reaches another domain: check its host and port` };
    return { step: 'reachability, TLS, identity, authentication', ok: true, detail: `${peer} answered; its gateway proved it is ${peer}, and it accepted ${gw.domain}`, data: { ms: Number(a.totalMs.toFixed(2)) } };
  }
  if (ownError && a.status === 404) return { step: 'route', ok: false, detail: msg.replace(/^[^>]*> /, ''), fix: `apply a route ${gw.domain} -> ${peer}` };
  if (ownError && a.status === 503 && /is not ready/.test(msg)) return { step: 'route', ok: false, detail: msg.replace(/^[^>]*> /, ''), fix: `\`ferry describe route\` for the ${gw.domain} -> ${peer} route says what is missing` };
  if (ownError && (a.status === 503 || a.status === 502)) {
    const reason = msg.replace(/^[^>]*> /, '');
    if (/CERTIFICATE_VERIFY_FAILED|verify/i.test(reason)) {
      return { step: 'TLS (verifying the peer)', ok: false, detail: reason, fix: `the certificate ${peer}'s endpoint presents does not verify against Domain ${peer}'s CA (or, behind a TLS-terminating gateway, spec.mTLSConfig.tlsCA): apply ${peer}'s current CA (\`ferry cert export\` on ${peer}) or check the endpoint` };
    }
    if (/ALERT|alert|handshake/i.test(reason)) {
      return { step: 'TLS (the peer verifying this node)', ok: false, detail: reason, fix: `${peer} refused this node's certificate during the handshake: ${peer} must apply a partner Domain ${gw.domain} with this node's CA (\`ferry cert export\` here)` };
    }
    if (/resolve|DNS|no such host|ENOTFOUND/i.test(reason)) return { step: 'DNS', ok: false, detail: reason, fix: `the endpoint host does not resolve from this node: check the route's endpoint.host and this machine's DNS` };
    if (/refused|111/.test(reason)) return { step: 'TCP connect', ok: false, detail: `${reason} (ECONNREFUSED: nothing listens there)`, fix: `check the route's endpoint host and port, and that ${peer}'s node runs` };
    if (/timeout|timed out|110|113|101/i.test(reason)) return { step: 'TCP connect', ok: false, detail: `${reason} (no answer: a firewall drops it, or no route)`, fix: `check that ${peer}'s public port is open to this node (firewall, routing), or use a relay or a reverse tunnel (docs/topologies.md)` };
    return { step: 'connection', ok: false, detail: reason || `HTTP ${a.status}`, fix: `check the path to ${peer}'s public port` };
  }
  if (a.status === 401) return { step: 'authentication', ok: false, detail: msg || 'unauthorized', fix: `${peer} does not accept this node's credential: for a Token route check its handshake (\`ferry describe route\`); for MTLS, ${peer} must trust this node's CA` };
  if (a.status === 403) return { step: 'authorisation', ok: false, detail: msg || 'forbidden', fix: `${peer} refused ${gw.domain}: ${peer} must have a partner Domain ${gw.domain} (the diagnose service is open to every partner)` };
  if (a.status === 404) return { step: 'diagnose service', ok: true, detail: `${peer} answered 404 for ${DIAGNOSE_SERVICE}: the link works, but ${peer} does not run Ferry's diagnose service (an older Ferry, or Kuscia)`, data: { ms: Number(a.totalMs.toFixed(2)) } };
  return { step: 'connection', ok: false, detail: `HTTP ${a.status} ${msg}`.trim() };
}

export interface DiagnoseOptions {
  downloadBytes: number;
  /** Largest body to try; sizes double from 1 MiB up to it. */
  maxBodyBytes: number;
  idleSeconds: number;
  dripMs: number;
  rttSamples: number;
}

export const DIAGNOSE_DEFAULTS: DiagnoseOptions = { downloadBytes: 16 * 2 ** 20, maxBodyBytes: 64 * 2 ** 20, idleSeconds: 5, dripMs: 1000, rttSamples: 10 };

export async function diagnoseNetwork(gw: Gateway, peer: string, opts: DiagnoseOptions = DIAGNOSE_DEFAULTS): Promise<{ peer: string; ok: boolean; steps: Step[] }> {
  const steps: Step[] = [];
  const first = await checkPeer(gw, peer);
  steps.push(first);
  if (!first.ok || first.step === 'diagnose service') return { peer, ok: first.ok, steps };

  const rtts: number[] = [];
  for (let i = 0; i < opts.rttSamples; i++) rtts.push((await call(gw, peer, 'GET', '/echo')).totalMs);
  rtts.sort((a, b) => a - b);
  steps.push({ step: 'round trip', ok: true, detail: `median ${rtts[Math.floor(rtts.length / 2)]!.toFixed(2)} ms, min ${rtts[0]!.toFixed(2)} ms over ${opts.rttSamples} requests`, data: { medianMs: Number(rtts[Math.floor(rtts.length / 2)]!.toFixed(2)), minMs: Number(rtts[0]!.toFixed(2)) } });

  const mib = (n: number) => `${(n / 2 ** 20).toFixed(n % 2 ** 20 ? 1 : 0)} MiB`;
  const down = await call(gw, peer, 'GET', `/bytes/${opts.downloadBytes}`, { keepBody: false, timeoutMs: 120_000 });
  const up = await call(gw, peer, 'POST', '/sink', { body: opts.downloadBytes, timeoutMs: 120_000 });
  const rate = (bytes: number, ms: number) => Number((bytes / 2 ** 20 / (ms / 1000)).toFixed(1));
  const bwOk = down.status === 200 && down.bytes === opts.downloadBytes && up.status === 200;
  steps.push({
    step: 'bandwidth', ok: bwOk,
    detail: bwOk ? `download ${rate(down.bytes, down.totalMs)} MiB/s, upload ${rate(opts.downloadBytes, up.totalMs)} MiB/s (${mib(opts.downloadBytes)} each way)` : `transfer failed: download HTTP ${down.status} (${down.bytes} bytes), upload HTTP ${up.status} ${errorMessage(up)}`,
    ...(bwOk ? { data: { downloadMiBps: rate(down.bytes, down.totalMs), uploadMiBps: rate(opts.downloadBytes, up.totalMs) } } : { fix: 'a gateway on the way cuts long transfers: check its body and time limits' }),
  });

  let largest = 0;
  let refused = '';
  for (let size = 2 ** 20; size <= opts.maxBodyBytes; size *= 2) {
    const r = await call(gw, peer, 'POST', '/sink', { body: size, timeoutMs: 120_000 }).catch((e: Error) => ({ status: 0, headers: {}, body: e.message } as unknown as Answer));
    if (r.status !== 200) { refused = `${mib(size)}: HTTP ${r.status} ${errorMessage(r) || r.body.slice(0, 120)}`.trim(); break; }
    largest = size;
  }
  steps.push({
    step: 'largest request body', ok: refused === '',
    detail: refused ? `${mib(largest)} passed; ${refused}` : `${mib(largest)} passed (the largest tried)`,
    data: { largestBytes: largest },
    ...(refused ? { fix: 'an intermediary limits request bodies (e.g. nginx client_max_body_size): raise it, or send smaller requests' } : {}),
  });

  const drip = await call(gw, peer, 'GET', `/drip?ms=${opts.dripMs}`, { timeoutMs: opts.dripMs + 30_000 });
  const buffered = drip.firstByteMs >= opts.dripMs * 0.9;
  steps.push({
    step: 'streamed responses', ok: drip.status === 200 && !buffered,
    detail: buffered ? `the first bytes arrived only after ${drip.firstByteMs.toFixed(0)} ms, with the end: something on the way buffers responses` : `first bytes after ${drip.firstByteMs.toFixed(0)} ms, the end after ${drip.totalMs.toFixed(0)} ms: responses stream`,
    data: { firstByteMs: Number(drip.firstByteMs.toFixed(1)) },
    ...(buffered ? { fix: 'turn response buffering off on the intermediary (nginx: proxy_buffering off)' } : {}),
  });

  const idle = await call(gw, peer, 'GET', `/idle?seconds=${opts.idleSeconds}`, { timeoutMs: opts.idleSeconds * 1000 + 30_000 }).catch((e: Error) => ({ status: 0, headers: {}, body: e.message } as unknown as Answer));
  steps.push({
    step: 'idle stream', ok: idle.status === 200,
    detail: idle.status === 200 ? `a request silent for ${opts.idleSeconds} s was answered` : `a request silent for ${opts.idleSeconds} s failed: HTTP ${idle.status} ${errorMessage(idle) || idle.body.slice(0, 120)}`.trim(),
    ...(idle.status === 200 ? {} : { fix: 'an intermediary closes idle connections: raise its idle timeout (nginx: proxy_read_timeout)' }),
  });
  return { peer, ok: steps.every((s) => s.ok), steps };
}
