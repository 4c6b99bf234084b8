// The worker thread of layer-scan-thread.ts: runs startLayerScan for each layer the main thread
// announces, fed by the chunks it transfers, and acknowledges each chunk once the decompressor
// took it (the main thread's back-pressure).
import { parentPort } from 'node:worker_threads';
import { startLayerScan, type LayerScan } from './layer-scan.ts';
import type { ScanReply, ScanRequest } from './layer-scan-thread.ts';

const port = parentPort;
if (!port) throw new Error('layer-scan-worker.ts runs as a worker thread');

const scans = new Map<number, { scan: LayerScan; queue: Promise<void>; aborted: boolean }>();
const reply = (m: ScanReply): void => port.postMessage(m);
const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

// The thread starts before the first layer is known: what each scan loads on first use loads now,
// while the main thread waits for the registry, not when the first chunks are waiting.
process.getBuiltinModule('node:zlib');
process.getBuiltinModule('node:crypto').createHash('sha256');

port.on('message', (m: ScanRequest) => {
  if (m.type === 'start') {
    scans.set(m.id, { scan: startLayerScan(m.layer, m.indexFile), queue: Promise.resolve(), aborted: false });
    return;
  }
  const entry = scans.get(m.id);
  if (!entry) return;
  // The chunks queued before an abort are not worth decompressing.
  if (m.type === 'abort') entry.aborted = true;
  // Chunks, end and abort of one scan run in the order they were sent.
  entry.queue = entry.queue.then(async () => {
    if (m.type === 'chunks') {
      if (!entry.aborted) await entry.scan.write(m.data.map((b) => new Uint8Array(b)));
      reply({ type: 'ack', id: m.id, bytes: m.data.reduce((n, b) => n + b.byteLength, 0) });
    } else if (m.type === 'end') {
      scans.delete(m.id);
      const r = await entry.scan.end();
      const o = r.outcome;
      reply({
        type: 'done', id: m.id, indexFile: r.indexFile,
        outcome: o === undefined ? undefined : 'error' in o ? { compression: o.compression, error: describe(o.error) } : o,
      });
    } else {
      scans.delete(m.id);
      await entry.scan.abort();
      reply({ type: 'aborted', id: m.id });
    }
  }).catch((err: unknown) => {
    scans.delete(m.id);
    reply({ type: 'failed', id: m.id, message: describe(err) });
  });
});
