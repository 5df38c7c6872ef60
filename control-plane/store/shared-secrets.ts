// The domain's certificates and keys (<home>/certs/*: CA, gateway, a CA
// rotation's next CA) shared by its replicas through etcd, each file sealed
// with the store key (secrets.ts) under <prefix>secrets/certs/<file>. The
// store is the truth once it holds them: a replica starting takes them from
// it (the first one puts its own there), the leader puts what it renews or
// rotates, and every replica follows the changes into its own files.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeSecretFile } from '../home.ts';
import type { EtcdStore } from './etcd.ts';
import type { ObtainedToken } from '../tokens/client.ts';
import type { PartnerTokens } from '../tokens/issuer.ts';
import { seal, unseal, type StoreKey } from './secrets.ts';

const hash = (s: string) => createHash('sha256').update(s).digest('hex');

export class SharedCerts {
  private readonly store: EtcdStore;
  private readonly key: StoreKey;
  private readonly dir: string;
  private readonly prefix: string;
  private readonly log: Logger;
  /** What this replica last wrote or read per file, to tell its own writes from others'. */
  private readonly known = new Map<string, string>();
  private watcher: { cancel(): Promise<void> } | undefined;

  constructor(store: EtcdStore, key: StoreKey, certsDir: string, log: Logger) {
    this.store = store;
    this.key = key;
    this.dir = certsDir;
    this.prefix = `${store.root}secrets/certs/`;
    this.log = log;
  }

  /** At start: take the domain's certificates from the store, or put this home's there if it has none. */
  async sync(): Promise<'from-store' | 'to-store'> {
    const stored = await this.store.client.getAll().prefix(this.prefix).strings();
    if (Object.keys(stored).length) {
      for (const [k, sealed] of Object.entries(stored)) this.writeLocal(k.slice(this.prefix.length), sealed);
      return 'from-store';
    }
    await this.publish(true);
    return 'to-store';
  }

  /** Puts this home's certificate files into the store (the leader, after a renewal or rotation). */
  async publish(onlyIfEmpty = false): Promise<void> {
    const files = readdirSync(this.dir).filter((f) => !f.endsWith('.new'));
    const ops = files.map((f) => {
      const text = readFileSync(join(this.dir, f), 'utf8');
      this.known.set(f, hash(text));
      return this.store.client.put(`${this.prefix}${f}`).value(seal(this.key, `certs/${f}`, text));
    });
    const gone = [...this.known.keys()].filter((f) => !files.includes(f));
    if (onlyIfEmpty) {
      // Two first replicas at once: one wins, the other takes the winner's files.
      const res = await this.store.client.if(`${this.prefix}ca.crt`, 'Create', '==', 0).then(...ops).commit();
      if (!res.succeeded) await this.sync();
      return;
    }
    await this.store.client.if(`${this.prefix}ca.crt`, 'Create', '>', 0).then(...ops, ...gone.map((f) => this.store.client.delete().key(`${this.prefix}${f}`))).commit();
    for (const f of gone) this.known.delete(f);
  }

  /** Follows the store: each changed file is written here, then `onChange` (reload the gateway and CA bundle). */
  async follow(onChange: () => void): Promise<void> {
    const w = await this.store.client.watch().prefix(this.prefix).create();
    this.watcher = w;
    w.on('put', (kv) => {
      const file = kv.key.toString().slice(this.prefix.length);
      if (this.writeLocal(file, kv.value.toString())) onChange();
    });
    w.on('delete', (kv) => {
      const file = kv.key.toString().slice(this.prefix.length);
      if (!this.known.has(file)) return;
      this.known.delete(file);
      rmSync(join(this.dir, file), { force: true });
      onChange();
    });
    w.on('error', (e) => this.log.warn({ err: e.message }, 'shared certificates: watch failed; it resumes when etcd answers'));
  }

  async stop(): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
  }

  /** Writes one file (atomically) if it differs from what this replica has; true when it did. */
  private writeLocal(file: string, sealed: string): boolean {
    if (file.includes('/') || file.startsWith('.')) return false;
    const text = unseal(this.key, `certs/${file}`, sealed);
    const h = hash(text);
    const path = join(this.dir, file);
    if (this.known.get(file) === h || (existsSync(path) && hash(readFileSync(path, 'utf8')) === h)) {
      this.known.set(file, h);
      return false;
    }
    writeSecretFile(`${path}.new`, text);
    renameSync(`${path}.new`, path);
    this.known.set(file, h);
    return true;
  }
}

