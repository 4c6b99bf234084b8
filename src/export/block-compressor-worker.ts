// A thread of block-compressor.ts: deflates each raw SquashFS block it is sent and sends the
// block's memory back holding the bytes to store: deflated, or the raw bytes as they were when
// deflate does not pay. The memory goes back and forth, so a whole export allocates no block.
import { parentPort, workerData } from 'node:worker_threads';
import { deflateSync } from 'node:zlib';
import type { CompressReply, CompressRequest, CompressorSettings } from './block-compressor.ts';

const port = parentPort;
if (!port) throw new Error('block-compressor-worker.ts runs as a worker thread');
const { level } = workerData as CompressorSettings;

port.on('message', (m: CompressRequest) => {
  try {
    const block = Buffer.from(m.raw, 0, m.length);
    const z = deflateSync(block, { level });
    const raw = z.length >= block.length;
    if (!raw) z.copy(block);
    port.postMessage({ id: m.id, bytes: m.raw, length: raw ? m.length : z.length, raw } satisfies CompressReply, [m.raw]);
  } catch (err) {
    port.postMessage({ id: m.id, error: (err as Error).message } satisfies CompressReply);
  }
});
