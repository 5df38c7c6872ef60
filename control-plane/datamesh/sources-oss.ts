// The oss driver (sources.ts): a DomainData is the object
// `<info.oss.prefix>/<relativeURI>` in `info.oss.bucket` of an S3-compatible
// server (Kuscia's scheme: path-style addressing unless `virtualhost`).
// Reads stream the object's body through the CSV parser; writes stream into
// a multipart upload (5 MiB parts, at most two in flight), so memory stays
// bounded whatever the size, and the object appears only when the upload
// completes — an aborted upload leaves the old object as it was.
import { PassThrough, type Readable } from 'node:stream';
import { once } from 'node:events';
import { posix } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { batchToCsv, csvHeader, csvToBatches } from './csv.ts';
import type { DataSourceDriver, RawSink, SourceContext } from './sources.ts';
import type { DataSourceInfo } from './spec.ts';

type OssInfo = NonNullable<DataSourceInfo['oss']>;
const PART_BYTES = 5 * 1024 * 1024; // S3's smallest part

function ossInfo(source: SourceContext['source']): OssInfo & { endpoint: string; bucket: string } {
  const o = source.info.oss;
  if (!o?.endpoint || !o.bucket) throw new Error(`DomainDataSource ${source.name}: spec.info.oss needs endpoint and bucket`);
  return o as OssInfo & { endpoint: string; bucket: string };
}

function client(source: SourceContext['source']): S3Client {
  const o = ossInfo(source);
  return new S3Client({
    endpoint: o.endpoint,
    // Kuscia's info has no region; S3-compatible servers (MinIO, versitygw) take us-east-1,
    // and a server that wants another one says so, which the client follows.
    region: 'us-east-1',
    followRegionRedirects: true,
    forcePathStyle: o.virtualhost !== true,
    credentials: { accessKeyId: o.access_key_id ?? '', secretAccessKey: o.access_key_secret ?? '' },
    maxAttempts: 2,
  });
}

/** The object a DomainData is: prefix joined with its relative URI (checked to stay inside the prefix at apply). */
export function objectKey(ctx: SourceContext): string {
  return posix.join(ossInfo(ctx.source).prefix ?? '', ctx.data.relativeURI).replace(/^\/+/, '');
}

/** The server's refusal as a message naming the server and object, never the keys. */
function refusal(ctx: Omit<SourceContext, 'data'> & { data?: SourceContext['data'] }, e: unknown): Error {
  const o = ossInfo(ctx.source);
  const where = `oss ${o.endpoint} bucket ${o.bucket}${ctx.data ? ` object ${objectKey(ctx as SourceContext)}` : ''}`;
  const status = (e as S3ServiceException).$metadata?.httpStatusCode;
  // A refused signature or key reads "access denied" whatever the server named it (HEAD answers carry no body).
  if (status === 403) return new Error(`${where}: access denied (HTTP 403 ${(e as Error).name}): check spec.info.oss.access_key_id and access_key_secret`);
  if (e instanceof S3ServiceException) return new Error(`${where}: ${e.name}${e.$metadata.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : ''}${e.message && e.message !== e.name && e.message !== 'UnknownError' ? `: ${e.message}` : ''}`);
  const err = e as NodeJS.ErrnoException;
  return new Error(`${where}: ${err.code ? `${err.code} ` : ''}${err.message}`);
}

async function* objectBody(ctx: SourceContext): AsyncGenerator<Uint8Array> {
  const s3 = client(ctx.source);
  try {
    let body: Readable;
    try {
      const r = await s3.send(new GetObjectCommand({ Bucket: ossInfo(ctx.source).bucket, Key: objectKey(ctx) }));
      body = r.Body as Readable;
    } catch (e) {
      throw refusal(ctx, e);
    }
    yield* body;
  } finally {
    s3.destroy();
  }
}

/** A multipart upload fed chunk by chunk with backpressure; the object appears on close. */
async function objectSink(ctx: SourceContext, contentType: string): Promise<RawSink & { text(s: string): Promise<void> }> {
  const s3 = client(ctx.source);
  const body = new PassThrough({ highWaterMark: PART_BYTES });
  const upload = new Upload({ client: s3, params: { Bucket: ossInfo(ctx.source).bucket, Key: objectKey(ctx), Body: body, ContentType: contentType }, partSize: PART_BYTES, queueSize: 2, leavePartsOnError: false });
  const done = upload.done().finally(() => s3.destroy());
  let failed: unknown;
  done.catch((e: unknown) => { failed = e; body.destroy(); });
  const write = async (c: Uint8Array | string) => {
    if (failed) throw refusal(ctx, failed);
    if (!body.write(c)) await Promise.race([once(body, 'drain'), done.then(() => undefined, () => undefined)]);
  };
  return {
    write,
    text: write,
    close: async () => {
      body.end();
      try { await done; } catch (e) { throw refusal(ctx, e); }
    },
    abort: async () => {
      await upload.abort().catch(() => undefined);
      body.destroy();
      await done.catch(() => undefined);
    },
  };
}

export const ossDriver: DataSourceDriver = {
  type: 'oss',
  readTable(ctx, columns) {
    return csvToBatches(objectBody(ctx), columns, ctx.delimiter);
  },
  async writeTable(ctx, schema) {
    const sink = await objectSink(ctx, 'text/csv');
    await sink.text(csvHeader(schema, ctx.delimiter));
    return { write: (b) => sink.text(batchToCsv(b, ctx.delimiter)), close: sink.close, abort: sink.abort };
  },
  readRaw(ctx) {
    return objectBody(ctx);
  },
  writeRaw(ctx) {
    return objectSink(ctx, 'application/octet-stream');
  },
  async deleteData(ctx) {
    const s3 = client(ctx.source);
    try {
      await s3.send(new DeleteObjectCommand({ Bucket: ossInfo(ctx.source).bucket, Key: objectKey(ctx) }));
    } catch (e) {
      throw refusal(ctx, e);
    } finally {
      s3.destroy();
    }
  },
  async check(ctx) {
    const s3 = client(ctx.source);
    try {
      await s3.send(new HeadBucketCommand({ Bucket: ossInfo(ctx.source).bucket }));
    } catch (e) {
      throw refusal(ctx, e);
    } finally {
      s3.destroy();
    }
  },
};
