// Certificates: this domain's CA and gateway certificate (GET /api/v1/certs),
// the CA rotation in progress, and each partner CA's expiry (GET /api/v1/partners).
// Only public facts: no key is ever sent by the API.
import { api, partners, usePoll } from './api.ts';

interface CertFacts { subject?: string; issuer?: string; serial?: string; notBefore?: string; notAfter?: string; fingerprint?: string }
interface CertStatus { ca: CertFacts; gateway: CertFacts & { renewAt?: string; lifetimeSeconds?: number }; rotation?: { activateAt?: string; next?: CertFacts } }

const days = (iso?: string) => iso ? Math.floor((Date.parse(iso) - Date.now()) / 86400_000) : undefined;

function Row({ name, c, extra }: { name: string; c: CertFacts; extra?: string }) {
  const d = days(c.notAfter);
  return (
    <tr>
      <th scope="row">{name}</th>
      <td class="small">{c.subject ?? ''}</td>
      <td class="small">{c.serial ?? ''}</td>
      <td>{c.notAfter ?? ''}</td>
      <td><span class={`badge ${d === undefined ? '' : d < 7 ? 'bad' : d < 30 ? 'warn' : 'ok'}`}>{d === undefined ? '—' : `${d} days`}</span></td>
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
