// Certificates: this domain's CA and gateway certificate (GET /api/v1/certs),
// the CA rotation in progress, and each partner CA's expiry (GET /api/v1/partners).
// Only public facts: no key is ever sent by the API.
import { api, partners, usePoll } from './api.ts';

interface CertFacts { subject?: string; issuer?: string; serial?: string; notBefore?: string; notAfter?: string; fingerprint?: string }
interface CertStatus { ca: CertFacts; gateway: CertFacts & { renewAt?: string; lifetimeSeconds?: number }; rotation?: { activateAt?: string; next?: CertFacts } }

/** "in 3649 days", "in 16 h", "expired": a gateway certificate lives hours, a CA years. */
function expiresIn(iso: string | undefined): string {
  if (!iso) return '—';
  const ms = Date.parse(iso) - Date.now();
  if (ms <= 0) return 'expired';
  return ms >= 2 * 86400_000 ? `${Math.floor(ms / 86400_000)} days` : ms >= 3600_000 ? `${Math.floor(ms / 3600_000)} h` : `${Math.max(1, Math.floor(ms / 60_000))} min`;
}

/** CAs: amber under 30 days, red under 7. The gateway certificate renews itself: amber only once its renewal time passed. */
function health(c: CertFacts & { renewAt?: string }): string {
  if (!c.notAfter) return '';
  const left = Date.parse(c.notAfter) - Date.now();
  if (left <= 0) return 'bad';
  if (c.renewAt) return Date.now() > Date.parse(c.renewAt) ? 'warn' : 'ok';
  return left < 7 * 86400_000 ? 'bad' : left < 30 * 86400_000 ? 'warn' : 'ok';
}

function Row({ name, c, extra }: { name: string; c: CertFacts & { renewAt?: string }; extra?: string }) {
  return (
    <tr>
      <th scope="row">{name}</th>
      <td class="small">{c.subject ?? ''}</td>
      <td class="small">{c.serial ?? ''}</td>
      <td>{c.notAfter ?? ''}</td>
      <td><span class={`badge ${health(c)}`}>{expiresIn(c.notAfter)}</span></td>
      <td class="small">{extra ?? ''}</td>
    </tr>
  );
}

export function Certificates() {
  const { data, error } = usePoll(async () => ({ certs: await api<CertStatus>('/api/v1/certs'), partners: await partners() }), 5000);
  return (
    <section>
      <h1>Certificates</h1>
      {error && <p role="alert" class="error">{error}</p>}
      {data && (
        <>
          <div class="scroll">
            <table id="certs">
              <thead><tr><th scope="col">Certificate</th><th scope="col">Subject</th><th scope="col">Serial</th><th scope="col">Not after</th><th scope="col">Expires in</th><th scope="col">Notes</th></tr></thead>
              <tbody>
                <Row name="CA (this domain)" c={data.certs.ca} />
                <Row name="Gateway" c={data.certs.gateway} extra={data.certs.gateway.renewAt ? `renewed automatically at ${data.certs.gateway.renewAt}` : ''} />
                {data.certs.rotation?.next && <Row name="Next CA (rotation)" c={data.certs.rotation.next} extra={`takes over at ${data.certs.rotation.activateAt ?? '?'}`} />}
                {data.partners.filter((p) => p.caNotAfter).map((p) => <Row key={p.domain} name={`Partner CA: ${p.domain}`} c={{ notAfter: p.caNotAfter! }} />)}
              </tbody>
            </table>
          </div>
          <h2>Rotation</h2>
          <p id="rotation">{data.certs.rotation ? `A CA rotation is in progress: partners must apply the bundle \`ferry cert export\` prints before ${data.certs.rotation.activateAt}.` : 'No CA rotation in progress. `ferry cert rotate --ca` starts one; the gateway certificate renews itself.'}</p>
        </>
      )}
    </section>
  );
}
