import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

/**
 * A pass-through that also writes every chunk to a second writable (respecting its
 * back-pressure) and ends it at the end. `branchDone` settles when the branch has
 * finished or failed; a branch failure also fails this stream.
 */
export class TeeStream extends Transform {
  readonly #branch: Writable;
  readonly branchDone: Promise<void>;

  constructor(branch: Writable) {
    super();
    this.#branch = branch;
    this.branchDone = finished(branch);
    this.branchDone.catch((err: unknown) => this.destroy(err as Error));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.#branch.write(chunk)) done(null, chunk);
    else this.#branch.once('drain', () => done(null, chunk));
  }

  override _flush(done: TransformCallback): void {
    this.#branch.end();
    this.branchDone.then(() => done(), (err: unknown) => done(err as Error));
  }
}
