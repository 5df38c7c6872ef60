// CSV <-> Arrow record batches for file sources, streaming: rows are parsed
// from chunks as they come and cut into batches of BATCH_ROWS, and batches are
// written out row by row. Column types follow the DomainData's columns
// (Kuscia's names: int*, uint*, float*, bool, str/string...).
import { Bool, Float64, Int64, RecordBatch, Schema, Field, Type, Utf8, makeData, type Data, type DataType, type Vector } from 'apache-arrow';
import type { DataColumn } from './spec.ts';

/** Rows per served batch: large enough that clients writing each batch out (pandas) keep up. */
export const BATCH_ROWS = 32768;

/** The Arrow type a DomainData column is served as. */
export function arrowType(t: string): DataType {
  if (/^u?int(8|16|32|64)?$/.test(t)) return new Int64();
  if (/^(float(32|64)?|double)$/.test(t)) return new Float64();
  if (t === 'bool') return new Bool();
  return new Utf8(); // str, string, binary, date32, date64: as text, as the file holds them
}

export function schemaOf(columns: readonly DataColumn[]): Schema {
  return new Schema(columns.map((c) => new Field(c.name, arrowType(c.type), !c.notNullable)));
}

/** One line holding quotes, parsed field by field ("" inside quotes is a quote). */
function parseQuoted(line: string, d: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c !== '"') field += c;
      else if (line[i + 1] === '"') { field += '"'; i++; } else quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === d) { out.push(field); field = ''; } else field += c;
  }
  out.push(field);
  return out;
}

function oddQuotes(s: string): boolean {
  let n = 0;
  for (let i = s.indexOf('"'); i >= 0; i = s.indexOf('"', i + 1)) n++;
  return n % 2 === 1;
}

const noCr = (l: string) => (l.endsWith('\r') ? l.slice(0, -1) : l);

/**
 * Streaming RFC 4180 parser: quoted fields (with "" and line breaks inside),
 * CRLF or LF. Lines without quotes take the fast path (a native split).
 */
export async function* csvRows(chunks: AsyncIterable<Uint8Array | string>, delimiter = ','): AsyncGenerator<string[]> {
  const decoder = new TextDecoder();
  let rest = '';
  let record: string | undefined; // a record whose quoted field goes on past a line break
  const take = (line: string): string[] | undefined => {
    if (record !== undefined) line = `${record}\n${line}`;
    if (!line.includes('"')) { record = undefined; return noCr(line).split(delimiter); }
    if (oddQuotes(line)) { record = line; return undefined; }
    record = undefined;
    return parseQuoted(noCr(line), delimiter);
  };
  for await (const chunk of chunks) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    const rows: string[][] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const row = take(text.slice(start, nl));
      start = nl + 1;
      if (row) rows.push(row);
    }
    rest = text.slice(start);
    yield* rows;
  }
  rest += decoder.decode();
  if (rest !== '' || record !== undefined) {
    const row = take(rest);
    yield row ?? parseQuoted(noCr(record!), delimiter); // an unclosed quote ends with the file
  }
}

function bitmap(n: number): Uint8Array {
  return new Uint8Array(((n + 63) >> 6) << 3);
}
const setBit = (b: Uint8Array, i: number) => { b[i >> 3]! |= 1 << (i & 7); };
const getBit = (b: Uint8Array, i: number) => (b[i >> 3]! >> (i & 7)) & 1;

/** One column of text values as Arrow data of its type; "" is null except for text. */
export function columnData(texts: readonly string[], type: DataType, column: string): Data {
  const n = texts.length;
  const valid = bitmap(n);
  let nulls = 0;
  if (type instanceof Int64) {
    const out = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      const t = texts[i]!.trim();
      if (t === '') { nulls++; continue; }
      if (!/^[-+]?\d+$/.test(t)) throw new Error(`column ${column}: "${t.slice(0, 40)}" is not an integer`);
      out[i] = BigInt(t);
      setBit(valid, i);
    }
    return makeData({ type, length: n, nullCount: nulls, nullBitmap: nulls ? valid : null, data: out });
  }
  if (type instanceof Float64) {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t = texts[i]!;
      if (t === '') { nulls++; continue; }
      const v = Number(t);
      if (Number.isNaN(v) && !/^\s*nan\s*$/i.test(t)) throw new Error(`column ${column}: "${t.slice(0, 40)}" is not a number`);
      out[i] = v;
      setBit(valid, i);
    }
    return makeData({ type, length: n, nullCount: nulls, nullBitmap: nulls ? valid : null, data: out });
  }
  if (type instanceof Bool) {
    const out = bitmap(n);
    for (let i = 0; i < n; i++) {
      const t = texts[i]!.trim();
      if (t === '') { nulls++; continue; }
      if (/^(true|1|t|yes)$/i.test(t)) setBit(out, i);
      setBit(valid, i);
    }
    return makeData({ type, length: n, nullCount: nulls, nullBitmap: nulls ? valid : null, data: out });
  }
  // Text: one UTF-8 buffer and offsets (the common ASCII case without per-value encoding).
  const joined = texts.join('');
  const bytes = Buffer.from(joined, 'utf8');
  const offsets = new Int32Array(n + 1);
  if (bytes.length === joined.length) {
    for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i]! + texts[i]!.length;
  } else {
    for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i]! + Buffer.byteLength(texts[i]!);
  }
  return makeData({ type: new Utf8(), length: n, nullCount: 0, valueOffsets: offsets, data: bytes });
}

