// How the CLI reaches a node: its REST API (address and token from --home).
import { readConfig } from '../config.ts';
import { readApiToken } from '../home.ts';

export class NodeNotRunning extends Error {}

export class ApiClient {
  readonly base: string;
  private readonly token: string;

  constructor(home: string) {
    const config = readConfig(home);
    this.base = `http://${config.listeners.api.address}:${config.listeners.api.port}`;
    this.token = readApiToken(home);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      throw new NodeNotRunning(`node API at ${this.base} is not answering (${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}): start the node with \`ferry start --home DIR\``);
    }
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : undefined;
    return { status: res.status, body: parsed as T };
  }

  /** Like request, but a non-2xx answer becomes an Error carrying the API's message. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request<T & { error?: string }>(method, path, body);
    if (res.status >= 300) throw new Error(res.body?.error ?? `API answered ${res.status}`);
    return res.body;
  }

  /** A streamed text answer (logs): the body as it arrives; a non-2xx answer becomes an Error with the API's message. */
  async stream(path: string): Promise<AsyncIterable<Uint8Array>> {
    let res: Response;
    try {
      res = await fetch(this.base + path, { headers: { authorization: `Bearer ${this.token}` } });
    } catch (e) {
      throw new NodeNotRunning(`node API at ${this.base} is not answering (${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}): start the node with \`ferry start --home DIR\``);
    }
    if (res.status >= 300) {
      const text = await res.text();
      let message = `API answered ${res.status}`;
      try { message = (JSON.parse(text) as { error?: string }).error ?? message; } catch { /* not JSON */ }
      throw new Error(message);
    }
    return res.body ?? (async function* () { /* no body */ })();
  }
}
