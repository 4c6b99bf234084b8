/** The initramfs generator found in an image, which decides how it fetches a network root. */
export type InitramfsKind = 'dracut' | 'live-boot' | 'unknown';

/** What the image tells about its initramfs, and what is missing for a network root. */
export interface InitramfsInfo {
  kind: InitramfsKind;
  warnings: string[];
}

/**
 * Tells dracut (dmsquash-live + livenet: `root=live:<url>`) from initramfs-tools with
 * Debian live-boot (`boot=live fetch=<url>`). `exists` answers for paths relative to the
 * image root, following the image's own symlinks (/sbin → usr/sbin).
 */
export function detectInitramfs(exists: (path: string) => boolean): InitramfsInfo {
  const dracut = ['usr/bin/dracut', 'usr/sbin/dracut'].some(exists);
  if (dracut) {
    const modules = 'usr/lib/dracut/modules.d';
    const warnings = ['90dmsquash-live', '90livenet']
      .filter((m) => !exists(`${modules}/${m}`))
      .map((m) => `dracut module ${m} is not in the image: the initramfs cannot boot root=live:<url> (EL: install dracut-live and rebuild the initramfs)`);
    return { kind: 'dracut', warnings };
  }
  if (exists('usr/lib/live/boot') || exists('usr/share/initramfs-tools/scripts/live')) return { kind: 'live-boot', warnings: [] };
  return {
    kind: 'unknown',
    warnings: ['neither dracut nor live-boot is in the image: the kernel parameters do not say how to mount the root filesystem (Debian: install live-boot; EL: dracut-live)'],
  };
}

/**
 * The consoles a boot export sets by default: the screen and the first serial port, the
 * serial one last so that it is /dev/console (a headless or serial-only node shows its
 * boot; a screen still shows the kernel's messages).
 */
export const DEFAULT_CONSOLE = 'console=tty0 console=ttyS0,115200';

/**
 * The kernel parameters that make the image's initramfs fetch and mount `rootfsUrl`, then
 * `extra` (`--append`). The default consoles are added unless `extra` names a console.
 */
export function kernelParameters(kind: InitramfsKind, rootfsUrl: string, extra: string = ''): string {
  const base =
    kind === 'dracut' ? [`root=live:${rootfsUrl}`, 'ro', 'ip=dhcp', 'rd.neednet=1', 'rd.live.overlay.overlayfs=1']
    : kind === 'live-boot' ? ['boot=live', `fetch=${rootfsUrl}`, 'ip=dhcp']
    : [];
  const console = /(?:^|\s)console=/.test(extra) ? '' : DEFAULT_CONSOLE;
  return [...base, console, extra.trim()].filter(Boolean).join(' ');
}

/** What an iPXE script boots. */
export interface IpxeInput {
  /** For the comment at the top: image reference and digest. */
  image: string;
  digest: string;
  /** Where the artifacts are served; undefined: the script falls back to http://${next-server}/. */
  baseUrl: string | undefined;
  /** Keys relative to the base URL. */
  kernel: string;
  initramfs: string;
  /** Kernel parameters, with `${base-url}` where the base URL goes. */
  params: string;
  /** Seconds between attempts. */
  retryDelay?: number;
}

/** The iPXE variable the script keeps the base URL in. */
export const BASE_URL_VAR = '${base-url}';

function basename(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/**
 * Renders boot.ipxe: kernel, initrd and parameters from `${base-url}`, retried after a
 * pause when a download or the boot fails (images are freed first, so a half-loaded
 * kernel is not booted). `initrd=<name>` on the command line is what EFI stub kernels
 * need to find the initrd iPXE loaded.
 */
export function renderIpxeScript(input: IpxeInput): string {
  const delay = input.retryDelay ?? 5;
  const setBase = input.baseUrl === undefined
    ? 'isset ${base-url} || set base-url http://${next-server}/'
    : `set base-url ${input.baseUrl.endsWith('/') ? input.baseUrl : `${input.baseUrl}/`}`;
  const initrdName = basename(input.initramfs);
  return [
    '#!ipxe',
    `# ${input.image} (${input.digest}), exported by kiln`,
    setBase,
    '',
    ':retry',
    'imgfree',
    [`kernel ${BASE_URL_VAR}${input.kernel}`, `initrd=${initrdName}`, input.params, '|| goto failed'].filter(Boolean).join(' '),
    `initrd ${BASE_URL_VAR}${input.initramfs} || goto failed`,
    'boot || goto failed',
    '',
    ':failed',
    `echo Boot failed, retrying in ${delay} seconds...`,
    `sleep ${delay}`,
    'goto retry',
    '',
  ].join('\n');
}
