// Data-source plugins named in ferry.yaml (`datamesh.plugins: [file, ...]`):
// each file is a module whose default export (or `driver` export) is a
// DataSourceDriver (sources.ts). Loaded once at start; a bad plugin stops the
// node with a message naming the file and what is wrong.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BUILTIN_SOURCE_TYPES } from './spec.ts';
import type { DataSourceDriver } from './sources.ts';

export async function loadPlugins(files: readonly string[], base: string): Promise<DataSourceDriver[]> {
  const drivers: DataSourceDriver[] = [];
  for (const f of files) {
    const path = isAbsolute(f) ? f : resolve(base, f);
    let mod: { default?: unknown; driver?: unknown };
    try {
      mod = await import(pathToFileURL(path).href) as typeof mod;
    } catch (e) {
      throw new Error(`datamesh.plugins: ${path} does not load: ${(e as Error).message}`);
    }
    const d = (mod.default ?? mod.driver) as Partial<DataSourceDriver> | undefined;
    if (!d || typeof d !== 'object') throw new Error(`datamesh.plugins: ${path} exports no driver: export default { type, readTable, writeTable } (docs/datamesh.md "Plugins")`);
    if (typeof d.type !== 'string' || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(d.type)) throw new Error(`datamesh.plugins: ${path}: type must be a DNS label, the DomainDataSource spec.type it serves`);
    if ((BUILTIN_SOURCE_TYPES as readonly string[]).includes(d.type) || drivers.some((x) => x.type === d.type)) throw new Error(`datamesh.plugins: ${path}: type ${d.type} is served already; give the plugin a type of its own`);
    for (const m of ['readTable', 'writeTable'] as const) if (typeof d[m] !== 'function') throw new Error(`datamesh.plugins: ${path}: ${m} must be a function (docs/datamesh.md "Plugins")`);
    drivers.push(d as DataSourceDriver);
  }
  return drivers;
}
