// A real etcd (Debian etcd-server) for tests: one member or a 3-member
// cluster, each member on its own loopback client and peer ports and its own
// temp data dir; members can be killed and started again; stop() ends all.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts, tempDir, waitFor } from './harness.ts';

export const ETCD = ['/usr/bin/etcd', '/usr/local/bin/etcd'].find((p) => existsSync(p));

interface Member { name: string; clientPort: number; peerPort: number; dataDir: string; child?: ChildProcess; log: string[] }

export interface EtcdCluster {
  /** host:port of every member's client URL, for --store etcd://... */
  endpoints: string[];
  url: string;
  /** SIGKILL one member (index), as a crash. */
  kill(i: number): Promise<void>;
  /** Starts a killed member again on its data dir. */
  restart(i: number): Promise<void>;
  /** Resolves once the cluster answers with a quorum. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startEtcd(size: 1 | 3 = 1): Promise<EtcdCluster> {
  if (!ETCD) throw new Error('etcd is not installed (Debian package etcd-server; scripts/debian-tools.sh installs it)');
  // Data on tmpfs when there is one: etcd fsyncs every write, and tests need no durability across reboots.
  const dir = existsSync('/dev/shm') ? mkdtempSync(join('/dev/shm', 'ferry-etcd-')) : tempDir('etcd');
  const ports = await freePorts(size * 2);
  const members: Member[] = Array.from({ length: size }, (_, i) => ({ name: `m${i}`, clientPort: ports[2 * i]!, peerPort: ports[2 * i + 1]!, dataDir: join(dir, `m${i}`), log: [] }));
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  const token = `ferry-test-${process.pid}-${ports[0]}`;

  const launch = (m: Member) => {
    const child = spawn(ETCD, [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', `http://127.0.0.1:${m.clientPort}`, '--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
      // Batches of up to 1,000 resources are one transaction; short elections for the failover tests.
      '--max-txn-ops', '10000', '--heartbeat-interval', '50', '--election-timeout', '500',
      '--logger', 'zap', '--log-level', 'error', '--log-outputs', 'stderr',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { m.log.push(d); if (m.log.length > 200) m.log.shift(); });
    m.child = child;
  };
  const stopMember = async (m: Member, signal: NodeJS.Signals) => {
    const child = m.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };
  const healthy = async (m: Member) => {
    try {
      const res = await fetch(`http://127.0.0.1:${m.clientPort}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      return res.ok && body.health === 'true' ? true : undefined;
    } catch {
      return undefined;
    }
  };
  const waitHealthy = async (timeoutMs = 30_000) => {
    await waitFor('etcd to answer with a quorum', async () => {
      for (const m of members) if (m.child && m.child.exitCode === null && (await healthy(m))) return true;
      return undefined;
    }, timeoutMs).catch((e: Error) => { throw new Error(`${e.message}\n${members.map((m) => `${m.name}: ${m.log.slice(-5).join('')}`).join('\n')}`); });
  };

  for (const m of members) launch(m);
  const cluster: EtcdCluster = {
    endpoints: members.map((m) => `127.0.0.1:${m.clientPort}`),
    url: `etcd://${members.map((m) => `127.0.0.1:${m.clientPort}`).join(',')}`,
    kill: (i) => stopMember(members[i]!, 'SIGKILL'),
    restart: async (i) => { launch(members[i]!); },
    waitHealthy,
    stop: async () => {
      await Promise.all(members.map((m) => stopMember(m, 'SIGKILL')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitHealthy();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
