import {
  closeSync, constants, fchmodSync, fchownSync, futimesSync, linkSync, lchownSync, lstatSync, lutimesSync, mkdirSync, chmodSync, chownSync,
  openSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeSync, type Stats,
} from 'node:fs';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import {
  KilnError, ErrorCode, isKilnError, readTarMembers, run, safeMemberName, start, type ScannedMember,
} from '../core/index.ts';
import type { Descriptor } from './oci.ts';
import { OPAQUE, WHITEOUT, isWhiteoutName } from './whiteout.ts';
import { decompressedLayer } from './layer-index.ts';
import { resolveDirInRoot } from './dir-in-root.ts';

const OPAQUE_XATTR = 'trusted.overlay.opaque';
const IS_ROOT = process.getuid?.() === 0;

/**
 * How a layer lands in the directory: `merge` applies it onto the layers below (OCI
 * whiteouts delete what they name), `overlay` writes it alone into an empty directory in
 * overlayfs's own format (whiteouts become 0:0 character devices, opaque directories get
 * `trusted.overlay.opaque`), so that it can be stacked as an overlay lower directory.
 */
export type ExtractMode = 'merge' | 'overlay';

/** Options of {@link applyLayer}. */
export interface ApplyOptions {
  mode?: ExtractMode;
  signal?: AbortSignal | undefined;
}

function unsafe(what: string, name: string, why: string): KilnError {
  return new KilnError(ErrorCode.UNSAFE_PATH, `${what}: entry "${name}" ${why}`, { hint: 'the layer is hostile or corrupt; extraction stopped and its directory is discarded' });
}

