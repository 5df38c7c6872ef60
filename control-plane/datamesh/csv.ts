// CSV <-> Arrow record batches for file sources, streaming: rows are parsed
// from chunks as they come and cut into batches of BATCH_ROWS, and batches are
// written out row by row. Column types follow the DomainData's columns
// (Kuscia's names: int*, uint*, float*, bool, str/string...).
import { Bool, Float64, Int64, RecordBatch, Schema, Field, Utf8, vectorFromArray, type Data, type DataType } from 'apache-arrow';
import type { DataColumn } from './spec.ts';

export const BATCH_ROWS = 8192;

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

/** Streaming RFC 4180 parser: quoted fields (with "" and line breaks inside), CRLF or LF. */
export async function* csvRows(chunks: AsyncIterable<Uint8Array | string>, delimiter = ','): AsyncGenerator<string[]> {
  const decoder = new TextDecoder();
  let field = '';
  let row: string[] = [];
  let quoted = false;
  let afterQuote = false;
  for await (const chunk of chunks) {
    const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    const rows: string[][] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (quoted) {
        if (c === '"') {
          if (text[i + 1] === '"') { field += '"'; i++; } else if (i + 1 === text.length) { quoted = false; afterQuote = true; } else { quoted = false; }
        } else field += c;
        continue;
      }
      if (afterQuote && c === '"') { field += '"'; quoted = true; afterQuote = false; continue; } // "" split across chunks
      afterQuote = false;
      if (c === '"' && field === '') quoted = true;
      else if (c === delimiter) { row.push(field); field = ''; }
      else if (c === '\n') { row.push(field.endsWith('\r') ? field.slice(0, -1) : field); rows.push(row); row = []; field = ''; }
      else field += c;
    }
    yield* rows;
  }
  if (field !== '' || row.length) { row.push(field.endsWith('\r') ? field.slice(0, -1) : field); yield row; }
}

function parseValue(text: string, type: DataType, column: string): unknown {
  if (text === '' && !(type instanceof Utf8)) return null;
  if (type instanceof Int64) {
    if (!/^[-+]?\d+$/.test(text.trim())) throw new Error(`column ${column}: "${text.slice(0, 40)}" is not an integer`);
    return BigInt(text.trim());
  }
  if (type instanceof Float64) {
    const n = Number(text);
    if (Number.isNaN(n) && !/^nan$/i.test(text.trim())) throw new Error(`column ${column}: "${text.slice(0, 40)}" is not a number`);
    return n;
  }
  if (type instanceof Bool) return /^(true|1|t|yes)$/i.test(text.trim());
  return text;
}

/**
 * The batches of a CSV file whose first row is its header. `columns` picks
 * and types the columns served (by name, any order); a missing one is an error
 * naming it.
 */
export async function* csvToBatches(chunks: AsyncIterable<Uint8Array | string>, columns: readonly DataColumn[], delimiter = ','): AsyncGenerator<RecordBatch> {
  const schema = schemaOf(columns);
  let index: number[] | undefined;
  let buffer: string[][] = [];
  const flush = () => {
    const vectors: Record<string, Data> = {};
    schema.fields.forEach((f, j) => {
      vectors[f.name] = vectorFromArray(buffer.map((r) => parseValue(r[index![j]!] ?? '', f.type, f.name)), f.type).data[0]!;
    });
    const batch = new RecordBatch(vectors);
    buffer = [];
    return batch;
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
    buffer.push(row);
    if (buffer.length >= BATCH_ROWS) yield flush();
  }
  if (buffer.length || !index) {
    if (!index) index = columns.map((_, i) => i);
    yield flush();
  }
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
  const cols = batch.schema.fields.map((_, j) => batch.getChildAt(j)!);
  const lines: string[] = [];
  for (let i = 0; i < batch.numRows; i++) lines.push(cols.map((c) => quote(formatValue(c.get(i)), delimiter)).join(delimiter));
  return lines.length ? `${lines.join('\n')}\n` : '';
}