/**
 * The batches of a CSV file whose first row is its header. `columns` picks
 * and types the columns served (by name, any order); a missing one is an error
 * naming it.
 */
export async function* csvToBatches(chunks: AsyncIterable<Uint8Array | string>, columns: readonly DataColumn[], delimiter = ','): AsyncGenerator<RecordBatch> {
  const schema = schemaOf(columns);
  let index: number[] | undefined;
  let buffer: string[][] = columns.map(() => []);
  let rows = 0;
  const flush = () => {
    const data: Record<string, Data> = {};
    schema.fields.forEach((f, j) => { data[f.name] = columnData(buffer[j]!, f.type, f.name); });
    buffer = columns.map(() => []);
    rows = 0;
    return new RecordBatch(data);
  };
  for await (const row of csvRows(chunks, delimiter)) {
    if (!index) {
      const header = row.map((h) => h.trim());
      index = columns.map((c) => {
        const i = header.indexOf(c.name);
        if (i < 0) throw new Error(`column ${c.name} is not in the file's header (${header.join(',').slice(0, 200)})`);
        return i;
      });
      continue;
    }
    if (row.length === 1 && row[0] === '') continue; // blank line
    for (let j = 0; j < index.length; j++) buffer[j]!.push(row[index[j]!] ?? '');
    if (++rows >= BATCH_ROWS) yield flush();
  }
  if (rows || !index) yield flush();
}

const quoteTest = (d: string) => new RegExp(`[${d === ']' || d === '\\' || d === '^' || d === '-' ? `\\${d}` : d}"\r\n]`);

/** A column's values as CSV text (quoted where needed; null as ""). */
function columnTexts(col: Vector, d: string): string[] {
  const n = col.length;
  const out: string[] = new Array<string>(n);
  const data = col.data.length === 1 ? col.data[0]! : undefined;
  const valid = (i: number) => (data?.nullBitmap && data.nullCount ? getBit(data.nullBitmap, data.offset + i) === 1 : col.isValid(i));
  const tid = col.type.typeId;
  if (data && !data.offset && (tid === Type.Int || tid === Type.Float) && ArrayBuffer.isView(data.values)) {
    const v = data.values as unknown as ArrayLike<number | bigint>;
    for (let i = 0; i < n; i++) out[i] = valid(i) ? (typeof v[i] === 'number' && Number.isNaN(v[i]) ? '' : String(v[i])) : '';
    return out;
  }
  if (data && !data.offset && tid === Type.Bool) {
    const bits = data.values as Uint8Array;
    for (let i = 0; i < n; i++) out[i] = valid(i) ? (getBit(bits, i) ? 'true' : 'false') : '';
    return out;
  }
  if (data && !data.offset && tid === Type.Utf8) {
    const bytes = data.values as Uint8Array;
    const offs = data.valueOffsets as Int32Array;
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const all = buf.toString('utf8', offs[0], offs[n]);
    const ascii = all.length === offs[n]! - offs[0]!;
    const q = quoteTest(d);
    for (let i = 0; i < n; i++) {
      if (!valid(i)) { out[i] = ''; continue; }
      const s = ascii ? all.slice(offs[i]! - offs[0]!, offs[i + 1]! - offs[0]!) : buf.toString('utf8', offs[i], offs[i + 1]);
      out[i] = q.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    }
    return out;
  }
  for (let i = 0; i < n; i++) out[i] = quote(formatValue(col.get(i)), d);
  return out;
}

function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isNaN(v) ? '' : String(v);
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

const quote = (s: string, d: string) => (s.includes(d) || s.includes('"') || s.includes('\n') || s.includes('\r') ? `"${s.replace(/"/g, '""')}"` : s);

export function csvHeader(schema: Schema, delimiter = ','): string {
  return `${schema.fields.map((f) => quote(f.name, delimiter)).join(delimiter)}\n`;
}

/** One batch as CSV text (no header). */
export function batchToCsv(batch: RecordBatch, delimiter = ','): string {
  const cols = batch.schema.fields.map((_, j) => columnTexts(batch.getChildAt(j)!, delimiter));
  const lines = new Array<string>(batch.numRows);
  for (let i = 0; i < batch.numRows; i++) {
    let line = cols[0]![i]!;
    for (let j = 1; j < cols.length; j++) line += delimiter + cols[j]![i]!;
    lines[i] = line;
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
