// `ferry logs`: the node's JSON access logs (both listeners and the local
// ports), filtered by peer and status, optionally followed as they grow.
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { homePaths } from '../config.ts';

export interface LogFilter {
  /** A partner domain: requests from it (public) or to it (internal). */
  peer?: string;
  /** "5xx", "4xx", "2xx", or one code such as "404". */
  status?: string;
  json?: boolean;
}

interface Entry {
  time?: string;
  listener?: string;
  request_id?: string;
  source?: string | null;
  peer?: string | null;
  host?: string | null;
  method?: string | null;
  path?: string | null;
  status?: number | string;
  flags?: string;
  duration_ms?: number | string;
  upstream_failure?: string | null;
}

export function parseStatusFilter(text: string | undefined): ((status: number) => boolean) | undefined {
  if (text === undefined) return undefined;
  const cls = /^([1-5])xx$/i.exec(text);
  if (cls) return (s) => Math.floor(s / 100) === Number(cls[1]);
  if (/^[1-5]\d\d$/.test(text)) return (s) => s === Number(text);
  throw new Error(`--status: "${text}" is not a status: use a class such as 5xx or a code such as 404`);
}

export function matches(e: Entry, filter: LogFilter, status = parseStatusFilter(filter.status)): boolean {
  if (filter.peer) {
    const to = typeof e.host === 'string' && (e.host.endsWith(`.${filter.peer}.svc`) || e.host.includes(`.${filter.peer}.svc:`));
    if (e.peer !== filter.peer && e.source !== filter.peer && !to) return false;
  }
  return status ? status(Number(e.status)) : true;
}

export function formatEntry(e: Entry): string {
  const failure = e.upstream_failure ? ` (${e.upstream_failure})` : '';
  return [e.time, e.listener, e.status, e.method ?? '-', `${e.host ?? '-'}${e.path ?? ''}`, `from ${e.source ?? '-'}`, `${e.duration_ms}ms`, e.flags ?? '-', e.request_id ?? '-'].join(' ') + failure;
}

function logFiles(home: string): string[] {
  const dir = homePaths(home).logs;
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^access-.*\.log$/.test(f)).map((f) => join(dir, f)) : [];
}

/** Reads the complete lines added to `file` since `offset`; returns them and the new offset. */
function readFrom(file: string, offset: number): { lines: string[]; offset: number } {
  const size = statSync(file).size;
  if (size < offset) offset = 0; // rotated or truncated
  if (size === offset) return { lines: [], offset };
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    const text = buf.toString('utf8');
    const end = text.lastIndexOf('\n') + 1;
    return { lines: text.slice(0, end).split('\n').filter(Boolean), offset: offset + Buffer.byteLength(text.slice(0, end)) };
  } finally {
    closeSync(fd);
  }
}

export async function showLogs(home: string, filter: LogFilter & { follow?: boolean }, write: (line: string) => void = (l) => console.log(l)): Promise<void> {
  const status = parseStatusFilter(filter.status);
  const offsets = new Map<string, number>();
  const pass = () => {
    const batch: Entry[] = [];
    for (const file of logFiles(home)) {
      const { lines, offset } = readFrom(file, offsets.get(file) ?? 0);
      offsets.set(file, offset);
      for (const line of lines) {
        try {
          batch.push(JSON.parse(line) as Entry);
        } catch { /* a line being written */ }
      }
    }
    batch.sort((a, b) => String(a.time).localeCompare(String(b.time)));
    for (const e of batch) if (matches(e, filter, status)) write(filter.json ? JSON.stringify(e) : formatEntry(e));
  };
  pass();
  if (!filter.follow) return;
  await new Promise<void>((resolve) => {
    const timer = setInterval(pass, 500);
    const stop = () => { clearInterval(timer); resolve(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
