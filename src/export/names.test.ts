import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKilnError } from '../core/index.ts';
import { archName, artifactNames, parseDestination, parseLayout, parseOsRelease, type NameInput } from './names.ts';

test('parseOsRelease strips quotes and lower-cases ID and VERSION_ID', () => {
  const cases: Array<[string, { id: string; versionId: string }]> = [
    ['NAME="Rocky Linux"\nID="rocky"\nVERSION_ID="9.5"\n', { id: 'rocky', versionId: '9.5' }],
    ['ID=debian\nVERSION_ID="12"\n', { id: 'debian', versionId: '12' }],
    ["ID='opensuse-leap'\nVERSION_ID='15.6'\n", { id: 'opensuse-leap', versionId: '15.6' }],
    ['ID=Fedora\n# comment\nVERSION_ID=41\n', { id: 'fedora', versionId: '41' }],
    ['ID=debian\n', { id: 'debian', versionId: '' }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(parseOsRelease(text), expected, text);
});

test('parseDestination tells directories from s3://bucket/prefix and keeps the prefix as written', () => {
  assert.deepEqual(parseDestination('/srv/boot'), { kind: 'dir', path: '/srv/boot' });
  assert.deepEqual(parseDestination('s3://boot-images/compute/base/'), { kind: 's3', bucket: 'boot-images', prefix: 'compute/base/' });
  assert.deepEqual(parseDestination('s3://boot-images'), { kind: 's3', bucket: 'boot-images', prefix: '' });
  for (const bad of ['s3://', 's3://Bad_Bucket/x', 's3://b/../x', 's3://bucket//x']) {
    assert.throws(() => parseDestination(bad), (err) => isKilnError(err, 'USAGE'), bad);
  }
});

test('parseLayout defaults to both and refuses unknown layouts', () => {
  assert.equal(parseLayout(undefined), 'both');
  assert.equal(parseLayout('kiln'), 'kiln');
  assert.throws(() => parseLayout('flat'), (err) => isKilnError(err, 'USAGE'));
});

test('archName keeps the OCI architecture, with the variant only for 32-bit arm', () => {
  assert.equal(archName({ architecture: 'amd64' }), 'amd64');
  assert.equal(archName({ architecture: 'arm64', variant: 'v8' }), 'arm64');
  assert.equal(archName({ architecture: 'arm', variant: 'v7' }), 'armv7');
});

const input: NameInput = {
  prefix: 'compute/base/', name: 'compute-base', tag: '9.5', arch: 'amd64', os: { id: 'rocky', versionId: '9.5' }, rootfsType: 'squashfs',
  kernelFile: 'vmlinuz-5.14.0-503.14.1.el9_5.x86_64', initramfsFile: 'initramfs-5.14.0-503.14.1.el9_5.x86_64.img',
};

test('OpenCHAMI names are the seed\'s: <prefix><ID><VERSION_ID>-<name>-<tag> and efi-images/<prefix><file>', () => {
  const names = artifactNames('openchami', input);
  assert.deepEqual(names.rootfs, ['compute/base/rocky9.5-compute-base-9.5']);
  assert.deepEqual(names.kernel, ['efi-images/compute/base/vmlinuz-5.14.0-503.14.1.el9_5.x86_64']);
  assert.deepEqual(names.initramfs, ['efi-images/compute/base/initramfs-5.14.0-503.14.1.el9_5.x86_64.img']);
  assert.deepEqual(names.manifest, ['compute/base/rocky9.5-compute-base-9.5.manifest.json']);
  assert.deepEqual(names.ipxe, ['compute/base/rocky9.5-compute-base-9.5.ipxe']);
});

test('Kiln names are per name, tag and architecture, and come first with --layout both', () => {
  const kiln = artifactNames('kiln', input);
  assert.deepEqual(kiln.rootfs, ['compute/base/compute-base/9.5/amd64/rootfs.squashfs']);
  assert.deepEqual(kiln.kernel, ['compute/base/compute-base/9.5/amd64/vmlinuz']);
  assert.deepEqual(kiln.initramfs, ['compute/base/compute-base/9.5/amd64/initramfs.img']);
  assert.deepEqual(kiln.ipxe, ['compute/base/compute-base/9.5/amd64/boot.ipxe']);
  const both = artifactNames('both', { ...input, rootfsType: 'erofs' });
  assert.deepEqual(both.rootfs, ['compute/base/compute-base/9.5/amd64/rootfs.erofs', 'compute/base/rocky9.5-compute-base-9.5']);
  assert.equal(both.kernel.length, 2);
  assert.deepEqual(both.manifest, ['compute/base/compute-base/9.5/amd64/manifest.json']);
  const rootfsOnly = artifactNames('both', { ...input, kernelFile: undefined, initramfsFile: undefined });
  assert.deepEqual([rootfsOnly.kernel, rootfsOnly.initramfs], [[], []]);
});
