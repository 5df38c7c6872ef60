// Failures to write the node's own files (certificates, logs, tokens, the
// store) are not fatal: the node keeps serving what it has. Each one becomes
// a status condition with the real cause (`ferry status`), a count in
// ferry_write_failures_total{what,code} and so the FerryWriteFailing alert;
// the condition clears when the next write of the same thing succeeds.
import type { Logger } from 'pino';

/** The files the node writes on its own (timers, handlers), always exported by ferry_write_failing (0 or 1). */
export const WRITE_TARGETS = ['gateway-certificate', 'ca-rotation', 'log', 'envoy-log', 'envoy-pid'] as const;

export interface WriteCondition {
  /** What could not be written: gateway-certificate, ca-rotation, log, store, tokens... */
  what: string;
  /** The errno code (ENOSPC, EACCES, EROFS...) or "error". */
  code: string;
  message: string;
  since: string;
  /** Failed attempts since the last success. */
  failures: number;
}

export class WriteFailures {
  private readonly open = new Map<string, WriteCondition>();
  /** Called once per failure (the metric). */
  onFailure: (what: string, code: string) => void = () => {};
  private readonly log: Logger | undefined;

  constructor(log?: Logger) {
    this.log = log;
  }

  record(what: string, err: unknown): WriteCondition {
    const code = errorCode(err);
    const message = (err as Error)?.message ?? String(err);
    const prev = this.open.get(what);
    const c: WriteCondition = { what, code, message, since: prev?.since ?? new Date().toISOString(), failures: (prev?.failures ?? 0) + 1 };
    this.open.set(what, c);
    this.onFailure(what, code);
    this.log?.error({ what, code, err: message, failures: c.failures }, `could not write ${what} (${code}); the node keeps serving what it has`);
    return c;
  }

  /** The write of `what` succeeded: its condition clears. */
  ok(what: string): void {
    if (this.open.delete(what)) this.log?.info({ what }, `${what} written again`);
  }

  conditions(): WriteCondition[] {
    return [...this.open.values()];
  }
}

export function errorCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]+$/.test(code) ? code : 'error';
}

/**
 * One line naming the cause of a failed write, e.g. "no space left on the
 * filesystem of /srv/ferry/certs (ENOSPC)": for `ferry start` and logs.
 */
export function describeWriteError(err: unknown, path?: string): string {
  const code = errorCode(err);
  const where = path ?? (err as NodeJS.ErrnoException)?.path;
  const cause: Record<string, string> = {
    ENOSPC: 'no space left on the filesystem',
    EDQUOT: 'disk quota exceeded on the filesystem',
    EROFS: 'the filesystem is read-only',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EIO: 'I/O error on the filesystem',
  };
  return `${cause[code] ?? (err as Error)?.message ?? String(err)}${where ? ` of ${where}` : ''} (${code})`;
}
