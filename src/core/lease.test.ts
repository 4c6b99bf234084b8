import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LEASE_MAX_AGE_MS, createLeaseKeeper, isStaleWork, leases } from './lease.ts';
import { makeWorkDir, removeTree, workDirOwner } from './fs.ts';

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-lease-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const minute = 60_000;

test('work is stale when its owner is dead, or alive with a lease older than the limit', withDir(async (dir) => {
  const work = join(dir, 'stage-42-abc');
  mkdirSync(work);
  const t0 = 1_700_000_000_000;
  utimesSync(work, t0 / 1000, t0 / 1000);
  const alive = (): boolean => true;
  const dead = (): boolean => false;
  const cases: Array<{ what: string; pid: number | undefined; isAlive: (pid: number) => boolean; now: number; stale: boolean }> = [
    { what: 'live owner, fresh lease', pid: 42, isAlive: alive, now: t0 + minute, stale: false },
    { what: 'live owner, lease just within the limit', pid: 42, isAlive: alive, now: t0 + LEASE_MAX_AGE_MS, stale: false },
    { what: 'live owner (a daemon), lease expired', pid: 42, isAlive: alive, now: t0 + LEASE_MAX_AGE_MS + 1, stale: true },
    { what: 'dead owner, fresh lease', pid: 42, isAlive: dead, now: t0, stale: true },
    { what: 'no owner in the name', pid: undefined, isAlive: dead, now: t0 + 100 * LEASE_MAX_AGE_MS, stale: false },
    { what: 'unparsable owner', pid: Number.NaN, isAlive: dead, now: t0, stale: false },
  ];
  for (const c of cases) assert.equal(await isStaleWork(work, c.pid, { isAlive: c.isAlive, now: () => c.now }), c.stale, c.what);
  assert.equal(await isStaleWork(join(dir, 'gone-42-x'), 42, { isAlive: alive, now: () => t0 + 100 * LEASE_MAX_AGE_MS }), false, 'absent work is not stale');
  assert.equal(await isStaleWork(work, 42, { isAlive: alive, now: () => t0 + 2 * minute, maxAgeMs: minute }), true, 'the limit is a parameter');
}));

test('holding a lease renews the work\'s mtime with the keeper\'s clock until it is released or the work is gone', withDir(async (dir) => {
  let now = 1_700_000_000_000;
  const keeper = createLeaseKeeper({ now: () => now });
  const [a, b] = [join(dir, 'build-1-a'), join(dir, 'build-1-b')];
  mkdirSync(a);
  mkdirSync(b);
  keeper.hold(a);
  keeper.hold(b);
  const alive = (): boolean => true;
  for (let beat = 0; beat < 5; beat++) {
    now += 10 * minute; // each step alone is within the limit; together they are far beyond it
    await keeper.renew();
    assert.equal(statSync(a).mtimeMs, now);
    assert.equal(await isStaleWork(a, 1, { isAlive: alive, now: () => now + minute }), false, `beat ${beat}`);
  }
  keeper.release(a);
  rmSync(b, { recursive: true });
  await keeper.renew();
  assert.deepEqual(keeper.held(), [], 'released, and gone: no lease left');
  const last = statSync(a).mtimeMs;
  now += 30 * minute;
  await keeper.renew();
  assert.equal(statSync(a).mtimeMs, last, 'a released lease is not renewed');
  assert.equal(await isStaleWork(a, 1, { isAlive: alive, now: () => now }), true);
}));

test('a work directory holds its lease from creation until it is removed', withDir(async (dir) => {
  const work = await makeWorkDir(dir, 'stage');
  assert.equal(workDirOwner(work.slice(dir.length + 1)), process.pid);
  assert.ok(leases.held().includes(work));
  await removeTree(work);
  assert.ok(!leases.held().includes(work));
  assert.equal(workDirOwner('registry-blobs'), undefined);
}));
