// The mysql and postgresql drivers (sources.ts): a DomainData's relativeURI
// is its table ("orders" or "schema.orders"), read in batches with bounded
// memory (MySQL: the client's row stream with backpressure; PostgreSQL: a
// server-side cursor, FETCH by BATCH_ROWS) and written into a new table that
// replaces the old one only when the upload is complete. Identifiers are
// checked, never spliced in unchecked; values always go as parameters.
import { createConnection as createMysqlConnection, type Connection as MysqlConnection } from 'mysql2';
import pg from 'pg';
import { Bool, Float64, Int64, RecordBatch, Type, vectorFromArray, type Data, type DataType, type Schema } from 'apache-arrow';
import { arrowType, BATCH_ROWS } from './csv.ts';
import type { DataSourceDriver, SourceContext, TableSink } from './sources.ts';
import type { DataColumn } from './spec.ts';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const INSERT_ROWS = 500;

function tableParts(ctx: SourceContext): string[] {
  const parts = ctx.data.relativeURI.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) throw new Error(`DomainData ${ctx.data.id}: relativeURI ${ctx.data.relativeURI} is not a table name (letters, digits, "_", optionally schema.table)`);
  return parts;
}

function columnName(name: string): string {
  if (!IDENT.test(name)) throw new Error(`column ${name}: not a SQL column name Ferry will use (letters, digits and "_", not starting with a digit)`);
  return name;
}

function toArrow(v: unknown, t: DataType): unknown {
  if (v === null || v === undefined) return null;
  if (t instanceof Int64) return BigInt(typeof v === 'bigint' ? v : String(v).split('.')[0]!);
  if (t instanceof Float64) return Number(v);
  if (t instanceof Bool) return v === true || v === 1 || v === '1' || v === 't' || v === 'true';
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

function rowsToBatch(rows: Record<string, unknown>[], columns: readonly DataColumn[]): RecordBatch {
  const cols: Record<string, Data> = {};
  for (const c of columns) {
    const t = arrowType(c.type);
    cols[c.name] = vectorFromArray(rows.map((r) => toArrow(r[c.name], t)), t).data[0]!;
  }
  return new RecordBatch(cols);
}

function fromArrow(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v);
  return v ?? null;
}

function sqlType(t: DataType, dialect: 'mysql' | 'postgresql'): string {
  switch (t.typeId) {
    case Type.Int: return 'BIGINT';
    case Type.Float: return dialect === 'mysql' ? 'DOUBLE' : 'DOUBLE PRECISION';
    case Type.Bool: return 'BOOLEAN';
    case Type.Binary: case Type.LargeBinary: return dialect === 'mysql' ? 'LONGBLOB' : 'BYTEA';
    default: return 'TEXT';
  }
}

function batchRows(b: RecordBatch, schema: Schema): unknown[][] {
  const cols = schema.fields.map((_, j) => b.getChildAt(j)!);
  const rows: unknown[][] = [];
  for (let i = 0; i < b.numRows; i++) rows.push(cols.map((c) => fromArrow(c.get(i))));
  return rows;
}

function dbInfo(ctx: Pick<SourceContext, 'source'>) {
  const db = ctx.source.info.database;
  if (!db?.endpoint) throw new Error(`DomainDataSource ${ctx.source.name} has no database endpoint in its info`);
  const i = db.endpoint.lastIndexOf(':');
  return { host: db.endpoint.slice(0, i), port: Number(db.endpoint.slice(i + 1)), user: db.user ?? '', password: db.password ?? '', database: db.database ?? '' };
}

// ---- MySQL / MariaDB

async function mysqlConnect(ctx: Pick<SourceContext, 'source'>): Promise<MysqlConnection> {
  const conn = createMysqlConnection({ ...dbInfo(ctx), supportBigNumbers: true, bigNumberStrings: true, connectTimeout: 10_000 });
  await new Promise<void>((resolve, reject) => conn.connect((e) => (e ? reject(new Error(`${ctx.source.type} ${dbInfo(ctx).host}:${dbInfo(ctx).port}: ${e.message}`)) : resolve())));
  return conn;
}

const mq = (c: MysqlConnection, sql: string, params: unknown[] = []) => new Promise<unknown>((resolve, reject) => c.query(sql, params, (e, r) => (e ? reject(e) : resolve(r))));
const bt = (parts: string[]) => parts.map((p) => `\`${p}\``).join('.');

