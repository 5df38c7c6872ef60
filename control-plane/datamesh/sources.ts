// Data-source drivers: how the DataMesh reads and writes one DomainData in
// one kind of source. The built-in localfs driver is here; database drivers
// and plugins (loaded from ferry.yaml `datamesh.plugins`, docs/datamesh.md)
// implement the same interface. Everything streams: a driver yields and takes
// one record batch (or one chunk) at a time.
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync, statSync, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { once } from 'node:events';
import type { RecordBatch, Schema } from 'apache-arrow';
import { batchToCsv, csvHeader, csvToBatches } from './csv.ts';
import type { DataColumn, DataSourceInfo } from './spec.ts';

/** What a driver is given for one read or write. */
export interface SourceContext {
  /** The DomainDataSource: its name, type, uri and its unsealed info (never log it). */
  source: { name: string; type: string; uri?: string; info: DataSourceInfo };
  /** The DomainData: its id, relative URI (file path or table name) and columns. */
  data: { id: string; relativeURI: string; columns: DataColumn[]; fileFormat?: string };
  /** CSV delimiter for file sources (Kuscia's file_write_options), "," by default. */
  delimiter?: string;
}

export interface TableSink {
  write(batch: RecordBatch): Promise<void>;
  /** The data is complete: make it visible (a file is renamed into place, a transaction commits). */
  close(): Promise<void>;
  /** The upload failed: leave what was there before. */
  abort(): Promise<void>;
}

export interface RawSink {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** The interface a data-source plugin implements (docs/datamesh.md "Plugins"). */
export interface DataSourceDriver {
  /** The DomainDataSource spec.type it serves. */
  readonly type: string;
  /** Rows as Arrow batches with the given columns, in that order. */
  readTable(ctx: SourceContext, columns: DataColumn[]): AsyncIterable<RecordBatch>;
  /** Takes batches of the given schema; replaces the DomainData's content on close. */
  writeTable(ctx: SourceContext, schema: Schema): Promise<TableSink>;
  /** The stored bytes as they are (files: the file). Absent: only tables. */
  readRaw?(ctx: SourceContext): AsyncIterable<Uint8Array>;
  writeRaw?(ctx: SourceContext): Promise<RawSink>;
  /** Removes the stored data (file, object or table); absent data is no error. Absent: the driver cannot (KusciaAPI's DeleteDomainDataAndRaw refuses). */
  deleteData?(ctx: SourceContext): Promise<void>;
  /** Is the source reachable, do its credentials work? Throws a message saying what failed. */
  check?(ctx: Omit<SourceContext, 'data'>): Promise<void>;
  close?(): Promise<void>;
}

/** The directory of a localfs source: info.localfs.path, else its uri. */
export function localRoot(source: SourceContext['source']): string {
  const root = source.info.localfs?.path || source.uri;
  if (!root) throw new Error(`DomainDataSource ${source.name} has no directory: set spec.info.localfs.path`);
  return root;
}

/** A DomainData's file: inside the source's directory, whatever its relativeURI says. */
export function localPath(ctx: SourceContext): string {
  const root = resolve(localRoot(ctx.source));
  const path = resolve(root, ctx.data.relativeURI);
  if (!path.startsWith(root + sep)) throw new Error(`DomainData ${ctx.data.id}: relativeURI ${ctx.data.relativeURI} leaves its data source's directory`);
  return path;
}

async function writeChunk(out: WriteStream, chunk: Uint8Array | string): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain'); // backpressure: memory stays bounded
}

/** A file written beside its final name and renamed into place when complete. */
async function fileSink(path: string): Promise<{ write: (c: Uint8Array | string) => Promise<void>; close: () => Promise<void>; abort: () => Promise<void> }> {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${Date.now()}-${process.pid}.part`);
  const out = createWriteStream(tmp, { mode: 0o600 });
  await once(out, 'open');
  return {
    write: (c) => writeChunk(out, c),
    close: async () => {
      out.end();
      await once(out, 'finish');
      renameSync(tmp, path);
    },
    abort: async () => {
      out.destroy();
      rmSync(tmp, { force: true });
    },
  };
}

export const localfsDriver: DataSourceDriver = {
  type: 'localfs',
  readTable(ctx, columns) {
    return csvToBatches(createReadStream(localPath(ctx), { highWaterMark: 1 << 20 }), columns, ctx.delimiter);
  },
  async writeTable(ctx, schema) {
    const file = await fileSink(localPath(ctx));
    await file.write(csvHeader(schema, ctx.delimiter));
    return { write: (b) => file.write(batchToCsv(b, ctx.delimiter)), close: file.close, abort: file.abort };
  },
  readRaw(ctx) {
    return createReadStream(localPath(ctx), { highWaterMark: 1 << 20 });
  },
  async writeRaw(ctx) {
    return fileSink(localPath(ctx));
  },
  async deleteData(ctx) {
    await rm(localPath(ctx), { force: true });
  },
  async check(ctx) {
    const root = localRoot(ctx.source);
    mkdirSync(root, { recursive: true });
    if (!statSync(root).isDirectory()) throw new Error(`${root} is not a directory`);
  },
};
