// A KusciaAPI job end to end with SecretFlow's PyPI client (its gRPC stubs):
// two real nodes and Envoys, the test engine as the app image; created at
// alice, waiting for bob's approval, approved at bob through KusciaAPI, run to
// Succeeded at both, batch-queried, deleted. test/support/kusciaapi_pypi_job.py.
import { testEngineAppImage } from '../support/test-engine-app.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, TestNode, docs, partnerDomain, routeTo } from '../support/harness.ts';
import { kusciaToken } from '../support/kusciaapi-client.ts';
import { runPythonClient } from '../support/python-client.ts';
import { messageType } from '../../control-plane/kusciaapi/protos.ts';

const venv = process.env.FERRY_KUSCIA_VENV ?? join(ROOT, '.tools', 'kuscia-venv');
const python = join(venv, 'bin', 'python');
const appImage = testEngineAppImage();

/** Concatenated JSON objects, as Kuscia's HTTP watch writes them, split as they come. */
function* splitObjects(text: string): Generator<[unknown, number]> {
  let depth = 0;
  let inString = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      yield [JSON.parse(text.slice(start, i + 1)), i + 1];
      start = i + 1;
    }
  }
}

/** Watches jobs over HTTP until `job` is Succeeded (bounded by the server's timeout_seconds). */
async function watchOverHttp(node: TestNode, job: string, timeoutSeconds = 120, protobuf = false) {
  // Kuscia's handler binds a protobuf request by its Content-Type; the events are JSON either way.
  const type = messageType('WatchJobRequest');
  const body = protobuf ? Buffer.from(type.encode(type.fromObject({ timeout_seconds: timeoutSeconds })).finish()) : JSON.stringify({ timeout_seconds: timeoutSeconds });
  const res = await fetch(`http://${node.host}:${node.ports.api}/api/v1/job/watch`, { method: 'POST', headers: { token: kusciaToken(node), 'content-type': protobuf ? 'application/x-protobuf' : 'application/json' }, body });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const states: string[] = [];
  let heartbeats = 0;
  let firstType: unknown = 'none';
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let used = 0;
    for (const [ev, end] of splitObjects(buffer)) {
      used = end;
      const e = ev as { type?: number; object?: { job_id: string; status?: { state?: string } } };
      if (e.type === 4) { heartbeats++; continue; }
      if (e.object?.job_id !== job) continue;
      if (firstType === 'none') firstType = e.type;
      const state = e.object.status?.state ?? '';
      if (states.at(-1) !== state) states.push(state);
    }
    buffer = buffer.slice(used);
    if (timeoutSeconds > 1 && states.at(-1) === 'Succeeded') break; // a 1 s watch is read to its end
  }
  return { states, heartbeats, firstType };
}

describe('KusciaAPI jobs with the PyPI kuscia client', () => {
  let alice: TestNode;
  let bob: TestNode;

  before(async () => {
    assert.ok(existsSync(python), `no ${python}: run scripts/setup.sh (it installs kuscia==0.0.3b0 into .tools/kuscia-venv), or set FERRY_KUSCIA_VENV`);
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    await Promise.all([alice, bob].map((n) => n.start({ FERRY_JOB_RESYNC_MS: '2000', FERRY_KUSCIAAPI_HEARTBEAT_MS: '300' })));
    await alice.apply(docs(appImage, partnerDomain(bob), routeTo(alice, bob)));
    await bob.apply(docs(appImage, partnerDomain(alice), routeTo(bob, alice)));
  });
  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    alice?.cleanup();
    bob?.cleanup();
  });

  test('create at alice, approve at bob, Succeeded at both, batch status, delete', async () => {
    const args = {
      alice: { grpc: `${alice.host}:${alice.ports.kusciaGrpc}`, token: kusciaToken(alice) },
      bob: { grpc: `${bob.host}:${bob.ports.kusciaGrpc}`, token: kusciaToken(bob) },
      job_id: 'kapi-job', app_image: 'test-engine', task_input_config: JSON.stringify({ default: { lines: ['hello'] } }),
    };
    const httpWatch = watchOverHttp(bob, 'kapi-job');
    const r = await runPythonClient(python, 'kusciaapi_pypi_job.py', args, { timeoutMs: 150_000 });
    const steps = r.lines as Record<string, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(r.code, 0, `client failed: ${r.err}\n${r.out}`);
    const step = (name: string) => steps.find((s) => s.step === name)!;
    assert.equal(step('CreateJob').job_id, 'kapi-job');
    assert.equal(step('CreateJob again').code, 11201);
    assert.deepEqual(step('AwaitingApproval at bob').approvals, [['alice', 'JobAccepted']]);
    assert.equal(step('ApproveJob without result').code, 11100);
    assert.match(step('ApproveJob without result').message, /^result: /);
    for (const node of ['alice', 'bob']) {
      const s = step(`Succeeded at ${node}`);
      assert.deepEqual(s.tasks, [
        ['psi', 'Succeeded', [['alice', 'Succeeded'], ['bob', 'Succeeded']]],
        ['train', 'Succeeded', [['alice', 'Succeeded'], ['bob', 'Succeeded']]],
      ]);
      assert.equal(s.initiator, 'alice');
      assert.equal(s.end_time, true);
      // Kuscia's task details, read by its own stubs (0.0.3b0 predates progress): created, started and ended, train after psi.
      assert.deepEqual(s.details, [['psi', true, true, true], ['train', true, true, true]]);
      assert.equal(s.psi_end_before_train_start, true);
    }
    assert.deepEqual(step('Succeeded at alice').custom_fields, { project: 'p1' });
    // Watched to the end over gRPC at alice (Kuscia's client) and over HTTP at bob (Kuscia's chunked JSON).
    const w = step('WatchJob');
    assert.equal(w.error, null);
    assert.equal(w.states.at(-1), 'Succeeded');
    // The transitions in the job's order, each once: it waited for bob, ran, and succeeded.
    const order = ['Pending', 'AwaitingApproval', 'Running', 'Succeeded'];
    assert.ok(w.states.includes('AwaitingApproval') && w.states.includes('Running'), JSON.stringify(w.states));
    assert.deepEqual(w.states, [...w.states].sort((x: string, y: string) => order.indexOf(x) - order.indexOf(y)), JSON.stringify(w.states));
    const h = await httpWatch;
    assert.equal(h.states.at(-1), 'Succeeded');
    assert.equal(h.firstType, undefined, 'ADDED is type 0, left out as Go writes it');
    // A watch with nothing happening, asked in protobuf: the job as ADDED, heartbeats, and its end at timeout_seconds (read from the protobuf body).
    const quiet = await watchOverHttp(bob, 'kapi-job', 1, true);
    assert.deepEqual(quiet.states, ['Succeeded']);
    assert.ok(quiet.heartbeats > 0, 'a heartbeat {"type":4} while nothing changed');
    assert.deepEqual(step('BatchQueryJobStatus').jobs, [['kapi-job', 'Succeeded']]);
    assert.equal(step('SuspendJob finished').code, 11210);
    assert.equal(step('DeleteJob').query_code, 11202);
    // Ferry's own CLI saw the job; it is gone at alice now.
    assert.notEqual(alice.cli(['job', 'get', 'kapi-job']).code, 0);
    const atBob = bob.cli(['job', 'get', 'kapi-job']);
    assert.equal(atBob.code, 0, atBob.stderr);
    assert.match(atBob.stdout, /Succeeded/);
  });
});
