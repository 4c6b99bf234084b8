import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { kilnFor, scratch, sh } from '../helpers.ts';
import { writeLayout } from '../oci-fixture.ts';
import { rawTar, rawHeader, type RawMember } from '../raw-tar.ts';

/**
 * The hostile corpus: images whose layers try to reach the host through symlinks of an
 * earlier layer or of their own, parse differentials, hardlinks, whiteouts, device nodes
 * and xattrs. Every consumer that turns layers into files runs on each; a canary directory
 * outside the store must not change, and no byte of a host secret may appear in an artifact.
 */

/** A canary directory with a secret file, and a fingerprint of everything in it. */
function makeCanary(dir: string): { path: string; secret: string; fingerprint: () => string } {
  const path = join(dir, 'canary', 'host', 'dir');
  mkdirSync(path, { recursive: true });
  const secret = `host-secret-${randomBytes(12).toString('hex')}`;
  writeFileSync(join(path, 'secret'), `${secret}\n`);
  writeFileSync(join(path, 'keep'), 'original\n');
  const fingerprint = (): string => {
    const lines: string[] = [];
    const walk = (d: string): void => {
      for (const name of readdirSync(d).sort()) {
        const full = join(d, name);
        const st = lstatSync(full);
        lines.push(`${full} ${st.mode} ${st.uid} ${st.size} ${st.mtimeMs} ${st.isSymbolicLink() ? readlinkSync(full) : ''}`);
        if (st.isDirectory()) walk(full);
        else if (st.isFile()) lines.push(createHash('sha256').update(readFileSync(full)).digest('hex'));
      }
    };
    walk(join(dir, 'canary'));
    lines.push(sh('getfattr', ['-R', '-h', '-d', '-m', '-', join(dir, 'canary')]));
    return lines.join('\n');
  };
  return { path, secret, fingerprint };
}

/** Kernel and initramfs, so that a boot export gets as far as extracting the root. */
const BOOT: RawMember[] = [
  { name: 'boot/', type: 'directory' },
  { name: 'boot/vmlinuz-6.1.0-1-amd64', content: 'kernel\n' },
  { name: 'boot/initrd.img-6.1.0-1-amd64', content: 'initramfs\n'.repeat(100) },
  { name: 'usr/', type: 'directory' },
  { name: 'usr/lib/', type: 'directory' },
  { name: 'usr/lib/live/', type: 'directory' },
  { name: 'usr/lib/live/boot/', type: 'directory' },
];

/** A symlink whose header declares 512 bytes of data, followed by a member that one parser sees and another skips. */
function differential(member: RawMember): Buffer {
  const tail = rawTar([member]);
  return Buffer.concat([rawHeader('sneaky', '2', 512, { linkname: 'target', mode: 0o777 }), tail]);
}

interface Case {
  name: string;
  layers: (canary: string) => Buffer[];
  /** Every consumer must refuse it (UNSAFE_PATH). */
  refused?: boolean;
}

