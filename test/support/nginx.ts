// A real nginx (Debian package) as an institution's TLS-terminating HTTP
// gateway in front of a Ferry public port: TLS with the institution's own
// certificate, a path prefix, plain HTTP/1.1 to Ferry. The settings that
// matter are the ones docs/topologies.md lists.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts, tempDir, waitForPort } from './harness.ts';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

export interface Nginx {
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** The location block an institution puts in front of Ferry (also shown in docs/topologies.md). */
export function ferryLocation(prefix: string, upstream: string): string {
  return `
    location ${prefix}/ {
      proxy_pass http://${upstream}/;        # strips the prefix: Ferry sees /path
      proxy_http_version 1.1;                 # keep-alive to Ferry
      proxy_set_header Connection "";
      proxy_set_header Host $host;            # Ferry routes by Host (= Kuscia-Host)
      proxy_pass_request_headers on;          # Kuscia-* headers pass as they are
      proxy_buffering off;                    # stream responses (PSI rounds, downloads)
      proxy_request_buffering off;            # stream uploads
      client_max_body_size 0;                 # no body limit: tasks move gigabytes
      proxy_read_timeout 3600s;               # long-idle task streams
      proxy_send_timeout 3600s;
    }`;
}

export async function startNginx(opts: { certPem: string; keyPem: string; prefix: string; upstream: string; host?: string; probeHost?: string; spawnIn?: (cmd: string, args: string[]) => ChildProcess }): Promise<Nginx> {
  if (!NGINX) throw new Error('nginx is not installed (Debian package nginx; scripts/debian-tools.sh installs it)');
  const host = opts.host ?? '127.0.0.1';
  const [port] = await freePorts(1);
  const dir = tempDir('nginx');
  mkdirSync(join(dir, 'tmp'));
  writeFileSync(join(dir, 'cert.pem'), opts.certPem);
  writeFileSync(join(dir, 'key.pem'), opts.keyPem, { mode: 0o600 });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen ${host}:${port} ssl http2;
    ssl_certificate ${dir}/cert.pem;
    ssl_certificate_key ${dir}/key.pem;
    keepalive_timeout 3600s;
    ${ferryLocation(opts.prefix, opts.upstream)}
  }
}
`);
  const check = spawnSync(NGINX, ['-t', '-c', conf, '-p', dir], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx config: ${check.stderr}`);
  const args = ['-c', conf, '-p', dir];
  const child = opts.spawnIn ? opts.spawnIn(NGINX, args) : spawn(NGINX, args, { stdio: 'ignore' });
  await waitForPort('nginx to accept connections', opts.probeHost ?? host, port!);
  return {
    host,
    port: port!,
    stop: async () => {
      // SIGTERM: the master stops its workers too (SIGKILL would orphan them).
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(force);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
