// Secrets kept in a shared store (CA key, gateway key, tokens) are sealed with
// AES-256-GCM under the admin's store key (--store-key-file) before they leave
// the node: etcd and its snapshots only ever hold ciphertext. The key's
// fingerprint goes with each value, so a replica given another key says so
// instead of failing to decrypt in some obscure way.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface StoreKey { key: Buffer; id: string }

/** Reads a 32-byte key written as base64 or hex (`openssl rand -base64 32`). */
export function readStoreKey(path: string): StoreKey {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new Error(`store key file ${path}: ${(e as Error).message}`);
  }
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : /^[A-Za-z0-9+/]{43}=$/.test(text) ? Buffer.from(text, 'base64') : undefined;
  if (!key || key.length !== 32) throw new Error(`store key file ${path}: not a 32-byte key in base64 or hex; make one with \`openssl rand -base64 32 > ${path}\``);
  return { key, id: createHash('sha256').update(key).digest('hex').slice(0, 16) };
}

/** "v1.<key id>.<base64 iv|tag|ciphertext>"; `name` is bound in as associated data (a value cannot be moved to another name). */
export function seal(k: StoreKey, name: string, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', k.key, iv).setAAD(Buffer.from(name));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `v1.${k.id}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
}

export function unseal(k: StoreKey, name: string, sealed: string): string {
  const [v, id, data] = sealed.split('.');
  if (v !== 'v1' || !id || !data) throw new Error(`secret ${name} in the store is not sealed by Ferry`);
  if (id !== k.id) throw new Error(`secret ${name} in the store is sealed with another store key (${id}, this node has ${k.id}): give every replica the same --store-key-file`);
  const raw = Buffer.from(data, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', k.key, raw.subarray(0, 12)).setAAD(Buffer.from(name));
  decipher.setAuthTag(raw.subarray(12, 28));
  try {
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    throw new Error(`secret ${name} in the store does not decrypt with this node's store key: it was altered, or sealed with another key`);
  }
}
