// Unit tests of the DataMesh's pure parts: Kuscia's grant signing bytes (as
// Go's encoding/json writes DomainDataGrantSpec), signatures, the CSV stream
// parser, the Flight/IPC framing, credentials and sealing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tableFromArrays, RecordBatch, Binary, vectorFromArray } from 'apache-arrow';
import { grantSigningBytes, grantSignatureProblem, signGrant } from '../../control-plane/datamesh/grant-sign.ts';
import { createDomainCa as createCa } from '../../certs/authority.ts';
import { batchToCsv, csvHeader, csvRows, csvToBatches } from '../../control-plane/datamesh/csv.ts';
import { batchMessages, binaryValues, encodeFlightData, FlightStreamDecoder, RawBatchEncoder, schemaMessage } from '../../control-plane/datamesh/flight-ipc.ts';
import { flightRoot } from '../../control-plane/datamesh/flight.ts';
import { Field, Schema, makeData } from 'apache-arrow';
import { TaskCredentials } from '../../control-plane/datamesh/credentials.ts';
import { keyFromBytes, openSourceInfo, redactSource, sealSourceSpec } from '../../control-plane/datamesh/secrets.ts';
import { proxyToken } from '../../control-plane/datamesh/front.ts';

async function* chunks(...parts: string[]) { for (const p of parts) yield Buffer.from(p); }
async function all<T>(it: AsyncIterable<T>): Promise<T[]> { const out: T[] = []; for await (const x of it) out.push(x); return out; }

test('grant signing bytes are what Go\'s json.Marshal writes for Kuscia\'s DomainDataGrantSpec', () => {
  // Printed by Go 1.26 encoding/json for the same spec in Kuscia's struct shape (metav1.Time as RFC 3339 UTC).
  const go = '{"author":"alice","domainDataID":"table-1","grantDomain":"bob","limit":{"expirationTime":"2026-12-31T15:59:59Z","useCount":2,"components":["psi"],"initiator":"bob","inputConfig":"{\\"a\\":\\"\\u003cb\\u003e\\u0026\\"}\\n"},"description":{"a":"x\\ty","z":"1"}}';
  const spec = { author: 'alice', domainDataID: 'table-1', grantDomain: 'bob', signature: 'ignored', limit: { expirationTime: '2026-12-31T23:59:59+08:00', useCount: 2, components: ['psi'], initiator: 'bob', inputConfig: '{"a":"<b>&"}\n' }, description: { z: '1', a: 'x\ty' } };
  assert.equal(grantSigningBytes(spec).toString(), go);
  assert.equal(grantSigningBytes({ author: 'a', domainDataID: 'd', grantDomain: 'b' }).toString(), '{"author":"a","domainDataID":"d","grantDomain":"b"}');
});

test('a grant signed with the domain key verifies with its certificate, and not once altered or with another certificate', () => {
  const alice = createCa('alice');
  const other = createCa('mallory');
  const spec = { author: 'alice', domainDataID: 'table-1', grantDomain: 'bob', limit: { useCount: 1 } };
  const signed = { ...spec, signature: signGrant(spec, alice.keyPem) };
  assert.equal(grantSignatureProblem(signed, [alice.certPem]), undefined);
  assert.equal(grantSignatureProblem(signed, [other.certPem, alice.certPem]), undefined, 'a rotation bundle: either certificate');
  assert.match(grantSignatureProblem({ ...signed, limit: { useCount: 2 } }, [alice.certPem])!, /does not verify/);
  assert.match(grantSignatureProblem(signed, [other.certPem])!, /does not verify/);
  assert.match(grantSignatureProblem(spec, [alice.certPem])!, /not signed/);
});

test('CSV rows: quotes, doubled quotes and line breaks inside quotes, split anywhere across chunks; CRLF', async () => {
  const text = 'a,b\r\n"x,1","say ""hi"""\n"multi\nline",2\n';
  const expected = [['a', 'b'], ['x,1', 'say "hi"'], ['multi\nline', '2']];
  for (let cut = 0; cut <= text.length; cut++) {
    assert.deepEqual(await all(csvRows(chunks(text.slice(0, cut), text.slice(cut)))), expected, `cut at ${cut}`);
  }
});

