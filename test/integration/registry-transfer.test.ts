import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { KILN, json, kilnFor, makeRootfsDir, scratch, sh, tarDir } from '../helpers.ts';
import { startRegistry, writeKilnYaml } from '../registry-servers.ts';

async function setup(t: Parameters<typeof scratch>[0]) {
  const dir = scratch(t, 'kiln-xfer');
  const reg = await startRegistry(t, dir, { kind: 'none' });
  const config = writeKilnYaml(dir, [{ label: 'local', api: 'docker-registry-v2', host: '127.0.0.1', port: reg.port, protocol: 'http', auth: 'none' }]);
  const env = { KILN_CONFIG: config };
  return { dir, reg, env, alice: (args: readonly string[]) => kilnFor(join(dir, 'home'), 'alice')(args, env) };
}

test('a big image: chunked upload, mount from another repository, nothing re-sent, and a killed pull resumes', async (t) => {
  const { dir, env, alice } = await setup(t);
  const root = makeRootfsDir(dir, 'big');
  writeFileSync(join(root, 'big.bin'), randomBytes(96 << 20));
  const tar = tarDir(root, join(dir, 'big.tar'));
  assert.equal((await alice(['image', 'import', tar, 'big', '--label', 'walt.node.models=pc-x86-64'])).code, 0);
  const digest = json<{ digest: string }>(await alice(['image', 'inspect', 'big', '--json'])).digest;

  const first = json<{ blobs: Record<string, number> }>(await alice(['image', 'publish', '--force', 'big', '--registry', 'local', '--json']));
  assert.deepEqual(first.blobs, { exists: 0, mounted: 0, uploaded: 2 }, 'a 96 MiB layer goes up in one PUT');
  const again = json<{ blobs: Record<string, number> }>(await alice(['image', 'publish', '--force', 'big', '--registry', 'local', '--json']));
  assert.deepEqual(again.blobs, { exists: 2, mounted: 0, uploaded: 0 }, 'a re-push sends nothing');
  assert.equal((await alice(['image', 'duplicate', 'big', 'big-copy'])).code, 0);
  const copy = json<{ blobs: Record<string, number> }>(await alice(['image', 'publish', '--force', 'big-copy', '--registry', 'local', '--json']));
  assert.deepEqual(copy.blobs, { exists: 0, mounted: 2, uploaded: 0 }, 'blobs of another repository are mounted, not uploaded');

  // Kill a pull once part of the big layer is on disk; run it again: it resumes and finishes.
  const bobHome = join(dir, 'bob');
  const cache = join(bobHome, 'tmp', 'registry-blobs');
  const child = spawn(KILN, ['image', 'clone', 'local:alice/big'], { env: { ...process.env, KILN_HOME: bobHome, KILN_USER: 'bob', ...env }, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let partialSeen = 0;
  for (let i = 0; i < 4000 && child.exitCode === null && partialSeen < (4 << 20); i++) {
    await new Promise((r) => setTimeout(r, 5));
    let names: string[] = [];
    try {
      names = readdirSync(cache);
    } catch {
      continue; // not created yet
    }
    for (const n of names.filter((x) => x.includes('.partial.'))) partialSeen = Math.max(partialSeen, statSync(join(cache, n), { throwIfNoEntry: false })?.size ?? 0);
  }
  child.kill('SIGKILL');
  await exited;
  assert.ok(partialSeen >= 4 << 20, 'the pull was killed in the middle of the big layer');
  const bob = (args: readonly string[]) => kilnFor(bobHome, 'bob')(args, env);
  const resumed = await bob(['image', 'clone', 'local:alice/big', '--json', '--debug']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming blob sha256:\w+ at \d+ of \d+ bytes/);
  assert.equal(json<{ digest: string }>(resumed).digest, digest);
  const verify = await bob(['store', 'verify']);
  assert.equal(verify.code, 0, verify.stdout);
  assert.deepEqual(readdirSync(cache), [], 'nothing is left in the pull cache');
});

test('a multi-platform image: the platform of the node models by default, --platform to choose', async (t) => {
  const { dir, reg, alice } = await setup(t);
  const layout = join(dir, 'multi');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  const entries = [];
  for (const [arch, marker] of [['amd64', 'x86'], ['arm64', 'arm']] as const) {
    const tar = tarDir(makeRootfsDir(dir, marker), join(dir, `${marker}.tar.gz`), 'gzip');
    assert.equal((await alice(['image', 'import', tar, marker, '--platform', `linux/${arch}`, '--label', 'walt.node.models=rpi-3-b,rpi-4-b'])).code, 0);
    const out = join(dir, `${marker}-layout`);
    assert.equal((await alice(['image', 'export', marker, out, '--format', 'oci'])).code, 0);
    cpSync(join(out, 'blobs'), join(layout, 'blobs'), { recursive: true });
    const inner = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; size: number }> };
    entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: inner.manifests[0]?.digest, size: inner.manifests[0]?.size, platform: { os: 'linux', architecture: arch } });
  }
  const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries });
  const indexDigest = createHash('sha256').update(index).digest('hex');
  writeFileSync(join(layout, 'blobs', 'sha256', indexDigest), index);
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${indexDigest}`, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }));
  sh('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${reg.host}/carol/multi:latest`]);

  const platformOf = async (name: string) => json<{ platform: { architecture: string } }>(await alice(['image', 'inspect', name, '--json'])).platform.architecture;
  assert.equal((await alice(['image', 'clone', 'local:carol/multi', 'by-models'])).code, 0);
  assert.equal(await platformOf('by-models'), 'arm64', 'rpi-3-b,rpi-4-b run arm64: that entry, not the host\'s');
  assert.equal((await alice(['image', 'clone', 'local:carol/multi', 'chosen', '--platform', 'linux/amd64'])).code, 0);
  assert.equal(await platformOf('chosen'), 'amd64');
  const none = await alice(['image', 'clone', 'local:carol/multi', 'nope', '--platform', 'linux/s390x']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /\[NOT_FOUND\]: local:carol\/multi:latest has no image for linux\/s390x\n {2}hint: its platforms: linux\/amd64, linux\/arm64/);
});
