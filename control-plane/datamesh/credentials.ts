// Per-task DataMesh credentials: a random token per task, scoped to the
// DomainData its task names (access.ts decides with it), revoked when the
// task ends. Kept in memory only: a restarted node has none, its tasks are
// restarted with new ones. Tokens are held by their hash, compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { TaskCredential } from './access.ts';

export interface IssuedCredential {
  /** Secret: give it to the task's process only (its environment), never log it. */
  token: string;
  /** Stops every new call with this token at once (calls under way finish their current stream). */
  revoke(): void;
}

const digest = (token: string) => createHash('sha256').update(token).digest();

export class TaskCredentials {
  private readonly byHash = new Map<string, { credential: TaskCredential; hash: Buffer }>();

  issue(credential: TaskCredential): IssuedCredential {
    const token = randomBytes(32).toString('base64url');
    const hash = digest(token);
    const key = hash.toString('hex');
    this.byHash.set(key, { credential: structuredClone(credential), hash });
    return { token, revoke: () => { this.byHash.delete(key); } };
  }

  /** The credential a token stands for; undefined when unknown or revoked. */
  lookup(token: string | undefined): TaskCredential | undefined {
    if (!token) return undefined;
    const hash = digest(token);
    const entry = this.byHash.get(hash.toString('hex'));
    return entry && timingSafeEqual(entry.hash, hash) ? entry.credential : undefined;
  }

  /** Revokes every credential of a task (the runtime, when the task ends). */
  revokeTask(taskID: string): number {
    let n = 0;
    for (const [k, v] of this.byHash) if (v.credential.taskID === taskID) { this.byHash.delete(k); n++; }
    return n;
  }

  get size(): number {
    return this.byHash.size;
  }
}

/** The variables taskEnvironment gives a task: its own credential, the only FERRY_* names a task sees. */
export const TASK_DATAMESH_ENV = ['DATAMESH_ADDRESS', 'FERRY_DATAMESH_TOKEN', 'grpc_proxy', 'FERRY_DATAMESH_HTTP'] as const;

/**
 * The environment a task gets to reach the DataMesh with its credential,
 * unchanged clients included: Kuscia's own variable for the address, and a
 * gRPC proxy URL carrying the token (gRPC sends it as Proxy-Authorization on
 * its CONNECT to the DataMesh port, front.ts), so `kuscia.datamesh` and
 * `pyarrow.flight` present it without a line of code.
 */
export function taskEnvironment(address: { host: string; port: number; httpPort?: number }, taskID: string, token: string): Record<string, string> {
  const hostPort = `${address.host}:${address.port}`;
  return {
    DATAMESH_ADDRESS: hostPort,
    FERRY_DATAMESH_TOKEN: token,
    grpc_proxy: `http://${encodeURIComponent(taskID)}:${token}@${hostPort}`,
    ...(address.httpPort ? { FERRY_DATAMESH_HTTP: `http://${address.host}:${address.httpPort}` } : {}),
  };
}