const CASES: Case[] = [
  {
    name: 'absolute symlink then a write through it, behind a parse differential',
    layers: (c) => [rawTar([...BOOT, { name: 'etc', type: 'symlink', linkname: c }]), differential({ name: 'etc/keep', content: 'pwned\n' })],
  },
  {
    name: 'relative ../../.. symlink then a write through it',
    layers: (c) => [rawTar([...BOOT, { name: 'etc', type: 'symlink', linkname: `../../../../../../../../../../..${c}` }]), rawTar([{ name: 'etc/keep', content: 'pwned\n' }])],
  },
  {
    name: 'symlink and write in the same layer, through a chain a -> b -> host',
    layers: (c) => [rawTar([...BOOT, { name: 'b', type: 'symlink', linkname: c }, { name: 'a', type: 'symlink', linkname: 'b' }, { name: 'a/keep', content: 'pwned\n' }])],
  },
  {
    name: 'hardlink to a host secret through an earlier symlink',
    layers: (c) => [rawTar([...BOOT, { name: 'etc', type: 'symlink', linkname: c }]), rawTar([{ name: 'leak', type: 'hardlink', linkname: 'etc/secret' }])],
  },
  {
    name: 'etc -> /etc, then a hardlink to etc/shadow',
    layers: () => [rawTar([...BOOT, { name: 'etc', type: 'symlink', linkname: '/etc' }]), rawTar([{ name: 'leak', type: 'hardlink', linkname: 'etc/shadow' }, { name: 'etc/shadow', content: 'image\n' }])],
  },
  {
    name: 'hardlink with an absolute and a climbing target',
    layers: (c) => [rawTar([...BOOT, { name: 'leak1', type: 'hardlink', linkname: `${c}/secret` }, { name: 'leak2', type: 'hardlink', linkname: `../../../..${c}/secret` }])],
  },
  {
    name: 'whiteouts and an opaque marker before the symlink they would follow',
    layers: (c) => [rawTar([...BOOT, { name: 'etc/.wh.keep' }, { name: 'etc/sub/.wh..wh..opq' }, { name: 'etc', type: 'symlink', linkname: c }]), rawTar([{ name: 'etc/.wh.keep' }, { name: 'etc/.wh..wh..opq' }])],
  },
  {
    name: 'device node, FIFO and xattr written through a symlink',
    layers: (c) => [rawTar([...BOOT, { name: 'etc', type: 'symlink', linkname: c }]), rawTar([
      { name: 'etc/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'etc/fifo', type: 'fifo', mode: 0o600 },
      { name: 'etc/keep', content: 'pwned\n', pax: { 'SCHILY.xattr.user.pwned': 'yes', 'SCHILY.xattr.trusted.overlay.opaque': 'y' } },
    ])],
  },
  {
    name: 'names with .. and absolute names',
    layers: (c) => [rawTar([...BOOT, { name: `../../../../../../..${c}/keep`, content: 'pwned\n' }])],
  },
  {
    name: 'absolute member names land inside the root',
    layers: (c) => [rawTar([...BOOT, { name: `${c}/keep`, content: 'inside\n' }])],
  },
  {
    name: 'whiteouts of the directory itself and of its parent',
    layers: () => [rawTar([...BOOT, { name: 'etc/', type: 'directory' }]), rawTar([{ name: '.wh...' }, { name: 'etc/.wh...' }, { name: 'etc/.wh..' }])],
    refused: true,
  },
  {
    name: 'symlink loop',
    layers: () => [rawTar([...BOOT, { name: 'x', type: 'symlink', linkname: 'y' }, { name: 'y', type: 'symlink', linkname: 'x' }, { name: 'x/keep', content: 'pwned\n' }])],
  },
];

/** Extracted contents of an artifact (tar, SquashFS, EROFS), to search for the secret. */
function artifactText(file: string, work: string): string {
  const out = join(work, `x-${randomBytes(4).toString('hex')}`);
  if (file.endsWith('.tar')) return readFileSync(file).toString('latin1');
  if (file.endsWith('.squashfs') || file.endsWith('.sqfs')) sh('unsquashfs', ['-no-progress', '-q', '-d', out, file]);
  else if (file.endsWith('.erofs')) sh('fsck.erofs', [`--extract=${out}`, file]);
  else return readFileSync(file).toString('latin1');
  return sh('sh', ['-c', 'find "$1" -type f -exec cat {} + 2>/dev/null; true', 'sh', out]);
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const st = statSync(dir);
  if (st.isFile()) return [dir];
  return readdirSync(dir).flatMap((n) => filesUnder(join(dir, n)));
}

const CONSUMERS: Array<{ name: string; args: (img: string, out: string) => string[] }> = [
  { name: 'rootfs', args: (img, out) => ['image', 'export', img, join(out, 'root.tar'), '--format', 'rootfs'] },
  { name: 'squashfs', args: (img, out) => ['image', 'export', img, out, '--format', 'squashfs', '--layout', 'kiln'] },
  { name: 'squashfs lz4', args: (img, out) => ['image', 'export', img, out, '--format', 'squashfs', '--compression', 'lz4', '--layout', 'kiln'] },
  { name: 'erofs', args: (img, out) => ['image', 'export', img, out, '--format', 'erofs', '--compression', 'lz4', '--layout', 'kiln'] },
  { name: 'boot', args: (img, out) => ['image', 'export', img, out, '--format', 'boot', '--layout', 'kiln'] },
];

/** A scratch directory with a canary, a store, and each case of the corpus imported as `<prefix>-<i>`. */
async function corpus(t: Parameters<typeof scratch>[0], prefix: string) {
  const dir = scratch(t, `kiln-${prefix}`);
  const canary = makeCanary(dir);
  const kiln = kilnFor(join(dir, 'home'));
  for (const [i, c] of CASES.entries()) {
    const layout = join(dir, `layout-${i}`);
    writeLayout(layout, c.layers(canary.path), { 'walt.node.models': 'pc-x86-64' });
    const imported = await kiln(['image', 'import', layout, `${prefix}-${i}`]);
    assert.equal(imported.code, 0, `${c.name}: import: ${imported.stderr}`);
  }
  return { dir, canary, kiln, before: canary.fingerprint() };
}

test('hostile images: no consumer writes outside the image or copies host files into an artifact', async (t) => {
  const { dir, canary, kiln, before } = await corpus(t, 'hostile');
  const shadowBefore = existsSync('/etc/shadow') ? readFileSync('/etc/shadow', 'latin1') : '';
  // The host's root entry is long and specific enough not to appear by chance.
  const shadow = shadowBefore.split('\n')[0] ?? '';
  for (const [i, c] of CASES.entries()) {
    const name = `hostile-${i}`;
    for (const consumer of CONSUMERS) {
      const out = join(dir, `out-${i}-${consumer.name.replace(' ', '-')}`);
      mkdirSync(out, { recursive: true });
      const r = await kiln(consumer.args(name, out));
      const label = `${c.name} / ${consumer.name}`;
      t.diagnostic(`${label}: exit ${r.code} ${r.stderr.split('\n')[0] ?? ''}`);
      assert.ok(r.code === 0 || r.code === 1, `${label}: exit ${r.code}: ${r.stderr}`);
      if (r.code === 1) assert.match(r.stderr, /kiln: error \[(UNSAFE_PATH|BAD_ARCHIVE)\]/, `${label}: refused with a code: ${r.stderr}`);
      if (c.refused) assert.match(r.stderr, /kiln: error \[UNSAFE_PATH\]/, `${label}: refused`);
      assert.doesNotMatch(r.stderr, /TypeError|ReferenceError|at .*\.ts:\d+/, `${label}: no crash`);
      assert.equal(canary.fingerprint(), before, `${label}: the host canary is unchanged`);
      for (const file of filesUnder(out)) {
        const text = artifactText(file, dir);
        assert.ok(!text.includes(canary.secret), `${label}: ${file} holds no host secret`);
        if (shadow) assert.ok(!text.includes(shadow), `${label}: ${file} holds nothing of the host's /etc/shadow`);
      }
    }
  }
  const verify = await kiln(['store', 'verify']);
  assert.equal(verify.code, 0, verify.stderr);
  if (shadowBefore) assert.equal(readFileSync('/etc/shadow', 'latin1'), shadowBefore, "the host's /etc/shadow is unchanged");
});

test('hostile images as build parents: unpacking for overlayfs and the step set-up stay inside the image', async (t) => {
  const { dir, canary, kiln, before } = await corpus(t, 'parent');
  for (const [i, c] of CASES.entries()) {
    const spec = join(dir, `child-${i}.yaml`);
    writeFileSync(spec, `options:\n  name: child-${i}\n  pkg_manager: apt\n  parent: 'parent-${i}'\ncmds:\n  - cmd: 'true'\n`);
    const r = await kiln(['image', 'build', spec]);
    const label = `${c.name} / build`;
    t.diagnostic(`${label}: exit ${r.code} ${r.stderr.split('\n').find((l) => l.includes('error')) ?? ''}`);
    assert.ok(r.code === 0 || r.code === 1, `${label}: exit ${r.code}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /TypeError|ReferenceError|at .*\.ts:\d+/, `${label}: no crash`);
    assert.equal(canary.fingerprint(), before, `${label}: the host canary is unchanged`);
  }
});

test('a layer applied over an earlier one follows its symlinks inside the root (RESOLVE_IN_ROOT), as a container runtime would', async (t) => {
  const dir = scratch(t, 'kiln-inroot');
  const canary = makeCanary(dir);
  const kiln = kilnFor(join(dir, 'home'));
  const layout = join(dir, 'layout');
  writeLayout(layout, [
    rawTar([{ name: 'usr/', type: 'directory' }, { name: 'usr/bin/', type: 'directory' }, { name: 'bin', type: 'symlink', linkname: 'usr/bin' }, { name: 'etc', type: 'symlink', linkname: canary.path }]),
    rawTar([{ name: 'bin/tool', content: 'tool\n', mode: 0o755 }, { name: 'etc/keep', content: 'inside\n' }]),
  ]);
  assert.equal((await kiln(['image', 'import', layout, 'merged-usr'])).code, 0);
  const out = join(dir, 'root.tar');
  const r = await kiln(['image', 'export', 'merged-usr', out, '--format', 'rootfs']);
  assert.equal(r.code, 0, r.stderr);
  const listing = sh('tar', ['-tvf', out]);
  assert.match(listing, /\.\/usr\/bin\/tool$/m, 'bin/tool went through bin -> usr/bin');
  assert.match(listing, new RegExp(`\\./${canary.path.slice(1).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/keep$`, 'm'), 'etc/keep went to the absolute target, inside the root');
  assert.equal(readFileSync(join(canary.path, 'keep'), 'utf8'), 'original\n');
});

test('a stored layer corrupted after import gives DIGEST_MISMATCH with a hint to every consumer, never a crash', async (t) => {
  const dir = scratch(t, 'kiln-corrupt');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  const big = randomBytes(256 * 1024).toString('hex');
  // Two layers, the top one gzip: corruption then shows as a decompression error, before the digest is known.
  const layout = join(dir, 'layout');
  writeLayout(layout, [rawTar([...BOOT, { name: 'etc/', type: 'directory' }]), gzipSync(rawTar([{ name: 'etc/big', content: big }]))], {}, 'fixture:latest', false, [false, true]);
  assert.equal((await kiln(['image', 'import', layout, 'victim'])).code, 0);
  const inspect = JSON.parse((await kiln(['image', 'inspect', 'victim', '--json'])).stdout) as { manifest: { layers: Array<{ digest: string; mediaType: string }> } };
  const layers = inspect.manifest.layers;
  assert.match(layers.at(-1)?.mediaType ?? '', /gzip/);
  const last = layers.at(-1);
  assert.ok(last, 'inspect lists the layers');
  const blob = join(home, 'store', 'blobs', 'sha256', last.digest.slice(7));
  const bytes = readFileSync(blob);
  for (let i = 200; i < bytes.length - 200; i += 997) bytes[i] = (bytes[i] ?? 0) ^ 0x5a;
  sh('chmod', ['u+w', blob]);
  writeFileSync(blob, bytes);
  for (const consumer of CONSUMERS) {
    const out = join(dir, `out-${consumer.name.replace(' ', '-')}`);
    mkdirSync(out, { recursive: true });
    const r = await kiln(consumer.args('victim', out));
    assert.equal(r.code, 1, `${consumer.name}: ${r.stderr}`);
    assert.match(r.stderr, /kiln: error \[DIGEST_MISMATCH\][^\n]*\n\s*hint: /, `${consumer.name}: ${r.stderr}`);
  }
  const spec = join(dir, 'child.yaml');
  writeFileSync(spec, `options:\n  name: child\n  pkg_manager: apt\n  parent: 'victim'\ncmds:\n  - cmd: 'true'\n`);
  const built = await kiln(['image', 'build', spec]);
  assert.equal(built.code, 1, built.stderr);
  assert.match(built.stderr, /kiln: error \[DIGEST_MISMATCH\]/);
});
