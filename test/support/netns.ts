// Network-namespace topologies for end-to-end tests: "alice cannot reach bob"
// and "bob accepts no inbound connection" made true by the kernel, not by
// configuration. Linux only, needs root, iproute2 (`ip`) and, for `noInbound`,
// nftables (`nft`); tests skip with netnsAvailable()'s reason otherwise.
//
// Layout (docs/testing.md). Every address is in 198.18.0.0/15 (RFC 2544,
// benchmarking), one /30 per link: .1 and .2 of a block of four.
//   - Namespaces are named ferry-<id>-<name> (<id>: 6 random hex digits), `lo` up.
//   - Control link: a veth from the root namespace (root side fy<id>c<i>, root
//     address .1) to each namespace (side `ctl`, address .2). The test process
//     reaches a namespace's listeners at addr(ns); the namespace reaches services
//     the test binds to rootAddr(ns) (or 0.0.0.0).
//   - links: [a, b] is a veth between two namespaces (sides `to-<b>` in a and
//     `to-<a>` in b), its own /30.
//   - No default route anywhere: a namespace reaches only the two ends of its
//     own /30s. Namespaces cannot reach each other through the root namespace,
//     whatever its ip_forward says: they have no route to send such packets.
//   - IPv6 addresses are never generated on the veths (addrgenmode none), so no
//     link-local path exists beside the IPv4 one; `lo` keeps ::1.
//   - noInbound: [ns] loads table `inet ferry` into ns: new inbound TCP
//     connections are dropped (silently: the peer times out) unless they arrive
//     on `lo` or on `ctl` from rootAddr(ns). Outbound connections and their
//     replies (ct state established,related), UDP and ICMP are untouched.
//
// /30 blocks are allocated across processes with lock files in /run/ferry-netns
// (parallel test files never share one); a topology whose process died without
// cleaning up (SIGKILL) is swept by the next createTopology.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions, type SpawnSyncOptionsWithStringEncoding, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, openSync, closeSync, writeSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TopologySpec {
  /** Short names (a-z, 0-9, at most 12 characters), one namespace each. */
  namespaces: string[];
  /** Direct veth links between two namespaces. */
  links?: Array<[string, string]>;
  /** Namespaces that accept no new inbound TCP connection except from the test (root side of their control link). */
  noInbound?: string[];
}

const STATE_DIR = '/run/ferry-netns';
const BLOCKS = 1 << 15; // /30 blocks in 198.18.0.0/15
const NAME = /^[a-z][a-z0-9]{0,11}$/;

/** Address `offset` (1 or 2) of /30 block `k` of 198.18.0.0/15. */
function blockAddr(k: number, offset: number): string {
  const n = k * 4 + offset;
  return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

function run(cmd: string, args: string[], input?: string): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 15_000 });
}