test('CSV -> Arrow batches typed by the DomainData columns -> CSV', async () => {
  const cols = [{ name: 'score', type: 'float' }, { name: 'id', type: 'str' }, { name: 'n', type: 'int64' }, { name: 'ok', type: 'bool' }];
  const batches = await all(csvToBatches(chunks('id,n,score,ok\nx,1,0.5,true\n"y,z",,2,false\n'), cols));
  assert.equal(batches.length, 1);
  const b = batches[0]!;
  assert.deepEqual(b.schema.fields.map((f) => `${f.name}:${f.type}`), ['score:Float64', 'id:Utf8', 'n:Int64', 'ok:Bool']);
  assert.equal(csvHeader(b.schema) + batchToCsv(b), 'score,id,n,ok\n0.5,x,1,true\n2,"y,z",,false\n');
  await assert.rejects(all(csvToBatches(chunks('id\nx\n'), [{ name: 'age', type: 'int' }])), /column age is not in the file's header/);
  await assert.rejects(all(csvToBatches(chunks('n\nabc\n'), [{ name: 'n', type: 'int' }])), /column n: "abc" is not an integer/);
});

test('Flight framing: schema then batches, decoded one batch at a time', () => {
  const t = tableFromArrays({ a: Int32Array.from([1, 2, 3]), b: ['x', 'y', 'z'] });
  const decoder = new FlightStreamDecoder();
  assert.deepEqual(decoder.push(schemaMessage(t.schema)), []);
  const out: RecordBatch[] = [];
  for (const batch of t.batches) for (const m of batchMessages(batch)) out.push(...decoder.push(m));
  assert.deepEqual(out.flatMap((b) => b.toArray().map((r) => r.toJSON())), [{ a: 1, b: 'x' }, { a: 2, b: 'y' }, { a: 3, b: 'z' }]);
  assert.throws(() => new FlightStreamDecoder().push(batchMessages(t.batches[0]!)[0]!), /first message must be the schema/);
});

test('RAW batches: the binary values read straight from the message body, nulls skipped', () => {
  const b = new RecordBatch({ binary_data: vectorFromArray([Uint8Array.of(1, 2, 3), null, Uint8Array.of(9)], new Binary()).data[0]! });
  const [m] = batchMessages(b);
  assert.deepEqual(binaryValues(b.schema, m!)!.map((v) => [...v]), [[1, 2, 3], [9]]);
  assert.equal(binaryValues(tableFromArrays({ a: Int32Array.of(1) }).schema, m!), undefined, 'not one binary column: decode through Arrow');
});

test('FlightData written by hand decodes as protobuf FlightData; a RAW chunk encoded without Arrow reads back', () => {
  const T = flightRoot().lookupType('arrow.flight.protocol.FlightData');
  const header = Uint8Array.from({ length: 200 }, (_, i) => i % 251);
  const body = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256);
  const d = T.decode(encodeFlightData(header, [body.subarray(0, 5), body.subarray(5)])) as unknown as { data_header: Uint8Array; data_body: Uint8Array };
  assert.deepEqual([...d.data_header], [...header]);
  assert.deepEqual(Buffer.from(d.data_body), Buffer.from(body));
  const schema = new Schema([new Field('binary_data', new Binary(), true)]);
  const batchOf = (c: Uint8Array) => new RecordBatch({ binary_data: makeData({ type: new Binary(), length: 1, nullCount: 0, valueOffsets: Int32Array.of(0, c.length), data: c }) });
  const enc = new RawBatchEncoder();
  const decoder = new FlightStreamDecoder();
  decoder.push(schemaMessage(schema));
  for (const chunk of [body.subarray(0, 1001), body.subarray(0, 1001).reverse(), body.subarray(3, 8)]) {
    const f = T.decode(enc.encode(chunk, batchOf)) as unknown as { data_header: Uint8Array; data_body: Uint8Array };
    const [b] = decoder.push({ header: f.data_header, body: f.data_body });
    assert.deepEqual(Buffer.from(b!.getChildAt(0)!.get(0) as Uint8Array), Buffer.from(chunk));
  }
});

test('task credentials: looked up by token, revoked by handle or by task', () => {
  const c = new TaskCredentials();
  const a = c.issue({ taskID: 't1', jobID: 'j', initiator: 'alice', parties: ['alice'], domainDataIDs: ['d'] });
  const b = c.issue({ taskID: 't2', jobID: 'j', initiator: 'alice', parties: ['alice'], domainDataIDs: ['d'] });
  assert.equal(c.lookup(a.token)?.taskID, 't1');
  assert.equal(c.lookup('nope'), undefined);
  a.revoke();
  assert.equal(c.lookup(a.token), undefined);
  assert.equal(c.revokeTask('t2'), 1);
  assert.equal(c.lookup(b.token), undefined);
  assert.equal(proxyToken('CONNECT x HTTP/1.1\r\nProxy-Authorization: Basic ' + Buffer.from('t1:tok:en').toString('base64')), 'tok:en');
});

test('source credentials: sealed bound to the name, kept by a re-apply without info, never in a redacted answer', () => {
  const key = keyFromBytes(Buffer.alloc(32, 1));
  const info = { database: { endpoint: '127.0.0.1:3306', user: 'u', password: 'secret-pw', database: 'd' } };
  const sealed = sealSourceSpec('db', { type: 'mysql', info }, undefined, key);
  assert.equal(JSON.stringify(sealed).includes('secret-pw'), false);
  assert.deepEqual(openSourceInfo('db', sealed, key), info);
  assert.throws(() => openSourceInfo('other', sealed, key), /does not decrypt/);
  assert.deepEqual(sealSourceSpec('db', { type: 'mysql' }, sealed, key).data, sealed.data);
  assert.throws(() => sealSourceSpec('db2', { type: 'mysql' }, undefined, key), /spec\.info\.database is required/);
  const answer = redactSource({ kind: 'DomainDataSource', spec: { ...sealed, data: { ...sealed.data, other: 'kept' } } });
  assert.deepEqual(answer.spec, { type: 'mysql', data: { other: 'kept' } });
});
