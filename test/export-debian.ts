import { cachedDebianTarball } from './helpers.ts';

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
 * The Debian 12 root filesystem tarball with linux-image-amd64 and live-boot, built once and
 * cached outside the repository (see cachedDebianTarball); returns its path.
 */
export function debianBootTarball(): Promise<string> {
  return cachedDebianTarball('debian-boot', DEBIAN_BOOT_ARGS);
}

if (import.meta.main) process.stdout.write(`${await debianBootTarball()}\n`);
