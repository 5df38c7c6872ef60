// Golden cases of task rendering (RunP): runtime/<case>.in.yaml (AppImage,
// task, ports, peers) -> runtime/<case>.out.yaml (command, env, files) or the
// error that names the field. UPDATE_GOLDEN=1 to regenerate, then review.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { renderTask, type RenderInput } from '../../control-plane/runtime/render.ts';

const dir = join(import.meta.dirname, 'runtime');
const cases = readdirSync(dir).filter((f) => f.endsWith('.in.yaml')).map((f) => f.replace('.in.yaml', ''));

test('runtime golden cases exist', () => assert.ok(cases.length >= 4));

for (const name of cases) {
  test(`runtime golden: ${name}`, () => {
    const input = YAML.parse(readFileSync(join(dir, `${name}.in.yaml`), 'utf8')) as RenderInput;
    let out: unknown;
    try {
      const r = renderTask(input);
      out = { ...r, env: r.env, clusterDefine: JSON.parse(r.env.TASK_CLUSTER_DEFINE!), allocatedPorts: JSON.parse(r.env.ALLOCATED_PORTS!) };
    } catch (e) {
      out = { error: (e as Error).message };
    }
    const actual = YAML.stringify(out, { lineWidth: 0 });
    const goldenPath = join(dir, `${name}.out.yaml`);
    if (process.env.UPDATE_GOLDEN || !existsSync(goldenPath)) writeFileSync(goldenPath, actual);
    assert.equal(actual, readFileSync(goldenPath, 'utf8'), `${name}.out.yaml differs: if intended, UPDATE_GOLDEN=1 and review the diff`);
  });
}
