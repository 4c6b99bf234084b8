import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, lchown, lstat, lutimes, mkdir, open, readdir, readFile, readlink, rm, symlink } from 'node:fs/promises';
import { basename, join, matchesGlob, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { KilnError, ErrorCode, isErrno, mkdirInRoot, resolveInRoot } from '../core/index.ts';

/** A COPY source found in a root: its path there (no symlink on the way) and whether it is a directory. */
export interface CopyEntry {
  rel: string;
  host: string;
  dir: boolean;
}

/** Whether a path of the context (relative, "/"-separated) is left out by .dockerignore. */
export type IgnoreMatcher = (rel: string) => boolean;

/** Reads .dockerignore rules (pure): globs with `**`, `!` exceptions, the last matching rule wins; a rule on a directory covers what is below it. */
export function dockerignore(text: string): IgnoreMatcher {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pattern = posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+|\/+$/g, '');
    return { negate, pattern };
  });
  return (rel) => {
    const parts = rel.split('/');
    let ignored = false;
    for (const { negate, pattern } of rules) {
      for (let i = 1; i <= parts.length; i++) {
        if (matchesGlob(parts.slice(0, i).join('/'), pattern)) {
          ignored = !negate;
          break;
        }
      }
    }
    return ignored;
  };
}

const notFound = (what: string, src: string, why = 'no such file or directory'): KilnError => new KilnError(ErrorCode.NOT_FOUND, `${what}: source ${src}: ${why}`, { hint: 'COPY reads inside the build context (or the --from stage); paths are relative to its root and cannot leave it' });

/**
 * Finds COPY sources in `root` (the context or a stage's root): symlinks are followed inside the
 * root only, `..` stops at it; `*`, `?` and `[…]` match in the last component.
 */
export async function findSources(root: string, srcs: readonly string[], ignored: IgnoreMatcher, what: string): Promise<CopyEntry[]> {
  const out: CopyEntry[] = [];
  for (const src of srcs) {
    const norm = posix.normalize(`/${src}`).slice(1);
    let rels: string[] = [norm];
    if (/[*?[]/.test(basename(norm))) {
      const dir = await resolveInRoot(root, posix.dirname(norm));
      const names = dir.exists ? (await readdir(dir.host)).sort() : [];
      rels = names.filter((n) => matchesGlob(n, basename(norm))).map((n) => (dir.rel ? `${dir.rel}/${n}` : n)).filter((r) => !ignored(r));
      if (rels.length === 0) throw notFound(what, src, 'no file matches');
    }
    for (const rel of rels) {
      const at = await resolveInRoot(root, rel);
      if (!at.exists || (at.rel !== '' && ignored(at.rel))) throw notFound(what, src, at.exists ? 'excluded by .dockerignore' : undefined);
      out.push({ rel: at.rel, host: at.host, dir: (await lstat(at.host)).isDirectory() });
    }
  }
  return out;
}

/** Calls `visit` on each entry below a directory source (parents first, sorted), without following symlinks, skipping ignored paths. */
async function walk(entry: CopyEntry, ignored: IgnoreMatcher, visit: (rel: string, host: string) => Promise<void>): Promise<void> {
  const go = async (rel: string, host: string): Promise<void> => {
    for (const name of (await readdir(host)).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      if (ignored(entry.rel ? `${entry.rel}/${childRel}` : childRel)) continue;
      const child = join(host, name);
      await visit(childRel, child);
      if ((await lstat(child)).isDirectory()) await go(childRel, child);
    }
  };
  await go('', entry.host);
}

/** A hash of what COPY would read: names, types, modes, link targets and contents (not times or owners, as Docker's cache). */
export async function hashSources(entries: readonly CopyEntry[], ignored: IgnoreMatcher): Promise<string> {
  const hash = createHash('sha256');
  const add = async (rel: string, host: string): Promise<void> => {
    const info = await lstat(host);
    hash.update(`${rel}\0${info.mode}\0`);
    if (info.isSymbolicLink()) hash.update(await readlink(host));
    else if (info.isFile()) await pipeline(createReadStream(host), async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) hash.update(chunk);
    });
    hash.update('\n');
  };
  for (const e of entries) {
    await add(`@${e.rel}`, e.host);
    if (e.dir) await walk(e, ignored, add);
  }
  return hash.digest('hex');
}

const ARCHIVE_MAGIC: Array<[number, number[]]> = [[0, [0x1f, 0x8b]], [0, [0x42, 0x5a, 0x68]], [0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]], [0, [0x28, 0xb5, 0x2f, 0xfd]], [257, [0x75, 0x73, 0x74, 0x61, 0x72]]];

/** Refuses ADD of a local archive: Docker would unpack it, Kiln copies only (unpack it in a RUN step). */
export async function refuseArchives(entries: readonly CopyEntry[], what: string): Promise<void> {
  for (const e of entries) {
    if (e.dir) continue;
    const handle = await open(e.host, 'r');
    const head = Buffer.alloc(262);
    try {
      await handle.read(head, 0, 262, 0);
    } finally {
      await handle.close();
    }
    if (ARCHIVE_MAGIC.some(([at, bytes]) => bytes.every((b, i) => head[at + i] === b))) {
      throw new KilnError(ErrorCode.CONFIG, `${what}: ${e.rel} is an archive, which ADD would unpack; Kiln does not unpack archives in ADD`, { hint: 'COPY the archive and unpack it in a RUN step (tar -xf), or unpack it into the context' });
    }
  }
}

