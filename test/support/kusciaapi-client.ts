// A KusciaAPI client for tests, over HTTP (JSON or protobuf) and gRPC, built
// from Ferry's protos (interop/kusciaapi). The PyPI client is the acceptance
// test's (test/e2e/kusciaapi-pypi.test.ts); this one drives the fuzz.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { messageType, PACKAGE } from '../../control-plane/kusciaapi/protos.ts';
import type { TestNode } from './harness.ts';

export const kusciaToken = (node: TestNode) => readFileSync(join(node.home, 'certs', 'token'), 'utf8').trim();

export interface KusciaReply { http: number; body: any } // eslint-disable-line @typescript-eslint/no-explicit-any

export async function kusciaHttp(node: TestNode, path: string, body: unknown, opts: { token?: string | null; raw?: string } = {}): Promise<KusciaReply> {
  const token = opts.token === undefined ? kusciaToken(node) : opts.token;
  const res = await fetch(`http://${node.host}:${node.ports.api}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token !== null ? { token } : {}) },
    body: opts.raw ?? JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { http: res.status, body: parsed };
}

/** One unary KusciaAPI call over gRPC: the decoded response (plain object, proto names), or the gRPC error. */
export function kusciaGrpc(node: TestNode, service: string, method: string, request: string, response: string, body: Record<string, unknown>, opts: { token?: string | null; rawBytes?: Buffer } = {}): Promise<{ error?: grpc.ServiceError; body?: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const reqType = messageType(request);
  const respType = messageType(response);
  const client = new grpc.Client(`${node.host}:${node.ports.kusciaGrpc}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  const token = opts.token === undefined ? kusciaToken(node) : opts.token;
  if (token !== null) md.set('token', token);
  return new Promise((resolve) => {
    client.makeUnaryRequest(`/${PACKAGE}.${service}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => respType.toObject(respType.decode(b), { defaults: true, arrays: true, longs: String }),
      opts.rawBytes ?? Buffer.from(reqType.encode(reqType.fromObject(body)).finish()), md, { deadline: Date.now() + 20_000 },
      (error, value) => { client.close(); resolve(error ? { error } : { body: value }); });
  });
}
