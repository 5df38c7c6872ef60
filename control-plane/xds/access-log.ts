// Envoy's access-log filter for ferry.yaml's `accessLog.successes`
// (translate/access-log-policy.ts): failures always, successes sampled.
import type { J } from './common.ts';

/** Envoy's access-log filter for that policy; undefined when every request is logged. */
export function accessLogFilter(percent: number): J | undefined {
  if (percent >= 100) return undefined;
  const failures: J[] = [
    { status_code_filter: { comparison: { op: 'GE', value: { default_value: 400, runtime_key: 'ferry.access_log.failure_status' } } } },
    { response_flag_filter: {} }, // any flag: reset, timeout, no healthy upstream, no route...
    // A gRPC call that failed inside an HTTP 200 (only gRPC calls: Envoy infers Unknown for any other 200).
    { and_filter: { filters: [{ header_filter: { header: { name: 'content-type', string_match: { prefix: 'application/grpc' } } } }, { grpc_status_filter: { statuses: ['OK'], exclude: true } }] } },
  ];
  const sample: J[] = percent > 0 ? [{ runtime_filter: { runtime_key: 'ferry.access_log.success_sample', percent_sampled: { numerator: percent, denominator: 'HUNDRED' }, use_independent_randomness: true } }] : [];
  return { or_filter: { filters: [...failures, ...sample] } };
}
