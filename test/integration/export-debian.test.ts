import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, kilnFor, scratch, sh } from '../helpers.ts';
import { debianBootTarball } from '../export-debian.ts';
import { S3RVER_KEY, listKeys, sha256File, startS3 } from '../export-s3.ts';

interface Manifest {
  kernelVersion: string;
  initramfs: string;
  kernelParameters: string;
  artifacts: Array<{ role: string; names: string[]; sha256: string; source?: string }>;
}

/** sha256 of one member of a tarball, streamed out by GNU tar. */
function memberSha256(tarball: string, member: string): string {
  const r = spawnSync('tar', ['-xOf', tarball, member], { maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, `tar -xOf ${member}: ${r.stderr}`);
  return createHash('sha256').update(r.stdout).digest('hex');
}

test('a real Debian image with linux-image-amd64 and live-boot exports a bootable set to S3', async (t) => {
  const tarball = await debianBootTarball();
  const dir = scratch(t);
  const kiln = kilnFor(join(dir, 'home'));
  const ok = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = await kiln(args, env);
    assert.equal(r.code, 0, `kiln ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  await ok(['image', 'import', tarball, 'debian-live:12', '--label', 'walt.node.models=pc-x86-64', '--platform', 'linux/amd64']);
  const s3 = await startS3(t);
  const creds = { AWS_ACCESS_KEY_ID: S3RVER_KEY.access, AWS_SECRET_ACCESS_KEY: S3RVER_KEY.secret };
  // lz4 keeps the test fast.
  const args = ['image', 'export', 'debian-live:12', 's3://boot/', '--format', 'boot', '--compression', 'lz4', '--create-bucket', '--json'];
  const first = json<{ cached: boolean; manifest: Manifest }>(await ok(args, { ...creds, AWS_ENDPOINT_URL: s3.endpoint }));
  assert.equal(first.cached, false);
  const { manifest } = first;
  assert.equal(manifest.initramfs, 'live-boot');
  const bootFiles = sh('tar', ['-tf', tarball]).split('\n').filter((l) => /^\.\/boot\/(vmlinuz|initrd\.img)-/.test(l)).sort();
  const version = /vmlinuz-(.+)$/.exec(bootFiles.find((f) => f.includes('vmlinuz')) ?? '')?.[1];
  assert.equal(manifest.kernelVersion, version, 'the kernel of the image');

  const keys = await listKeys(s3, 'boot');
  assert.deepEqual(keys, [
    'debian-live/12/amd64/boot.ipxe', 'debian-live/12/amd64/initramfs.img', 'debian-live/12/amd64/manifest.json',
    'debian-live/12/amd64/rootfs.squashfs', 'debian-live/12/amd64/vmlinuz', 'debian12-debian-live-12',
    `efi-images/initrd.img-${version}`, `efi-images/vmlinuz-${version}`,
  ]);
  const got = join(dir, 'got');
  mkdirSync(got);
  await s3.s3cmd(['get', '--recursive', 's3://boot/', `${got}/`]);
  for (const artifact of manifest.artifacts) {
    for (const name of artifact.names) assert.equal(sha256File(join(got, name)), artifact.sha256, name);
  }
  // The kernel and initramfs are the image's own files.
  assert.equal(sha256File(join(got, 'debian-live/12/amd64/vmlinuz')), memberSha256(tarball, `./boot/vmlinuz-${version}`));
  assert.equal(sha256File(join(got, 'debian-live/12/amd64/initramfs.img')), memberSha256(tarball, `./boot/initrd.img-${version}`));

  // boot.ipxe points at the three artifacts on the endpoint, with live-boot's parameters.
  const base = `${s3.endpoint}/boot/`;
  const ipxe = readFileSync(join(got, 'debian-live/12/amd64/boot.ipxe'), 'utf8');
  assert.match(ipxe, new RegExp(`^set base-url ${base}$`, 'm'));
  assert.match(ipxe, /^kernel \$\{base-url\}debian-live\/12\/amd64\/vmlinuz initrd=initramfs\.img boot=live fetch=\$\{base-url\}debian-live\/12\/amd64\/rootfs\.squashfs ip=dhcp console=tty0 console=ttyS0,115200 \|\| goto failed$/m);
  assert.match(ipxe, /^initrd \$\{base-url\}debian-live\/12\/amd64\/initramfs\.img \|\| goto failed$/m);
  assert.equal(manifest.kernelParameters, `boot=live fetch=${base}debian-live/12/amd64/rootfs.squashfs ip=dhcp console=tty0 console=ttyS0,115200`);

  // The root filesystem is the image: live-boot's scripts, the kernel's modules, mount points.
  const rootfs = join(got, 'debian-live/12/amd64/rootfs.squashfs');
  assert.match(sh('unsquashfs', ['-stat', rootfs]), /Compression lz4/);
  const listing = sh('unsquashfs', ['-l', rootfs]);
  for (const path of ['usr/lib/live/boot/9990-main.sh', `usr/lib/modules/${version}/modules.dep`, 'proc', 'sys', 'dev', 'run', 'etc/os-release']) {
    assert.match(listing, new RegExp(`^squashfs-root/${path.replace(/[.]/g, '\\.')}$`, 'm'), path);
  }

  // Unchanged image, same options: everything comes from the cache and nothing is uploaded.
  const again = json<{ cached: boolean; written: string[] }>(await ok(args, { ...creds, AWS_ENDPOINT_URL: s3.endpoint }));
  assert.deepEqual([again.cached, again.written], [true, []]);
});
