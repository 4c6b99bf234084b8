/**
 * The longest event-loop delay in a process that runs a store gc of many unreferenced
 * blobs while another process keeps taking the catalog's write lock (test/lock-holder.ts).
 * A daemon serving TFTP from the same process drops packets when the loop stalls.
 *
 * Usage: node bench/event-loop.ts [store-module] [blobs] [blob-bytes] [hold-ms] [gap-ms]
 * (store-module: the store's index.ts to measure, default this checkout's).
 * Prints one JSON line: the max and p99 delay (ms, from perf_hooks.monitorEventLoopDelay
 * at 1 ms resolution), how long gc took and what it removed.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const here = fileURLToPath(new URL('.', import.meta.url));
const [moduleArg, blobsArg = '1000', sizeArg = '65536', holdArg = '100', gapArg = '10'] = process.argv.slice(2);
const storeModule = moduleArg ? resolve(moduleArg) : join(here, '..', 'src', 'store', 'index.ts');
const { openStore } = await import(pathToFileURL(storeModule).href) as typeof import('../src/store/index.ts');

const home = mkdtempSync(join(tmpdir(), 'kiln-bench-loop-'));
try {
  const store = openStore({ home });
  const count = Number(blobsArg);
  for (let i = 0; i < count; i++) {
    const bytes = randomBytes(Number(sizeArg));
    writeFileSync(join(store.layout.blobsDir, createHash('sha256').update(bytes).digest('hex')), bytes);
  }
  const holder = spawn(process.execPath, [join(here, '..', 'test', 'lock-holder.ts'), join(home, 'kiln.db'), holdArg, gapArg], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((done) => createInterface({ input: holder.stdout }).once('line', () => done()));
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // A 1 ms ticker too: the longest gap between its callbacks is the stall a timer-driven
  // server (TFTP retransmissions) would see, also when gc never yields at all.
  let last = performance.now();
  let maxGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  await sleep(5); // both timers armed before gc starts
  const started = performance.now();
  const report = await store.gc();
  const gcMs = performance.now() - started;
  // Let the histogram's timer fire once more: a gc that never yields is one long delay,
  // recorded only when the loop turns again.
  await sleep(5);
  histogram.disable();
  clearInterval(ticker);
  holder.kill();
  store.close();
  console.log(JSON.stringify({
    store: storeModule, blobs: count, blobBytes: Number(sizeArg), writerHoldMs: Number(holdArg), writerGapMs: Number(gapArg),
    maxDelayMs: +(histogram.max / 1e6).toFixed(1), p99DelayMs: +(histogram.percentile(99) / 1e6).toFixed(1),
    maxTickGapMs: +maxGap.toFixed(1),
    gcMs: Math.round(gcMs), removedBlobs: report.removedBlobs,
  }));
} finally {
  rmSync(home, { recursive: true, force: true });
}
