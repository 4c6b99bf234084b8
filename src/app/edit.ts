import { lstat } from 'node:fs/promises';
import { KilnError, ErrorCode, isErrno } from '../core/index.ts';
import {
  applyTarInRoot, checkForeignArch, entryOf, extractOnHost, hasChanges, hostDestination, imageDestination, imageSource, mountImage,
  parseCopyLocation, planShell, readStoredImage, runShell, saveEdit, squashImage as squashStored, tarEntry,
  type CopyLocation, type MountedImage, type SaveResult,
} from '../builder/index.ts';
import { formatImageRef, parseImageRef, parseOwnImageRef, sameRef, type ImageRef } from '../store/index.ts';
import type { Core } from './core.ts';
import { signalOf, type Resolved } from './request.ts';

/** What to do with the changes of a shell session: a new image, the same image, or nothing. */
export type SaveChoice = { kind: 'save-as'; name: string } | { kind: 'overwrite' } | { kind: 'discard' };

/** Options of `kiln image shell`. */
export interface ShellRequest {
  /** Decided up front (--save-as, --overwrite, --no-save): checked before the shell starts. */
  choice?: SaveChoice | undefined;
  /** Asked once the shell ended with changes when no choice was given; `problem` says why an earlier answer was refused. */
  decide(image: string, canOverwrite: boolean, problem?: string): Promise<SaveChoice>;
  term?: string | undefined;
  /** stdin is the user's terminal: the shell gets a pseudo-terminal of its own. */
  terminal?: boolean;
}

/** What a shell session or a copy did to the store. */
export interface EditOutcome {
  /** The saved image, when something was saved. */
  saved?: { image: string; digest: string; layers: number; squashed: boolean };
  /** The shell's exit status. */
  exitCode?: number;
  changed: boolean;
}

const outcomeOf = (result: SaveResult): NonNullable<EditOutcome['saved']> => ({
  image: formatImageRef(result.record.ref), digest: result.record.manifestDigest, layers: result.layers, squashed: result.squashed,
});

/** Any image by name (other users' and reserved ones included) with its manifest and config. */
async function openImage(core: Core, req: Resolved, name: string) {
  const store = core.store();
  return readStoredImage(store, store.getImage(parseImageRef(name, req.user, { allowReserved: true })));
}

/** The image's platform, after the check that a foreign one can run here (binfmt_misc + qemu-user). */
async function checkRunnable(image: Awaited<ReturnType<typeof openImage>>): Promise<void> {
  const { os, architecture, variant } = image.config;
  await checkForeignArch({ os, architecture, ...(variant ? { variant } : {}) });
}

/** Where a save goes: overwrite is for the user's own image; another name must be the user's. */
function saveTarget(req: Resolved, source: ImageRef, choice: Exclude<SaveChoice, { kind: 'discard' }>): { target: ImageRef; force: boolean } {
  if (choice.kind === 'overwrite') {
    if (source.user !== req.user) {
      throw new KilnError(ErrorCode.USAGE, `${formatImageRef(source)} belongs to ${source.user}: it cannot be overwritten`, { hint: 'save the changes under a name of yours (--save-as <name>)' });
    }
    return { target: source, force: true };
  }
  const target = parseOwnImageRef(choice.name, req.user);
  return { target, force: sameRef(target, source) };
}

/** Refuses a new name that is taken (the user would lose nothing but must choose again). */
function checkTarget(store: ReturnType<Core['store']>, place: { target: ImageRef; force: boolean }): { target: ImageRef; force: boolean } {
  if (!place.force && store.findImage(place.target)) {
    throw new KilnError(ErrorCode.ALREADY_EXISTS, `image ${formatImageRef(place.target)} already exists`, { hint: 'choose another name, or remove that image first' });
  }
  return place;
}

/**
 * `kiln image shell`: an interactive shell in a container of the image, in its architecture;
 * on exit, the changes become one new layer of a new image, of the same image, or nothing.
 * Interrupted (the request's signal), it leaves no mount, no work file and no image.
 */
