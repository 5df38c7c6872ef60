// bench/datamesh: a large DomainData through the DataMesh with the PyPI
// kuscia client (pyarrow.flight), and the DataMesh's memory meanwhile. The
// DataMesh runs in this process; its RSS is sampled every 100 ms from before
// the upload to the end of the download. The bar (issue 18): a 1 GB table
// goes through with RSS growing < 100 MB. Sizes: DATAMESH_BENCH_MB (bytes
// file, RAW) and DATAMESH_BENCH_TABLE_MB (CSV table). Writes
// bench/results/datamesh.{json,md}. Run: npm run bench -- datamesh
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ROOT } from '../test/support/harness.ts';
import { SqliteStore } from '../control-plane/store/sqlite.ts';
import { freePorts } from '../control-plane/util/ports.ts';
import { keyFromBytes } from '../control-plane/datamesh/secrets.ts';
import { startDataMesh } from '../control-plane/datamesh/start.ts';
import { machine } from './machine.ts';
import { round } from './lib.ts';

const RAW_MB = Number(process.env.DATAMESH_BENCH_MB ?? 1024);
const TABLE_MB = Number(process.env.DATAMESH_BENCH_TABLE_MB ?? 1024);
/** "bytes" or "table": only that run. */
const ONLY = process.env.DATAMESH_BENCH_ONLY;
const python = join(process.env.FERRY_DATAMESH_VENV ?? join(ROOT, '.tools', 'datamesh-venv'), 'bin', 'python');
const MB = 1024 * 1024;

async function writeBig(path: string, mb: number, line: (i: number) => string, header = ''): Promise<number> {
  const out = createWriteStream(path);
  if (header) out.write(header);
  let i = 0;
  while (out.bytesWritten + out.writableLength < mb * MB) {
    let chunk = '';
    for (let k = 0; k < 2000; k++) chunk += line(i++);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return i;
}

function client(address: string, env: Record<string, string>, steps: object[]): Promise<Record<string, { ok: boolean; error?: string }>> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(no_proxy|no_grpc_proxy|grpc_proxy|https?_proxy)$/i.test(k))) as Record<string, string>;
  return new Promise((resolve, reject) => {
    const child = spawn(python, [join(ROOT, 'test', 'support', 'datamesh_pypi.py'), JSON.stringify({ address, steps })], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...clean, ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d; });
    child.on('error', reject);
    child.on('close', () => resolve(Object.fromEntries(out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: string; ok: boolean }).map((s) => [s.step, s]))));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-datamesh-'));
const store = new SqliteStore(join(dir, 'ferry.db'));
const [port] = await freePorts(1);
const dm = await startDataMesh({ store, self: 'alice', sourceKey: keyFromBytes(Buffer.alloc(32, 3)), dataDir: join(dir, 'domaindata'), log: pino({ level: 'warn' }), port: port! });
const results: Record<string, unknown>[] = [];

async function run(name: string, file: string, format: 'CSV' | 'BINARY', create: object): Promise<void> {
  const bytes = statSync(file).size;
  const cred = dm.issueTaskCredential({ taskID: `bench-${name}`, jobID: 'bench', initiator: 'alice', parties: ['alice'], domainDataIDs: [name] });
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 100);
  const t0 = performance.now();
  const up = await client(dm.address, cred.env, [create, { do: 'upload', name: 'up', id: name, path: file, format }]);
  const t1 = performance.now();
  const uploadPeak = peak;
  const down = await client(dm.address, cred.env, [{ do: 'download', name: 'down', id: name, path: join(dir, `${name}.out`), format }]);
  const t2 = performance.now();
  clearInterval(sampler);
  cred.revoke();
  if (!up.up?.ok || !down.down?.ok) throw new Error(`${name}: ${JSON.stringify({ up, down })}`);
  const outBytes = statSync(join(dir, `${name}.out`)).size;
  results.push({
    name, format, mb: round(bytes / MB, 1), outMb: round(outBytes / MB, 1),
    uploadMBps: round(bytes / MB / ((t1 - t0) / 1000), 1), downloadMBps: round(bytes / MB / ((t2 - t1) / 1000), 1),
    rssBeforeMb: round(before / MB, 1), rssPeakMb: round(peak / MB, 1), rssGrowthMb: round((peak - before) / MB, 1),
    uploadGrowthMb: round((uploadPeak - before) / MB, 1),
  });
  rmSync(join(dir, `${name}.out`), { force: true });
  console.log(JSON.stringify(results.at(-1)));
}

try {
  let rows = 0;
  if (ONLY !== 'table') {
    const raw = join(dir, 'raw.bin');
    const block = 'x'.repeat(1023);
    await writeBig(raw, RAW_MB, (i) => `${block}${i % 10}`);
    await run('bytes-1', raw, 'BINARY', { do: 'create', name: 'c', id: 'bytes-1', type: 'model', relative_uri: 'bytes-1.bin' });
    rmSync(raw);
  }
  if (ONLY !== 'bytes') {
    const csv = join(dir, 'table.csv');
    rows = await writeBig(csv, TABLE_MB, (i) => `id${i},${i % 1000},${(i % 977) / 8},${i % 2 === 0}\n`, 'id,age,score,flag\n');
    await run('table-1', csv, 'CSV', { do: 'create', name: 'c', id: 'table-1', relative_uri: 'table-1.csv', columns: [{ name: 'id', type: 'str' }, { name: 'age', type: 'int' }, { name: 'score', type: 'float' }, { name: 'flag', type: 'bool' }] });
  }
  const m = machine();
  const json = { machine: m, rows, results };
  writeFileSync(join(ROOT, 'bench', 'results', 'datamesh.json'), `${JSON.stringify(json, null, 2)}\n`);
  const md = [
    '# DataMesh: large DomainData through Flight (PyPI kuscia client)', '',
    `Machine: ${JSON.stringify(m)}. DataMesh in the bench process; RSS sampled every 100 ms from before the upload to the end of the download.`, '',
    '| DomainData | format | MB | upload MB/s | download MB/s | RSS before MB | RSS peak MB | growth MB (upload / whole) |', '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map((r) => `| ${r.name} | ${r.format} | ${r.mb} | ${r.uploadMBps} | ${r.downloadMBps} | ${r.rssBeforeMb} | ${r.rssPeakMb} | ${r.uploadGrowthMb} / ${r.rssGrowthMb} |`),
    '', 'Bar: growth < 100 MB for a 1 GB table.', '',
  ].join('\n');
  writeFileSync(join(ROOT, 'bench', 'results', 'datamesh.md'), md);
  console.log(md);
} finally {
  await dm.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