function must(cmd: string, args: string[], input?: string): string {
  const r = run(cmd, args, input);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
  return r.stdout;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let availability: { netns?: string | undefined; nft?: string | undefined } | undefined;

/**
 * Undefined when topologies can be created here, else why not (for
 * `test.skip(reason)` / `describe(..., { skip })`). With `nft`, also checks
 * that nftables rules load in a namespace (needed for `noInbound`).
 */
export function netnsAvailable(opts: { nft?: boolean } = {}): string | undefined {
  if (!availability) {
    availability = {};
    const probe = `ferry-probe-${randomBytes(3).toString('hex')}`;
    if (process.platform !== 'linux') availability.netns = 'network namespaces need Linux';
    else if (process.getuid?.() !== 0) availability.netns = 'network namespaces need root (run the tests as root)';
    else if (run('ip', ['-V']).status !== 0) availability.netns = 'no `ip` (iproute2): run `bash scripts/debian-tools.sh`';
    else {
      const add = run('ip', ['netns', 'add', probe]);
      if (add.status !== 0) availability.netns = `\`ip netns add\` fails: ${(add.stderr || '').trim()}`;
      else {
        if (run('nft', ['--version']).status !== 0) availability.nft = 'no `nft` (nftables): run `bash scripts/debian-tools.sh`';
        else {
          const r = run('ip', ['netns', 'exec', probe, 'nft', '-f', '-'], 'table inet probe { chain input { type filter hook input priority filter; policy accept; }; }\n');
          if (r.status !== 0) availability.nft = `nftables rules do not load in a namespace: ${(r.stderr || '').trim()}`;
        }
        run('ip', ['netns', 'del', probe]);
      }
    }
  }
  return availability.netns ?? (opts.nft ? availability.nft : undefined);
}

interface StateFile {
  pid: number;
  namespaces: string[];
  rootIfs: string[];
  blocks: number[];
}

/** Deletes what dead processes left behind (their topologies, then their block locks). */
function sweep(): void {
  let files: string[];
  try {
    files = readdirSync(STATE_DIR);
  } catch {
    return;
  }
  for (const f of files.filter((f) => f.endsWith('.json'))) {
    try {
      const s = JSON.parse(readFileSync(join(STATE_DIR, f), 'utf8')) as StateFile;
      if (alive(s.pid)) continue;
      teardown(s.namespaces, s.rootIfs);
      for (const k of s.blocks) try { unlinkSync(join(STATE_DIR, `block-${k}`)); } catch { /* gone */ }
      unlinkSync(join(STATE_DIR, f));
    } catch { /* another process is sweeping it */ }
  }
  for (const f of readdirSync(STATE_DIR).filter((f) => f.startsWith('block-'))) {
    try {
      if (!alive(Number(readFileSync(join(STATE_DIR, f), 'utf8')))) unlinkSync(join(STATE_DIR, f));
    } catch { /* gone */ }
  }
}

/** Claims `n` free /30 blocks (exclusive lock files holding our pid). */
function claimBlocks(n: number): number[] {
  mkdirSync(STATE_DIR, { recursive: true });
  const claimed: number[] = [];
  for (let attempts = 0; claimed.length < n; attempts++) {
    if (attempts > 1000) throw new Error('no free /30 block in 198.18.0.0/15');
    const k = randomInt(BLOCKS);
    try {
      const fd = openSync(join(STATE_DIR, `block-${k}`), 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
    } catch {
      continue; // taken
    }
    // Not locked by anyone, but also not in use by something else on this host.
    if (run('ip', ['-o', '-4', 'addr', 'show', 'to', `${blockAddr(k, 0)}/30`]).stdout.trim()) continue;
    claimed.push(k);
  }
  return claimed;
}

/** Kills every process in the namespaces, deletes them and the root-side veths. Ignores what is already gone. */
function teardown(namespaces: string[], rootIfs: string[]): void {
  for (const ns of namespaces) {
    for (const pid of run('ip', ['netns', 'pids', ns]).stdout.split(/\s+/).filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    }
    run('ip', ['netns', 'del', ns]);
  }
  for (const ifname of rootIfs) run('ip', ['link', 'del', ifname]);
}

const live = new Set<Topology>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const destroyAll = () => { for (const t of live) t.destroy(); };
  process.on('exit', destroyAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      destroyAll();
      process.kill(process.pid, sig); // default action again (our handler was `once`)
    });
  }
}

/** Creates the namespaces and links of `spec`; destroy() it (it is also destroyed at process exit). */
export function createTopology(spec: TopologySpec): Topology {
  const why = netnsAvailable({ nft: (spec.noInbound?.length ?? 0) > 0 });
  if (why) throw new Error(why);
  sweep();
  return new Topology(spec);
}

export class Topology {
  readonly id: string;
  private readonly names = new Map<string, string>();
  private readonly control = new Map<string, { root: string; ns: string; ifname: string }>();
  private readonly linkAddrs = new Map<string, string>();
  private readonly children = new Set<ChildProcess>();
  private readonly state: StateFile;
  private destroyed = false;

