// SecretFlow's PSI engine (spu 0.9.5) run by Ferry's launcher as two plain
// processes on loopback, before any Ferry node is involved: each party gets
// the environment Ferry's RunP runtime renders for it (renderTask from the
// AppImage in examples/, Kuscia's PSI task input config), the partner's
// endpoint being the partner's own 127.0.0.1 port. 10k rows per party with an
// overlap the test chose; both parties must write exactly that intersection,
// row-aligned. Bad configuration fails fast with the field named.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import YAML from 'yaml';
import { freePorts, tempDir } from '../support/harness.ts';
import { renderTask, type AppImageSpec, type RenderedTask } from '../../control-plane/runtime/render.ts';
import { psiDatasets } from '../../control-plane/cli/demo-psi.ts';
import { idsOf, psiEngine } from '../support/psi-engine.ts';

const { skip, appImage: APP } = psiEngine();

const ROWS = 10_000;
const OVERLAP = 3_217;
const RUN_MS = 180_000; // a party still running then is killed and the test fails

const datasets = (seed: number) => psiDatasets(ROWS, OVERLAP, seed);

interface Ran { code: number | null; signal: string | null; log: string }

function runParty(task: RenderedTask, logFile: string): Promise<Ran> {
  for (const [path, content] of Object.entries(task.files)) { mkdirSync(dirname(path), { recursive: true }); writeFileSync(path, content); }
  mkdirSync(task.env.TMPDIR!, { recursive: true });
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const child = spawn(task.command[0]!, task.command.slice(1), { cwd: task.cwd, env: task.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => out.push(b));
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, RUN_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const log = Buffer.concat(out).toString('utf8');
      writeFileSync(logFile, log);
      resolve({ code, signal, log });
    });
  });
}

