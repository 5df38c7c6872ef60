// An example DataMesh data-source plugin (docs/datamesh.md "Plugins"): tables
// kept as JSON Lines files, one object per row, under the source's directory
// (spec.info.localfs.path). Load it with ferry.yaml:
//   datamesh: { plugins: [examples/datamesh-plugin/jsonl-source.ts] }
// and a DomainDataSource of `type: jsonl`.
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { Int64, RecordBatch, vectorFromArray, type Data } from 'apache-arrow';
import { arrowType } from '../../control-plane/datamesh/csv.ts';
import type { DataSourceDriver, SourceContext } from '../../control-plane/datamesh/sources.ts';

function pathOf(ctx: SourceContext): string {
  const root = resolve(ctx.source.info.localfs?.path || ctx.source.uri || '');
  const path = resolve(root, ctx.data.relativeURI);
  if (!path.startsWith(root + sep)) throw new Error(`${ctx.data.relativeURI} leaves the source's directory`);
  return path;
}

const driver: DataSourceDriver = {
  type: 'jsonl',
  async *readTable(ctx, columns) {
    let rows: Record<string, unknown>[] = [];
    const batch = () => {
      const cols: Record<string, Data> = {};
      for (const c of columns) {
        const t = arrowType(c.type);
        cols[c.name] = vectorFromArray(rows.map((r) => (r[c.name] === undefined || r[c.name] === null ? null : t instanceof Int64 ? BigInt(r[c.name] as number) : r[c.name])), t).data[0]!;
      }
      rows = [];
      return new RecordBatch(cols);
    };
    for await (const line of createInterface({ input: createReadStream(pathOf(ctx)), crlfDelay: Infinity })) {
      if (!line.trim()) continue;
      rows.push(JSON.parse(line) as Record<string, unknown>);
      if (rows.length >= 4096) yield batch();
    }
    if (rows.length) yield batch();
  },
  async writeTable(ctx, schema) {
    const path = pathOf(ctx);
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.part`;
    const out = createWriteStream(tmp);
    return {
      async write(b) {
        for (let i = 0; i < b.numRows; i++) {
          const row: Record<string, unknown> = {};
          schema.fields.forEach((f, j) => {
            const v = b.getChildAt(j)!.get(i);
            row[f.name] = typeof v === 'bigint' ? Number(v) : v;
          });
          if (!out.write(`${JSON.stringify(row)}\n`)) await once(out, 'drain');
        }
      },
      async close() {
        out.end();
        await once(out, 'finish');
        renameSync(tmp, path);
      },
      async abort() {
        out.destroy();
        rmSync(tmp, { force: true });
      },
    };
  },
};

export default driver;
