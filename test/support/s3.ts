// A real S3-compatible server for the DataMesh's oss source: versitygw
// (Versity's S3 gateway, Apache-2.0, built by scripts/setup.sh with
// `go install` at a pinned version) serving a temp directory on a free
// loopback port, one bucket made. Ready when the bucket answers a signed
// HEAD; stop() ends it and removes its files.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePorts } from '../../control-plane/util/ports.ts';
import { ROOT, waitFor } from './harness.ts';

export const VERSITYGW = join(ROOT, '.tools', 'versitygw', 'bin', 'versitygw');

export interface TestS3 {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The directory the objects are files in (bucket/key). */
  dir: string;
  client(): S3Client;
  stop(): Promise<void>;
}

export function s3Missing(): string | undefined {
  return existsSync(VERSITYGW) ? undefined : `no ${VERSITYGW}: scripts/setup.sh builds it with go install (needs Go)`;
}

export async function startS3(bucket: string): Promise<TestS3> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-s3-'));
  const [port] = await freePorts(1);
  const accessKeyId = 'ferry-test-access';
  const secretAccessKey = `secret-${Math.random().toString(36).slice(2)}`;
  let log = '';
  const child = spawn(VERSITYGW, ['--port', `127.0.0.1:${port}`, '--access', accessKeyId, '--secret', secretAccessKey, '--quiet', 'posix', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => { log += d; });
  child.stderr!.on('data', (d: Buffer) => { log += d; });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = () => new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
  const admin = client();
  try {
    await waitFor('versitygw', async () => {
      if (child.exitCode !== null) throw new Error(`versitygw exited (${child.exitCode}): ${log.slice(-2000)}`);
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
      return true;
    });
  } finally {
    admin.destroy();
  }
  return {
    endpoint, bucket, accessKeyId, secretAccessKey, dir, client,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
