import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { digestOf, MediaType } from '../core/index.ts';
import { readImageTree, type Descriptor, type ImageTree } from '../store/index.ts';
import { checkTree } from './check.ts';
import { REQUIRED_APPLETS } from './busybox.ts';
import type { ContentSource } from './gather.ts';
import type { Finding } from './types.ts';

/** A member of a synthetic image layer (tests only). */
export interface TestMember {
  type?: 'file' | 'directory' | 'symlink' | 'link';
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
}

/** A layer as path → member ("etc/x"); later layers override earlier ones, ".wh.<name>" whites out. */
export type TestLayer = Record<string, TestMember>;

/** A minimal ELF header (64-bit little-endian unless 32 bits asked) with an optional PT_INTERP. */
export function fakeElf(machine: number, options: { interp?: string; bits?: 32 | 64; tail?: Buffer } = {}): Buffer {
  const bits = options.bits ?? 64;
  const ehsize = bits === 64 ? 64 : 52;
  const phentsize = bits === 64 ? 56 : 32;
  const interp = options.interp ? Buffer.from(`${options.interp}\0`) : undefined;
  const head = Buffer.alloc(ehsize + (interp ? phentsize : 0));
  head.writeUInt32BE(0x7f454c46, 0);
  head[4] = bits === 64 ? 2 : 1;
  head[5] = 1;
  head[6] = 1;
  head.writeUInt16LE(2, 16);
  head.writeUInt16LE(machine, 18);
  if (bits === 64) {
    head.writeBigUInt64LE(BigInt(ehsize), 32);
    head.writeUInt16LE(phentsize, 54);
    head.writeUInt16LE(interp ? 1 : 0, 56);
  } else {
    head.writeUInt32LE(ehsize, 28);
    head.writeUInt16LE(phentsize, 42);
    head.writeUInt16LE(interp ? 1 : 0, 44);
  }
  if (interp) {
    const at = ehsize;
    head.writeUInt32LE(3, at);
    if (bits === 64) {
      head.writeBigUInt64LE(BigInt(head.length), at + 8);
      head.writeBigUInt64LE(BigInt(interp.length), at + 32);
    } else {
      head.writeUInt32LE(head.length, at + 4);
      head.writeUInt32LE(interp.length, at + 16);
    }
  }
  return Buffer.concat([head, interp ?? Buffer.alloc(0), options.tail ?? Buffer.alloc(0)]);
}

/** A fake busybox: an ELF header, some code-like bytes, then a sorted NUL-separated applet table. */
export function fakeBusybox(machine = 62, applets: readonly string[] = [...REQUIRED_APPLETS, 'chmod', 'cp', 'date', 'echo', 'grep', 'head', 'ln', 'mkdir', 'mount', 'setsid', 'tr', 'umount'], interp?: string): Buffer {
  const table = Buffer.from(`\0${['[', '[[', ...new Set(applets)].sort().join('\0')}\0`, 'latin1');
  return fakeElf(machine, { ...(interp ? { interp } : {}), tail: Buffer.concat([Buffer.from([0x90, 0xc3, 0x55, 0x48]), table, Buffer.from('\0usage: busybox\0')]) });
}

async function tarOf(layer: TestLayer): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const [name, m] of Object.entries(layer)) {
    const type = m.type ?? 'file';
    if (type === 'file') pack.entry({ name, mode: m.mode ?? 0o644 }, typeof m.content === 'string' ? Buffer.from(m.content) : (m.content ?? Buffer.alloc(0)));
    else pack.entry({ name, type, linkname: m.linkname, mode: m.mode ?? (type === 'directory' ? 0o755 : 0o777) });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A synthetic image: its tree, a content source, and a check function; remove it with cleanup(). */
export async function makeTestImage(layers: readonly TestLayer[]): Promise<{
  tree: ImageTree;
  source: ContentSource;
  check: (labels: Record<string, string>, models?: string[], architecture?: string) => Promise<Finding[]>;
  cleanup: () => void;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-check-'));
  const blobs = new Map<string, Buffer>();
  const descs: Descriptor[] = [];
  for (const layer of layers) {
    const data = await tarOf(layer);
    const digest = digestOf(data);
    blobs.set(digest, data);
    writeFileSync(join(dir, digest.slice(7)), data);
    descs.push({ mediaType: MediaType.ociLayer, digest, size: data.length });
  }
  const source: ContentSource = {
    blobFile: (l) => join(dir, l.digest.slice(7)),
    openLayer: (l) => Readable.from([blobs.get(l.digest) as Buffer]),
  };
  const tree = await readImageTree(descs, source.openLayer, { blobFile: source.blobFile });
  return {
    tree,
    source,
    check: async (labels, models, architecture = 'amd64') => (await checkTree(tree, { labels, architecture }, source, { models: models ?? [] })).findings,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A "newc" cpio archive of regular files and directories (names ending in "/"), with its trailer. */
export function makeCpio(members: ReadonlyArray<readonly [string, string | Buffer]>): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  const push = (b: Buffer): void => {
    parts.push(b);
    size += b.length;
  };
  const pad = (): void => push(Buffer.alloc((4 - (size % 4)) % 4));
  const entry = (name: string, data: Buffer, mode: number, ino: number): void => {
    const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, Buffer.byteLength(name) + 1, 0];
    push(Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}${name}\0`, 'latin1'));
    pad();
    push(data);
    pad();
  };
  members.forEach(([name, data], i) => entry(name.replace(/\/$/, ''), Buffer.from(data), name.endsWith('/') ? 0o40755 : 0o100644, i + 1));
  entry('TRAILER!!!', Buffer.alloc(0), 0, 0);
  return Buffer.concat(parts);
}
