// Which requests Envoy's access logs record (ferry.yaml `accessLog`), checked
// (pure; xds/access-log.ts makes Envoy's filter of it). Every failure is always
// logged: HTTP status >= 400, any response flag (reset, timeout, no route...)
// or a gRPC status other than OK; successes are logged all (the default),
// none, or a sample ("10%"), because on a busy gateway writing every success
// is most of the log's cost (bench/results/envoy-tuning.md).
import type { NodeConfig } from '../config.ts';

/** Percent of successful requests logged (100: all). Throws naming the field and the fix. */
export function successLogPercent(config: Pick<NodeConfig, 'accessLog'>): number {
  const v = config.accessLog?.successes;
  if (v === undefined || v === 'all') return 100;
  if (v === 'none') return 0;
  const m = typeof v === 'string' ? /^(\d{1,3})%$/.exec(v.trim()) : null;
  if (m && Number(m[1]) <= 100) return Number(m[1]);
  throw new Error(`accessLog.successes in ferry.yaml: ${JSON.stringify(v)} is not all, none or a percentage such as "10%" (failures are always logged)`);
}
