import { KilnError, ErrorCode } from '../core/index.ts';
import type { Command } from './command.ts';
import { formatSize } from './format.ts';

const verify: Command = {
  path: ['store', 'verify'],
  usage: 'kiln store verify [--json]',
  summary: 're-hash every blob, check every image\'s blobs are present and index.json matches the catalog',
  options: {},
  positionals: [0, 0],
  run: async (ctx) => {
    const report = await ctx.kiln.verify(ctx.request());
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
    const report = await ctx.kiln.gc(ctx.request());
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
    const { file, settings } = ctx.kiln.settings();
    if (ctx.json) {
      ctx.out(JSON.stringify({ file: file ?? null, settings }, null, 2));
      return;
    }
    ctx.out(`configuration file: ${file ?? '(none)'}`);
    for (const s of settings) ctx.out(`${s.key} = ${s.value}  (${s.source}; ${s.env}) — ${s.doc}`);
  },
};

/** The `kiln store …` and `kiln config` commands. */
export const STORE_COMMANDS: readonly Command[] = [verify, gc, config];