  constructor(spec: TopologySpec) {
    this.id = randomBytes(3).toString('hex');
    const links = spec.links ?? [];
    for (const n of spec.namespaces) if (!NAME.test(n)) throw new Error(`namespace name ${JSON.stringify(n)}: a-z, 0-9, at most 12 characters`);
    if (new Set(spec.namespaces).size !== spec.namespaces.length) throw new Error('duplicate namespace names');
    const seen = new Set<string>();
    for (const [a, b] of links) {
      if (!spec.namespaces.includes(a) || !spec.namespaces.includes(b) || a === b) throw new Error(`link ${a}-${b}: two distinct declared namespaces`);
      const key = [a, b].sort().join('-');
      if (seen.has(key)) throw new Error(`link ${a}-${b} declared twice`);
      seen.add(key);
    }
    for (const n of spec.noInbound ?? []) if (!spec.namespaces.includes(n)) throw new Error(`noInbound ${n}: not a declared namespace`);

    for (const n of spec.namespaces) this.names.set(n, `ferry-${this.id}-${n}`);
    const rootIfs = spec.namespaces.map((_, i) => `fy${this.id}c${i}`);
    const blocks = claimBlocks(spec.namespaces.length + links.length);
    // Recorded before anything exists, so a crash at any point below is swept.
    this.state = { pid: process.pid, namespaces: [...this.names.values()], rootIfs, blocks };
    writeFileSync(join(STATE_DIR, `${this.id}.json`), JSON.stringify(this.state));
    live.add(this);
    hookExit();

    try {
      spec.namespaces.forEach((n, i) => {
        const ns = this.name(n);
        const k = blocks[i]!;
        const root = blockAddr(k, 1);
        const inner = blockAddr(k, 2);
        this.control.set(n, { root, ns: inner, ifname: rootIfs[i]! });
        must('ip', ['netns', 'add', ns]);
        must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
        must('ip', ['link', 'add', rootIfs[i]!, 'type', 'veth', 'peer', 'name', 'ctl', 'netns', ns]);
        must('ip', ['link', 'set', rootIfs[i]!, 'addrgenmode', 'none']);
        must('ip', ['addr', 'add', `${root}/30`, 'dev', rootIfs[i]!]);
        must('ip', ['link', 'set', rootIfs[i]!, 'up']);
        must('ip', ['-n', ns, 'link', 'set', 'ctl', 'addrgenmode', 'none']);
        must('ip', ['-n', ns, 'addr', 'add', `${inner}/30`, 'dev', 'ctl']);
        must('ip', ['-n', ns, 'link', 'set', 'ctl', 'up']);
      });
      links.forEach(([a, b], j) => {
        const k = blocks[spec.namespaces.length + j]!;
        const [na, nb] = [this.name(a), this.name(b)];
        must('ip', ['link', 'add', 'name', `to-${b}`, 'netns', na, 'type', 'veth', 'peer', 'name', `to-${a}`, 'netns', nb]);
        for (const [ns, ifname, addr] of [[na, `to-${b}`, blockAddr(k, 1)], [nb, `to-${a}`, blockAddr(k, 2)]] as const) {
          must('ip', ['-n', ns, 'link', 'set', ifname, 'addrgenmode', 'none']);
          must('ip', ['-n', ns, 'addr', 'add', `${addr}/30`, 'dev', ifname]);
          must('ip', ['-n', ns, 'link', 'set', ifname, 'up']);
        }
        this.linkAddrs.set(`${a}>${b}`, blockAddr(k, 1));
        this.linkAddrs.set(`${b}>${a}`, blockAddr(k, 2));
      });
      for (const n of spec.noInbound ?? []) {
        must('ip', ['netns', 'exec', this.name(n), 'nft', '-f', '-'], `table inet ferry {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "lo" accept
    ct state established,related accept
    iifname "ctl" ip saddr ${this.rootAddr(n)} accept
    meta l4proto tcp ct state new counter drop
  }
}
`);
      }
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** The real namespace name (ferry-<id>-<ns>), for `ip netns exec`. */
  name(ns: string): string {
    const name = this.names.get(ns);
    if (!name) throw new Error(`no namespace ${ns} in this topology`);
    return name;
  }

  /** The namespace's address on its control link (what the test process connects to). */
  addr(ns: string): string {
    return this.ctl(ns).ns;
  }

  /** The root namespace's address on ns's control link (what processes in ns connect to, to reach the test). */
  rootAddr(ns: string): string {
    return this.ctl(ns).root;
  }

  /** a's address on the a–b link. */
  linkAddr(a: string, b: string): string {
    const addr = this.linkAddrs.get(`${a}>${b}`);
    if (!addr) throw new Error(`no link ${a}-${b} in this topology`);
    return addr;
  }

  /** The command line running `cmd args` inside ns: ['ip', ['netns', 'exec', name, cmd, ...args]]. */
  wrap(ns: string, cmd: string, args: string[] = []): [string, string[]] {
    return ['ip', ['netns', 'exec', this.name(ns), cmd, ...args]];
  }

  /** Spawns `cmd args` inside ns (`ip netns exec` execs it: the child's pid is the command's). destroy() kills it. */
  exec(ns: string, cmd: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
    const [c, a] = this.wrap(ns, cmd, args);
    const child = spawn(c, a, opts);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs `cmd args` inside ns to completion (60 s at most unless opts.timeout says otherwise). */
  execSync(ns: string, cmd: string, args: string[] = [], opts: Partial<SpawnSyncOptionsWithStringEncoding> = {}): SpawnSyncReturns<string> {
    const [c, a] = this.wrap(ns, cmd, args);
    return spawnSync(c, a, { timeout: 60_000, ...opts, encoding: 'utf8' });
  }

  /** New inbound TCP connections the noInbound rule of ns has dropped so far (packets: SYN retransmits count too). */
  dropped(ns: string): number {
    const out = must('ip', ['netns', 'exec', this.name(ns), 'nft', 'list', 'chain', 'inet', 'ferry', 'input']);
    return Number(/counter packets (\d+)/.exec(out)?.[1] ?? NaN);
  }

  /** Kills every process it spawned and every process left in its namespaces, deletes namespaces and veths. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) try { c.kill('SIGKILL'); } catch { /* gone */ }
    teardown(this.state.namespaces, this.state.rootIfs);
    for (const k of this.state.blocks) try { unlinkSync(join(STATE_DIR, `block-${k}`)); } catch { /* gone */ }
    try { unlinkSync(join(STATE_DIR, `${this.id}.json`)); } catch { /* gone */ }
  }

  private ctl(ns: string) {
    const c = this.control.get(ns);
    if (!c) throw new Error(`no namespace ${ns} in this topology`);
    return c;
  }
}

const PROBE = `const s = require('node:net').connect({ host: process.argv[1], port: Number(process.argv[2]) });
s.setTimeout(Number(process.argv[3]), () => { console.log('ETIMEDOUT'); process.exit(0); });
s.once('connect', () => { console.log('connected'); process.exit(0); });
s.once('error', (e) => { console.log(e.code || e.message); process.exit(0); });`;

/**
 * Opens a TCP connection from inside ns to host:port and reports how that went:
 * 'connected', or the error code ('ENETUNREACH': no route, 'ECONNREFUSED': no
 * listener, 'ETIMEDOUT': no answer within timeoutMs, as when a SYN is dropped).
 */
export function tcpProbe(t: Topology, ns: string, host: string, port: number, timeoutMs = 1500): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = t.exec(ns, process.execPath, ['-e', PROBE, host, String(port), String(timeoutMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 10_000);
    child.once('error', reject);
    child.once('close', () => {
      clearTimeout(guard);
      const result = out.trim();
      if (result) resolve(result);
      else reject(new Error(`tcp probe in ${ns} printed nothing: ${err.trim()}`));
    });
  });
}

const LISTEN = `const server = require('node:net').createServer((s) => s.pipe(s));
server.listen({ host: process.argv[1], port: Number(process.argv[2]) }, () => console.log(server.address().port));
process.stdin.on('end', () => process.exit(0)).resume();`;

/** A TCP echo server inside ns on host:port (port 0: any); resolves once it listens. It stops with close() or destroy(). */
export function tcpListen(t: Topology, ns: string, host: string, port = 0): Promise<{ port: number; close: () => void }> {
  return new Promise((resolve, reject) => {
    const child = t.exec(ns, process.execPath, ['-e', LISTEN, host, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const guard = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`listener in ${ns} on ${host}:${port} not up in 15 s: ${err.trim()}`)); }, 15_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!out.includes('\n')) return;
      clearTimeout(guard);
      resolve({ port: Number(out.trim()), close: () => { child.stdin!.end(); } });
    });
    child.once('error', (e) => { clearTimeout(guard); reject(e); });
    child.once('exit', (code) => { clearTimeout(guard); reject(new Error(`listener in ${ns} on ${host}:${port} exited (${code}): ${err.trim()}`)); });
  });
}
