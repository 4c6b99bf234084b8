import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { json, kilnFor, makeRootfsDir, scratch, sh, tarDir } from '../helpers.ts';
import { S3RVER_KEY, addBootFiles, listKeys, sha256File, startS3 } from '../export-s3.ts';

interface BootJson {
  cached: boolean;
  written: string[];
  unchanged: string[];
  manifest: {
    image: string; digest: string; architecture: string; kernelVersion: string; initramfs: string; kernelParameters: string | null; kernelParametersTemplate: string; baseUrl: string;
    rootfs: { type: string; compression: string };
    artifacts: Array<{ role: string; names: string[]; size: number; sha256: string; source?: string }>;
  };
}

async function setup(t: Parameters<typeof scratch>[0]) {
  const dir = scratch(t);
  const root = makeRootfsDir(dir);
  addBootFiles(root);
  const kiln = kilnFor(join(dir, 'home'));
  const ok = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = await kiln(args, env);
    assert.equal(r.code, 0, `kiln ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  await ok(['image', 'import', tarDir(root, join(dir, 'rootfs.tar')), 'node:v1', '--label', 'walt.node.models=pc-x86-64', '--platform', 'linux/amd64']);
  return { dir, root, kiln, ok, home: join(dir, 'home') };
}

/** Extracts a SquashFS image with unsquashfs (as root: devices, owners, xattrs) and returns the directory. */
function unsquash(file: string, dest: string): string {
  sh('unsquashfs', ['-no-progress', '-d', dest, file]);
  return dest;
}

/**
 * The mode of an inode in an EROFS image, read from the disk format (dump.erofs 1.5
 * prints only the permission bits): inode metadata start block × 4096 + NID × 32, +4.
 */
function erofsMode(file: string, path: string): number {
  const nid = Number(/NID: (\d+)/.exec(sh('dump.erofs', [`--path=${path}`, file]))?.[1]);
  const meta = Number(/inode metadata start block:\s+(\d+)/.exec(sh('dump.erofs', ['-s', file]))?.[1]);
  assert.ok(Number.isInteger(nid) && Number.isInteger(meta), 'dump.erofs gives the NID and the metadata block');
  return readFileSync(file).readUInt16LE(meta * 4096 + nid * 32 + 4);
}

/**
 * The inline xattr names of an inode in an EROFS image, read from the disk format
 * (fsck.erofs 1.5 does not extract xattrs): entries follow the inode and a 12-byte
 * header (+4 per shared xattr), each 4-byte aligned: name length, name index, value size.
 */
function erofsXattrNames(file: string, path: string): string[] {
  const info = sh('dump.erofs', [`--path=${path}`, file]);
  const [nid, inodeSize, xattrSize] = [/NID: (\d+)/, /Inode size: (\d+)/, /Xattr size: (\d+)/].map((re) => Number(re.exec(info)?.[1]));
  const meta = Number(/inode metadata start block:\s+(\d+)/.exec(sh('dump.erofs', ['-s', file]))?.[1]);
  const data = readFileSync(file);
  const start = meta * 4096 + (nid as number) * 32 + (inodeSize as number);
  const end = start + (xattrSize as number);
  const prefixes: Record<number, string> = { 1: 'user.', 4: 'trusted.', 6: 'security.' };
  const names: string[] = [];
  for (let off = start + 12 + 4 * (data[start + 4] as number); off + 4 <= end;) {
    const [len, index, size] = [data[off] as number, data[off + 1] as number, data.readUInt16LE(off + 2)];
    if (len === 0) break;
    names.push(`${prefixes[index] ?? `${index}:`}${data.subarray(off + 4, off + 4 + len).toString('latin1')}`);
    off += Math.ceil((4 + len + size) / 4) * 4;
  }
  return names;
}

/** Asserts the special files of makeRootfsDir and addBootFiles survived into an extracted root. */
function assertSpecialFiles(root: string, options: { fromErofs?: boolean } = {}): void {
  const st = (p: string) => statSync(join(root, p));
  assert.ok(st('dev/null').isCharacterDevice(), 'device node');
  assert.equal(st('dev/null').rdev, statSync('/dev/null').rdev, 'device numbers 1,3');
  if (!options.fromErofs) {
    assert.equal(st('usr/bin/tool').mode & 0o7777, 0o4755, 'setuid');
    assert.equal(st('usr/bin/tool').ino, st('usr/bin/tool-hardlink').ino, 'hardlink');
  }
  if (!options.fromErofs) {
    assert.match(sh('getcap', [join(root, 'usr/bin/pinger')]), /cap_net_raw[=+]ep/, 'file capability');
    assert.match(sh('getfattr', ['-n', 'user.kiln', join(root, 'etc/marker')]), /user\.kiln="yes"/, 'xattr');
  }
  for (const d of ['proc', 'sys', 'dev', 'run']) assert.ok(st(d).isDirectory(), `/${d} exists`);
  assert.deepEqual(readdirSync(join(root, 'proc')), [], '/proc is empty');
}

test('boot export to S3 (s3rver) with OpenCHAMI and Kiln names, read back by s3cmd; re-export uploads nothing', async (t) => {
  const { dir, kiln, ok } = await setup(t);
  const s3 = await startS3(t);
  const openchamiCreds = { S3_ACCESS: S3RVER_KEY.access, S3_SECRET: S3RVER_KEY.secret, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '' };
  const dest = 's3://boot-images/compute/base/';
  const args = ['image', 'export', 'node:v1', dest, '--format', 'boot', '--s3-endpoint', s3.endpoint, '--json'];

  const noBucket = await kiln(args, openchamiCreds);
  assert.equal(noBucket.code, 1);
  assert.match(noBucket.stderr, /NOT_FOUND.*bucket boot-images does not exist[\s\S]*--create-bucket/);

  const first = json<BootJson>(await ok([...args, '--create-bucket'], openchamiCreds));
  assert.equal(first.cached, false);
  const keys = await listKeys(s3, 'boot-images');
  assert.deepEqual(keys, [
    'compute/base/debian12-node-v1',
    'compute/base/node/v1/amd64/boot.ipxe',
    'compute/base/node/v1/amd64/initramfs.img',
    'compute/base/node/v1/amd64/manifest.json',
    'compute/base/node/v1/amd64/rootfs.squashfs',
    'compute/base/node/v1/amd64/vmlinuz',
    'efi-images/compute/base/initrd.img-6.10.0-2-amd64',
    'efi-images/compute/base/vmlinuz-6.10.0-2-amd64',
  ]);
  const got = join(dir, 'got');
  mkdirSync(got);
  await s3.s3cmd(['get', '--recursive', 's3://boot-images/', `${got}/`]);
  const manifest = JSON.parse(readFileSync(join(got, 'compute/base/node/v1/amd64/manifest.json'), 'utf8')) as BootJson['manifest'];
  assert.deepEqual(manifest, first.manifest, 'manifest.json is what the command reported');
  assert.equal(manifest.kernelVersion, '6.10.0-2-amd64', 'the newest kernel by version, not by text');
  assert.deepEqual([manifest.architecture, manifest.initramfs, manifest.rootfs.type, manifest.rootfs.compression], ['amd64', 'live-boot', 'squashfs', 'gzip']);
  for (const artifact of manifest.artifacts) {
    for (const name of artifact.names) {
      assert.equal(sha256File(join(got, name)), artifact.sha256, `sha256 of ${name}`);
      assert.equal(statSync(join(got, name)).size, artifact.size, `size of ${name}`);
    }
  }
  assert.equal(readFileSync(join(got, 'efi-images/compute/base/vmlinuz-6.10.0-2-amd64'), 'utf8'), 'kernel 6.10.0-2-amd64\n');
  const base = `${s3.endpoint}/boot-images/`;
  assert.equal(manifest.kernelParameters, `boot=live fetch=${base}compute/base/node/v1/amd64/rootfs.squashfs ip=dhcp console=tty0 console=ttyS0,115200`);
  const ipxe = readFileSync(join(got, 'compute/base/node/v1/amd64/boot.ipxe'), 'utf8');
  assert.match(ipxe, new RegExp(`^set base-url ${base}$`, 'm'));
  assert.match(ipxe, /^kernel \$\{base-url\}compute\/base\/node\/v1\/amd64\/vmlinuz initrd=initramfs\.img boot=live fetch=\$\{base-url\}compute\/base\/node\/v1\/amd64\/rootfs\.squashfs ip=dhcp console=tty0 console=ttyS0,115200 \|\| goto failed$/m);
  assert.match(ipxe, /^initrd \$\{base-url\}compute\/base\/node\/v1\/amd64\/initramfs\.img \|\| goto failed$/m);

  // The content of the root filesystem, as squashfs-tools sees it.
  const rootfs = join(got, 'compute/base/debian12-node-v1');
  const listing = sh('unsquashfs', ['-lln', rootfs]);
  assert.match(listing, /^crw-r--r-- 0\/0 +1, +3 .* squashfs-root\/dev\/null$/m);
  assert.match(listing, /^-rwsr-xr-x 0\/0 .* squashfs-root\/usr\/bin\/tool$/m);
  assert.match(sh('unsquashfs', ['-stat', rootfs]), /Compression gzip/);
  assertSpecialFiles(unsquash(rootfs, join(dir, 'unsquashed')));

  // Again, with the AWS variables: nothing is built or uploaded.
  const again = json<BootJson>(await ok(args, { AWS_ACCESS_KEY_ID: S3RVER_KEY.access, AWS_SECRET_ACCESS_KEY: S3RVER_KEY.secret }));
  assert.equal(again.cached, true);
  assert.deepEqual(again.written, []);
  assert.equal(again.unchanged.length, keys.length);

  // Wrong credentials: a clear error that does not show the secret.
  const denied = await kiln(args, { AWS_ACCESS_KEY_ID: 'nobody', AWS_SECRET_ACCESS_KEY: 'sekrit-value' });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /error \[CONFIG\]: S3 refused/);
  assert.ok(!`${denied.stderr}${denied.stdout}`.includes('sekrit-value'), 'the secret is never printed');
});

test('squashfs and erofs alone go to a directory; a multi-layer image is merged with its whiteouts', async (t) => {
  const { dir, home, ok } = await setup(t);
  // umoci adds a second layer: a deleted file (whiteout) and a new one.
  const layout = join(dir, 'layered');
  sh('skopeo', ['copy', `oci:${join(home, 'store')}:alice/node:v1`, `oci:${layout}:base`]);
  const bundle = join(dir, 'bundle');
  sh('umoci', ['unpack', '--image', `${layout}:base`, bundle]);
  sh('rm', [join(bundle, 'rootfs', 'boot', 'rpi-3-b', 'start.uboot')]);
  sh('sh', ['-c', `echo layer2 > ${join(bundle, 'rootfs', 'etc', 'added')}`]);
  sh('umoci', ['repack', '--image', `${layout}:layered`, bundle]);
  await ok(['image', 'import', layout, 'layered', '--ref', 'layered']);

  const out = join(dir, 'out');
  await ok(['image', 'export', 'layered', out, '--format', 'squashfs', '--compression', 'zstd']);
  assert.deepEqual(readdirSync(out).sort(), ['debian12-layered-latest', 'layered']);
  const sqfs = join(out, 'layered/latest/amd64/rootfs.squashfs');
  assert.equal(sha256File(sqfs), sha256File(join(out, 'debian12-layered-latest')));
  assert.match(sh('unsquashfs', ['-stat', sqfs]), /Compression zstd/);
  const listing = sh('unsquashfs', ['-l', sqfs]);
  assert.match(listing, /^squashfs-root\/etc\/added$/m);
  assert.doesNotMatch(listing, /start\.uboot|\.wh\./, 'the whiteout removed start.uboot and is not in the image');
  const merged = unsquash(sqfs, join(dir, 'merged'));
  assert.equal(readFileSync(join(merged, 'etc/added'), 'utf8'), 'layer2\n');
  assertSpecialFiles(merged);

  const erofsOut = join(dir, 'erofs');
  await ok(['image', 'export', 'node:v1', erofsOut, '--format', 'erofs', '--layout', 'kiln']);
  const erofs = join(erofsOut, 'node/v1/amd64/rootfs.erofs');
  assert.deepEqual(readdirSync(erofsOut), ['node'], 'only Kiln names with --layout kiln');
  sh('fsck.erofs', [erofs]);
  const nid = (path: string) => /NID: (\d+) +Links: (\d+)/.exec(sh('dump.erofs', [`--path=${path}`, erofs]))?.slice(1);
  assert.deepEqual(nid('/usr/bin/tool'), nid('/usr/bin/tool-hardlink'), 'hardlink: one inode');
  assert.equal(nid('/usr/bin/tool')?.[1], '2', 'hardlink: two links');
  assert.equal(erofsMode(erofs, '/usr/bin/tool'), 0o104755, 'setuid regular file, on disk');
  const extracted = join(dir, 'erofs-root');
  sh('fsck.erofs', [`--extract=${extracted}`, erofs]);
  assert.deepEqual(erofsXattrNames(erofs, '/usr/bin/pinger'), ['security.capability'], 'file capability, on disk');
  assert.deepEqual(erofsXattrNames(erofs, '/etc/marker'), ['user.kiln'], 'xattr, on disk');
  // fsck.erofs 1.5 extracts hardlinks as copies, without xattrs, and restores the owner
  // after the mode (which clears setuid): those are checked on disk above.
  assertSpecialFiles(extracted, { fromErofs: true });

  // gc keeps the artifacts of images that exist and drops those of a removed image.
  const exportCache = join(home, 'cache', 'export');
  const before = readdirSync(exportCache).length;
  assert.ok(before >= 2);
  await ok(['store', 'gc']);
  assert.equal(readdirSync(exportCache).length, before, 'nothing dropped while the images exist');
  await ok(['image', 'remove', 'layered']);
  await ok(['store', 'gc']);
  assert.equal(readdirSync(exportCache).length, before - 1, "the removed image's artifacts are gone");
});

test('failures leave nothing under the final names: no kernel, several kernel flavours, a missing tool', async (t) => {
  const { dir, home, kiln, ok } = await setup(t);
  const bare = join(dir, 'bare');
  mkdirSync(join(bare, 'etc'), { recursive: true });
  sh('sh', ['-c', `echo ID=debian > ${join(bare, 'etc/os-release')}`]);
  await ok(['image', 'import', tarDir(bare, join(dir, 'bare.tar')), 'bare']);
  const out = join(dir, 'out');
  const noKernel = await kiln(['image', 'export', 'bare', out, '--format', 'boot']);
  assert.equal(noKernel.code, 1);
  assert.match(noKernel.stderr, /NOT_FOUND.*no kernel with an initramfs in \/boot/);

  const flavours = join(dir, 'flavours');
  mkdirSync(join(flavours, 'boot'), { recursive: true });
  for (const v of ['6.1.0-31-amd64', '6.1.0-31-cloud-amd64']) {
    sh('sh', ['-c', `echo k > ${join(flavours, 'boot', `vmlinuz-${v}`)}; echo i > ${join(flavours, 'boot', `initrd.img-${v}`)}`]);
  }
  await ok(['image', 'import', tarDir(flavours, join(dir, 'flavours.tar')), 'flavours']);
  const ambiguous = await kiln(['image', 'export', 'flavours', out, '--format', 'boot', '--layout', 'kiln']);
  assert.equal(ambiguous.code, 1);
  assert.match(ambiguous.stderr, /AMBIGUOUS[\s\S]*--kernel-version \(6\.1\.0-31-amd64 or 6\.1\.0-31-cloud-amd64\)/);

  // A PATH without mksquashfs (still used for SquashFS other than gzip): the tool is reported with its package.
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const tool of ['sh', 'tar', 'readlink', 'dirname', 'mknod', 'chown', 'chmod', 'touch', 'setfattr']) sh('ln', ['-s', sh('sh', ['-c', `command -v ${tool}`]).trim(), join(bin, tool)]);
  const missing = await kiln(['image', 'export', 'node:v1', out, '--format', 'squashfs', '--compression', 'xz'], { PATH: bin });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /TOOL_MISSING.*mksquashfs not found[\s\S]*apt-get install squashfs-tools/);

  assert.ok(!existsSync(out), 'nothing was written to the destination');
  assert.deepEqual(readdirSync(join(home, 'tmp')), [], 'no work directories are left');
  const cache = join(home, 'cache', 'export');
  assert.deepEqual(readdirSync(cache), [], 'no cache entry was made');

  // The same export with the kernel chosen works.
  await ok(['image', 'export', 'flavours', out, '--format', 'boot', '--layout', 'kiln', '--kernel-version', '6.1.0-31-cloud-amd64']);
  const manifest = JSON.parse(readFileSync(join(out, 'flavours/latest/amd64/manifest.json'), 'utf8')) as BootJson['manifest'];
  assert.equal(manifest.kernelVersion, '6.1.0-31-cloud-amd64');
  assert.equal(manifest.initramfs, 'unknown');
  // Exported to a directory without --base-url: no URL is known, so no literal `${base-url}` in kernelParameters.
  assert.equal(manifest.kernelParameters, null);
  assert.equal(manifest.kernelParametersTemplate, 'console=tty0 console=ttyS0,115200');
});
