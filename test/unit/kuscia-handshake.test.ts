// The Kuscia handshake's wire pieces against vectors made by Go's crypto (what
// Kuscia's gateway uses): test/vectors/kuscia_vectors.go wrote
// kuscia-vectors.json from the fixed key kuscia-vector-rsa.key.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey, randomBytes } from 'node:crypto';
import {
  HandshakeFormatError, decryptHalf, encryptHalf, handshakePath, handshakeRequestBody, parseHandshakeRequest, pubhash, rsaPublicKeyPem,
} from '../../interop/kuscia-handshake.ts';

const dir = join(import.meta.dirname, '..', 'vectors');
const key = readFileSync(join(dir, 'kuscia-vector-rsa.key'), 'utf8');
const vectors = JSON.parse(readFileSync(join(dir, 'kuscia-vectors.json'), 'utf8')) as { publicKeyPem: string; pubhash: string; half: string; ciphertext: string };

describe('Kuscia handshake wire format (vectors from Go)', () => {
  test('the public key PEM is byte for byte what Go writes (PKCS#1 "RSA PUBLIC KEY"), so pubhash agrees', () => {
    assert.equal(rsaPublicKeyPem(key), vectors.publicKeyPem);
    assert.equal(pubhash(rsaPublicKeyPem(key)), vectors.pubhash);
  });

  test('a half Go encrypted with "kuscia" prefix decrypts to the same 16 bytes', () => {
    assert.deepEqual(decryptHalf([key], vectors.ciphertext), Buffer.from(vectors.half, 'base64'));
  });

  test('what Ferry encrypts decrypts back (and only with the right key, with the prefix, at 16 bytes)', () => {
    const half = randomBytes(16);
    const ct = encryptHalf(createPublicKey(key), half);
    assert.deepEqual(decryptHalf([key], ct), half);
    const other = readFileSync(join(import.meta.dirname, '..', 'golden', 'testdata', 'certs', 'alice-gateway.key'), 'utf8');
    assert.equal(decryptHalf([other], ct), undefined, 'another key: undefined, not random bytes');
    assert.deepEqual(decryptHalf([other, key], ct), half, 'during a CA rotation both keys are tried');
    assert.equal(decryptHalf([key], encryptHalf(createPublicKey(key), randomBytes(8))), undefined, 'wrong length');
    assert.equal(decryptHalf([key], 'not base64!'), undefined);
  });

  test('request body: snake_case, zero values omitted; parsing names the bad field', () => {
    const body = handshakeRequestBody({ domain_id: 'alice', type: 'RSA', token_config: { token: 'AAAA', revision: 0, pubhash: 'h' } });
    assert.deepEqual(body, { domain_id: 'alice', type: 'RSA', token_config: { token: 'AAAA', pubhash: 'h' } });
    assert.deepEqual(parseHandshakeRequest(body), body);
    for (const [bad, field] of [
      [[], 'body'],
      [{ ...body, domain_id: 'Alice!' }, 'domain_id'],
      [{ ...body, type: 'UID' }, 'type'],
      [{ ...body, token_config: undefined }, 'token_config'],
      [{ ...body, token_config: { pubhash: 'h' } }, 'token_config.token'],
      [{ ...body, token_config: { token: 'AAAA' } }, 'token_config.pubhash'],
      [{ ...body, token_config: { token: 'AAAA', pubhash: 'h', revision: 'x' } }, 'token_config.revision'],
    ] as const) {
      assert.throws(() => parseHandshakeRequest(bad), (e: Error) => e instanceof HandshakeFormatError && e.message.startsWith(`${field}:`), field);
    }
  });

  test('handshake path under a path prefix', () => {
    assert.equal(handshakePath(''), '/handshake');
    assert.equal(handshakePath('/ferry/'), '/ferry/handshake');
  });
});
