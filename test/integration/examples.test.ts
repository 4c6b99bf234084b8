import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, kilnFor, scratch } from '../helpers.ts';

test('the example specs the demo builds are valid and plan every step', async (t) => {
  const kiln = kilnFor(join(scratch(t), 'home'));
  const specs = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => join(ROOT, 'examples', f));
  assert.ok(specs.length > 0);
  const plan = await kiln(['image', 'build', ...specs, '--dry-run']);
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /run +1\/3 bootstrap/);
  assert.match(plan.stdout, /run +3\/3 cmds\[0\]/);
});
