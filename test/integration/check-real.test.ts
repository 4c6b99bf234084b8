import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cachedDebianTarball, json, kilnFor, scratch } from '../helpers.ts';

const EXCLUDES = ['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/locale/*', '/usr/share/info/*'].map((p) => `--dpkgopt=path-exclude=${p}`);

/** A WalT PC image: Debian 12 with busybox-static, OpenSSH and the cloud kernel, booted by iPXE through /boot/pc-x86-64/. */
const AMD64_ARGS: readonly string[] = [
  '--quiet', '--variant=minbase', '--include=busybox-static,openssh-server,linux-image-cloud-amd64,systemd-sysv', ...EXCLUDES,
  // Drivers a network-booted VM never loads: they only make the image bigger.
  ...['gpu', 'media', 'net/wireless', 'infiniband', 'staging', 'scsi', 'iio', 'input', 'hid', 'usb', 'bluetooth', 'md']
    .map((d) => `--dpkgopt=path-exclude=/usr/lib/modules/*/kernel/drivers/${d}/*`),
  '--customize-hook=cd "$1/boot" && v=$(ls vmlinuz-* | sed s/^vmlinuz-//) && mkdir pc-x86-64 && ln -s /boot/vmlinuz-$v pc-x86-64/kernel && ln -s ../initrd.img-$v pc-x86-64/initrd'
    + ' && printf "#!ipxe\\nkernel kernel ip=dhcp root=/dev/nfs init=/bin/walt-init\\ninitrd initrd\\nboot\\n" > pc-x86-64/start.ipxe',
  'bookworm',
];

/**
 * A Raspberry Pi image made without running any armhf program (--variant=extract): busybox
 * as init, dropbear, and Debian's armmp kernel without its modules and without its config
 * file, so that the kernel image itself must be read.
 */
const ARMHF_ARGS: readonly string[] = [
  '--quiet', '--variant=extract', '--architectures=armhf', '--include=busybox-static,libc6,dropbear-bin,linux-image-armmp', ...EXCLUDES,
  // Customize hooks do not run for this variant; extract hooks do.
  '--extract-hook=rm -rf "$1"/lib/modules "$1"/usr/lib/modules "$1"/boot/config-* && ln -s /bin/busybox "$1/sbin/init" && cd "$1/boot" && v=$(ls vmlinuz-* | sed s/^vmlinuz-//) && mkdir rpi-3-b'
    + ' && ln -s ../vmlinuz-$v rpi-3-b/kernel && ln -s /usr/lib/linux-image-$v/bcm2837-rpi-3-b.dtb rpi-3-b/dtb'
    + ' && printf "tftp \\${kernel_addr_r} kernel\\ntftp \\${fdt_addr_r} dtb\\nbootz \\${kernel_addr_r} - \\${fdt_addr_r}\\n" > rpi-3-b/start.uboot',
  'bookworm',
];

/** The root filesystem tarball of these mmdebstrap arguments, built once and cached (see cachedDebianTarball). */
const debianTarball = (name: string, args: readonly string[]): Promise<string> => cachedDebianTarball(`check-${name}`, args);

// `KILN_CHECK_PREBUILD=1 node test/integration/check-real.test.ts` fills the cache ahead of a test run.
if (process.env.KILN_CHECK_PREBUILD) {
  console.log(await Promise.all([debianTarball('amd64', AMD64_ARGS), debianTarball('armhf', ARMHF_ARGS)]));
}

interface Report {
  ok: boolean;
  models: string[];
  counts: Record<string, number>;
  findings: Array<{ id: string; status: string; model?: string; mandatory: boolean; found: string; fix?: string }>;
}

const status = (r: Report, id: string, model?: string): string | undefined => r.findings.find((f) => f.id === id && (model === undefined || f.model === model))?.status;

test('a Debian 12 PC image (busybox-static, OpenSSH, cloud kernel with initrd, iPXE) passes; an armhf image is checked for its Raspberry Pi', async (t) => {
  const [amd64, armhf] = await Promise.all([debianTarball('amd64', AMD64_ARGS), debianTarball('armhf', ARMHF_ARGS)]);
  const dir = scratch(t, 'kiln-check');
  const kiln = kilnFor(join(dir, 'home'));
  assert.equal((await kiln(['image', 'import', amd64, 'pc', '--label', 'walt.node.models=pc-x86-64'])).code, 0);
  const text = await kiln(['image', 'check', 'pc']);
  assert.equal(text.code, 0, text.stdout + text.stderr);
  assert.match(text.stdout, /^pass {2}\[pc-x86-64\] kernel options .*from \/boot\/config-.*-cloud-amd64/m);
  assert.match(text.stdout, /bootable: every mandatory requirement passes/);
  const pc = json<Report>(await kiln(['image', 'check', 'pc', '--json']));
  assert.equal(pc.ok, true);
  for (const id of ['boot.dir', 'boot.script', 'boot.links', 'boot.files', 'kernel.options', 'arch']) assert.equal(status(pc, id, 'pc-x86-64'), 'pass', id);
  // The cloud kernel has no driver for a PC's network card: the check warns (not mandatory).
  const nic = pc.findings.find((f) => f.id === 'kernel.network');
  assert.equal(nic?.status, 'warn');
  assert.match(nic?.found ?? '', /none of E1000.*only virtual cards: .*VIRTIO_NET=m/);
  assert.match(nic?.fix ?? '', /linux-image-amd64/);
  for (const id of ['labels.models', 'labels.minversion', 'init', 'busybox.present', 'busybox.applets', 'busybox.static', 'commands', 'ssh']) assert.equal(status(pc, id), 'pass', id);
  // Checking it for another model: its boot directory is missing, so it is not bootable there (exit 1).
  const rpi = await kiln(['image', 'check', 'pc', '--model', 'rpi-4-b', '--json']);
  assert.equal(rpi.code, 1);
  assert.equal(status(json<Report>(rpi), 'boot.dir', 'rpi-4-b'), 'fail');
  assert.equal(status(json<Report>(rpi), 'arch', 'rpi-4-b'), 'fail');

  assert.equal((await kiln(['image', 'import', armhf, 'rpi', '--label', 'walt.node.models=rpi-3-b', '--platform', 'linux/arm/v7'])).code, 0);
  const arm = await kiln(['image', 'check', 'rpi', '--json']);
  const report = json<Report>(arm);
  assert.equal(arm.code, 1, 'no /bin/sh: the boot commands are missing');
  assert.equal(status(report, 'arch', 'rpi-3-b'), 'pass');
  assert.equal(status(report, 'busybox.applets'), 'pass', 'the applet table is read from an ARM binary');
  assert.equal(status(report, 'boot.files', 'rpi-3-b'), 'pass');
  const kernel = report.findings.find((f) => f.id === 'kernel.options');
  assert.equal(kernel?.status, 'warn');
  assert.match(kernel?.found ?? '', /^unknown.*(xz|gzip)-compressed.*CONFIG_IKCONFIG/, 'the kernel was decompressed and searched');
  assert.equal(status(report, 'ssh'), 'pass', 'dropbear');
  assert.equal(report.findings.find((f) => f.id === 'commands')?.status, 'fail');
  assert.equal(status(report, 'arch.platform'), undefined, 'the platform given at import matches the binaries');
});
