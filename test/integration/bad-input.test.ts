import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, symlinkSync, truncateSync, unlinkSync, writeFileSync, statSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { json, kilnFor, makeRootfsDir, scratch, sh, snapshotStore, tarDir } from '../helpers.ts';
import { gzipSync } from 'node:zlib';
import { layoutBlob, makeTar, sha256Of, writeLayout, writeLayoutRaw } from '../oci-fixture.ts';

/** Prepares a store holding one image, and sources derived from it. */
async function setup(t: Parameters<typeof scratch>[0]) {
  const dir = scratch(t);
  const home = join(dir, 'home');
  const kiln = kilnFor(home, 'alice');
  const rootfs = tarDir(makeRootfsDir(dir), join(dir, 'rootfs.tar'));
  const seeded = await kiln(['image', 'import', rootfs, 'good', '--label', 'walt.node.models=m']);
  assert.equal(seeded.code, 0, seeded.stderr);
  return { dir, home, kiln, rootfs };
}

function flipByte(file: string, offset: number): void {
  const data = readFileSync(file);
  data[offset] = (data[offset] ?? 0) ^ 0xff;
  writeFileSync(file, data);
}

test('bad input gets a clear error with a code and a hint, and the store stays exactly as it was', async (t) => {
  const { dir, home, kiln, rootfs } = await setup(t);
  const mk = (name: string): string => join(dir, name);
  // Sources come from an image that is then removed, so that none of their blobs is in the store.
  const other = tarDir(makeRootfsDir(dir, 'other'), mk('other.tar'));
  assert.equal((await kiln(['image', 'import', other, 'other', '--label', 'walt.node.models=m'])).code, 0);
  const layerDigest = json<{ manifest: { layers: Array<{ digest: string }> } }>(await kiln(['image', 'inspect', 'other', '--json'])).manifest.layers[0]!.digest;
  const exported = new Map<string, string>();
  for (const format of ['oci', 'oci-archive', 'docker-archive']) {
    const dest = mk(`other.${format}`);
    const r = await kiln(['image', 'export', 'other', dest, '--format', format]);
    assert.equal(r.code, 0, r.stderr);
    exported.set(format, dest);
  }
  assert.equal((await kiln(['image', 'remove', 'other'])).code, 0);
  const exportAs = async (format: string, dest: string): Promise<string> => {
    cpSync(exported.get(format)!, dest, { recursive: true });
    return dest;
  };

  const tarLayer = await makeTar([{ name: 'etc', type: 'directory' }, { name: 'etc/hostname', content: 'layer\n' }]);
  const gzLayer = gzipSync(tarLayer);
  const corruptGz = Buffer.from(gzLayer);
  corruptGz.fill(0x5a, 20, corruptGz.length - 12);
  const tarType = 'application/vnd.oci.image.layer.v1.tar';
  const gzType = 'application/vnd.oci.image.layer.v1.tar+gzip';
  const zero = `sha256:${'0'.repeat(64)}`;
  /** A layout with the given layers and diff_ids, as a directory or (archive) an OCI archive. */
  const rawLayout = (name: string, layers: Array<{ blob: Buffer; mediaType: string }>, diffIds: string[], archive = false): string => {
    writeLayoutRaw(mk(name), layers, diffIds);
    if (!archive) return mk(name);
    sh('tar', ['-C', mk(name), '-cf', mk(`${name}.tar`), '.']);
    return mk(`${name}.tar`);
  };
  const cases: Array<{ what: string; make: () => Promise<string>; args?: string[]; code: string; message: RegExp }> = [
    {
      what: 'OCI layout whose config lists a wrong diff_id',
      make: async () => rawLayout('wrong-diff', [{ blob: tarLayer, mediaType: tarType }], [zero]),
      code: 'DIGEST_MISMATCH', message: /has diff_id .* the config expects sha256:0{64}/,
    },
    {
      what: 'OCI layout with a gzip layer whose diff_id is the compressed digest',
      make: async () => rawLayout('gz-diff', [{ blob: gzLayer, mediaType: gzType }], [sha256Of(gzLayer)]),
      code: 'DIGEST_MISMATCH', message: new RegExp(`has diff_id ${sha256Of(tarLayer)}`),
    },
    {
      what: 'OCI archive whose config lists a wrong diff_id',
      make: async () => rawLayout('wrong-diff-archive', [{ blob: gzLayer, mediaType: gzType }], [zero], true),
      code: 'DIGEST_MISMATCH', message: /has diff_id .* the config expects/,
    },
    {
      what: 'OCI layout whose config lists fewer diff_ids than layers',
      make: async () => rawLayout('few-diffs', [{ blob: tarLayer, mediaType: tarType }, { blob: gzLayer, mediaType: gzType }], [sha256Of(tarLayer)]),
      code: 'DIGEST_MISMATCH', message: /1 diff_ids for 2 layers/,
    },
    {
      what: 'OCI layout with a corrupt gzip layer (its blob digest matches)',
      make: async () => rawLayout('corrupt-gz', [{ blob: corruptGz, mediaType: gzType }], [sha256Of(tarLayer)]),
      code: 'BAD_ARCHIVE', message: /does not decompress \(gzip\)/,
    },
    {
      what: 'OCI archive with a corrupt gzip layer',
      make: async () => rawLayout('corrupt-gz-archive', [{ blob: corruptGz, mediaType: gzType }], [sha256Of(tarLayer)], true),
      code: 'BAD_ARCHIVE', message: /does not decompress \(gzip\)/,
    },
    {
      what: 'docker-archive with a corrupt gzip layer',
      make: async () => {
        const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Of(tarLayer)] } });
        writeFileSync(mk('gz-docker.tar'), await makeTar([
          { name: 'layer.tar.gz', content: corruptGz },
          { name: 'config.json', content: config },
          { name: 'manifest.json', content: JSON.stringify([{ Config: 'config.json', RepoTags: ['x/y:1'], Layers: ['layer.tar.gz'] }]) },
        ]));
        return mk('gz-docker.tar');
      },
      code: 'BAD_ARCHIVE', message: /does not decompress \(gzip\)/,
    },
    {
      what: 'truncated OCI archive',
      make: async () => { const f = await exportAs('oci-archive', mk('trunc-oci.tar')); truncateSync(f, Math.floor(statSync(f).size / 2)); return f; },
      code: 'BAD_ARCHIVE', message: /truncated|not a valid tar|Unexpected end/i,
    },
    {
      what: 'truncated docker-archive',
      make: async () => { const f = await exportAs('docker-archive', mk('trunc-docker.tar')); truncateSync(f, 3000); return f; },
      code: 'BAD_ARCHIVE', message: /./,
    },
    {
      what: 'truncated gzip rootfs',
      make: async () => { const f = tarDir(makeRootfsDir(dir, 'gz'), mk('r.tar.gz'), 'gzip'); truncateSync(f, statSync(f).size - 40); return f; },
      code: 'BAD_ARCHIVE', message: /decompress|truncated|Unexpected end/i,
    },
    {
      what: 'gzip rootfs with bytes after the gzip stream',
      make: async () => { const f = tarDir(makeRootfsDir(dir, 'gzt'), mk('t.tar.gz'), 'gzip'); writeFileSync(f, Buffer.concat([readFileSync(f), Buffer.from([0, 1, 2, 3])])); return f; },
      code: 'BAD_ARCHIVE', message: /4 bytes after the end of its gzip stream/,
    },
    {
      what: 'truncated xz rootfs',
      make: async () => { writeFileSync(mk('r.tar.xz'), execFileSync('xz', ['-c'], { input: readFileSync(rootfs) }).subarray(0, -20)); return mk('r.tar.xz'); },
      code: 'BAD_ARCHIVE', message: /does not decompress \(xz\)/,
    },
    {
      what: 'truncated plain rootfs',
      make: async () => { cpSync(rootfs, mk('cut.tar')); truncateSync(mk('cut.tar'), 2048 + 100); return mk('cut.tar'); },
      code: 'BAD_ARCHIVE', message: /./,
    },
    {
      what: 'corrupt layer in an OCI layout (digest mismatch)',
      make: async () => { const d = await exportAs('oci', mk('corrupt-dir')); flipByte(layoutBlob(d, layerDigest), 600); return d; },
      code: 'DIGEST_MISMATCH', message: new RegExp(layerDigest),
    },
    {
      what: 'corrupt blob inside an OCI archive',
      make: async () => {
        const f = await exportAs('oci-archive', mk('corrupt-oci.tar'));
        const data = readFileSync(f);
        const at = data.indexOf(Buffer.from('other\n'));
        data[at] = 0x4f; // "Other": same size, other content
        writeFileSync(f, data);
        return f;
      },
      code: 'DIGEST_MISMATCH', message: /hashes to/,
    },
    {
      what: 'manifest referencing a missing blob',
      make: async () => { const d = await exportAs('oci', mk('missing-dir')); unlinkSync(layoutBlob(d, layerDigest)); return d; },
      code: 'MISSING_BLOB', message: new RegExp(`lacks blob ${layerDigest}`),
    },
    {
      what: 'a blob that is a symlink to a host file',
      make: async () => { const d = await exportAs('oci', mk('symlink-dir')); unlinkSync(layoutBlob(d, layerDigest)); symlinkSync('/etc/passwd', layoutBlob(d, layerDigest)); return d; },
      code: 'UNSAFE_PATH', message: /not a regular file/,
    },
    {
      what: 'rootfs entry escaping the root',
      make: async () => { writeFileSync(mk('escape.tar'), await makeTar([{ name: 'etc/ok', content: 'x' }, { name: '../../etc/cron.d/evil', content: 'x' }])); return mk('escape.tar'); },
      code: 'UNSAFE_PATH', message: /escapes the root/,
    },
    {
      what: 'rootfs hardlink out of the root',
      make: async () => { writeFileSync(mk('hl.tar'), await makeTar([{ name: 'etc/shadow', type: 'link', linkname: '../../etc/shadow' }])); return mk('hl.tar'); },
      code: 'UNSAFE_PATH', message: /escapes the root/,
    },
    {
      what: 'rootfs entry written through a symlink of the same tarball',
      make: async () => { writeFileSync(mk('through.tar'), await makeTar([{ name: 'etc', type: 'symlink', linkname: '/tmp' }, { name: 'etc/kiln-keep', content: 'x' }])); return mk('through.tar'); },
      code: 'UNSAFE_PATH', message: /"etc\/kiln-keep" is written through the symlink "etc"/,
    },
    {
      what: 'rootfs entry written through a chain of relative symlinks',
      make: async () => {
        writeFileSync(mk('chain.tar'), await makeTar([
          { name: 'b', type: 'symlink', linkname: '../../..' }, { name: 'a', type: 'symlink', linkname: 'b' }, { name: 'a/etc/kiln-keep', content: 'x' },
        ]));
        return mk('chain.tar');
      },
      code: 'UNSAFE_PATH', message: /through the symlink "a"/,
    },
    {
      what: 'rootfs hardlink through a symlink of the same tarball',
      make: async () => { writeFileSync(mk('hl-through.tar'), await makeTar([{ name: 'host', type: 'symlink', linkname: '/' }, { name: 'shadow', type: 'link', linkname: 'host/etc/shadow' }])); return mk('hl-through.tar'); },
      code: 'UNSAFE_PATH', message: /hardlink "shadow" points through the symlink "host"/,
    },
    {
      what: 'archive member escaping the archive',
      make: async () => { writeFileSync(mk('evil-oci.tar'), await makeTar([{ name: 'oci-layout', content: '{}' }, { name: '../index.json', content: '{}' }])); return mk('evil-oci.tar'); },
      args: ['--format', 'oci-archive'], code: 'UNSAFE_PATH', message: /escapes the archive root/,
    },
    {
      what: 'not an archive at all',
      make: async () => { writeFileSync(mk('junk.bin'), 'this is not a tar file'.repeat(100)); return mk('junk.bin'); },
      code: 'BAD_ARCHIVE', message: /neither a tar archive nor an OCI layout/,
    },
    {
      what: 'a directory that is not an OCI layout',
      make: async () => { mkdirSync(mk('plain-dir')); return mk('plain-dir'); },
      code: 'BAD_ARCHIVE', message: /no oci-layout/,
    },
    {
      what: 'index.json that is not JSON',
      make: async () => { const d = await exportAs('oci', mk('badjson-dir')); writeFileSync(join(d, 'index.json'), '{"schemaVersion": 2, "manif'); return d; },
      code: 'BAD_ARCHIVE', message: /not valid JSON/,
    },
    {
      what: 'docker-archive whose layer does not match the config diff_id',
      make: async () => {
        const layer = await makeTar([{ name: 'etc/x', content: 'one' }]);
        const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] } });
        writeFileSync(mk('bad-docker.tar'), await makeTar([
          { name: 'layer.tar', content: layer.toString('latin1') },
          { name: 'config.json', content: config },
          { name: 'manifest.json', content: JSON.stringify([{ Config: 'config.json', RepoTags: ['x/y:1'], Layers: ['layer.tar'] }]) },
        ]));
        return mk('bad-docker.tar');
      },
      code: 'DIGEST_MISMATCH', message: /diff_id/,
    },
  ];

  const before = snapshotStore(home);
  const listed = (await kiln(['image', 'show', '--json'])).stdout;
  for (const c of cases) {
    const source = await c.make();
    const result = await kiln(['image', 'import', source, 'victim', ...(c.args ?? [])]);
    assert.equal(result.code, 1, `${c.what}: exit status (${result.stderr})`);
    assert.match(result.stderr, new RegExp(`\\[${c.code}\\]`), `${c.what}: error code`);
    assert.match(result.stderr, c.message, `${c.what}: message`);
    assert.match(result.stderr, /\n {2}hint: \S/, `${c.what}: hint`);
    assert.doesNotMatch(result.stderr, /internal error|at .*\.ts:\d+/, `${c.what}: no stack trace`);
    assert.equal(snapshotStore(home), before, `${c.what}: the store is exactly as it was`);
    assert.equal((await kiln(['image', 'show', '--json'])).stdout, listed, `${c.what}: the catalog is unchanged`);
  }
  const verify = await kiln(['store', 'verify']);
  assert.equal(verify.code, 0, verify.stdout);
});

