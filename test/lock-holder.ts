/**
 * A concurrent writer for tests and benchmarks: holds the catalog's write lock (BEGIN
 * IMMEDIATE) for `holdMs`, releases it for `gapMs`, and again, until killed. Prints
 * `locked` once it held the lock the first time.
 * Usage: node test/lock-holder.ts <kiln.db> <holdMs> <gapMs>
 */
import { DatabaseSync } from 'node:sqlite';

const [path, hold = '100', gap = '10'] = process.argv.slice(2);
if (!path) throw new Error('usage: lock-holder.ts <kiln.db> <holdMs> <gapMs>');
const db = new DatabaseSync(path, { timeout: 60_000 });
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let first = true;
for (;;) {
  db.exec('BEGIN IMMEDIATE');
  // A real write that leaves the catalog as it was: a pin of no blob, taken out again.
  db.exec("INSERT INTO pins (digest, pid, token, since) VALUES ('none', 0, 'lock-holder', 0); DELETE FROM pins WHERE token = 'lock-holder';");
  if (first) {
    process.stdout.write('locked\n');
    first = false;
  }
  Atomics.wait(sleeper, 0, 0, Number(hold));
  db.exec('COMMIT');
  Atomics.wait(sleeper, 0, 0, Number(gap));
}