describe('the PSI engine (spu 0.9.5) under Ferry\'s task environment, two parties on loopback', { skip }, () => {
  const dir = skip ? '' : tempDir('psi-engine');
  const app = skip ? undefined : (YAML.parse(readFileSync(APP, 'utf8')) as { spec: AppImageSpec });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  /** Renders both parties' tasks the way Ferry's runtime does, for one task input config. */
  async function tasks(taskID: string, inputConfig: object, spec: AppImageSpec = app!.spec) {
    const [pa, pb] = await freePorts(2);
    const parties = [{ domainID: 'alice' }, { domainID: 'bob' }];
    const render = (self: string, port: number, peer: string, peerPort: number) => {
      const taskDir = join(dir, self, 'tasks', taskID);
      mkdirSync(taskDir, { recursive: true });
      return renderTask({
        self, taskID, role: '', taskInputConfig: JSON.stringify(inputConfig), app: spec, parties,
        ports: { psi: port }, peerEndpoints: { [peer]: { psi: `127.0.0.1:${peerPort}` } }, taskDir,
      });
    };
    return { alice: render('alice', pa!, 'bob', pb!), bob: render('bob', pb!, 'alice', pa!) };
  }

  // Kuscia's own PSI AppImage shape: a task-config.conf template read with --kuscia.
  const kusciaShape = (): AppImageSpec => {
    const c = app!.spec.deployTemplates[0]!.spec.containers[0]!;
    return {
      configTemplates: { 'task-config.conf': '{\n  "task_id": "{{.TASK_ID}}",\n  "task_input_config": "{{.TASK_INPUT_CONFIG}}",\n  "task_cluster_def": "{{.TASK_CLUSTER_DEFINE}}",\n  "allocated_ports": "{{.ALLOCATED_PORTS}}"\n}\n' },
      deployTemplates: [{ name: 'psi', spec: { containers: [{ ...c, workingDir: '/work', command: [...c.command!, '--kuscia', '/work/kuscia/task-config.conf'], configVolumeMounts: [{ mountPath: '/work/kuscia/task-config.conf', subPath: 'task-config.conf' }] }] } }],
    };
  };

  for (const [protocol, seed, shape] of [['PROTOCOL_ECDH', 1, 'env'], ['PROTOCOL_RR22', 2, 'env'], ['PROTOCOL_KKRT', 3, 'kuscia']] as const) {
    test(`${protocol}: 10k × 10k rows, both parties write the intersection the test chose, aligned (task inputs from ${shape === 'env' ? 'the environment' : "Kuscia's task-config.conf"})`, async () => {
      const data = datasets(seed);
      const paths: Record<string, { input: string; output: string }> = {};
      for (const p of ['alice', 'bob'] as const) {
        const d = join(dir, p, 'data');
        mkdirSync(d, { recursive: true });
        paths[p] = { input: join(d, `${protocol}-input.csv`), output: join(d, `${protocol}-output.csv`) };
        // A second column travels with the key into the result.
        writeFileSync(paths[p]!.input, `id,${p}_value\n${data[p].map((id, i) => `${id},${i}`).join('\n')}\n`);
        rmSync(paths[p]!.output, { force: true });
      }
      // Kuscia's PSI task input config; bob's entry in lowerCamelCase, as protobuf JSON allows.
      const inputConfig = {
        sf_psi_config_map: {
          alice: { psi_config: {
            protocol_config: { protocol, role: 'ROLE_RECEIVER', broadcast_result: true, ecdh_config: { curve: 'CURVE_25519' } },
            input_config: { type: 'IO_TYPE_FILE_CSV', path: paths.alice!.input },
            output_config: { type: 'IO_TYPE_FILE_CSV', path: paths.alice!.output },
            keys: ['id'],
          } },
          bob: { psiConfig: {
            protocolConfig: { protocol, role: 'ROLE_SENDER', broadcastResult: true, ecdhConfig: { curve: 'CURVE_25519' } },
            inputConfig: { type: 'IO_TYPE_FILE_CSV', path: paths.bob!.input },
            outputConfig: { type: 'IO_TYPE_FILE_CSV', path: paths.bob!.output },
            keys: ['id'],
          } },
        },
      };
      const t = await tasks(`psi-${protocol.toLowerCase().replace('protocol_', '')}`, inputConfig, shape === 'env' ? app!.spec : kusciaShape());
      if (shape === 'kuscia') assert.ok(t.alice.command.includes(join(t.alice.cwd, 'kuscia', 'task-config.conf')), t.alice.command.join(' '));
      assert.deepEqual(JSON.parse(t.bob.env.TASK_CLUSTER_DEFINE!).selfPartyIdx, 1);
      const [a, b] = await Promise.all([runParty(t.alice, join(dir, `alice-${protocol}.log`)), runParty(t.bob, join(dir, `bob-${protocol}.log`))]);
      assert.equal(a.code, 0, `alice: ${a.signal ?? ''}\n${a.log.slice(-3000)}`);
      assert.equal(b.code, 0, `bob: ${b.signal ?? ''}\n${b.log.slice(-3000)}`);

      const expected = [...data.shared].sort();
      const gotA = idsOf(paths.alice!.output);
      const gotB = idsOf(paths.bob!.output);
      assert.deepEqual([...gotA].sort(), expected, 'alice wrote the intersection');
      assert.deepEqual(gotB, gotA, 'bob wrote the same rows, in the same order');
      for (const [p, r] of [['alice', a], ['bob', b]] as const) {
        const line = r.log.split('\n').find((l) => l.startsWith('psi-result '));
        assert.ok(line, `${p} printed its result line`);
        const result = JSON.parse(line.slice('psi-result '.length)) as Record<string, unknown>;
        assert.equal(result.intersection_count, OVERLAP);
        assert.equal(result.original_count, ROWS);
        assert.equal(result.party, p);
        assert.match(r.log, new RegExp(`psi: done in [0-9.]+s: ${ROWS} rows, intersection ${OVERLAP}`));
      }
      assert.match(readFileSync(paths.alice!.output, 'utf8').split('\n')[0]!, /alice_value/, 'the receiver\'s own columns come with the key');
    });
  }

  test('bad configuration: exit 2 at once, the field named, the engine never started', async () => {
    const input = join(dir, 'bad-input.csv');
    writeFileSync(input, 'id\nx\n');
    const base = (extra: object) => ({ sf_psi_config_map: { alice: { psi_config: {
      protocol_config: { protocol: 'PROTOCOL_ECDH', role: 'ROLE_RECEIVER' },
      input_config: { path: input }, output_config: { path: join(dir, 'bad-out.csv') }, keys: ['id'], ...extra,
    } } } });
    const cases: [object, RegExp][] = [
      [base({ keys: ['uid'] }), /psi_config\.keys: uid not in .*bad-input\.csv's header \(id\)/],
      [base({ protocol_config: { protocol: 'PROTOCOL_X', role: 'ROLE_RECEIVER' } }), /protocol_config\.protocol: 'PROTOCOL_X'; give one of PROTOCOL_ECDH, PROTOCOL_KKRT, PROTOCOL_RR22/],
      [base({ input_config: { path: join(dir, 'missing.csv') } }), /input_config\.path: .*missing\.csv is not a readable file/],
      [base({ intersection_threshold: 5 }), /intersection_threshold: not supported/],
      [{ sf_psi_config_map: { bob: {} } }, /sf_psi_config_map: no entry for this party "alice"/],
      [{ sf_psi_config_map: { ...base({}).sf_psi_config_map, bob: { psi_config: { protocol_config: { protocol: 'PROTOCOL_RR22', role: 'ROLE_SENDER' } } } } }, /alice runs PROTOCOL_ECDH but bob runs PROTOCOL_RR22; give both the same protocol/],
      [base({ keys: 'id' }), /psi_config\.keys: give the key columns/],
      [base({ input_config: 'x.csv' }), /input_config: must be a JSON object/],
    ];
    for (const [config, message] of cases) {
      const t = (await tasks('bad', config)).alice;
      const r = await runParty(t, join(dir, 'bad.log'));
      assert.equal(r.code, 2, r.log);
      assert.match(r.log, /^psi: bad configuration: /m);
      assert.match(r.log, message);
      assert.ok(!r.log.includes('link '), 'no link was started');
      assert.ok(!existsSync(join(dir, 'bad-out.csv')));
    }
    // Data: DomainData need the DataMesh; under Ferry's (DATAMESH_ADDRESS set) a file path is refused, before any call to it.
    const noMesh = (await tasks('dm1', { ...base({}), sf_input_ids: ['alice-table'] })).alice;
    const r1 = await runParty(noMesh, join(dir, 'bad.log'));
    assert.equal(r1.code, 2, r1.log);
    assert.match(r1.log, /TASK_INPUT_CONFIG\.sf_input_ids: DomainData are read through the DataMesh, and this task has none/);
    const underFerry = (await tasks('dm2', { ...base({}), sf_input_ids: ['alice-table'] })).alice;
    underFerry.env.DATAMESH_ADDRESS = '127.0.0.1:9'; // nothing listens: the launcher must refuse before calling it
    const r2 = await runParty(underFerry, join(dir, 'bad.log'));
    assert.equal(r2.code, 2, r2.log);
    assert.match(r2.log, /psi_config\.input_config\.path: under Ferry the PSI's data goes through the DataMesh; name DomainData in TASK_INPUT_CONFIG\.sf_input_ids instead of a path/);
    // The AppImage must give the port the launcher listens on.
    const t = (await tasks('noport', base({}))).alice;
    t.env.ALLOCATED_PORTS = '{"ports":[]}';
    const r = await runParty(t, join(dir, 'bad.log'));
    assert.equal(r.code, 2);
    assert.match(r.log, /ALLOCATED_PORTS: no port named "psi"/);
  });
});
