// charts/ferry, statically: `helm lint --strict` and `helm template` for the
// default values and three variants, every manifest validated against the
// Kubernetes API schemas (kubeconform, schemas from a PyPI package, offline),
// and the chart's promises checked on the rendered objects: non-root,
// read-only root filesystem, probes, limits, no secret in a ConfigMap, bad
// values refused with a message naming the field.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/harness.ts';
import { CHART, KUBE_VERSIONS, find, k8sTools, kubeconform, lint, podSpecs, render, template, type Container, type K8sObject, type K8sTools, type PodSpec } from '../helm/chart.ts';

const tools = k8sTools();
const skip = typeof tools === 'string' ? tools : false;
const T = tools as K8sTools;

const partnerCa = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB...partner CA (public)\n-----END CERTIFICATE-----\n').toString('base64');
export const VARIANTS: Record<string, object> = {
  default: { domain: 'alice' },
  'etcd replicas': {
    domain: 'alice',
    replicas: 3,
    store: { type: 'etcd', etcd: { endpoints: ['etcd-0.etcd:2379', 'etcd-1.etcd:2379', 'etcd-2.etcd:2379'], keySecret: { name: 'alice-store-key', key: 'store.key' } } },
  },
  // Everything optional switched on, public port behind a cloud load balancer.
  LoadBalancer: {
    domain: 'alice',
    service: { public: { type: 'LoadBalancer', port: 443, loadBalancerSourceRanges: ['203.0.113.0/24'] } },
    persistence: { enabled: true, size: '2Gi' },
    metrics: { serviceMonitor: { enabled: true }, prometheusRules: { enabled: true }, grafanaDashboard: { enabled: true } },
    networkPolicy: { internalFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
  },
  // KusciaAPI without TLS: on the pod's loopback only, nothing exposed for it.
  'KusciaAPI NOTLS': { domain: 'alice', kusciaApi: { protocol: 'NOTLS' } },
  'bring-your-own secrets': {
    domain: 'alice',
    secrets: { existingSecret: 'alice-ca' },
    apply: {
      configMaps: ['alice-partners'],
      resources: [
        { apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'Domain', metadata: { name: 'bob' }, spec: { role: 'partner', cert: partnerCa } },
        { apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'ClusterDomainRoute', metadata: { name: 'alice-bob' }, spec: { source: 'alice', destination: 'bob', authenticationType: 'MTLS', endpoint: { host: 'bob.example.org', ports: [{ name: 'https', port: 1080, protocol: 'HTTP', isTLS: true }] } } },
      ],
    },
  },
};

const containers = (spec: PodSpec): Container[] => [...(spec.initContainers ?? []), ...spec.containers];
const deployment = (objects: K8sObject[]) => {
  const [d] = find(objects, 'Deployment');
  assert.ok(d, 'a Deployment is rendered');
  return d as K8sObject & { spec: { replicas: number; strategy: { type: string }; template: { spec: PodSpec } } };
};

describe('Helm chart charts/ferry: lint, schemas, policies', { skip }, () => {
  for (const [name, values] of Object.entries(VARIANTS)) {
    describe(`values: ${name}`, () => {
      const rendered = () => render(T, values);

      test('helm lint --strict passes', () => {
        const r = lint(T, values);
        assert.equal(r.code, 0, r.output);
        assert.match(r.output, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      });

      for (const version of KUBE_VERSIONS) {
        test(`every manifest is valid against the Kubernetes ${version} API schemas (kubeconform -strict)`, () => {
          const { text, objects } = rendered();
          // ServiceMonitor is a CRD of prometheus-operator: no built-in schema.
          const r = kubeconform(T, text, version, ['ServiceMonitor']);
          const bad = (r.report.resources ?? []).filter((x) => x.status !== 'statusValid' && x.status !== 'statusSkipped');
          assert.deepEqual(bad, [], JSON.stringify(bad, null, 2));
          assert.equal(r.code, 0, r.stderr);
          const skipped = objects.filter((o) => o.kind === 'ServiceMonitor').length;
          assert.equal(r.report.summary?.valid, objects.length - skipped, 'every other object was validated');
        });
      }

      test('every container: non-root, read-only root filesystem, no privilege escalation, CPU and memory limits', () => {
        const pods = podSpecs(rendered().objects);
        assert.ok(pods.length >= 1);
        for (const { owner, spec } of pods) {
          assert.equal(spec.securityContext?.runAsNonRoot, true, `${owner}: pod runAsNonRoot`);
          for (const c of containers(spec)) {
            const where = `${owner} container ${c.name}`;
            const sc = c.securityContext ?? {};
            assert.equal(sc.runAsNonRoot, true, `${where}: runAsNonRoot`);
            assert.ok(Number(sc.runAsUser ?? spec.securityContext?.runAsUser) > 0, `${where}: a non-zero runAsUser`);
            assert.equal(sc.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
            assert.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation false`);
            assert.deepEqual((sc.capabilities as { drop?: string[] } | undefined)?.drop, ['ALL'], `${where}: drops all capabilities`);
            assert.ok(c.resources?.limits?.cpu && c.resources.limits.memory, `${where}: CPU and memory limits`);
            assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${where}: CPU and memory requests`);
          }
        }
      });

      test('the pod: the node probed on /healthz and /readyz, the official Envoy 1.40 beside it, Kuscia 1C2G in total', () => {
        const spec = deployment(rendered().objects).spec.template.spec;
        const node = spec.containers.find((c) => c.name === 'ferry')!;
        const envoy = spec.containers.find((c) => c.name === 'envoy')!;
        assert.equal(node.livenessProbe?.httpGet?.path, '/healthz');
        assert.equal(node.readinessProbe?.httpGet?.path, '/readyz');
        assert.equal(node.livenessProbe?.httpGet?.port, 'api');
        assert.ok(node.ports?.some((p) => p.name === 'api'));
        assert.ok(envoy.readinessProbe?.tcpSocket, 'Envoy ready once it serves the public port');
        assert.match(envoy.image, /^envoyproxy\/envoy:v1\.40\.\d+$/);
        assert.deepEqual(node.command?.slice(-1), ['--external-envoy'], 'the node does not spawn its own Envoy in the pod');
        // The bootstrap travels through the shared run/ volume.
        const runMount = (c: Container) => c.volumeMounts?.find((m) => m.mountPath === '/var/lib/ferry/run')?.name;
        assert.ok(runMount(node) && runMount(node) === runMount(envoy));
        assert.match(envoy.command!.join(' '), /envoy -c "\$b"/);
        assert.ok(!envoy.volumeMounts?.some((m) => m.mountPath === '/var/lib/ferry' || m.mountPath.startsWith('/etc/ferry')), 'Envoy sees neither the CA key nor the API token');
        const sum = (unit: 'cpu' | 'memory') => spec.containers.reduce((s, c) => s + quantity(c.resources!.limits![unit]!), 0);
        assert.equal(sum('cpu'), 1);
        assert.equal(sum('memory'), 2 * 2 ** 30);
      });

      test('no secret value in any ConfigMap', () => {
        const { objects } = rendered();
        for (const cm of find(objects, 'ConfigMap')) {
          const data = JSON.stringify((cm as { data?: unknown }).data ?? {});
          assert.doesNotMatch(data, /PRIVATE KEY/, `${cm.metadata.name}: a private key`);
          for (const key of Object.keys((cm as { data?: Record<string, string> }).data ?? {})) {
            assert.doesNotMatch(key, /(^|[-_.])(key|token|password|secret)($|[-_.])/i, `${cm.metadata.name}: key ${key} looks like a secret`);
          }
        }
        assert.deepEqual(find(objects, 'Secret'), [], 'the chart renders no Secret value at all: the Job or the admin makes it');
      });
    });
  }

  test('default: one replica on the embedded store, Recreate, a NodePort, the Job that makes the CA Secret', () => {
    const { objects } = render(T, VARIANTS.default!);
    const d = deployment(objects);
    assert.equal(d.spec.replicas, 1);
    assert.equal(d.spec.strategy.type, 'Recreate');
    const [pub] = find(objects, 'Service', 'ferry');
    assert.equal((pub!.spec as { type: string }).type, 'NodePort');
    const internal = find(objects, 'Service', 'ferry-internal')[0]!.spec as { type: string; ports: { name: string }[] };
    assert.equal(internal.type, 'ClusterIP');
    assert.deepEqual(internal.ports.map((p) => p.name).sort(), ['api', 'internal', 'kusciaapi-grpc', 'kusciaapi-http']);
    // KusciaAPI on as Kuscia has it: MTLS on ports of its own, beyond the pod's loopback, its certificate naming the Service.
    const init = deployment(objects).spec.template.spec.initContainers![0]!.command!.join(' ');
    assert.match(init, /--kusciaapi-protocol MTLS --kusciaapi-address 0\.0\.0\.0 --kusciaapi-http-port 8088/);
    assert.match(init, /--kusciaapi-sans "ferry-internal,ferry-internal\.alice,ferry-internal\.alice\.svc,ferry-internal\.alice\.svc\.cluster\.local"/);
    const [job] = find(objects, 'Job');
    assert.equal(job!.metadata.annotations?.['helm.sh/hook'], 'pre-install,pre-upgrade');
    const jobSpec = podSpecs([job!])[0]!.spec;
    assert.deepEqual(jobSpec.initContainers![0]!.command, ['ferry', 'init', 'alice', '--home', '/work/home']);
    assert.ok(find(objects, 'Role')[0], 'RBAC for the Job');
    const rules = (find(objects, 'Role')[0] as unknown as { rules: { verbs: string[]; resourceNames?: string[] }[] }).rules;
    assert.ok(rules.every((r) => r.verbs.every((v) => ['create', 'get'].includes(v))), 'the Job may only create and read its Secret');
    assert.deepEqual(find(objects, 'PodDisruptionBudget').length, 1);
    assert.equal((podSpecs(objects).find((p) => p.owner.startsWith('Deployment'))!.spec as { automountServiceAccountToken?: boolean }).automountServiceAccountToken, false);
  });

  test('KusciaAPI NOTLS: nothing exposed for it (no ports, no flags); the node keeps it on the pod\'s loopback', () => {
    const { objects } = render(T, VARIANTS['KusciaAPI NOTLS']!);
    const internal = find(objects, 'Service', 'ferry-internal')[0]!.spec as { ports: { name: string }[] };
    assert.deepEqual(internal.ports.map((p) => p.name).sort(), ['api', 'internal']);
    const init = deployment(objects).spec.template.spec.initContainers![0]!.command!.join(' ');
    assert.doesNotMatch(init, /--kusciaapi-protocol|--kusciaapi-address/);
  });

  test('etcd replicas: three replicas rolling one at a time, `ferry init --store etcd://... --store-key-file`', () => {
    const { objects } = render(T, VARIANTS['etcd replicas']!);
    const d = deployment(objects);
    assert.equal(d.spec.replicas, 3);
    assert.equal(d.spec.strategy.type, 'RollingUpdate');
    const init = d.spec.template.spec.initContainers![0]!.command!.join(' ');
    assert.match(init, /--store "etcd:\/\/etcd-0\.etcd:2379,etcd-1\.etcd:2379,etcd-2\.etcd:2379" --store-key-file \/etc\/ferry\/store-key\/store\.key/);
    const vol = d.spec.template.spec.volumes!.find((v) => v.name === 'store-key');
    assert.equal(vol?.secret?.secretName, 'alice-store-key');
  });

  test('LoadBalancer: source ranges, NetworkPolicy opening only the public port beyond the namespace, monitoring objects', () => {
    const { objects } = render(T, VARIANTS.LoadBalancer!);
    const pub = find(objects, 'Service', 'ferry')[0]!.spec as { type: string; loadBalancerSourceRanges: string[]; ports: { port: number; targetPort: string }[] };
    assert.equal(pub.type, 'LoadBalancer');
    assert.deepEqual(pub.loadBalancerSourceRanges, ['203.0.113.0/24']);
    assert.deepEqual(pub.ports.map((p) => [p.port, p.targetPort]), [[443, 'public']]);
    const np = find(objects, 'NetworkPolicy')[0]!.spec as { ingress: { ports: { port: number }[]; from?: object[] }[] };
    const open = np.ingress.filter((r) => !r.from);
    assert.deepEqual(open.map((r) => r.ports.map((p) => p.port)), [[1080]], 'only the public port without a from clause');
    const inner = np.ingress.find((r) => r.from)!;
    assert.deepEqual(inner.ports.map((p) => p.port).sort(), [1081, 8082, 8083, 8088], 'the API, the internal port and KusciaAPI (HTTPS, gRPC) inside the namespace');
    assert.deepEqual(inner.from![0], { podSelector: {} });
    assert.ok(find(objects, 'ServiceMonitor')[0]);
    assert.ok(find(objects, 'PersistentVolumeClaim')[0]);
    const rules = find(objects, 'ConfigMap', 'ferry-prometheus-rules')[0];
    const dash = find(objects, 'ConfigMap', 'ferry-grafana-dashboard')[0];
    assert.equal(rules!.data!['ferry-rules.yaml']!.trim(), readFileSync(join(ROOT, 'deploy/prometheus/ferry-rules.yaml'), 'utf8').trim());
    assert.deepEqual(JSON.parse(dash!.data!['ferry-dashboard.json']!), JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/ferry-dashboard.json'), 'utf8')));
  });

  test('the chart carries the same Grafana dashboard and Prometheus rules as deploy/', () => {
    assert.equal(readFileSync(join(CHART, 'files/ferry-rules.yaml'), 'utf8'), readFileSync(join(ROOT, 'deploy/prometheus/ferry-rules.yaml'), 'utf8'), 'copy deploy/prometheus/ferry-rules.yaml to charts/ferry/files/');
    assert.equal(readFileSync(join(CHART, 'files/ferry-dashboard.json'), 'utf8'), readFileSync(join(ROOT, 'deploy/grafana/ferry-dashboard.json'), 'utf8'), 'copy deploy/grafana/ferry-dashboard.json to charts/ferry/files/');
  });

  test('bring-your-own secrets: no Job, the admin Secret mounted, values and admin ConfigMaps applied at start', () => {
    const { objects } = render(T, VARIANTS['bring-your-own secrets']!);
    assert.deepEqual(find(objects, 'Job'), []);
    assert.deepEqual(objects.filter((o) => o.metadata.annotations?.['helm.sh/hook']), [], 'no hook objects');
    const spec = deployment(objects).spec.template.spec;
    assert.equal(spec.volumes!.find((v) => v.name === 'secret')?.secret?.secretName, 'alice-ca');
    const mounts = spec.initContainers![0]!.volumeMounts!.filter((m) => m.mountPath.startsWith('/etc/ferry/apply/'));
    const byName = Object.fromEntries(spec.volumes!.map((v) => [v.name, v.configMap?.name]));
    assert.deepEqual(mounts.map((m) => [m.mountPath, byName[m.name]]), [['/etc/ferry/apply/00-values', 'ferry-apply'], ['/etc/ferry/apply/01-alice-partners', 'alice-partners']]);
    const cm = find(objects, 'ConfigMap', 'ferry-apply')[0];
    assert.match(cm!.data!['values.yaml']!, /kind: Domain[\s\S]*---[\s\S]*kind: ClusterDomainRoute/);
  });

  test('bad values are refused at install with a message naming the field', () => {
    const cases: [object, RegExp][] = [
      [{}, /\/domain/],
      [{ domain: 'Alice' }, /\/domain.*does not match/],
      [{ domain: 'alice', replicas: 3 }, /replicas: 3 needs store\.type etcd/],
      [{ domain: 'alice', store: { type: 'etcd' } }, /store\.etcd\.endpoints/],
      [{ domain: 'alice', store: { type: 'etcd', etcd: { endpoints: ['e:2379'] } } }, /store\.etcd\.keySecret\.name/],
      [{ domain: 'alice', service: { public: { type: 'Ingress', port: 1 } } }, /\/service\/public\/type/],
      [{ domain: 'alice', ports: { public: 70000, internal: 1081, api: 8082 } }, /\/ports\/public/],
      [{ domain: 'alice', envoy: { image: { repository: 'envoyproxy/envoy', tag: 'v1.39.2' } } }, /\/envoy\/image\/tag/],
      [{ domain: 'alice', apply: { resources: [{ kind: 'Pod', metadata: { name: 'x' } }] } }, /\/apply\/resources\/0\/kind/],
      [{ domain: 'alice', replica: 2 }, /additional properties 'replica' not allowed|replica/],
      [{ domain: 'alice', kusciaApi: { protocol: 'SSL' } }, /\/kusciaApi\/protocol/],
    ];
    for (const [values, message] of cases) {
      const r = template(T, values);
      assert.ok('error' in r, `refused: ${JSON.stringify(values)}`);
      assert.match(r.error, message);
    }
  });
});

/** A Kubernetes quantity (500m, 1, 1Gi, 512Mi) as a number. */
function quantity(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/.exec(q);
  if (!m) throw new Error(`not a quantity: ${q}`);
  const unit = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[m[2] as 'm'] ?? 1;
  return Number(m[1]) * unit;
}
