// KusciaAPI app images <-> Ferry's AppImage (Kuscia's CRD shape), pure
// (golden-tested). KusciaAPI flattens a deploy template (containers and
// restart_policy beside name and role); the CRD has them under spec. What
// RunP cannot honour is refused by the AppImage check (runtime/app-image.ts),
// with KusciaAPI's field names in the message.
import { KUSCIA_API_VERSION, type JobResource } from '../resources/types.ts';
import type { StoredResource } from '../store/store.ts';
import { requireField } from './mapping.ts';

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const toCamel = (k: string) => k.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const toSnake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const isZero = (v: unknown) => v === '' || v === 0 || v === '0' || v === false || v === null || v === undefined
  || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

/** A proto view in the CRD's names, zero values left out (as a YAML author leaves them out). */
function crd(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(crd);
  if (v && typeof v === 'object') {
    const out: Msg = {};
    for (const [k, x] of Object.entries(v)) {
      const y = crd(x);
      if (!isZero(y)) out[toCamel(k)] = y;
    }
    return out;
  }
  return v;
}

/** A CRD object in proto names (protobufjs fills what is missing). */
function proto(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(proto);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [toSnake(k), proto(x)]));
  return v;
}

export function appImageResource(req: Msg): JobResource {
  const name = requireField(req, 'name');
  const spec: Msg = {};
  const image = crd(req.image);
  if (!isZero(image)) spec.image = image;
  // File names are keys here: kept as given.
  if (Object.keys(req.config_templates).length) spec.configTemplates = { ...req.config_templates };
  spec.deployTemplates = (req.deploy_templates as Msg[]).map((t) => ({
    ...(t.name ? { name: t.name } : {}),
    ...(t.role ? { role: t.role } : {}),
    ...(t.replicas ? { replicas: t.replicas } : {}),
    spec: { ...(t.restart_policy ? { restartPolicy: t.restart_policy } : {}), containers: (t.containers as Msg[]).map(crd) },
  }));
  return { apiVersion: KUSCIA_API_VERSION, kind: 'AppImage', metadata: { name }, spec };
}

export function appImageData(r: StoredResource): Msg {
  const spec = r.spec as Msg;
  return {
    name: r.metadata.name,
    image: spec.image ?? null,
    config_templates: spec.configTemplates ?? {},
    deploy_templates: ((spec.deployTemplates ?? []) as Msg[]).map((t) => ({
      name: t.name ?? '',
      role: t.role ?? '',
      replicas: t.replicas ?? 0,
      restart_policy: t.spec?.restartPolicy ?? '',
      containers: proto(t.spec?.containers ?? []),
    })),
  };
}
