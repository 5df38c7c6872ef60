// The backstop behind "no timer or event handler throws out of the process":
// each timer and handler catches its own failures (cert-renewer.ts,
// write-failures.ts...). An error that still reaches the process level is a
// bug: it is logged with its stack and counted (ferry_uncaught_errors_total,
// alert FerryUncaughtErrors), and the node keeps serving what it has rather
// than taking partners' traffic down with it.
import type { Logger } from 'pino';
import type { ControlPlaneMetrics } from './metrics.ts';
import { WriteFailures } from './write-failures.ts';

/**
 * The node's failure reporting: write failures (status conditions and
 * metrics) and the process-level guard. `removeGuard` at stop.
 */
export function guardNode(log: Logger, metrics: ControlPlaneMetrics): { failures: WriteFailures; removeGuard: () => void } {
  const failures = new WriteFailures(log.child({ component: 'writes' }));
  failures.onFailure = (what, code) => metrics.writeFailures.inc({ what, code });
  metrics.writeConditions = () => failures.conditions().map((c) => c.what);
  for (const kind of ['uncaughtException', 'unhandledRejection']) metrics.uncaughtErrors.inc({ kind }, 0); // exported from the start
  const removeGuard = installProcessGuard(log.child({ component: 'process' }), (kind) => metrics.uncaughtErrors.inc({ kind }), (err) => failures.record('log', err));
  return { failures, removeGuard };
}

export function installProcessGuard(log: Logger, count: (kind: string) => void, stdioError: (err: unknown) => void): () => void {
  const uncaught = (err: unknown) => {
    count('uncaughtException');
    try { log.error({ err }, 'uncaught error (a bug): the node keeps running'); } catch { /* the log itself may be failing */ }
  };
  const unhandled = (err: unknown) => {
    count('unhandledRejection');
    try { log.error({ err }, 'unhandled promise rejection (a bug): the node keeps running'); } catch { /* as above */ }
  };
  // stdout/stderr on a full disk (output redirected to a file) emit 'error': counted as a failed log write.
  const stdio = (err: unknown) => stdioError(err);
  process.on('uncaughtException', uncaught);
  process.on('unhandledRejection', unhandled);
  process.stdout.on('error', stdio);
  process.stderr.on('error', stdio);
  return () => {
    process.off('uncaughtException', uncaught);
    process.off('unhandledRejection', unhandled);
    process.stdout.off('error', stdio);
    process.stderr.off('error', stdio);
  };
}