export const mysqlDriver: DataSourceDriver = {
  type: 'mysql',
  async *readTable(ctx, columns) {
    const conn = await mysqlConnect(ctx);
    try {
      const stream = conn.query(`SELECT ${columns.map((c) => `\`${columnName(c.name)}\``).join(', ')} FROM ${bt(tableParts(ctx))}`).stream({ highWaterMark: BATCH_ROWS });
      let rows: Record<string, unknown>[] = [];
      for await (const row of stream as AsyncIterable<Record<string, unknown>>) {
        rows.push(row);
        if (rows.length >= BATCH_ROWS) { yield rowsToBatch(rows, columns); rows = []; }
      }
      if (rows.length) yield rowsToBatch(rows, columns);
    } finally {
      conn.destroy();
    }
  },
  async writeTable(ctx, schema) {
    const conn = await mysqlConnect(ctx);
    const parts = tableParts(ctx);
    const tmp = [...parts.slice(0, -1), `${parts.at(-1)!.slice(0, 40)}__ferry_upload`];
    const names = schema.fields.map((f) => `\`${columnName(f.name)}\``);
    await mq(conn, `DROP TABLE IF EXISTS ${bt(tmp)}`);
    await mq(conn, `CREATE TABLE ${bt(tmp)} (${schema.fields.map((f, i) => `${names[i]} ${sqlType(f.type, 'mysql')}`).join(', ')})`);
    return dbSink(
      async (rows) => { await mq(conn, `INSERT INTO ${bt(tmp)} (${names.join(', ')}) VALUES ?`, [rows]); },
      schema,
      async () => { await mq(conn, `DROP TABLE IF EXISTS ${bt(parts)}`); await mq(conn, `RENAME TABLE ${bt(tmp)} TO ${bt(parts)}`); conn.destroy(); },
      async () => { await mq(conn, `DROP TABLE IF EXISTS ${bt(tmp)}`).catch(() => undefined); conn.destroy(); },
    );
  },
  async deleteData(ctx) {
    const conn = await mysqlConnect(ctx);
    try { await mq(conn, `DROP TABLE IF EXISTS ${bt(tableParts(ctx))}`); } finally { conn.destroy(); }
  },
  async check(ctx) {
    const conn = await mysqlConnect(ctx);
    try { await mq(conn, 'SELECT 1'); } finally { conn.destroy(); }
  },
};

function dbSink(insert: (rows: unknown[][]) => Promise<void>, schema: Schema, commit: () => Promise<void>, rollback: () => Promise<void>): TableSink {
  return {
    async write(b) {
      const rows = batchRows(b, schema);
      for (let i = 0; i < rows.length; i += INSERT_ROWS) await insert(rows.slice(i, i + INSERT_ROWS));
    },
    close: commit,
    abort: rollback,
  };
}

// ---- PostgreSQL

async function pgConnect(ctx: Pick<SourceContext, 'source'>): Promise<pg.Client> {
  const c = new pg.Client({ ...dbInfo(ctx), connectionTimeoutMillis: 10_000 });
  try {
    await c.connect();
  } catch (e) {
    throw new Error(`postgresql ${dbInfo(ctx).host}:${dbInfo(ctx).port}: ${(e as Error).message}`);
  }
  return c;
}

const dq = (parts: string[]) => parts.map((p) => `"${p}"`).join('.');

export const postgresqlDriver: DataSourceDriver = {
  type: 'postgresql',
  async *readTable(ctx, columns) {
    const c = await pgConnect(ctx);
    try {
      await c.query('BEGIN READ ONLY');
      await c.query(`DECLARE ferry_read NO SCROLL CURSOR FOR SELECT ${columns.map((x) => `"${columnName(x.name)}"`).join(', ')} FROM ${dq(tableParts(ctx))}`);
      for (;;) {
        const r = await c.query(`FETCH ${BATCH_ROWS} FROM ferry_read`);
        if (!r.rows.length) break;
        yield rowsToBatch(r.rows as Record<string, unknown>[], columns);
      }
      await c.query('COMMIT');
    } finally {
      await c.end().catch(() => undefined);
    }
  },
  async writeTable(ctx, schema) {
    const c = await pgConnect(ctx);
    const parts = tableParts(ctx);
    const tmp = [...parts.slice(0, -1), `${parts.at(-1)!.slice(0, 40)}__ferry_upload`];
    const names = schema.fields.map((f) => `"${columnName(f.name)}"`);
    await c.query('BEGIN');
    await c.query(`DROP TABLE IF EXISTS ${dq(tmp)}`);
    await c.query(`CREATE TABLE ${dq(tmp)} (${schema.fields.map((f, i) => `${names[i]} ${sqlType(f.type, 'postgresql')}`).join(', ')})`);
    return dbSink(
      async (rows) => {
        const params: unknown[] = [];
        const values = rows.map((r) => `(${r.map((v) => { params.push(v); return `$${params.length}`; }).join(', ')})`);
        await c.query(`INSERT INTO ${dq(tmp)} (${names.join(', ')}) VALUES ${values.join(', ')}`, params);
      },
      schema,
      async () => {
        // One transaction: readers see the old table or the new one, never neither.
        await c.query(`DROP TABLE IF EXISTS ${dq(parts)}`);
        await c.query(`ALTER TABLE ${dq(tmp)} RENAME TO "${parts.at(-1)}"`);
        await c.query('COMMIT');
        await c.end();
      },
      async () => { await c.query('ROLLBACK').catch(() => undefined); await c.end().catch(() => undefined); },
    );
  },
  async deleteData(ctx) {
    const c = await pgConnect(ctx);
    try { await c.query(`DROP TABLE IF EXISTS ${dq(tableParts(ctx))}`); } finally { await c.end().catch(() => undefined); }
  },
  async check(ctx) {
    const c = await pgConnect(ctx);
    try { await c.query('SELECT 1'); } finally { await c.end().catch(() => undefined); }
  },
};
