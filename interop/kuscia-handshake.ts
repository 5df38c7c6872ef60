// Kuscia's token handshake on the wire (authenticationType Token, tokenGenMethod
// RSA-GEN; ../shared/KUSCIA-WIRE.md). Pure functions: encode, decode and check
// the messages and the RSA parts; the node's issuer and client do the rest.
import { constants, createHash, createPublicKey, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';

/** Every encrypted token half is prefixed with these bytes before RSA encryption. */
export const TOKEN_PREFIX = Buffer.from('kuscia');
/** The token is 32 bytes: 16 chosen by the source, 16 by the destination. */
export const TOKEN_BYTES = 32;
export const HALF_BYTES = TOKEN_BYTES / 2;
/** Handshake bodies are a few hundred bytes; anything much larger is refused unread. */
export const MAX_HANDSHAKE_BODY_BYTES = 16 * 1024;

export const handshakeHost = (domain: string) => `kuscia-handshake.${domain}.svc`;
/** The handshake path under a route's pathPrefix ("" or "/prefix"). */
export const handshakePath = (pathPrefix: string) => `${pathPrefix.replace(/\/+$/, '')}/handshake`;

/** Heartbeat states (Kuscia's DestinationStatus, in its order). */
export const HeartbeatState = {
  TokenReady: 0,
  DomainIDInputInvalid: 1,
  TokenRevisionInputInvalid: 2,
  TokenNotReady: 3,
  TokenNotFound: 4,
  NoAuthentication: 5,
  InternalError: 6,
  NetworkUnreachable: 7,
} as const;
export type HeartbeatStateValue = (typeof HeartbeatState)[keyof typeof HeartbeatState];
export const heartbeatStateName = (s: number) => Object.entries(HeartbeatState).find(([, v]) => v === s)?.[0] ?? `state ${s}`;

export interface HandshakeRequest {
  domain_id: string;
  type: 'RSA';
  token_config: { token: string; revision?: number; pubhash: string };
  request_time?: number;
}

export interface HandshakeResponse {
  status: { code?: number; message?: string };
  token?: { token: string; expiration_time?: number; revision?: number };
}

export interface HeartbeatResponse {
  namespace: string;
  state: number;
}

/**
 * The RSA public key of a domain, as Kuscia writes it: PEM "RSA PUBLIC KEY"
 * (PKCS#1), from the domain's certificate (Domain.spec.cert) or key.
 */
export function rsaPublicKeyPem(certOrKeyPem: string): string {
  const key = createPublicKey(certOrKeyPem);
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`the key is ${key.asymmetricKeyType}, not RSA: Kuscia tokens need an RSA domain key`);
  return key.export({ type: 'pkcs1', format: 'pem' }) as string;
}

/** base64(sha256(PEM bytes of the public key)): how a destination checks whose key it will encrypt to. */
export function pubhash(publicKeyPem: string): string {
  return createHash('sha256').update(publicKeyPem, 'utf8').digest('base64');
}

/** base64(RSA_PKCS1v15_encrypt(pub, "kuscia" || half)). */
export function encryptHalf(publicKey: string | KeyObject, half: Buffer): string {
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([TOKEN_PREFIX, half])).toString('base64');
}

/**
 * Decrypts a token half; undefined when the ciphertext is not for this key or
 * not a Kuscia token (Node 24's OpenSSL answers a bad padding with random
 * bytes, implicit rejection, so the prefix and length are what decide).
 */
export function decryptHalf(privateKeys: (string | KeyObject)[], ciphertextBase64: string, size = HALF_BYTES): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(ciphertextBase64)) return undefined;
  const ciphertext = Buffer.from(ciphertextBase64, 'base64');
  for (const key of privateKeys) {
    let plain: Buffer;
    try {
      plain = privateDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, ciphertext);
    } catch {
      continue;
    }
    if (plain.length === TOKEN_PREFIX.length + size && plain.subarray(0, TOKEN_PREFIX.length).equals(TOKEN_PREFIX)) {
      return plain.subarray(TOKEN_PREFIX.length);
    }
  }
  return undefined;
}

export class HandshakeFormatError extends Error {}

/** Checks a POSTed handshake body; throws HandshakeFormatError naming the field (answered with HTTP 400). */
export function parseHandshakeRequest(body: unknown): HandshakeRequest {
  const fail = (field: string, why: string): never => { throw new HandshakeFormatError(`${field}: ${why}`); };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) fail('body', 'must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.domain_id !== 'string' || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(b.domain_id)) fail('domain_id', 'must be the source domain id');
  if (b.type !== 'RSA') fail('type', `must be "RSA" (tokenGenMethod RSA-GEN); got ${JSON.stringify(b.type)}`);
  const tc = b.token_config as Record<string, unknown> | undefined;
  if (typeof tc !== 'object' || tc === null || Array.isArray(tc)) fail('token_config', 'must be an object with token and pubhash');
  if (typeof tc!.token !== 'string' || tc!.token.length === 0 || tc!.token.length > 4096) fail('token_config.token', 'must be base64 of the RSA-encrypted source half');
  if (typeof tc!.pubhash !== 'string' || tc!.pubhash.length === 0 || tc!.pubhash.length > 256) fail('token_config.pubhash', 'must be base64(sha256(source public key PEM))');
  if (tc!.revision !== undefined && !Number.isSafeInteger(tc!.revision)) fail('token_config.revision', 'must be an integer');
  if (b.request_time !== undefined && typeof b.request_time !== 'number') fail('request_time', 'must be a number (unix ns)');
  return b as unknown as HandshakeRequest;
}

/** Checks a handshake answer (the source side); throws naming what is wrong. */
export function parseHandshakeResponse(body: unknown): HandshakeResponse {
  if (typeof body !== 'object' || body === null) throw new Error('handshake answer is not a JSON object');
  const b = body as HandshakeResponse;
  if (typeof b.status !== 'object' || b.status === null) throw new Error('handshake answer has no status');
  if (b.status.code) return b;
  if (typeof b.token?.token !== 'string') throw new Error('handshake answer has status 0 but no token');
  return b;
}

/** Omits zero values, as Go's protobuf JSON (omitempty) does. */
export function handshakeRequestBody(r: HandshakeRequest): HandshakeRequest {
  const tc: HandshakeRequest['token_config'] = { token: r.token_config.token, pubhash: r.token_config.pubhash };
  if (r.token_config.revision) tc.revision = r.token_config.revision;
  return { domain_id: r.domain_id, type: 'RSA', token_config: tc, ...(r.request_time ? { request_time: r.request_time } : {}) };
}

export function failedHandshake(message: string, code = 500): HandshakeResponse {
  return { status: { code, message } };
}

export const tokenHeaderValue = (token: Buffer) => token.toString('base64');
