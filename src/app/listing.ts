import { parseImageRef, parseOwnImageRef, type ImageConfig, type ImageManifest, type ImageRef } from '../store/index.ts';
import type { Core } from './core.ts';
import type { Resolved } from './request.ts';
import { inUseOf } from './usage.ts';
import { imageView, isNodeImage, type ImageView } from './view.ts';

// The catalog-only image operations: kept apart from images.ts (import, export, check) so that
// listing and renaming load the store alone, not the check and export domains.

/** Your node images, and with `all` other users' too. */
export function listImages(core: Core, req: Resolved, options: { all?: boolean }): { mine: ImageView[]; others: ImageView[] } {
  const images = core.store().listImages().filter(isNodeImage);
  const inUse = inUseOf(core.usage());
  const view = (r: (typeof images)[number]): ImageView => imageView(r, req.user, inUse(r.ref));
  return {
    mine: images.filter((i) => i.ref.user === req.user).map(view),
    others: options.all ? images.filter((i) => i.ref.user !== req.user).map(view) : [],
  };
}

/** Any image (reserved names allowed, e.g. a model's default image), with its manifest and config. */
export async function inspectImage(core: Core, req: Resolved, name: string): Promise<{ view: ImageView; manifest: ImageManifest; config: ImageConfig }> {
  const store = core.store();
  const record = store.getImage(parseImageRef(name, req.user, { allowReserved: true }));
  const manifest = await store.readManifest(record.manifestDigest);
  const config = await store.readConfig(manifest);
  return { view: imageView(record, req.user, inUseOf(core.usage())(record.ref)), manifest, config };
}

/** Copies any image under a new name of the user's (no data is copied), or renames one of the user's images. */
export function copyImage(core: Core, req: Resolved, verb: 'duplicate' | 'rename', from: string, to: string, options: { force?: boolean }): { source: ImageRef; view: ImageView } {
  const store = core.store();
  const source = verb === 'rename' ? parseOwnImageRef(from, req.user) : parseImageRef(from, req.user, { allowReserved: true });
  const target = parseOwnImageRef(to, req.user);
  const force = { force: options.force === true };
  const record = verb === 'rename' ? store.rename(source, target, force) : store.duplicate(source, target, force);
  return { source, view: imageView(record, req.user, inUseOf(core.usage())(record.ref)) };
}
