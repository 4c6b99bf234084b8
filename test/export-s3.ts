import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { runProgram, scratch, sh } from './helpers.ts';
import { freePort, stopChild, waitFor } from './registry-servers.ts';

// s3rver runs as a child process (its own bin), so that tests can pause it with SIGSTOP.
const S3RVER_BIN = join(dirname(createRequire(import.meta.url).resolve('s3rver/package.json')), 'bin', 's3rver.js');

/** s3rver's built-in account. */
export const S3RVER_KEY = { access: 'S3RVER', secret: 'S3RVER' };

/** A running s3rver on 127.0.0.1 and an s3cmd (an independent client) configured for it. */
export interface S3Server {
  endpoint: string;
  /** The s3rver process (SIGSTOP/SIGCONT play an endpoint that stops answering). */
  pid: number;
  /** Where s3rver keeps buckets, objects and multipart parts. */
  dataDir: string;
  /** Runs s3cmd against the server; returns stdout, throws on failure. */
  s3cmd: (args: readonly string[]) => Promise<string>;
}

/** Starts s3rver on a free port with its data in a scratch directory; stopped when the test ends. */
export async function startS3(t: Parameters<typeof scratch>[0]): Promise<S3Server> {
  const dir = scratch(t, 'kiln-s3');
  mkdirSync(join(dir, 'data'));
  const port = await freePort();
  const child = spawn(process.execPath, [S3RVER_BIN, '--directory', join(dir, 'data'), '--address', '127.0.0.1', '--port', String(port), '--silent'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  t.after(() => stopChild(child));
  await waitFor(`s3rver (${stderr})`, () => new Promise<boolean>((resolve) => {
    httpGet(`http://127.0.0.1:${port}/`, (res) => {
      res.resume();
      resolve(true);
    }).on('error', () => resolve(false));
  }), child);
  const host = `127.0.0.1:${port}`;
  const config = join(dir, 's3cfg');
  writeFileSync(config, [
    '[default]', `host_base = ${host}`, `host_bucket = ${host}`, 'bucket_location = us-east-1', 'use_https = False',
    `access_key = ${S3RVER_KEY.access}`, `secret_key = ${S3RVER_KEY.secret}`, 'signature_v2 = False', '',
  ].join('\n'));
  return {
    endpoint: `http://${host}`,
    pid: child.pid as number,
    dataDir: join(dir, 'data'),
    s3cmd: async (args) => {
      const r = await runProgram('s3cmd', ['--config', config, '--no-progress', ...args]);
      if (r.code !== 0) throw new Error(`s3cmd ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return r.stdout;
    },
  };
}

/** Keys listed by `s3cmd ls --recursive s3://bucket`, relative to the bucket, sorted. */
export async function listKeys(s3: S3Server, bucket: string): Promise<string[]> {
  const out = await s3.s3cmd(['ls', '--recursive', `s3://${bucket}`]);
  const prefix = `s3://${bucket}/`;
  return out.split('\n').filter(Boolean).map((line) => line.slice(line.indexOf(prefix) + prefix.length)).sort();
}

/** Hex sha256 of a file. */
export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * Adds to a root directory (from makeRootfsDir) what boot exports look for: two Debian
 * kernels with their initramfs (6.9 and 6.10: text order would wrongly call 6.9 the
 * newest), live-boot's directory, and a file capability.
 */
export function addBootFiles(root: string): void {
  for (const v of ['6.9.0-1-amd64', '6.10.0-2-amd64']) {
    writeFileSync(join(root, 'boot', `vmlinuz-${v}`), `kernel ${v}\n`);
    writeFileSync(join(root, 'boot', `initrd.img-${v}`), `initramfs ${v}\n`.repeat(1000));
  }
  mkdirSync(join(root, 'usr', 'lib', 'live', 'boot'), { recursive: true });
  writeFileSync(join(root, 'usr', 'bin', 'pinger'), '#!/bin/sh\n', { mode: 0o755 });
  sh('setcap', ['cap_net_raw+ep', join(root, 'usr', 'bin', 'pinger')]);
}
