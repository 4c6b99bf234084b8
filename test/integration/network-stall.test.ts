import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { KILN, json, kilnFor, makeRootfsDir, scratch, tarDir } from '../helpers.ts';
import { startRegistry, writeKilnYaml } from '../registry-servers.ts';
import { addBootFiles, listKeys, S3RVER_KEY, startS3 } from '../export-s3.ts';

// A server "stops answering" here the way a hung or frozen one does: the test SIGSTOPs its
// process once the transfer is under way. The kernel still accepts connections and buffers a
// little; no byte moves after that. The idle timeout is 2 s so that the tests are quick.
const IDLE = { KILN_NETWORK_IDLE_TIMEOUT: '2' };

/** Size of the biggest file under `dir` whose name passes `match` (0 when none yet). */
function biggest(dir: string, match: (name: string, path: string) => boolean): number {
  let max = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0; // not created yet
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) max = Math.max(max, biggest(path, match));
    else if (match(e.name, path)) max = Math.max(max, statSync(path, { throwIfNoEntry: false })?.size ?? 0);
  }
  return max;
}

/**
 * Runs kiln, pauses the server (SIGSTOP) as soon as `progress()` reaches `threshold` bytes,
 * and waits for kiln to give up. A kiln still running a minute after the pause is a hang:
 * it is killed and the test fails.
 */
async function runAndPause(args: readonly string[], env: NodeJS.ProcessEnv, serverPid: number, progress: () => number, threshold: number) {
  const child = spawn(KILN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let seen = 0;
  while (child.exitCode === null && seen < threshold) {
    await new Promise((r) => setTimeout(r, 5));
    seen = progress();
  }
  const paused = child.exitCode === null;
  if (paused) process.kill(serverPid, 'SIGSTOP');
  const pausedAt = performance.now();
  const hang = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await exited;
  clearTimeout(hang);
  return { paused, code, stdout, stderr, seen, hung: child.signalCode === 'SIGKILL', waitedMs: Math.round(performance.now() - pausedAt) };
}

function assertStalled(t: { diagnostic: (m: string) => void }, r: Awaited<ReturnType<typeof runAndPause>>): void {
  // Measured, not asserted: how long kiln waited on the paused server before giving up.
  t.diagnostic(`paused after ${r.seen} bytes; kiln gave up ${r.waitedMs} ms later: ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`);
  assert.ok(r.paused, `the server was paused mid-transfer (the command had finished: ${r.stderr})`);
  assert.ok(!r.hung, 'kiln gave up on its own, it did not hang');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /kiln: error \[NETWORK\]: .*(stopped|no answer|nothing from)/);
  assert.match(r.stderr, /hint: .*network_idle_timeout.*KILN_NETWORK_IDLE_TIMEOUT/);
}

async function registrySetup(t: Parameters<typeof scratch>[0]) {
  const dir = scratch(t, 'kiln-stall');
  const reg = await startRegistry(t, dir, { kind: 'none' });
  const config = writeKilnYaml(dir, [{ label: 'local', api: 'docker-registry-v2', host: '127.0.0.1', port: reg.port, protocol: 'http', auth: 'none' }]);
  const env = { KILN_CONFIG: config };
  const root = makeRootfsDir(dir, 'big');
  writeFileSync(join(root, 'big.bin'), randomBytes(96 << 20));
  const tar = tarDir(root, join(dir, 'big.tar'));
  const alice = (args: readonly string[]) => kilnFor(join(dir, 'alice'), 'alice')(args, env);
  assert.equal((await alice(['image', 'import', tar, 'big', '--label', 'walt.node.models=pc-x86-64'])).code, 0);
  return { dir, reg, env, alice };
}

test('a registry that stops answering mid-download: clone fails with NETWORK, the store is unchanged, and the re-run resumes', async (t) => {
  const { dir, reg, env, alice } = await registrySetup(t);
  const pushed = await alice(['image', 'publish', 'big', '--registry', 'local', '--force']);
  assert.equal(pushed.code, 0, pushed.stderr);
  const digest = json<{ digest: string }>(await alice(['image', 'inspect', 'big', '--json'])).digest;

  const home = join(dir, 'bob');
  const bob = (args: readonly string[], extra: NodeJS.ProcessEnv = {}) => kilnFor(home, 'bob')(args, { ...env, ...extra });
  const cache = join(home, 'tmp', 'registry-blobs');
  const r = await runAndPause(['image', 'clone', 'local:alice/big'], { KILN_HOME: home, KILN_USER: 'bob', ...env, ...IDLE }, reg.pid,
    () => biggest(cache, (name) => name.includes('.partial.')), 2 << 20);
  assertStalled(t, r);
  assert.match(r.stderr, /local: blob sha256:[0-9a-f]{64}: the download stopped \(nothing from http:\/\/127\.0\.0\.1:\d+ for 2 s\)/);
  assert.equal((await bob(['store', 'verify'])).code, 0);
  assert.equal((await bob(['image', 'show', '--names-only'])).stdout.trim(), '', 'nothing was tagged');
  // Still paused: a new clone gets no answer at all (connection accepted by the kernel, no headers).
  const silent = await bob(['image', 'clone', 'local:alice/big'], IDLE);
  assert.equal(silent.code, 1, silent.stderr);
  assert.match(silent.stderr, /kiln: error \[NETWORK\]: local: manifest alice\/big:latest: no answer \(nothing from http:\/\/127\.0\.0\.1:\d+ for 2 s\)/);

  process.kill(reg.pid, 'SIGCONT');
  const resumed = await bob(['image', 'clone', 'local:alice/big', '--json', '--debug']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming blob sha256:\w+ at \d+ of \d+ bytes/);
  assert.equal(json<{ digest: string }>(resumed).digest, digest);
  assert.equal((await bob(['store', 'verify'])).code, 0);
});

