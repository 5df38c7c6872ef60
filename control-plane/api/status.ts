// The node status shape shared by the API, `ferry status` and `ferry describe`.
import type { ProxyStatus, Nack } from '../ads/server.ts';
import type { ResourceStatus } from '../translate/ir.ts';
import type { StoreStatus } from '../replication.ts';
import type { WriteCondition } from '../write-failures.ts';

export interface NodeStatus {
  domain: string;
  listeners: { public: string; internal: string; api: string };
  envoy: { pid?: number; ready: boolean; adopted: boolean; restarts: number; lastExit?: { code: number | null; signal: string | null; at: string } };
  xds: { snapshotVersion?: string; converged: boolean; proxies: ProxyStatus[]; recentNacks: { node: string; type: string; nack: Nack }[] };
  translationError?: string;
  /** Open failures to write the node's own files (a full disk...): the node serves on; each clears on the next good write. */
  conditions?: WriteCondition[];
  resources: ResourceStatus[];
  /** The store this node reads and writes: backend, where, the revision this node has seen, leader and replicas. */
  store?: StoreStatus;
}
