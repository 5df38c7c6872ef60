// AppImages under RunP: Kuscia's documented shape applies unchanged; what RunP
// cannot honour is refused by name, with what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { validateResource } from '../../control-plane/resources/validate.ts';

// The shape of Kuscia's AppImage docs (reference/concepts/appimage) and hack/k8s/AppImage.yaml.
const kuscia = () => YAML.parse(`
apiVersion: kuscia.secretflow/v1alpha1
kind: AppImage
metadata:
  name: secretflow-image
spec:
  configTemplates:
    task-config.conf: |
      {
        "task_id": "{{.TASK_ID}}",
        "task_input_config": "{{.TASK_INPUT_CONFIG}}",
        "task_cluster_def": "{{.TASK_CLUSTER_DEFINE}}",
        "allocated_ports": "{{.ALLOCATED_PORTS}}"
      }
  deployTemplates:
  - name: secretflow
    replicas: 1
    spec:
      containers:
      - args: [-c, python -m secretflow.kuscia.entry ./kuscia/task-config.conf]
        command: [sh]
        configVolumeMounts:
        - mountPath: /work/kuscia/task-config.conf
          subPath: task-config.conf
        name: secretflow
        ports:
        - { name: spu, protocol: GRPC, scope: Cluster }
        - { name: fed, protocol: GRPC, scope: Cluster }
        - { name: global, protocol: GRPC, scope: Domain }
        - { name: node-manager, protocol: GRPC, scope: Local }
        - { name: inference, protocol: HTTP, scope: Cluster }
        workingDir: /work
      restartPolicy: Never
  image:
    id: abc
    name: secretflow/secretflow-lite-anolis8
    sign: abc
    tag: 1.11.0b1
`) as { spec: { deployTemplates: { replicas?: number; spec: { containers: Record<string, unknown>[] } }[]; configTemplates: Record<string, string> } };

test("Kuscia's documented AppImage applies unchanged", () => {
  const r = validateResource(kuscia(), { domain: 'alice' });
  assert.equal(r.kind, 'AppImage');
});

const container = (doc: ReturnType<typeof kuscia>) => doc.spec.deployTemplates[0]!.spec.containers[0]!;
const cases: [string, (d: ReturnType<typeof kuscia>) => void, RegExp][] = [
  ['two containers', (d) => d.spec.deployTemplates[0]!.spec.containers.push({ name: 'sidecar', command: ['x'] }), /containers: RunP runs one process per party: give one container/],
  ['two replicas', (d) => { d.spec.deployTemplates[0]!.replicas = 2; }, /replicas: RunP runs one replica per party: give 1/],
  ['no command', (d) => { delete container(d).command; }, /containers\[0\]\.command: is required under RunP: the engine's executable on this node/],
  ['envFrom', (d) => { container(d).envFrom = [{ configMapRef: { name: 'x' } }]; }, /envFrom: is not supported under RunP/],
  ['a mount without its template', (d) => { d.spec.configTemplates = {}; }, /configVolumeMounts\[0\]\.subPath: no configTemplates entry "task-config.conf"/],
  ['an unknown field', (d) => { container(d).imagePullSecret = 'x'; }, /imagePullSecret: unknown field/],
  ['a bad port scope', (d) => { (container(d).ports as { scope: string }[])[0]!.scope = 'Global'; }, /scope: must be one of "Cluster", "Domain", "Local"/],
];
for (const [name, change, want] of cases) {
  test(`refused: ${name}`, () => {
    const d = kuscia();
    change(d);
    assert.throws(() => validateResource(d, { domain: 'alice' }), want);
  });
}

test('a KusciaTask is not applied by hand', () => {
  assert.throws(() => validateResource({ apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'KusciaTask', metadata: { name: 't' }, spec: {} }, { domain: 'alice' }), /KusciaTask objects are made by the jobs controller.*create a KusciaJob/);
});
