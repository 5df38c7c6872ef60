// Run by the chart's pre-install Job after `ferry init`: stores the new CA and
// API token as a Kubernetes Secret, once. An existing Secret is never
// replaced (it holds the domain's CA, which partners trust). Plain Node, no
// dependencies; talks to the API server with the Job's service account.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const home = env('FERRY_HOME');
const name = env('SECRET_NAME');
const sa = process.env.SERVICE_ACCOUNT_DIR ?? '/var/run/secrets/kubernetes.io/serviceaccount';
const namespace = process.env.POD_NAMESPACE ?? readFileSync(`${sa}/namespace`, 'utf8').trim();
const host = env('KUBERNETES_SERVICE_HOST');
const port = env('KUBERNETES_SERVICE_PORT');
const token = readFileSync(`${sa}/token`, 'utf8').trim();
const ca = readFileSync(`${sa}/ca.crt`);

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request({
      host, port, method, path, ca,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
      timeout: 10_000,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
const existing = await call('GET', `${path}/${encodeURIComponent(name)}`);
if (existing.status === 200) {
  console.log(`secret ${namespace}/${name} exists: kept as it is`);
  process.exit(0);
}
if (existing.status !== 404) throw new Error(`GET secret ${namespace}/${name}: HTTP ${existing.status} ${existing.text.slice(0, 300)}`);
const file = (f) => readFileSync(`${home}/${f}`).toString('base64');
const created = await call('POST', path, {
  apiVersion: 'v1',
  kind: 'Secret',
  type: 'Opaque',
  metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'ferry-init', 'ferry.dev/domain': env('FERRY_DOMAIN') } },
  data: { 'ca.crt': file('certs/ca.crt'), 'ca.key': file('certs/ca.key'), 'api-token': file('api-token') },
});
// 409: another run created it meanwhile; that one wins.
if (created.status === 409) console.log(`secret ${namespace}/${name} was created meanwhile: kept`);
else if (created.status !== 201) throw new Error(`POST secret ${namespace}/${name}: HTTP ${created.status} ${created.text.slice(0, 300)}`);
else console.log(`secret ${namespace}/${name} created (ca.crt, ca.key, api-token)`);
