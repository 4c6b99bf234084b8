import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { isKilnError } from '../core/index.ts';
import { LOCK_WAIT_MS, backoffMs, isBusy, retryBusy } from './busy.ts';
import { openCatalog } from './catalog.ts';

const busy = (): Error => Object.assign(new Error('database is locked'), { code: 'ERR_SQLITE_ERROR', errcode: 5 });

/** A clock that advances only when the code under test sleeps. */
function fakeClock(): { now: () => number; sleep: (ms: number) => Promise<void>; sleeps: number[] } {
  let t = 0;
  const sleeps: number[] = [];
  return { now: () => t, sleep: async (ms) => { sleeps.push(ms); t += ms; }, sleeps };
}

test('SQLITE_BUSY and SQLITE_LOCKED (with extended codes) are busy; other errors are not', () => {
  const cases: Array<[unknown, boolean]> = [
    [{ errcode: 5 }, true], [{ errcode: 517 }, true], [{ errcode: 6 }, true], [{ errcode: 1 }, false],
    [new Error('database is locked'), false], [undefined, false],
  ];
  for (const [err, expected] of cases) assert.equal(isBusy(err), expected, JSON.stringify(err));
});

test('backoff doubles from about 1 ms up to 25 ms, never below half its step', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 10].map((n) => backoffMs(n, () => 1)), [1, 2, 4, 8, 16, 25, 25]);
  assert.deepEqual([1, 6].map((n) => backoffMs(n, () => 0)), [0.5, 12.5]);
});

test('retryBusy sleeps between busy attempts, passes other errors through, and gives up with CONFLICT', async () => {
  const clock = fakeClock();
  let calls = 0;
  assert.equal(await retryBusy('testing', () => {
    if (++calls < 4) throw busy();
    return 'done';
  }, clock), 'done');
  assert.equal(clock.sleeps.length, 3);

  await assert.rejects(retryBusy('testing', () => {
    throw new TypeError('not busy');
  }, fakeClock()), TypeError);

  const stuck = fakeClock();
  await assert.rejects(retryBusy('adding an image', () => {
    throw busy();
  }, stuck), (err: unknown) => isKilnError(err) && err.code === 'CONFLICT' && /adding an image/u.test(err.message));
  assert.ok(stuck.now() >= LOCK_WAIT_MS);
});

test('a write waiting for another connection\'s lock lets the event loop run, then commits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-busy-'));
  const catalog = openCatalog(join(dir, 'kiln.db'));
  const other = new DatabaseSync(join(dir, 'kiln.db'));
  try {
    other.exec('BEGIN IMMEDIATE');
    const events: string[] = [];
    const write = catalog.writeAsync('testing', () => {
      events.push('write');
      return catalog.pruneManifests();
    });
    // The timer runs while the write waits: the loop is not blocked by the lock.
    await new Promise<void>((resolve) => setTimeout(() => {
      events.push('timer');
      other.exec('COMMIT');
      resolve();
    }, 20));
    await write;
    assert.deepEqual(events, ['timer', 'write']);
  } finally {
    other.close();
    catalog.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
