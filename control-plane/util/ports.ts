// Free ports for the demo and the tests. They are drawn at random below the
// kernel's ephemeral range, which the OS never hands out for port-0 binds or
// outgoing connections, so a port chosen here stays free until it is used
// (concurrent tests only collide if they draw the same random port).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

function ephemeralStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

function tryBind(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '0.0.0.0', () => resolve(s));
  });
}

export async function freePorts(n: number): Promise<number[]> {
  const high = Math.min(ephemeralStart(), 60000);
  const low = Math.max(10000, high - 16000);
  const held: Server[] = [];
  const ports: number[] = [];
  for (let attempts = 0; ports.length < n && attempts < 1000; attempts++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (ports.includes(port)) continue;
    const s = await tryBind(port);
    if (s) {
      held.push(s);
      ports.push(port);
    }
  }
  await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  if (ports.length < n) throw new Error(`could not find ${n} free ports below ${high}`);
  return ports;
}
