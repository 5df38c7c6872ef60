// What Envoy (and Kubernetes, for metadata) accepts, checked by real parsers
// rather than loose patterns: a value that passes here must never be NACKed
// by Envoy after translation (test/unit/validate-envoy.property.test.ts).
// Each check returns a sentence saying what is wrong and how to write it, or
// undefined when the value is fine.

/** RFC 1123 host name: labels of 1-63 letters/digits/hyphens, 253 characters in all. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** Strict dotted quad: four decimal parts 0-255, no leading zeros (Envoy refuses "010.0.0.1"). */
export function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/** Looks like an attempt at an IPv4 address (digits and dots only): then it must be one. */
const LOOKS_NUMERIC = /^[\d.]+$/;

export function hostProblem(host: string, allowDns = true): string | undefined {
  const fix = allowDns ? 'write a DNS name such as "bob.example.com" or an IPv4 address such as "10.1.2.3"' : 'write an IPv4 address such as "10.1.2.3"';
  if (host.length === 0) return `is empty: ${fix}`;
  if (!host.isWellFormed()) return `contains a broken Unicode character (a lone UTF-16 surrogate): ${fix}`;
  if (/[\x00-\x20\x7f]/.test(host)) return `contains a space or control character: ${fix}`;
  if (host.includes('://')) return `"${short(host)}" is a URL; give the host only (no scheme, port or path): ${fix}`;
  if (host.includes('/')) return `"${short(host)}" contains "/" (a CIDR or path); give one address: ${fix}`;
  if (host.includes(':')) {
    return /^[\da-f:.]+$/i.test(host) && host.split(':').length > 2
      ? `"${short(host)}" is an IPv6 address; this Ferry version supports IPv4 and DNS names: ${fix}`
      : `"${short(host)}" contains a port; give the host only and put the port in its own field: ${fix}`;
  }
  if (LOOKS_NUMERIC.test(host)) return isIPv4(host) ? undefined : `"${short(host)}" is not an IPv4 address (four parts 0-255, no leading zeros): ${fix}`;
  if (!allowDns) return `"${short(host)}" is not an IPv4 address: ${fix}`;
  if (host.length > 253) return `is ${host.length} characters long; a DNS name has at most 253: ${fix}`;
  const labels = host.replace(/\.$/, '').split('.');
  const bad = labels.find((l) => !LABEL.test(l));
  if (bad !== undefined) {
    return `"${short(host)}" is not a DNS name: each dot-separated part is 1-63 letters, digits or "-", not starting or ending with "-" (problem: "${short(bad)}"); ${fix}`;
  }
  if (/^\d+$/.test(labels.at(-1)!)) return `"${short(host)}" is neither a DNS name (its last part is all digits) nor an IPv4 address: ${fix}`;
  return undefined;
}

const short = (s: string) => (s.length > 60 ? `${s.slice(0, 57)}...` : s);

/** Timeouts Ferry hands to Envoy: at most a year (far inside protobuf's Duration range, 315576000000 s). */
export const MAX_DURATION_SECONDS = 365 * 24 * 3600;

/** "500ms", "90s", "30m", "2h" -> seconds; undefined when not a duration or beyond MAX_DURATION_SECONDS. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,12})(ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const seconds = { ms: n / 1000, s: n, m: n * 60, h: n * 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return seconds <= MAX_DURATION_SECONDS ? seconds : undefined;
}

/** Bandwidth caps: at least 1 KiB/s, at most 1 TiB/s (Envoy's limit_kbps is KiB/s, a uint64 it multiplies). */
export const MAX_BANDWIDTH_KIBPS = 1024 ** 3;

/** "512KiB/s", "8MiB/s", "100Mbit/s", "1Gbit/s" -> KiB/s (Envoy's unit); undefined when not a bandwidth in range. */
export function parseBandwidthKiBps(text: string): number | undefined {
  const m = /^(\d{1,15}(?:\.\d{1,6})?)\s*(KiB|MiB|GiB|kbit|Mbit|Gbit)\/s$/.exec(text.trim());
  if (!m) return undefined;
  const bytesPerUnit = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, kbit: 125, Mbit: 125_000, Gbit: 125_000_000 }[m[2] as 'KiB'];
  const kib = Math.floor((Number(m[1]) * bytesPerUnit) / 1024);
  return kib >= 1 && kib <= MAX_BANDWIDTH_KIBPS ? kib : undefined;
}

/** Token rolling: at most ten years (0 = never, as in Kuscia). */
export const MAX_ROLLING_UPDATE_PERIOD = 10 * 365 * 24 * 3600;

/** Kubernetes' limits on metadata, so that what Ferry stores also fits a Kuscia (Kubernetes) node. */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** A label or annotation key: [prefix/]name, prefix a DNS subdomain (<= 253), name <= 63. */
export function metadataKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (!QUALIFIED_NAME.test(name)) return 'the key (after any "prefix/") must be 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
  if (prefix !== undefined && (prefix.length > 253 || !prefix.split('.').every((l) => /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(l)))) {
    return 'the key prefix (before "/") must be a lowercase DNS subdomain of at most 253 characters, e.g. "example.com/"';
  }
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  return LABEL_VALUE.test(value) ? undefined : 'a label value is empty or 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
}

/**
 * The first string in a document (keys included) that no proto string may
 * hold: a lone surrogate (not UTF-8) or NUL. Returns its field path.
 */
export function findUnencodableString(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return !value.isWellFormed() || value.includes('\0') ? path || '(document)' : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnencodableString(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const at = path ? `${path}.${k}` : k;
      if (!k.isWellFormed() || k.includes('\0')) return at;
      const found = findUnencodableString(v, at);
      if (found) return found;
    }
  }
  return undefined;
}