/**
 * The leader replica's obtained Kuscia tokens (outbound Token routes), sealed
 * under <prefix>secrets/tokens/obtained: the other replicas send them, and a
 * new leader continues the sessions from them (control-plane/tokens/manager.ts).
 */
export class SharedTokenState {
  private readonly store: EtcdStore;
  private readonly key: StoreKey;
  private readonly name: string;
  private readonly log: Logger;
  private current: Record<string, ObtainedToken> = {};
  private watcher: { cancel(): Promise<void> } | undefined;

  constructor(store: EtcdStore, key: StoreKey, log: Logger) {
    this.store = store;
    this.key = key;
    this.name = `${store.root}secrets/tokens/obtained`;
    this.log = log;
  }

  async load(): Promise<void> {
    const sealed = await this.store.client.get(this.name).string();
    if (sealed) this.current = JSON.parse(unseal(this.key, 'tokens/obtained', sealed)) as Record<string, ObtainedToken>;
  }

  obtained(): Record<string, ObtainedToken> {
    return this.current;
  }

  publish(obtained: Record<string, ObtainedToken>): void {
    this.current = obtained;
    this.store.client.put(this.name).value(seal(this.key, 'tokens/obtained', JSON.stringify(obtained)))
      .catch((e: Error) => this.log.warn({ err: e.message }, 'shared store: could not publish the obtained tokens; the other replicas keep the previous ones'));
  }

  async follow(onChange: () => void): Promise<void> {
    const w = await this.store.client.watch().key(this.name).create();
    this.watcher = w;
    w.on('put', (kv) => {
      try {
        this.current = JSON.parse(unseal(this.key, 'tokens/obtained', kv.value.toString())) as Record<string, ObtainedToken>;
        onChange();
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'shared store: the obtained tokens do not unseal');
      }
    });
    w.on('error', (e) => this.log.warn({ err: e.message }, 'shared tokens: watch failed; it resumes when etcd answers'));
  }

  async stop(): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
  }
}

/**
 * The tokens this domain issued to each partner (inbound Token routes),
 * sealed under <prefix>secrets/tokens/issued/<source>: whichever replica a
 * partner's handshake reached, every replica accepts the token, so partners
 * need not stick to one replica (control-plane/tokens/issuer.ts merges).
 */
export class SharedIssuedTokens {
  private readonly store: EtcdStore;
  private readonly key: StoreKey;
  private readonly prefix: string;
  private readonly log: Logger;
  private watcher: { cancel(): Promise<void> } | undefined;

  constructor(store: EtcdStore, key: StoreKey, log: Logger) {
    this.store = store;
    this.key = key;
    this.prefix = `${store.root}secrets/tokens/issued/`;
    this.log = log;
  }

  private open(source: string, sealed: string): PartnerTokens {
    return JSON.parse(unseal(this.key, `tokens/issued/${source}`, sealed)) as PartnerTokens;
  }

  async load(): Promise<Record<string, PartnerTokens>> {
    const stored = await this.store.client.getAll().prefix(this.prefix).strings();
    return Object.fromEntries(Object.entries(stored).map(([k, v]) => { const source = k.slice(this.prefix.length); return [source, this.open(source, v)]; }));
  }

  publish(source: string, state: PartnerTokens): void {
    this.store.client.put(`${this.prefix}${source}`).value(seal(this.key, `tokens/issued/${source}`, JSON.stringify(state)))
      .catch((e: Error) => this.log.warn({ err: e.message, source }, 'shared store: could not publish an issued token; the other replicas accept it once a later handshake is published'));
  }

  async follow(onChange: (source: string, state: PartnerTokens) => void): Promise<void> {
    const w = await this.store.client.watch().prefix(this.prefix).create();
    this.watcher = w;
    w.on('put', (kv) => {
      const source = kv.key.toString().slice(this.prefix.length);
      try {
        onChange(source, this.open(source, kv.value.toString()));
      } catch (e) {
        this.log.error({ err: (e as Error).message, source }, 'shared store: an issued token does not unseal');
      }
    });
    w.on('error', (e) => this.log.warn({ err: e.message }, 'shared issued tokens: watch failed; it resumes when etcd answers'));
  }

  async stop(): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
  }
}
