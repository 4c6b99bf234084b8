import { SETTINGS } from '../config/index.ts';
import { KilnError, ErrorCode, isProcessAlive, type Digest } from '../core/index.ts';
import { pruneBuildCache } from '../builder/index.ts';
import { pruneExportCache } from '../export/index.ts';
import { pruneBlobCache } from '../registry/index.ts';
import type { Command } from './command.ts';
import { formatSize } from './format.ts';

const verify: Command = {
  path: ['store', 'verify'],
  usage: 'kiln store verify [--json]',
  summary: 're-hash every blob, check every image\'s blobs are present and index.json matches the catalog',
  options: {},
  positionals: [0, 0],
  run: async (ctx) => {
    const report = await ctx.store().verify();
    if (ctx.json) ctx.out(JSON.stringify(report, null, 2));
    else {
      for (const c of report.corrupt) ctx.out(`corrupt: blob ${c.digest} hashes to ${c.actual}`);
      for (const m of report.missing) ctx.out(`missing: blob ${m.digest}${m.images.length ? ` (needed by ${m.images.join(', ')})` : ''}`);
      for (const s of report.strays) ctx.out(`stray file: blobs/sha256/${s}`);
      if (!report.indexInSync) ctx.out('index.json does not match the catalog');
      if (!ctx.quiet) ctx.out(`${report.ok ? 'ok' : 'FAILED'}: ${report.blobsChecked} blobs, ${formatSize(report.bytesChecked)} checked`);
    }
    if (!report.ok) {
      throw new KilnError(ErrorCode.DIGEST_MISMATCH, 'the store failed verification', {
        hint: 'remove the affected images and import or clone them again; `kiln store gc` drops unreferenced blobs',
      });
    }
  },
};

const gc: Command = {
  path: ['store', 'gc'],
  usage: 'kiln store gc [--json]',
  summary: 'delete blobs no image references, work files and partial downloads of dead processes, caches of deleted blobs, and build steps no image uses',
  options: {},
  positionals: [0, 0],
  run: async (ctx) => {
    const store = ctx.store();
    const report = await store.gc();
    // Blobs of pulls that died: partial files of dead processes, and ones the store already holds.
    await pruneBlobCache(store.dirs.cacheDir('registry-blobs'), (digest) => store.hasBlob(digest));
    // Build steps whose layer no image uses any more, and boot artifacts of manifests gone.
    const images = store.listImages();
    const layers = new Set<Digest>();
    for (const image of images) for (const layer of (await store.readManifest(image.manifestDigest)).layers) layers.add(layer.digest);
    await pruneBuildCache(store.dirs.cacheDir('build'), layers, isProcessAlive);
    await pruneExportCache(store.dirs.cacheDir('export'), new Set(images.map((i) => i.manifestDigest)));
    if (ctx.json) ctx.out(JSON.stringify(report));
    else if (!ctx.quiet) ctx.out(`Removed ${report.removedBlobs} blobs, freed ${formatSize(report.freedBytes)}`);
  },
};

const config: Command = {
  path: ['config'],
  usage: 'kiln config [--json]',
  summary: 'show the settings in force and where each comes from',
  options: {},
  positionals: [0, 0],
  run: async (ctx) => {
    const { values, sources, file } = ctx.config;
    if (ctx.json) {
      ctx.out(JSON.stringify({ file: file ?? null, settings: SETTINGS.map((s) => ({ key: s.key, env: s.env, value: values[s.key], source: sources[s.key], doc: s.doc })) }, null, 2));
      return;
    }
    ctx.out(`configuration file: ${file ?? '(none)'}`);
    for (const s of SETTINGS) ctx.out(`${s.key} = ${values[s.key]}  (${sources[s.key]}; ${s.env}) — ${s.doc}`);
  },
};

/** The `kiln store …` and `kiln config` commands. */
export const STORE_COMMANDS: readonly Command[] = [verify, gc, config];
