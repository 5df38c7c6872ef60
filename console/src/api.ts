// The console's requests: the REST API with the bearer token from
// sessionStorage (this tab only, gone when it closes). The token never goes
// into a URL, a cookie or the page's markup.
import { useEffect, useRef, useState } from 'preact/hooks';

const KEY = 'ferry-api-token';

export const session = {
  token: (): string | null => sessionStorage.getItem(KEY),
  save: (t: string) => sessionStorage.setItem(KEY, t),
  clear: () => { sessionStorage.removeItem(KEY); window.dispatchEvent(new Event('ferry-logout')); },
};

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) { super(message); this.status = status; }
}

/** One REST call. A 401 ends the session (the token changed or was wrong). */
export async function api<T>(path: string, init: { method?: string; body?: unknown; token?: string; text?: boolean } = {}): Promise<T> {
  const token = init.token ?? session.token();
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token ?? ''}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
  });
  if (!res.ok) {
    const text = await res.text();
    let message = text;
    try { message = (JSON.parse(text) as { error?: string }).error ?? text; } catch { /* plain text */ }
    if (res.status === 401 && init.token === undefined) session.clear();
    throw new ApiError(res.status, message);
  }
  return (init.text ? res.text() : res.json()) as Promise<T>;
}

/** Asks again every `ms` (the views are live); the last answer stays shown while the next one is on its way. */
export function usePoll<T>(load: () => Promise<T>, ms = 1500, deps: unknown[] = []): { data?: T; error?: string; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  const loadRef = useRef(load);
  loadRef.current = load;
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    const run = async () => {
      try {
        const data = await loadRef.current();
        if (!stopped) setState({ data });
      } catch (e) {
        if (!stopped) setState((s) => ({ ...s, error: (e as Error).message }));
      }
      if (!stopped) timer = window.setTimeout(run, ms);
    };
    void run();
    return () => { stopped = true; clearTimeout(timer); };
  }, [ms, tick, ...deps]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export type { Condition, Item, LinkCheck, Partner, NodeStatus } from './model.ts';
import type { Item, Partner } from './model.ts';

export const list = async (kind: string) => (await api<{ items: Item[] }>(`/api/v1/resources/${kind}`)).items;
export const partners = async () => (await api<{ items: Partner[] }>('/api/v1/partners')).items;
