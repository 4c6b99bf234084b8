import { KilnError, ErrorCode } from '../core/index.ts';
import { nodeExportPaths } from './nfs-exports.ts';

/**
 * How a node boots, Kiln's choice rather than its image's: `image` runs the image's own
 * /boot/<model>/start.ipxe (WalT's behaviour); `nfs` and `live` run a start.ipxe Kiln writes
 * for the node, so that one image boots both ways. Pure.
 */
export type NodeBootMode = 'image' | 'nfs' | 'live';

export const NODE_BOOT_MODES: readonly NodeBootMode[] = ['image', 'nfs', 'live'];

/** The node setting that chooses the mode (`kiln node config <node> boot.mode=nfs`). */
export const BOOT_MODE_SETTING = 'boot.mode';

/** The default consoles of Kiln's scripts: the screen and the first serial port. */
export const DEFAULT_CONSOLES = 'console=tty0 console=ttyS0,115200';

/** A node's boot mode: its `boot.mode` setting, else the server's default, else `image`. CONFIG when the setting is none of them. */
export function bootModeOf(node: { name: string; settings: Record<string, unknown> }, serverDefault: NodeBootMode = 'image'): NodeBootMode {
  const value = node.settings[BOOT_MODE_SETTING];
  if (value === undefined || value === null) return serverDefault;
  if (typeof value === 'string' && (NODE_BOOT_MODES as readonly string[]).includes(value)) return value as NodeBootMode;
  throw new KilnError(ErrorCode.CONFIG, `node ${node.name}'s boot.mode "${String(value)}" is not one of ${NODE_BOOT_MODES.join(', ')}`, {
    hint: `kiln node config ${node.name} boot.mode=image (or nfs, live)`,
  });
}

/** What Kiln's start.ipxe for one node needs. */
export interface StartScriptInput {
  mode: 'nfs' | 'live';
  model: string;
  mac: string;
  /** The server's address as the node reaches it. */
  serverIp: string;
  /** `http://<server>[:port]`: the HTTP boot service (live: the SquashFS; nfs: the identity script). */
  httpUrl: string;
  /** The kernel and initramfs, named relative to the script's own URL (the image's /boot/<model>/ links, or the boot artifacts). */
  kernel: string;
  initrd: string;
}

/**
 * Kiln's second-stage script for a node: the kernel and initramfs next to it, and the
 * kernel command line of the mode. nfs: Debian initramfs-tools mounts the node's WalT export
 * read-only (klibc's nfsmount: NFSv3 over TCP by default) and runs Kiln's /bin/walt-init, which
 * overlays it and fetches the node's identity from `kiln.http`. live: live-boot fetches the
 * image's SquashFS over HTTP. A failed load retries rather than falling to the next boot device.
 */
export function renderStartScript(o: StartScriptInput): string {
  const http = new URL(o.httpUrl);
  const args = o.mode === 'nfs'
    ? [`boot=nfs root=/dev/nfs nfsroot=${o.serverIp}:${nodeExportPaths(o.mac).fs}`, 'ip=dhcp', 'init=/bin/walt-init', `kiln.http=${http.hostname}:${http.port || '80'}`]
    : [`boot=live fetch=${o.httpUrl.replace(/\/$/u, '')}/boot/rootfs.squashfs`, 'ip=dhcp'];
  return [
    '#!ipxe',
    `echo Kiln: ${o.model} start.ipxe (boot.mode ${o.mode}, written by Kiln)`,
    ':retry',
    `kernel ${o.kernel} initrd=${o.initrd} ${args.join(' ')} ${DEFAULT_CONSOLES} || goto failed`,
    `initrd ${o.initrd} || goto failed`,
    'boot || goto failed',
    ':failed',
    'echo Kiln: boot failed, retrying in 5 seconds',
    'sleep 5',
    'goto retry',
    '',
  ].join('\n');
}
