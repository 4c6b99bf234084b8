import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { runProgram, scratch, sh } from './helpers.ts';

/** The part of s3rver's API the tests use (the package ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

/** s3rver's built-in account. */
export const S3RVER_KEY = { access: 'S3RVER', secret: 'S3RVER' };

/** A running s3rver on 127.0.0.1 and an s3cmd (an independent client) configured for it. */
export interface S3Server {
  endpoint: string;
  /** Runs s3cmd against the server; returns stdout, throws on failure. */
  s3cmd: (args: readonly string[]) => Promise<string>;
}

/** Starts s3rver on a free port with its data in a scratch directory; stopped when the test ends. */
export async function startS3(t: Parameters<typeof scratch>[0]): Promise<S3Server> {
  const dir = scratch(t, 'kiln-s3');
  mkdirSync(join(dir, 'data'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory: join(dir, 'data'), silent: true });
  const address = await server.run();
  t.after(() => server.close());
  const host = `127.0.0.1:${address.port}`;
  const config = join(dir, 's3cfg');
  writeFileSync(config, [
    '[default]', `host_base = ${host}`, `host_bucket = ${host}`, 'bucket_location = us-east-1', 'use_https = False',
    `access_key = ${S3RVER_KEY.access}`, `secret_key = ${S3RVER_KEY.secret}`, 'signature_v2 = False', '',
  ].join('\n'));
  return {
    endpoint: `http://${host}`,
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