function corrupt(what: string, name: string, why: string): KilnError {
  return new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: entry "${name}" ${why}`, { hint: 'the layer is corrupt; `kiln store verify` checks the store' });
}

function lstatOrUndefined(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

/** The host path of an existing entry reached from root through real directories only (no symlink crossed), or undefined. */
function resolveStrict(root: string, rel: string): string | undefined {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  let host = root;
  for (const [i, part] of parts.entries()) {
    if (part === '..') return undefined;
    host = join(host, part);
    const st = lstatOrUndefined(host);
    if (st === undefined) return undefined;
    if (i < parts.length - 1 && !st.isDirectory()) return undefined;
  }
  return host;
}

/** True when every component from root down to `host` (excluded) is a real directory. */
function chainIsReal(root: string, host: string, verified: Set<string>): boolean {
  const rel = host.slice(root.length + 1).split('/').slice(0, -1);
  let dir = root;
  for (const part of rel) {
    dir = join(dir, part);
    if (verified.has(dir)) continue;
    const st = lstatOrUndefined(dir);
    if (!st?.isDirectory()) return false;
    verified.add(dir);
  }
  return true;
}

/** A member's mtime as the filesystem takes it: absurd values (a hostile base-256 field) become 0. */
function timeOf(m: ScannedMember): number {
  const t = m.mtime ?? 0;
  return Number.isFinite(t) && t >= 0 && t < 1e11 ? t : 0;
}

/** Removes whatever is at `host` without following it (a directory with its contents). */
function removeEntry(host: string, st: Stats): void {
  if (st.isDirectory()) rmSync(host, { recursive: true, force: true });
  else unlinkSync(host);
}

interface DeferredNode { host: string; type: 'char' | 'block' | 'fifo'; mode: number; uid: number; gid: number; major: number; minor: number; mtime: number }
interface DeferredXattr { host: string; name: string; value: Buffer }

/** Quotes a path for sh. */
function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Quotes a path for a setfattr --restore dump (octal escapes, as getfattr writes them). */
function dumpQuote(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte < 0x21 || byte > 0x7e || byte === 0x5c || byte === 0x3d || byte === 0x22 ? `\\${byte.toString(8).padStart(3, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

/** An entry's POSIX ACLs as GNU tar writes them in pax records (SCHILY.acl.*), in getfacl's line format. */
function aclLines(acls: NonNullable<ScannedMember['acls']>): string[] {
  const lines = (text: string | undefined, prefix: string): string[] =>
    (text ?? '').split(/[\n,]/).map((l) => l.replace(/#.*$/, '').trim()).filter((l) => /^[a-z]+:[^:\s]*:[rwx-]{3}$/.test(l)).map((l) => `${prefix}${l}`);
  return [...lines(acls.access, ''), ...lines(acls.default, 'default:')];
}

/**
 * What one layer's extraction has left to do once its data is written: device nodes and
 * FIFOs (Node has no mknod), extended attributes (nor setxattr), POSIX ACLs, directory
 * times. They are applied by mknod, setfattr and setfacl in one batch each, on paths
 * checked again just before: every parent a real directory, the entry itself no symlink
 * (setfacl would follow one).
 */
class Deferred {
  readonly nodes = new Map<string, DeferredNode>();
  readonly xattrs = new Map<string, DeferredXattr[]>();
  readonly acls = new Map<string, string[]>();
  readonly dirTimes = new Map<string, number>();

  /** An entry replaced by a later one of the same layer takes what was deferred for it along. */
  forget(host: string): void {
    this.nodes.delete(host);
    this.xattrs.delete(host);
    this.acls.delete(host);
  }

  addXattr(host: string, name: string, value: Buffer): void {
    const list = this.xattrs.get(host) ?? [];
    list.push({ host, name, value });
    this.xattrs.set(host, list);
  }

  async apply(root: string, signal?: AbortSignal): Promise<void> {
    const verified = new Set<string>();
    const script: string[] = [];
    for (const n of this.nodes.values()) {
      if (!chainIsReal(root, n.host, verified) || lstatOrUndefined(n.host) !== undefined) continue;
      const p = shQuote(n.host);
      const kind = n.type === 'fifo' ? 'p' : `${n.type === 'char' ? 'c' : 'b'} ${n.major} ${n.minor}`;
      script.push(`mknod -m ${(n.mode & 0o7777).toString(8)} ${p} ${kind}`);
      if (IS_ROOT) script.push(`chown -h ${n.uid}:${n.gid} ${p}`);
      script.push(`chmod ${(n.mode & 0o7777).toString(8)} ${p}`);
      script.push(`touch -h -d @${Math.floor(n.mtime)} ${p}`);
    }
    if (script.length > 0) await run('sh', ['-e', '-c', script.join('\n')], { ...(signal ? { signal } : {}) });
    const dump: string[] = [];
    for (const [host, list] of this.xattrs) {
      if (!chainIsReal(root, host, verified) || lstatOrUndefined(host) === undefined) continue;
      dump.push(`# file: ${dumpQuote(host)}`, ...list.map((x) => `${dumpQuote(x.name)}=0s${x.value.toString('base64')}`), '');
    }
    if (dump.length > 0) await runWithInput('setfattr', ['-h', '--restore=-'], dump.join('\n'), signal);
    const facl: string[] = [];
    for (const [host, lines] of this.acls) {
      const st = lstatOrUndefined(host);
      if (!chainIsReal(root, host, verified) || st === undefined || st.isSymbolicLink()) continue;
      facl.push(`# file: ${dumpQuote(host)}`, ...lines, '');
    }
    if (facl.length > 0) await runWithInput('setfacl', ['--restore=-'], facl.join('\n'), signal);
    // Directory times last: creating entries above changed them.
    const dirs = [...this.dirTimes].sort((a, b) => b[0].length - a[0].length);
    for (const [host, mtime] of dirs) {
      if (!chainIsReal(root, host, verified) || !lstatOrUndefined(host)?.isDirectory()) continue;
      lutimesSync(host, mtime, mtime);
    }
  }
}

/** Runs a tool with `input` on its standard input. */
async function runWithInput(tool: string, args: string[], input: string, signal?: AbortSignal): Promise<void> {
  const running = start(tool, args, { stdin: 'pipe', ...(signal ? { signal } : {}) });
  running.child.stdin?.on('error', () => undefined);
  running.child.stdin?.end(input);
  await running.done;
}

/** Errno codes that a layer's own content causes (a name too long, a file where a directory must be...). */
const CONTENT_ERRNOS = new Set(['ENOTDIR', 'EISDIR', 'EEXIST', 'ENAMETOOLONG', 'EINVAL', 'ELOOP', 'EMLINK', 'ENOTEMPTY', 'EXDEV', 'EPERM']);

/** A failure while writing one entry, as a KilnError naming the entry. */
function entryError(what: string, name: string, err: unknown): unknown {
  if (isKilnError(err)) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const message = `${what}: entry "${name}" could not be written: ${(err as Error).message}`;
  if (CONTENT_ERRNOS.has(code)) return new KilnError(ErrorCode.BAD_ARCHIVE, message, { cause: err, hint: 'the layer is corrupt or hostile; nothing outside the unpacked image was touched' });
  return new KilnError(ErrorCode.IO, message, { cause: err });
}

/** Reads a layer's members with their data; stream errors become KilnErrors. */
async function walkLayer(layer: Descriptor, open: () => Readable, onMember: (m: ScannedMember, rel: string, data: AsyncIterable<Buffer>) => Promise<void>): Promise<void> {
  const what = `layer ${layer.digest}`;
  const stream = decompressedLayer(open(), layer);
  try {
    await readTarMembers(stream as AsyncIterable<Buffer>, what, async (member, data) => {
      const rel = safeMemberName(member.name);
      if (rel === undefined) throw unsafe(what, member.name, 'escapes the root with ".."');
      const base = posix.basename(rel);
      if (base !== OPAQUE && base.startsWith(WHITEOUT) && !isWhiteoutName(base)) throw unsafe(what, member.name, 'is a whiteout of its own directory or of its parent');
      try {
        await onMember(member, rel, data);
      } catch (err) {
        throw entryError(what, member.name, err);
      }
    });
  } finally {
    stream.on('error', () => undefined);
    stream.destroy();
  }
}

/** Writes a regular file's data with O_NOFOLLOW|O_EXCL at a path just made free. */
async function writeFile(host: string, m: ScannedMember, data: AsyncIterable<Buffer>, what: string): Promise<void> {
  const fd = openSync(host, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    let written = 0;
    for await (const chunk of data) {
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      written += chunk.length;
    }
    if (written !== m.size) throw corrupt(what, m.name, 'is truncated');
    if (IS_ROOT) fchownSync(fd, m.uid, m.gid);
    fchmodSync(fd, m.mode & 0o7777);
    futimesSync(fd, timeOf(m), timeOf(m));
  } finally {
    closeSync(fd);
  }
}

/**
 * Applies one layer to `root` with Kiln's own extractor: the same tar parse decides and
 * writes every entry. Every path is resolved inside the root ({@link resolveDirInRoot}),
 * the entry itself is replaced, never written through; whiteouts act only inside the
 * root; hardlink targets must be reached through real directories; device nodes and
 * xattrs are created only on paths checked inside the root. `trusted.overlay.*` xattrs
 * of the layer are dropped (they would steer overlayfs). Entries with ".." are refused.
 */
export async function applyLayer(root: string, layer: Descriptor, open: () => Readable, options: ApplyOptions = {}): Promise<void> {
  const mode = options.mode ?? 'merge';
  const what = `layer ${layer.digest}`;
  const deferred = new Deferred();
  if (mode === 'merge') {
    // OCI: whiteouts hide what lower layers have, never what this layer adds, wherever
    // they sit in the tar; so they are applied first, in a pass of their own.
    const opaque: string[] = [];
    const whiteouts: string[] = [];
    await walkLayer(layer, open, async (m, rel) => {
      options.signal?.throwIfAborted();
      if (m.type === 'hardlink' && safeMemberName(m.linkname) === undefined) throw unsafe(what, m.name, 'hardlinks outside the root');
      const base = posix.basename(rel);
      if (base === OPAQUE) opaque.push(posix.dirname(rel));
      else if (base.startsWith(WHITEOUT)) whiteouts.push(posix.join(posix.dirname(rel), base.slice(WHITEOUT.length)));
    });
    for (const dir of opaque) {
      try {
        const host = resolveDirInRoot(root, dir === '.' ? '' : dir, false, what);
        if (host === undefined) continue;
        for (const name of readdirSync(host)) rmSync(join(host, name), { recursive: true, force: true });
      } catch (err) {
        throw entryError(what, `${dir}/${OPAQUE}`, err);
      }
    }
    for (const path of whiteouts) {
      try {
        const dir = posix.dirname(path);
        const host = resolveDirInRoot(root, dir === '.' ? '' : dir, false, what);
        if (host === undefined) continue;
        const target = join(host, posix.basename(path));
        const st = lstatOrUndefined(target);
        if (st) removeEntry(target, st);
      } catch (err) {
        throw entryError(what, path, err);
      }
    }
  }
  await walkLayer(layer, open, async (m, rel, data) => {
    options.signal?.throwIfAborted();
    const base = posix.basename(rel);
    const dirRel = rel.includes('/') ? posix.dirname(rel) : '';
    if (rel === '') {
      // "./": the root directory's own owner, mode and time.
      if (m.type !== 'directory') throw unsafe(what, m.name, 'replaces the root directory');
      if (IS_ROOT) chownSync(root, m.uid, m.gid);
      chmodSync(root, m.mode & 0o7777);
      deferred.dirTimes.set(root, timeOf(m));
      return;
    }
    const parent = resolveDirInRoot(root, dirRel, true, what, m.name) as string;
    if (base === OPAQUE || base.startsWith(WHITEOUT)) {
      if (mode === 'merge') return;
      if (base === OPAQUE) {
        deferred.addXattr(parent, OPAQUE_XATTR, Buffer.from('y'));
      } else {
        const host = join(parent, base.slice(WHITEOUT.length));
        const st = lstatOrUndefined(host);
        if (st) removeEntry(host, st);
        deferred.nodes.set(host, { host, type: 'char', mode: 0, uid: 0, gid: 0, major: 0, minor: 0, mtime: timeOf(m) });
      }
      return;
    }
    const host = join(parent, base);
    const existing = lstatOrUndefined(host);
    // A directory over a directory keeps it (and what is deferred for it); anything else replaces.
    if (!(m.type === 'directory' && existing?.isDirectory())) deferred.forget(host);
    if (m.type === 'directory') {
      if (existing && !existing.isDirectory()) removeEntry(host, existing);
      if (!existing?.isDirectory()) mkdirSync(host, { mode: 0o700 });
      if (IS_ROOT) chownSync(host, m.uid, m.gid);
      chmodSync(host, m.mode & 0o7777);
      deferred.dirTimes.set(host, timeOf(m));
    } else if (m.type === 'hardlink') {
      const targetRel = safeMemberName(m.linkname);
      if (targetRel === undefined || targetRel === '') throw unsafe(what, m.name, 'hardlinks outside the root');
      const target = resolveStrict(root, targetRel);
      if (target === undefined) throw unsafe(what, m.name, `hardlinks to /${targetRel}, which is missing or reached through a symlink`);
      const targetStat = lstatSync(target);
      if (targetStat.isDirectory()) throw unsafe(what, m.name, `hardlinks to the directory /${targetRel}`);
      if (target === host) return;
      if (existing) removeEntry(host, existing);
      linkSync(target, host);
    } else {
      if (existing) removeEntry(host, existing);
      if (m.type === 'symlink') {
        symlinkSync(m.linkname, host);
        if (IS_ROOT) lchownSync(host, m.uid, m.gid);
        lutimesSync(host, timeOf(m), timeOf(m));
      } else if (m.type === 'file') {
        await writeFile(host, m, data, what);
      } else {
        deferred.nodes.set(host, { host, type: m.type, mode: m.mode, uid: m.uid, gid: m.gid, major: m.devmajor, minor: m.devminor, mtime: timeOf(m) });
      }
    }
    for (const [name, value] of Object.entries(m.xattrs ?? {})) {
      if (name.startsWith('trusted.overlay.')) continue;
      deferred.addXattr(host, name, Buffer.from(value, 'latin1'));
    }
    const acl = m.acls && m.type !== 'symlink' && m.type !== 'hardlink' ? aclLines(m.acls) : [];
    if (acl.length > 0) deferred.acls.set(host, acl);
  });
  try {
    await deferred.apply(root, options.signal);
  } catch (err) {
    throw entryError(what, '(devices, xattrs, ACLs and directory times)', err);
  }
}

/** Unpacks an image's layers, bottom to top, into an empty directory. */
export async function unpackLayers(root: string, layers: readonly Descriptor[], open: (layer: Descriptor) => Readable, signal?: AbortSignal): Promise<void> {
  for (const layer of layers) await applyLayer(root, layer, () => open(layer), { signal });
}