test('an export that fails leaves no file under the final name', async (t) => {
  const { dir, kiln } = await setup(t);
  // An image whose second layer writes through a symlink that points out of the root (which
  // lands inside the root: symlinks are resolved there), then hardlinks through it (refused).
  const layout = join(dir, 'hostile');
  writeLayout(layout, [
    await makeTar([{ name: 'etc', type: 'directory' }, { name: 'escape', type: 'symlink', linkname: '/tmp' }]),
    await makeTar([{ name: 'escape/kiln-pwned', content: 'x' }, { name: 'leak', type: 'link', linkname: 'escape/kiln-pwned' }]),
  ], { 'walt.node.models': 'm' });
  assert.equal((await kiln(['image', 'import', layout, 'hostile'])).code, 0);
  const dest = join(dir, 'out.tar');
  const result = await kiln(['image', 'export', 'hostile', dest, '--format', 'rootfs']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /\[UNSAFE_PATH\].*"leak" hardlinks to \/escape\/kiln-pwned, which is missing or reached through a symlink/);
  assert.ok(!existsSync(dest), 'no partial export');
  assert.ok(!existsSync('/tmp/kiln-pwned'), 'nothing was written outside the root');
  assert.deepEqual(sh('ls', ['-A', dir]).split('\n').filter((n) => n.startsWith('.tmp')), [], 'no temporary file left');

  const dotdot = join(dir, 'dotdot');
  writeLayout(dotdot, [await makeTar([{ name: 'a', content: 'x' }]), await makeTar([{ name: '../../kiln-dotdot', content: 'x' }])]);
  assert.equal((await kiln(['image', 'import', dotdot, 'dotdot'])).code, 0);
  const r2 = await kiln(['image', 'export', 'dotdot', join(dir, 'out2.tar'), '--format', 'rootfs']);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /UNSAFE_PATH.*escapes the root/);
});

