import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTerminalProgress } from './progress.ts';

test('terminal progress redraws one line at most every 100 ms and clears it when done', () => {
  let written = '';
  let clock = 0;
  const stream = { write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
  const task = createTerminalProgress(stream, () => clock).start('sha256:abc', 4_000_000);
  task.add(1_000_000);
  clock = 50;
  task.add(1_000_000); // within 100 ms of the last draw: not drawn
  clock = 1000;
  task.add(2_000_000);
  task.done();
  const frames = written.split('\r\x1b[K').filter(Boolean);
  assert.deepEqual(frames, [
    'sha256:abc  1.0 MB / 4.0 MB  1000.0 MB/s',
    'sha256:abc  4.0 MB / 4.0 MB  4.0 MB/s',
    'sha256:abc  4.0 MB / 4.0 MB  4.0 MB/s',
  ]);
  assert.ok(written.endsWith('\r\x1b[K'), 'the line is cleared at the end');
});
