import { Transform, type TransformCallback } from 'node:stream';

/** One running transfer shown to the user. */
export interface ProgressTask {
  add(bytes: number): void;
  done(): void;
}

/** Reports transfers; the CLI gives a terminal one, everything else gets the silent one. */
export interface Progress {
  start(label: string, total?: number): ProgressTask;
}

/** A progress reporter that shows nothing. */
export const silentProgress: Progress = { start: () => ({ add: () => {}, done: () => {} }) };

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** A one-line progress display on a terminal, redrawn at most ten times a second. */
export function createTerminalProgress(stream: NodeJS.WriteStream, now: () => number = Date.now): Progress {
  return {
    start: (label, total) => {
      const started = now();
      let seen = 0;
      let drawn = Number.NEGATIVE_INFINITY;
      const draw = (final: boolean): void => {
        const t = now();
        if (!final && t - drawn < 100) return;
        drawn = t;
        const rate = seen / Math.max((t - started) / 1000, 0.001);
        const amount = total ? `${mb(seen)} / ${mb(total)}` : mb(seen);
        stream.write(`\r\x1b[K${label}  ${amount}  ${mb(rate)}/s`);
        if (final) stream.write('\r\x1b[K');
      };
      return {
        add: (bytes) => {
          seen += bytes;
          draw(false);
        },
        done: () => draw(true),
      };
    },
  };
}

/** A pass-through stream that reports the bytes flowing through it to a progress task. */
export function progressStream(task: ProgressTask): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      task.add(chunk.length);
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      task.done();
      done();
    },
  });
}
