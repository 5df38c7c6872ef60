// bench/xds-probe: where the time of one change at N Services goes, without a
// whole node: Ferry's translation and ADS server in this process, a real
// Envoy under it. Prints the control plane's share (translate + encode) and
// Envoy's (new snapshot -> every type ACKed) for each of CHANGES new Services.
// Run on two checkouts in turn for an A/B: bash scripts/node.sh bench/xds-probe.ts 10000
import { groupResources, type Resource } from '../control-plane/resources/types.ts';
import { validateResource } from '../control-plane/resources/validate.ts';
import { NO_RUNTIME, translateToIr } from '../control-plane/translate/resources-to-ir.ts';
import { translateToEnvoy } from '../control-plane/xds/ir-to-envoy.ts';
import { buildSnapshot, type Snapshot } from '../control-plane/ads/snapshot.ts';
import { EncodeCache } from '../envoy/proto-json.ts';
import { ALICE, startEnvoyUnderXds } from '../test/support/envoy-xds.ts';

const N = Number(process.argv[2] ?? 10000);
const CHANGES = Number(process.env.CHANGES ?? 5);
const envoy = await startEnvoyUnderXds('alice');
const svc = (name: string) => validateResource({ apiVersion: 'v1', kind: 'Service', metadata: { name, annotations: { 'kuscia.secretflow/access-domain': 'bob' } }, spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ port: 8080 }] } }, { domain: 'alice' });
const docs: Resource[] = [validateResource({ apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'Domain', metadata: { name: 'bob' }, spec: { role: 'partner', cert: ALICE.bobCaB64 } }, { domain: 'alice' })];
for (let i = 0; i < N; i++) docs.push(svc(`svc${i}`));
const cache = new EncodeCache();
let snapshot: Snapshot | undefined;

function build(): number {
  const t0 = performance.now();
  const ir = translateToIr(groupResources(docs), envoy.config, ALICE.caPem, '/tmp', NO_RUNTIME);
  snapshot = buildSnapshot(translateToEnvoy(ir, ALICE.gateway), snapshot, cache);
  return performance.now() - t0;
}

async function push(): Promise<number> {
  const t0 = performance.now();
  const converged = new Promise((resolve) => envoy.ads.once('converged', resolve));
  envoy.ads.setSnapshot(snapshot!);
  await converged;
  return performance.now() - t0;
}

const { loadavg } = await import('node:os');
const load = async () => loadavg()[0]!.toFixed(1);
console.log(`${N} Services: initial translation ${build().toFixed(0)} ms, Envoy ${(await push()).toFixed(0)} ms (load ${await load()})`);
for (let k = 0; k < CHANGES; k++) {
  docs.push(svc(`probe${k}`));
  const b = build();
  const p = await push();
  console.log(`one change: control plane ${b.toFixed(0)} ms, Envoy ${p.toFixed(0)} ms (load ${await load()})`);
}
await envoy.stop();
process.exit(0);
