// KusciaAPI's AppImage calls on Ferry's AppImage resources, through the store.
import { Code, KusciaError, validation } from './codes.ts';
import { checkedResource, requireField } from './mapping.ts';
import { appImageData, appImageResource } from './app-image-mapping.ts';
import type { Call, ServiceDeps } from './call.ts';

export function appImageCalls(deps: ServiceDeps): Call[] {
  const { store } = deps;
  const get = async (name: string, field = 'name') => {
    const r = await store.get('AppImage', name);
    if (!r) throw new KusciaError(Code.AppImageNotExists, `${field}: app image ${name} does not exist`);
    return r;
  };
  const write = async (req: Record<string, unknown>, exists: boolean) => {
    const r = checkedResource(appImageResource(req), deps.domain, 'name');
    const old = await store.get('AppImage', r.metadata.name);
    if (exists && !old) throw new KusciaError(Code.AppImageNotExists, `name: app image ${r.metadata.name} does not exist: create it with /api/v1/appimage/create`);
    if (!exists && old) throw new KusciaError(Code.AppImageExists, `name: app image ${r.metadata.name} already exists: change it with /api/v1/appimage/update`);
    if (old) r.metadata = { ...old.metadata, name: r.metadata.name, resourceVersion: undefined } as typeof r.metadata;
    delete r.metadata.resourceVersion;
    await store.apply([r]);
    await deps.seen();
    return undefined;
  };
  const call = (method: string, path: string, failCode: number, handle: Call['handle']): Call => ({
    service: 'AppImageService', method, path, request: `${method}Request`, response: `${method}Response`, failCode, handle,
  });
  return [
    call('CreateAppImage', '/api/v1/appimage/create', Code.CreateAppImage, (req) => write(req, false)),
    call('UpdateAppImage', '/api/v1/appimage/update', Code.UpdateAppImage, (req) => write(req, true)),
    call('DeleteAppImage', '/api/v1/appimage/delete', Code.DeleteAppImage, async (req) => {
      const name = requireField(req, 'name');
      if (!(await store.delete('AppImage', name))) throw new KusciaError(Code.AppImageNotExists, `name: app image ${name} does not exist`);
      await deps.seen();
      return undefined;
    }),
    call('QueryAppImage', '/api/v1/appimage/query', Code.QueryAppImage, async (req) => appImageData(await get(requireField(req, 'name')))),
    call('ListAppImage', '/api/v1/appimage/list', Code.ListAppImage, async (req) => {
      const size = Number(req.page_size);
      if (!Number.isInteger(size) || size < 0) throw validation('page_size', 'must be 0 (everything) or more');
      // Sorted by name; the page token is the last name of the page before.
      const all = (await store.list('AppImage')).items.filter((r) => !req.page_token || r.metadata.name > req.page_token);
      const page = size > 0 ? all.slice(0, size) : all;
      return { appimage_list: page.map(appImageData), next_page_token: size > 0 && all.length > size ? page.at(-1)!.metadata.name : '' };
    }),
    call('BatchQueryAppImage', '/api/v1/appimage/batchQuery', Code.BatchQueryAppImage, async (req) => {
      const names = req.names as string[];
      if (names.length === 0) throw validation('names', 'is required: list at least one app image name');
      const out = [];
      for (const [i, name] of names.entries()) {
        if (!name) throw validation(`names[${i}]`, 'is empty');
        out.push(appImageData(await get(name, `names[${i}]`)));
      }
      return out as unknown as Record<string, unknown>;
    }),
  ];
}
