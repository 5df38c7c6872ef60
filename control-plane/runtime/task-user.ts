// Which user a task runs as (docs/engines.md "Isolation"). A node running as
// root gives its tasks another user (`jobs.taskUser`, default `nobody`), so
// file modes keep them from the node's keys, tokens, store and sockets; the
// home and its data directory become traversable (0711: a name must be known,
// nothing can be listed), every secret stays its owner's alone. A node that
// is not root runs tasks as itself: they can read what it reads, and the
// task's status says so.
import { readFileSync } from 'node:fs';

export interface TaskUser {
  uid: number;
  gid: number;
  /** How it was chosen, for the task's status and the node's log. */
  describe: string;
}

/** Looks a user up in /etc/passwd by name or number ("nobody", "65534", "1000:1000"). */
function lookUp(spec: string, passwd: string): { uid: number; gid: number } | undefined {
  const ids = /^(\d+)(?::(\d+))?$/.exec(spec);
  if (ids) return { uid: Number(ids[1]), gid: Number(ids[2] ?? ids[1]) };
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === spec && uid && gid) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/**
 * The task user for this node, or undefined when tasks run as the node's own
 * user. `configured`: jobs.taskUser ("" or "node": the node's own user).
 */
export function resolveTaskUser(configured: string | undefined, nodeUid: number, passwd = readPasswd()): TaskUser | undefined {
  if (configured === '' || configured === 'node') return undefined;
  if (nodeUid !== 0) {
    if (configured !== undefined) throw new Error(`jobs.taskUser: "${configured}" needs the node to run as root (it runs as uid ${nodeUid}); remove jobs.taskUser, or start the node as root`);
    return undefined;
  }
  const spec = configured ?? 'nobody';
  const found = lookUp(spec, passwd);
  if (!found) throw new Error(`jobs.taskUser: no user "${spec}" on this machine; give a user name from /etc/passwd, a uid or uid:gid, or "node" to run tasks as the node's own user`);
  if (found.uid === 0) throw new Error(`jobs.taskUser: "${spec}" is root; tasks would read the node's keys: give another user`);
  return { ...found, describe: `uid ${found.uid} gid ${found.gid} (${spec})` };
}

function readPasswd(): string {
  try {
    return readFileSync('/etc/passwd', 'utf8');
  } catch {
    return '';
  }
}
