import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProgram } from './helpers.ts';

/**
 * mmdebstrap arguments of the bootable Debian test image: a kernel, initramfs-tools'
 * initramfs with live-boot, and little else. Documentation, locales and the kernel's
 * larger driver families are left out so that the image stays small and exports fast.
 */
export const DEBIAN_BOOT_ARGS: readonly string[] = [
  '--quiet', '--variant=minbase', '--include=linux-image-amd64,live-boot,systemd-sysv',
  '--dpkgopt=path-exclude=/usr/share/doc/*', '--dpkgopt=path-exclude=/usr/share/man/*',
  '--dpkgopt=path-exclude=/usr/share/locale/*',
  ...['drivers/gpu', 'drivers/media', 'drivers/net/wireless', 'drivers/infiniband', 'drivers/staging', 'drivers/iio', 'drivers/hwmon', 'drivers/comedi', 'drivers/scsi', 'drivers/usb', 'sound']
    .map((d) => `--dpkgopt=path-exclude=/lib/modules/*/kernel/${d}/*`),
  'bookworm',
];

/**
 * Builds (once, then cached outside the repository under $TMPDIR/kiln-test-cache/) a
 * Debian 12 root filesystem tarball with linux-image-amd64 and live-boot; returns its path.
 */
export async function debianBootTarball(): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify(DEBIAN_BOOT_ARGS)).digest('hex').slice(0, 16);
  const dir = join(process.env.TMPDIR ?? tmpdir(), 'kiln-test-cache');
  const file = join(dir, `debian-boot-${key}.tar`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  // mmdebstrap picks the output format from the extension: keep ".tar" last.
  const tmp = join(dir, `.tmp-${process.pid}-debian-boot-${key}.tar`);
  const result = await runProgram('mmdebstrap', [...DEBIAN_BOOT_ARGS, tmp]);
  if (result.code !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`mmdebstrap failed (exit ${result.code}): ${result.stderr}`);
  }
  renameSync(tmp, file);
  return file;
}

if (import.meta.main) process.stdout.write(`${await debianBootTarball()}\n`);
