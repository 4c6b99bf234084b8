import { gunzipSync } from 'node:zlib';

/** Kernel options a WalT node kernel needs (seed 001, B.4). */
export const KERNEL_OPTIONS = ['CONFIG_OVERLAY_FS', 'CONFIG_NFS_FS', 'CONFIG_NFS_V3', 'CONFIG_ROOT_NFS', 'CONFIG_IP_PNP', 'CONFIG_IP_PNP_DHCP'] as const;

/** With an initrd, these may be omitted: the initrd configures the network and mounts the NFS root itself (seed: "such as CONFIG_ROOT_NFS"). */
export const OPTIONAL_WITH_INITRD: ReadonlySet<string> = new Set(['CONFIG_ROOT_NFS', 'CONFIG_IP_PNP', 'CONFIG_IP_PNP_DHCP']);

/** Parses a kernel .config: `CONFIG_X=value` lines, and `# CONFIG_X is not set` as "n". */
export function parseKernelConfig(text: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line.trim());
    if (set) options.set(set[1] as string, (set[2] as string).replace(/^"(.*)"$/, '$1'));
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line.trim());
    if (unset) options.set(unset[1] as string, 'n');
  }
  return options;
}

/** True when text looks like a kernel configuration (a few CONFIG_ lines). */
export function looksLikeKernelConfig(options: ReadonlyMap<string, string>): boolean {
  return options.size >= 3;
}

const IKCFG_ST = Buffer.from('IKCFG_ST');
const IKCFG_ED = Buffer.from('IKCFG_ED');

/**
 * Finds a configuration embedded with CONFIG_IKCONFIG: the "IKCFG_ST" marker followed by
 * gzip data (up to "IKCFG_ED"). Returns the config text, undefined when there is no
 * marker, or an error string when the data after it is malformed.
 */
export function findIkconfig(image: Buffer): string | { error: string } | undefined {
  const start = image.indexOf(IKCFG_ST);
  if (start < 0) return undefined;
  const from = start + IKCFG_ST.length;
  const end = image.indexOf(IKCFG_ED, from);
  try {
    return gunzipSync(image.subarray(from, end < 0 ? image.length : end), { maxOutputLength: 16 << 20 }).toString('utf8');
  } catch (err) {
    return { error: `embedded configuration is not valid gzip data (${(err as Error).message})` };
  }
}

/** Compressions a kernel image or initramfs may use, by the magic bytes that start their data. */
export const PAYLOAD_MAGIC: ReadonlyArray<readonly [Compression, Buffer]> = [
  ['gzip', Buffer.from([0x1f, 0x8b, 0x08])],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['lz4', Buffer.from([0x02, 0x21, 0x4c, 0x18])],
  ['lz4', Buffer.from([0x04, 0x22, 0x4d, 0x18])],
  ['bzip2', Buffer.from([0x42, 0x5a, 0x68])],
];

/** A compression Kiln can undo (gzip and zstd in-process, the others with their tools). */
export type Compression = 'gzip' | 'xz' | 'zstd' | 'lz4' | 'bzip2';

/** The compression whose magic starts `data` at `offset`, if any. */
export function compressionAt(data: Buffer, offset: number): Compression | undefined {
  for (const [name, magic] of PAYLOAD_MAGIC) {
    if (data.subarray(offset, offset + magic.length).equals(magic)) {
      // bzip2: "BZh" + block size digit + the block magic (pi), to avoid matching text.
      if (name === 'bzip2' && !(data[offset + 3]! >= 0x31 && data[offset + 3]! <= 0x39 && data.readUInt32BE(offset + 4) === 0x31415926)) continue;
      return name;
    }
  }
  return undefined;
}

/** Offsets where compressed payloads may start inside a kernel image, first ones first, a few per format. */
export function findPayloads(image: Buffer, perFormat = 4): Array<{ compression: Compression; offset: number }> {
  const found: Array<{ compression: Compression; offset: number }> = [];
  for (const [name, magic] of PAYLOAD_MAGIC) {
    let count = 0;
    for (let at = image.indexOf(magic); at >= 0 && count < perFormat; at = image.indexOf(magic, at + 1)) {
      if (compressionAt(image, at) !== name) continue;
      found.push({ compression: name, offset: at });
      count++;
    }
  }
  return found.sort((a, b) => a.offset - b.offset);
}
