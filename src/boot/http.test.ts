import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { createHttpBootServer } from './http.ts';
import type { StoreResolver } from './resolver.ts';
import type { BootFile } from './types.ts';

const SIZE = 64 << 20;

/** A file of SIZE zero bytes, produced as it is read. */
function bigFile(): BootFile {
  return {
    size: SIZE,
    etag: '"big"',
    served: 'big',
    open: (range) => {
      let left = range ? range.end - range.start + 1 : SIZE;
      return new Readable({
        read() {
          const n = Math.min(left, 1 << 20);
          left -= n;
          this.push(n > 0 ? Buffer.alloc(n) : null);
        },
      });
    },
  };
}

test('a node that stops reading loses its connection after the idle timeout, and the request waiting for its slot is served', async (t) => {
  const resolver: StoreResolver = { resolve: async () => bigFile(), artifact: async () => ({ reason: 'not-found', detail: 'none' }) };
  const results: string[] = [];
  const server = createHttpBootServer({ address: '127.0.0.1', port: 0, resolver, log: (e) => results.push(e.result), maxStreams: 1, idleTimeoutMs: 500 });
  const { port } = await server.start();
  t.after(() => server.stop());
  // The stalled node: asks for the file and never reads its answer.
  const stalled = connect(port, '127.0.0.1');
  stalled.on('error', () => undefined);
  stalled.write('GET /boot/kernel HTTP/1.1\r\nHost: x\r\n\r\n');
  stalled.pause();
  await new Promise((r) => setTimeout(r, 200));
  // The next node waits for the only slot, then gets the whole file.
  const response = await fetch(`http://127.0.0.1:${port}/boot/kernel`, { signal: AbortSignal.timeout(30_000) });
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length;
  assert.equal(bytes, SIZE);
  stalled.destroy();
  assert.ok(results.includes('aborted'), `the stalled transfer was cut off: ${results.join(', ')}`);
});