export async function shellImage(core: Core, req: Resolved, name: string, options: ShellRequest): Promise<EditOutcome> {
  const store = core.store();
  const image = await openImage(core, req, name);
  // A choice given up front that cannot be honoured fails now, not after the user's work.
  if (options.choice && options.choice.kind !== 'discard') checkTarget(store, saveTarget(req, image.ref, options.choice));
  await checkRunnable(image);
  const mounted = await mountImage(store, image);
  try {
    const plan = await planShell(mounted.merged);
    const exitCode = await runShell(mounted.merged, plan, { term: options.term, terminal: options.terminal === true, ...signalOf(req) });
    await mounted.unmount();
    if (!(await hasChanges(mounted))) {
      req.logger.info(`${formatImageRef(image.ref)} was not modified.`);
      return { exitCode, changed: false };
    }
    let choice = options.choice ?? await options.decide(formatImageRef(image.ref), image.ref.user === req.user);
    let place: { target: ImageRef; force: boolean } | undefined;
    while (choice.kind !== 'discard' && !place) {
      try {
        place = checkTarget(store, saveTarget(req, image.ref, choice));
      } catch (err) {
        if (options.choice || !(err instanceof KilnError)) throw err;
        choice = await options.decide(formatImageRef(image.ref), image.ref.user === req.user, err.message);
      }
    }
    if (!place) return { exitCode, changed: true };
    const { target, force } = place;
    const result = await saveEdit(store, mounted, { target, force, createdBy: 'kiln image shell', ...signalOf(req) });
    return { exitCode, changed: true, saved: outcomeOf(result) };
  } finally {
    await mounted.dispose();
  }
}

/** Saves a copy into an image as one new layer of the same image (WalT's `image cp` overwrites its destination image). */
async function saveCopy(core: Core, req: Resolved, mounted: MountedImage, what: string): Promise<EditOutcome> {
  await mounted.unmount();
  const result = await saveEdit(core.store(), mounted, { target: mounted.image.ref, force: true, createdBy: `kiln image cp ${what}`, ...signalOf(req) });
  return { changed: true, saved: outcomeOf(result) };
}

/**
 * `kiln image cp`: host to image, image to host, image to image (WalT's `<image>:<path>`).
 * Paths in an image are resolved against its root (an absolute symlink of the image stays
 * in it); a write is one new layer of the destination image, which must be the user's.
 * Modes, owners, symlinks, ACLs and xattrs are kept (GNU tar, the store's extractor).
 */
export async function copyFiles(core: Core, req: Resolved, source: string, dest: string): Promise<EditOutcome> {
  const from = parseCopyLocation(source, req.user);
  const to = parseCopyLocation(dest, req.user);
  if (from.kind === 'host' && to.kind === 'host') {
    throw new KilnError(ErrorCode.USAGE, 'neither side of the copy is an image', { hint: 'name a path in an image as <image>:<path>, e.g. kiln image cp ./file myimage:/root/' });
  }
  const store = core.store();
  const signal = req.signal;
  const what = `${source} ${dest}`;
  const mountLocation = async (loc: Extract<CopyLocation, { kind: 'image' }>, own: boolean) => {
    const ref = own ? parseOwnImageRef(loc.image, req.user) : parseImageRef(loc.image, req.user, { allowReserved: true });
    return mountImage(store, await readStoredImage(store, store.getImage(ref)));
  };
  if (from.kind === 'host') {
    await lstat(from.path).catch((err: unknown) => {
      throw isErrno(err, 'ENOENT') ? new KilnError(ErrorCode.NOT_FOUND, `${from.path} does not exist`, { hint: 'check the host path to copy' }) : err;
    });
    const dst = await mountLocation(to as Extract<CopyLocation, { kind: 'image' }>, true);
    try {
      const entry = entryOf(from.path === '/' ? '/' : from.path.replace(/\/+$/, ''));
      const rel = await imageDestination(dst.merged, (to as { path: string }).path, entry.name);
      await applyTarInRoot(dst.merged, tarEntry(entry.dir, entry.name, rel === '' ? '.' : rel, signal), dst.work, signal);
      return await saveCopy(core, req, dst, what);
    } finally {
      await dst.dispose();
    }
  }
  const src = await mountLocation(from, false);
  try {
    const entry = await imageSource(src.merged, from.path);
    if (to.kind === 'host') {
      const out = await hostDestination(to.path, entry.name === '.' ? 'rootfs' : entry.name);
      await extractOnHost(out.dir, tarEntry(entry.dir, entry.name, out.name, signal), signal);
      return { changed: false };
    }
    const dst = await mountLocation(to, true);
    try {
      const rel = await imageDestination(dst.merged, to.path, entry.name);
      await applyTarInRoot(dst.merged, tarEntry(entry.dir, entry.name, rel === '' ? '.' : rel, signal), dst.work, signal);
      return await saveCopy(core, req, dst, what);
    } finally {
      await dst.dispose();
    }
  } finally {
    await src.dispose();
  }
}

/** `kiln image squash`: the user's image as one layer with the same files, under the same name. */
export async function squashImage(core: Core, req: Resolved, name: string): Promise<EditOutcome> {
  const store = core.store();
  const ref = parseOwnImageRef(name, req.user);
  const image = await readStoredImage(store, store.getImage(ref));
  const result = await squashStored(store, image, { target: ref, force: true, createdBy: `kiln image squash (${image.manifest.layers.length} layers)`, ...signalOf(req) });
  return { changed: true, saved: outcomeOf(result) };
}
