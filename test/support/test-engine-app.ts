// The AppImage of the small test engine (test-engine.mjs) that job tests run
// at every party: its command is this Node and the engine's script.
import { join } from 'node:path';
import { ROOT } from './harness.ts';

export const TEST_ENGINE = join(ROOT, 'test', 'support', 'test-engine.mjs');

/** `ports`: the named ports its one container asks for (Cluster scope). */
export function testEngineAppImage(ports: string[] = []): string {
  return `apiVersion: kuscia.secretflow/v1alpha1
kind: AppImage
metadata: { name: test-engine }
spec:
  image: { name: ferry/test-engine, tag: "1" }
  deployTemplates:
    - name: engine
      spec:
        containers:
          - name: engine
            command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(TEST_ENGINE)}]
${ports.length ? `            ports: [${ports.map((p) => `{ name: ${p}, protocol: HTTP, scope: Cluster }`).join(', ')}]\n` : ''}`;
}
