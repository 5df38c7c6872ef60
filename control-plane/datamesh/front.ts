// The DataMesh port (loopback): a small TCP front before the gRPC server.
// A connection that opens with `CONNECT` is a gRPC client sent here by its
// task's grpc_proxy (credentials.ts): its Proxy-Authorization carries the
// task's token, checked before anything else; the rest of the connection is
// then passed to the gRPC server, and the server knows the caller by the
// front's own socket to it (peer port -> credential). Any other connection is
// passed as it is; its calls must carry `authorization: Bearer <token>`.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { TaskCredential } from './access.ts';

const MAX_HEAD = 8192;

export interface Front {
  server: Server;
  /** The credential and token of a call arriving through an authenticated CONNECT, by the gRPC peer string. */
  byPeer(peer: string): { credential: TaskCredential; token: string } | undefined;
  close(): Promise<void>;
}

function reply(sock: Socket, status: string, message: string): void {
  sock.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(message)}\r\n\r\n${message}`);
}

/** The token in a `Proxy-Authorization: Basic base64(task:token)` header. */
export function proxyToken(head: string): string | undefined {
  const m = /^proxy-authorization:\s*basic\s+([A-Za-z0-9+/=]+)\s*$/im.exec(head);
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i >= 0 ? text.slice(i + 1) : undefined;
}

export function startFront(opts: { host: string; port: number; grpcPort: number; lookup: (token: string) => TaskCredential | undefined; self: { host: string; port: () => number } }): Promise<Front> {
  const peers = new Map<string, { credential: TaskCredential; token: string }>();
  const open = new Set<Socket>();
  const pass = (client: Socket, first: Buffer, identity?: { credential: TaskCredential; token: string }) => {
    const upstream = connect({ host: '127.0.0.1', port: opts.grpcPort });
    open.add(upstream);
    upstream.on('connect', () => {
      const key = `127.0.0.1:${upstream.localPort}`;
      if (identity) peers.set(key, identity);
      upstream.once('close', () => peers.delete(key));
      if (first.length) upstream.write(first);
      client.pipe(upstream).pipe(client);
      client.resume();
    });
    const end = () => { client.destroy(); upstream.destroy(); open.delete(upstream); };
    upstream.on('error', end);
    upstream.on('close', end);
    client.on('error', end);
    client.on('close', end);
  };
  const server = createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head.length < 8 && 'CONNECT '.startsWith(head.toString('latin1'))) return;
      if (!head.subarray(0, 8).equals(Buffer.from('CONNECT '))) {
        client.off('data', onData);
        client.pause();
        return pass(client, head);
      }
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD) reply(client, '431 Request Header Fields Too Large', 'CONNECT head too large');
        return;
      }
      client.off('data', onData);
      client.pause();
      const text = head.subarray(0, end).toString('latin1');
      const target = text.split('\r\n')[0]!.split(' ')[1] ?? '';
      const port = Number(target.slice(target.lastIndexOf(':') + 1));
      if (port !== opts.self.port() || !/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(target.slice(0, target.lastIndexOf(':')))) {
        return reply(client, '403 Forbidden', `the DataMesh proxy reaches the DataMesh only (${opts.self.host}:${opts.self.port()}), not ${target}`);
      }
      const token = proxyToken(text);
      const credential = token ? opts.lookup(token) : undefined;
      if (!credential || !token) return reply(client, '407 Proxy Authentication Required', 'no valid DataMesh credential: the task\'s credential is unknown or revoked');
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      pass(client, head.subarray(end + 4), { credential, token });
    };
    client.on('data', onData);
    client.on('error', () => client.destroy());
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolvePromise({
        server,
        byPeer: (peer) => {
          const p = peers.get(peer.replace(/^ipv4:/, ''));
          // The credential is read again: one revoked since the CONNECT no longer counts.
          return p && opts.lookup(p.token) ? p : undefined;
        },
        close: () => new Promise<void>((r) => { for (const s of open) s.destroy(); server.close(() => r()); }),
      });
    });
  });
}
