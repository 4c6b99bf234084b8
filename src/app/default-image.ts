import { KilnError, ErrorCode, isKilnError } from '../core/index.ts';
import { cloneImage } from '../registry/index.ts';
import {
  LABELS, formatImageRef, modelOciArchitectures, parseImageRef, parsePlatform,
  type ImageRecord, type ImageRef,
} from '../store/index.ts';
import type { Core } from './core.ts';
import { sessionOf } from './session.ts';
import { defaultImageRef } from './default-ref.ts';
import type { Resolved } from './request.ts';

/**
 * The default image of a node model, in the store: found there, else cloned from Docker Hub
 * (`hub:`), then from each other configured registry, in the order of kiln.yaml, for the
 * model's native architecture. NOT_FOUND naming every place tried when none has it.
 */
export async function defaultImage(core: Core, req: Resolved, model: string): Promise<ImageRecord> {
  const ref = defaultImageRef(model);
  const store = core.store();
  const found = store.findImage(ref);
  if (found) return found;
  const labels = core.config.registries.map((r) => r.label).sort((a, b) => Number(b === 'hub') - Number(a === 'hub'));
  const arch = modelOciArchitectures(model)?.[0];
  const tried: string[] = [];
  for (const label of labels) {
    const url = `${label}:${ref.user}/${ref.name}:${ref.tag}`;
    try {
      req.logger.info(`${formatImageRef(ref)} is not in the store: cloning ${url}`);
      const { record } = await cloneImage(sessionOf(core, req), store, url, {
        user: ref.user, name: `${ref.name}:${ref.tag}`, platform: arch ? parsePlatform(`linux/${arch}`) : undefined, signal: req.signal,
      });
      return record;
    } catch (err) {
      // Another request cloned it meanwhile.
      if (isKilnError(err, 'ALREADY_EXISTS')) return store.getImage(ref);
      if (!isKilnError(err) || req.signal?.aborted) throw err;
      tried.push(`${url}: ${err.message}`);
    }
  }
  throw new KilnError(ErrorCode.NOT_FOUND, `no default image for model ${model}: ${formatImageRef(ref)} is not in the store${tried.length > 0 ? `, and cloning failed (${tried.join('; ')})` : ' and no registry is configured'}`, {
    hint: `import or clone an image for ${model} and name it ${formatImageRef(ref)}, or boot the node on one of your images: kiln node boot <node> <image>`,
  });
}

/**
 * The user's own copy of a default image (seed 001 §C.7): named by its walt.image.preferred-name
 * label, else `<model>-default:latest`, and made once per image, not once per model: a user who
 * already has an image with the same content under either name keeps it. No data is copied.
 */
export function cloneDefaultForUser(core: Core, req: Resolved, model: string, platform: ImageRecord): ImageRecord {
  const store = core.store();
  const preferred = platform.labels[LABELS.preferredName];
  let name: ImageRef | undefined;
  if (preferred !== undefined) {
    try {
      name = parseImageRef(preferred, req.user);
    } catch (err) {
      req.logger.warn(`${formatImageRef(platform.ref)}: ignoring ${LABELS.preferredName}="${preferred}" (${(err as Error).message})`);
    }
  }
  const target = name ?? { user: req.user, name: `${model}-default`, tag: 'latest' };
  const same = store.listImages().find((i) => i.ref.user === req.user && i.manifestDigest === platform.manifestDigest);
  if (same) return same;
  const taken = store.findImage(target);
  if (taken) return taken;
  return store.duplicate(platform.ref, target);
}
