import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDate, formatSize, renderTable } from './format.ts';

test('formatSize picks a unit', () => {
  const cases: Array<[number, string]> = [[0, '0B'], [999, '999B'], [1000, '1.00kB'], [171_500_000, '172MB'], [2_345_000_000, '2.35GB']];
  for (const [bytes, text] of cases) assert.equal(formatSize(bytes), text);
});

test('formatDate renders UTC seconds', () => {
  assert.equal(formatDate('2026-11-23T13:27:29.123Z'), '2026-11-23 13:27:29');
  assert.equal(formatDate('not a date'), 'not a date');
});

test('renderTable aligns columns', () => {
  assert.equal(renderTable(['Name', 'Size'], [['a', '1B'], ['longer', '22B']]), 'Name    Size\na       1B\nlonger  22B');
});
