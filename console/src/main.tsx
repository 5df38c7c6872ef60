// The Ferry console: login, then five views over the node's REST API
// (docs/console.md). Routing is by the URL's hash, which never holds a secret.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, session, type NodeStatus } from './api.ts';
import { Topology } from './topology.tsx';
import { Routes, RouteDetail } from './routes.tsx';
import { Traffic } from './traffic.tsx';
import { Jobs, JobDetail } from './jobs.tsx';
import { Certificates } from './certs.tsx';
import './style.css';

const VIEWS = [
  ['topology', 'Topology'],
  ['routes', 'Routes & Services'],
  ['traffic', 'Traffic'],
  ['jobs', 'Jobs'],
  ['certs', 'Certificates'],
] as const;

function useHash(): string[] {
  const parse = () => location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const [parts, setParts] = useState(parse);
  useEffect(() => {
    const on = () => setParts(parse());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return parts;
}

function Login({ onLogin }: { onLogin: (domain: string) => void }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const input = (e.currentTarget as HTMLFormElement).elements.namedItem('token') as HTMLInputElement;
    const token = input.value.trim();
    if (!token) return setError('Enter the API token: it is in <home>/api-token on the node.');
    setBusy(true);
    try {
      const s = await api<NodeStatus>('/api/v1/status', { token });
      session.save(token);
      input.value = '';
      onLogin(s.domain);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'The node refused this token (401): copy it again from <home>/api-token.' : `The node did not answer: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <h1>Ferry console</h1>
      <form onSubmit={submit} method="post" autocomplete="off">
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" spellcheck={false} required aria-describedby="token-help" aria-invalid={error ? 'true' : 'false'} />
        <p id="token-help" class="help">The token in <code>&lt;home&gt;/api-token</code>. It stays in this tab only (session storage) and is sent as a bearer token.</p>
        <button type="submit" disabled={busy}>Log in</button>
        {error && <p role="alert" class="error" id="login-error">{error}</p>}
      </form>
    </main>
  );
}

function App() {
  const [domain, setDomain] = useState<string | undefined>();
  const [loggedIn, setLoggedIn] = useState(session.token() !== null);
  const hash = useHash();
  useEffect(() => {
    const out = () => { setLoggedIn(false); setDomain(undefined); };
    window.addEventListener('ferry-logout', out);
    return () => window.removeEventListener('ferry-logout', out);
  }, []);
  useEffect(() => {
    if (loggedIn && !domain) api<NodeStatus>('/api/v1/status').then((s) => setDomain(s.domain), () => undefined);
  }, [loggedIn, domain]);
  if (!loggedIn) return <Login onLogin={(d) => { setDomain(d); setLoggedIn(true); }} />;
  const [view = 'topology', ...rest] = hash;
  const current = VIEWS.some(([v]) => v === view) ? view : 'topology';
  return (
    <div class="shell">
      <header>
        <span class="brand">Ferry <span class="domain" id="domain">{domain ?? '…'}</span></span>
        <nav aria-label="Views">
          <ul>
            {VIEWS.map(([v, label]) => <li key={v}><a href={`#/${v}`} aria-current={current === v ? 'page' : undefined}>{label}</a></li>)}
          </ul>
        </nav>
        <button type="button" class="logout" onClick={() => session.clear()}>Log out</button>
      </header>
      <main id="view">
        {current === 'topology' && <Topology self={domain} />}
        {current === 'routes' && (rest.length >= 2 ? <RouteDetail kind={rest[0]!} name={rest[1]!} /> : <Routes />)}
        {current === 'traffic' && <Traffic />}
        {current === 'jobs' && (rest.length >= 1 ? <JobDetail name={rest[0]!} self={domain} /> : <Jobs />)}
        {current === 'certs' && <Certificates />}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