/** The records of the image's /etc/passwd or /etc/group, split into fields (none when it has no such file). */
async function accountsOf(root: string, file: 'passwd' | 'group'): Promise<string[][]> {
  const at = await resolveInRoot(root, `/etc/${file}`);
  return at.exists ? (await readFile(at.host, 'utf8')).split('\n').map((l) => l.split(':')) : [];
}

function noSuch(what: string, file: 'passwd' | 'group', name: string): KilnError {
  return new KilnError(ErrorCode.CONFIG, `${what}: no ${file === 'passwd' ? 'user' : 'group'} "${name}" in the image's /etc/${file}`, { hint: 'use numeric ids, or create the user in an earlier RUN step' });
}

/**
 * The user --chown or USER (named by `what` in errors) names: "user" or "user:group", numeric
 * or looked up in the image; the group defaults to the user's primary group (or the uid).
 * With the user's home directory when /etc/passwd has one. Each file is read once.
 */
export async function resolveUser(root: string, spec: string, what = '--chown'): Promise<{ uid: number; gid: number; home?: string }> {
  const [user = '', group] = spec.split(':');
  const numeric = /^\d+$/.test(user);
  const entry = (await accountsOf(root, 'passwd')).find((f) => (numeric ? f[2] === user : f[0] === user));
  if (!numeric && entry?.[2] === undefined) throw noSuch(what, 'passwd', user);
  const uid = numeric ? Number(user) : Number(entry?.[2]);
  let gid = numeric ? uid : Number(entry?.[3] ?? uid);
  if (group !== undefined && /^\d+$/.test(group)) gid = Number(group);
  else if (group !== undefined) {
    const line = (await accountsOf(root, 'group')).find((f) => f[0] === group);
    if (line?.[2] === undefined) throw noSuch(what, 'group', group);
    gid = Number(line[2]);
  }
  return { uid, gid, ...(entry?.[5] ? { home: entry[5] } : {}) };
}

/** The owner --chown names (see {@link resolveUser}). */
export async function chownIds(root: string, chown: string, what = '--chown'): Promise<{ uid: number; gid: number }> {
  const { uid, gid } = await resolveUser(root, chown, what);
  return { uid, gid };
}

/** Options of {@link copyInto}. */
export interface CopyOptions {
  /** Owner of what is copied; undefined keeps the source's (COPY --from). */
  owner?: { uid: number; gid: number };
  /** --chmod: the mode of every file and directory copied. */
  mode?: number;
  ignored: IgnoreMatcher;
}

/** Copies one entry (file, directory itself, symlink) to `dst` of the image; `dst`'s parents exist, resolved inside the root. */
async function copyOne(host: string, root: string, dst: string, options: CopyOptions): Promise<void> {
  const info = await lstat(host);
  const target = await resolveInRoot(root, dst, { followLast: false });
  if (target.rel === '') return;
  const existing = target.exists ? await lstat(target.host) : undefined;
  if (existing && !(existing.isDirectory() && info.isDirectory())) await rm(target.host, { recursive: true, force: true });
  if (info.isDirectory()) {
    if (!existing?.isDirectory()) await mkdir(target.host);
  } else if (info.isSymbolicLink()) await symlink(await readlink(host), target.host);
  else if (info.isFile()) await copyFile(host, target.host);
  else throw new KilnError(ErrorCode.CONFIG, `COPY: ${host} is a device, socket or fifo`, { hint: 'COPY takes files, directories and symlinks' });
  const owner = options.owner ?? { uid: info.uid, gid: info.gid };
  await lchown(target.host, owner.uid, owner.gid);
  if (!info.isSymbolicLink()) await chmod(target.host, options.mode ?? info.mode & 0o7777);
  await lutimes(target.host, info.atime, info.mtime);
}

/**
 * Copies COPY sources into the image rooted at `root` with Docker's rules: a directory's
 * contents go into `dest`; a file goes to `dest`, or into it when `dest` ends in "/" or is a
 * directory. Every destination is resolved inside the root, so no symlink of the image leads out.
 */
export async function copyInto(entries: readonly CopyEntry[], root: string, dest: string, options: CopyOptions): Promise<void> {
  const existing = async (): Promise<boolean> => {
    const at = await resolveInRoot(root, dest);
    return at.exists && (await lstat(at.host)).isDirectory();
  };
  const intoDir = dest.endsWith('/') || entries.length > 1 || entries.some((e) => e.dir) || (await existing());
  if (intoDir) await mkdirInRoot(root, dest);
  else await mkdirInRoot(root, posix.dirname(dest));
  for (const e of entries) {
    if (e.dir) {
      await walk(e, options.ignored, async (rel, host) => copyOne(host, root, posix.join(dest, rel), options));
      continue;
    }
    await copyOne(e.host, root, intoDir ? posix.join(dest, basename(e.rel)) : dest, options);
  }
}

/** Whether `err` says a path is missing (for callers that read optional files). */
export const isMissing = (err: unknown): boolean => isErrno(err, 'ENOENT');
