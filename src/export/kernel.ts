import { KilnError, ErrorCode } from '../core/index.ts';

/** A kernel and its initramfs, as found in an image. */
export interface BootPair {
  version: string;
  /** Paths relative to the image root, e.g. "boot/vmlinuz-6.1.0-31-amd64". */
  kernel: string;
  initramfs: string;
}

/** The release numbers at the start of a kernel version ("5.14.0-503.14.1.el9_5.x86_64" → [5, 14, 0, 503, 14, 1]). */
export function releaseNumbers(version: string): number[] {
  const m = /^\d+(?:[.-]\d+)*/.exec(version);
  return m ? m[0].split(/[.-]/).map(Number) : [];
}

/**
 * Orders kernel versions by their release numbers, element by element (6.10 after 6.9,
 * not before as text would put it). 0 means the numbers are equal: the versions then
 * differ only in flavour ("-amd64" and "-cloud-amd64"), which no ordering can decide.
 */
export function compareKernelVersions(a: string, b: string): number {
  const x = releaseNumbers(a);
  const y = releaseNumbers(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? -1) - (y[i] ?? -1);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

// Rescue and kdump images are not the kernel a node should boot.
const SKIP = /(^0-rescue-|rescue|kdump$)/;

/** Kernel file names: Debian/EL/SUSE vmlinuz-<v>, SUSE aarch64 Image-<v>. */
function kernelVersionOf(file: string): string | undefined {
  const m = /^(?:vmlinuz|Image)-(.+)$/.exec(file);
  return m && !SKIP.test(m[1] as string) ? m[1] : undefined;
}

/** Initramfs names: Debian initrd.img-<v>, EL initramfs-<v>.img, SUSE initrd-<v>. */
function initramfsVersionOf(file: string): string | undefined {
  const m = /^initrd\.img-(.+)$/.exec(file) ?? /^initramfs-(.+)\.img$/.exec(file) ?? /^initrd-(.+)$/.exec(file);
  return m && !SKIP.test(m[1] as string) ? m[1] : undefined;
}

/**
 * Pairs kernels with initramfs images. `boot` lists the regular files of /boot;
 * `moduleKernels` lists versions that have /usr/lib/modules/<v>/vmlinuz (EL and Fedora
 * keep the kernel there and only copy it to /boot on real machines).
 */
export function findBootPairs(boot: readonly string[], moduleKernels: readonly string[] = []): { pairs: BootPair[]; kernelsWithoutInitramfs: string[] } {
  const kernels = new Map<string, string>();
  for (const v of moduleKernels) kernels.set(v, `usr/lib/modules/${v}/vmlinuz`);
  const initramfs = new Map<string, string>();
  // Sorted so that a version present under two names always picks the same one.
  for (const file of [...boot].sort()) {
    const kv = kernelVersionOf(file);
    if (kv !== undefined) kernels.set(kv, `boot/${file}`);
    const iv = initramfsVersionOf(file);
    if (iv !== undefined && !initramfs.has(iv)) initramfs.set(iv, `boot/${file}`);
  }
  const pairs: BootPair[] = [];
  const kernelsWithoutInitramfs: string[] = [];
  for (const [version, kernel] of kernels) {
    const init = initramfs.get(version);
    if (init) pairs.push({ version, kernel, initramfs: init });
    else kernelsWithoutInitramfs.push(version);
  }
  return { pairs, kernelsWithoutInitramfs: kernelsWithoutInitramfs.sort() };
}

/**
 * Chooses the kernel to export: the one asked for, else the newest by release numbers.
 * Fails with NOT_FOUND when there is none and AMBIGUOUS when the newest release exists
 * in several flavours, naming the `--kernel-version` values to choose from.
 */
export function chooseBootPair(found: { pairs: BootPair[]; kernelsWithoutInitramfs: string[] }, wanted: string | undefined, image: string): BootPair {
  const { pairs, kernelsWithoutInitramfs } = found;
  const available = pairs.map((p) => p.version).sort(compareKernelVersions).reverse();
  if (wanted !== undefined) {
    const pair = pairs.find((p) => p.version === wanted);
    if (pair) return pair;
    const why = kernelsWithoutInitramfs.includes(wanted) ? `kernel ${wanted} has no initramfs in /boot` : `no kernel ${wanted} in /boot`;
    throw new KilnError(ErrorCode.NOT_FOUND, `${image}: ${why}`, {
      hint: available.length > 0 ? `kernels with an initramfs: ${available.join(', ')}` : 'the image has no kernel with an initramfs',
    });
  }
  if (pairs.length === 0) {
    const detail = kernelsWithoutInitramfs.length > 0 ? ` (kernel ${kernelsWithoutInitramfs.join(', ')} has no initramfs)` : '';
    throw new KilnError(ErrorCode.NOT_FOUND, `${image}: no kernel with an initramfs in /boot${detail}`, {
      hint: 'install a kernel and an initramfs generator in the image (Debian: linux-image-amd64 and live-boot; EL: kernel and dracut-live), or export --format squashfs',
    });
  }
  const newest = available.filter((v) => compareKernelVersions(v, available[0] as string) === 0).sort();
  if (newest.length > 1) {
    throw new KilnError(ErrorCode.AMBIGUOUS, `${image}: several kernels of the newest release: ${newest.join(', ')}`, {
      hint: `choose one with --kernel-version (${newest.join(' or ')})`,
    });
  }
  return pairs.find((p) => p.version === available[0]) as BootPair;
}
