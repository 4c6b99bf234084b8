// What `kiln store …` and `kiln config` do once parsed; loaded only when one of them runs (the table is store-commands.ts).
import { KilnError, ErrorCode } from '../core/index.ts';
import type { Run } from './command.ts';
import { formatSize } from './format.ts';

export const verify: Run = async (ctx) => {
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
};

export const gc: Run = async (ctx) => {
  const report = await ctx.kiln.gc(ctx.request());
  if (ctx.json) ctx.out(JSON.stringify(report));
  else if (!ctx.quiet) ctx.out(`Removed ${report.removedBlobs} blobs, freed ${formatSize(report.freedBytes)}`);
};

export const config: Run = async (ctx) => {
  const { file, settings } = ctx.kiln.settings();
  if (ctx.json) {
    ctx.out(JSON.stringify({ file: file ?? null, settings }, null, 2));
    return;
  }
  ctx.out(`configuration file: ${file ?? '(none)'}`);
  for (const s of settings) ctx.out(`${s.key} = ${s.value}  (${s.source}; ${s.env}) — ${s.doc}`);
};