test('a registry that stops answering mid-upload: publish fails with NETWORK, no tag appears, and the re-run publishes', async (t) => {
  const { dir, reg, env, alice } = await registrySetup(t);
  const before = (await alice(['store', 'verify'])).stdout;
  const uploads = join(reg.storage, 'docker', 'registry', 'v2', 'repositories', 'alice', 'big', '_uploads');
  const r = await runAndPause(['image', 'publish', 'big', '--registry', 'local', '--force'], { KILN_HOME: join(dir, 'alice'), KILN_USER: 'alice', ...env, ...IDLE }, reg.pid,
    () => biggest(uploads, (name) => name === 'data'), 1 << 20);
  assertStalled(t, r);
  assert.match(r.stderr, /local: upload of sha256:[0-9a-f]{64} to alice\/big: (the server stopped taking the upload|no answer)/);
  assert.equal((await alice(['store', 'verify'])).stdout, before, 'the store is as it was');

  process.kill(reg.pid, 'SIGCONT');
  const head = () => fetch(`http://${reg.host}/v2/alice/big/manifests/latest`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal((await head()).status, 404, 'the stalled publish tagged nothing');
  const again = await alice(['image', 'publish', 'big', '--registry', 'local', '--force']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await head()).status, 200);
});

test('an S3 endpoint that stops answering mid-upload: export fails with NETWORK, no object appears, and the re-run writes them', async (t) => {
  const dir = scratch(t, 'kiln-stall-s3');
  const s3 = await startS3(t);
  const root = makeRootfsDir(dir);
  addBootFiles(root);
  writeFileSync(join(root, 'big.bin'), randomBytes(64 << 20)); // incompressible: a multipart upload of several parts
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  assert.equal((await kiln(['image', 'import', tarDir(root, join(dir, 'rootfs.tar')), 'node:v1', '--label', 'walt.node.models=pc-x86-64', '--platform', 'linux/amd64'])).code, 0);
  await s3.s3cmd(['mb', 's3://boot']);
  const creds = { AWS_ACCESS_KEY_ID: S3RVER_KEY.access, AWS_SECRET_ACCESS_KEY: S3RVER_KEY.secret };
  const args = ['image', 'export', 'node:v1', 's3://boot/lab/', '--format', 'boot', '--s3-endpoint', s3.endpoint, '--json'];
  const r = await runAndPause(args, { KILN_HOME: home, KILN_USER: 'alice', ...creds, ...IDLE }, s3.pid,
    () => biggest(s3.dataDir, (name, path) => /^\d+$/.test(name) && path.includes('uploads')), 1 << 20);
  assertStalled(t, r);
  assert.match(r.stderr, /S3 upload of s3:\/\/boot\/lab\/.*: the server stopped answering/);
  assert.equal((await kiln(['store', 'verify'])).code, 0);
  // Still paused: the next export gets no answer to its first request.
  const silent = await kiln(args, { ...creds, ...IDLE });
  assert.equal(silent.code, 1, silent.stderr);
  assert.match(silent.stderr, /kiln: error \[NETWORK\]: S3 access to bucket boot: the server stopped answering[\s\S]*network_idle_timeout/);

  process.kill(s3.pid, 'SIGCONT');
  assert.deepEqual(await listKeys(s3, 'boot'), [], 'no object was half-written under its final name');
  const again = await kiln(args, creds);
  assert.equal(again.code, 0, again.stderr);
  assert.ok((await listKeys(s3, 'boot')).includes('lab/node/v1/amd64/manifest.json'));
});

test('a TLS registry reached without verification (node:https transport) that does not answer: NETWORK, not a hang', async (t) => {
  const dir = scratch(t, 'kiln-stall-tls');
  const reg = await startRegistry(t, dir, { kind: 'none' }, { tls: true });
  const config = writeKilnYaml(dir, [{ label: 'lab', api: 'docker-registry-v2', host: '127.0.0.1', port: reg.port, protocol: 'https-no-verify', auth: 'none' }]);
  const kiln = kilnFor(join(dir, 'home'));
  const missing = await kiln(['image', 'clone', 'lab:alice/none'], { KILN_CONFIG: config, ...IDLE });
  assert.match(missing.stderr, /\[NOT_FOUND\]/, 'the registry answers over TLS before the pause');
  process.kill(reg.pid, 'SIGSTOP');
  const r = await kiln(['image', 'clone', 'lab:alice/none'], { KILN_CONFIG: config, ...IDLE });
  process.kill(reg.pid, 'SIGCONT');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /kiln: error \[NETWORK\]: lab: manifest alice\/none:latest: no answer \(nothing from https:\/\/127\.0\.0\.1:\d+ for 2 s\)/);
  assert.match(r.stderr, /hint: .*network_idle_timeout/);
});
