/**
 * Writes a gzip root filesystem tarball of many empty files, fast: one header template,
 * patched per member (name and checksum), batched into large writes to a gzip stream.
 * Nothing is created on disk but the tarball. Used by the many-entries test and benchmark.
 *
 * usage: node test/many-entries.ts COUNT OUT.tar.gz
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { constants, createGzip } from 'node:zlib';

const BLOCK = 512;
/** Files per directory: big enough to keep directories few, small enough to look like a real tree. */
const PER_DIR = 1000;
const BATCH = 2048;

function header(name: string, type: '0' | '5', mode: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  const octal = (value: number, offset: number, length: number): void => {
    block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
  };
  block.write(name, 0, 100, 'ascii');
  octal(mode, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(0, 124, 12);
  octal(0, 136, 12);
  block.write(type, 156, 1, 'ascii');
  block.write('ustar\0', 257, 6, 'ascii');
  block.write('00', 263, 2, 'ascii');
  return block;
}

/** Sets a header's checksum (computed with its own field as eight spaces). */
function seal(block: Buffer, at = 0): void {
  block.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + BLOCK; i++) sum += block[i] as number;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 8, 'ascii');
}

/**
 * Streams a tar.gz of `count` members to `file`: directories d0000000/ … each followed by up
 * to 1000 empty files f000…f999 (a directory header counts as a member). Resolves when written.
 */
export async function writeManyEntriesTar(file: string, count: number): Promise<void> {
  const gzip = createGzip({ level: constants.Z_BEST_SPEED, chunkSize: 1 << 20 });
  const out = createWriteStream(file);
  gzip.pipe(out);
  const fileTemplate = header('d0000000/f000', '0', 0o644);
  const batch = Buffer.alloc(BATCH * BLOCK);
  let used = 0;
  const flush = async (): Promise<void> => {
    if (used === 0) return;
    if (!gzip.write(Buffer.from(batch.subarray(0, used * BLOCK)))) await once(gzip, 'drain');
    used = 0;
  };
  let written = 0;
  for (let dir = 0; written < count; dir++) {
    const dirName = `d${String(dir).padStart(7, '0')}`;
    const dirHeader = header(`${dirName}/`, '5', 0o755);
    seal(dirHeader);
    if (used === BATCH) await flush();
    dirHeader.copy(batch, used++ * BLOCK);
    written++;
    for (let f = 0; f < PER_DIR && written < count; f++, written++) {
      if (used === BATCH) await flush();
      const at = used++ * BLOCK;
      fileTemplate.copy(batch, at);
      batch.write(`${dirName}/f${String(f).padStart(3, '0')}`, at, 100, 'ascii');
      seal(batch, at);
    }
  }
  await flush();
  gzip.end(Buffer.alloc(2 * BLOCK));
  await once(out, 'close');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [count, file] = process.argv.slice(2);
  if (!count || !file || !/^\d+$/u.test(count)) {
    process.stderr.write('usage: node test/many-entries.ts COUNT OUT.tar.gz\n');
    process.exit(2);
  }
  await writeManyEntriesTar(file, Number(count));
}