test('store verify reports a corrupt blob, a missing blob with the images that need it, and a stale index.json', async (t) => {
  const { home, kiln } = await setup(t);
  const inspected = json<{ digest: string; manifest: { config: { digest: string }; layers: Array<{ digest: string }> } }>(await kiln(['image', 'inspect', 'good', '--json']));
  const store = join(home, 'store');
  assert.equal((await kiln(['store', 'verify'])).code, 0);
  flipByte(layoutBlob(store, inspected.manifest.layers[0]!.digest), 700);
  unlinkSync(layoutBlob(store, inspected.manifest.config.digest));
  writeFileSync(join(store, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
  const result = await kiln(['store', 'verify']);
  assert.equal(result.code, 1);
  assert.match(result.stdout, new RegExp(`corrupt: blob ${inspected.manifest.layers[0]!.digest} hashes to sha256:`));
  assert.match(result.stdout, new RegExp(`missing: blob ${inspected.manifest.config.digest} \\(needed by alice/good:latest\\)`));
  assert.match(result.stdout, /index.json does not match the catalog/);
  assert.match(result.stderr, /\[DIGEST_MISMATCH\]: the store failed verification/);
  const report = json<{ ok: boolean; corrupt: unknown[]; missing: unknown[]; indexInSync: boolean }>(await kiln(['store', 'verify', '--json']));
  assert.deepEqual([report.ok, report.corrupt.length, report.missing.length, report.indexInSync], [false, 1, 1, false]);
});
