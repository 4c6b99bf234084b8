import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from './load.ts';
import { parseSize, tarLimitsOf } from './limits.ts';

test('sizes are whole numbers with an optional power-of-1024 suffix', () => {
  const cases: Array<[string, number | undefined]> = [
    ['4096', 4096], ['64G', 64 * 1024 ** 3], ['512MiB', 512 * 1024 ** 2], ['2k', 2048], ['1T', 1024 ** 4], [' 10 ', 10],
    ['0', undefined], ['-1', undefined], ['1.5G', undefined], ['lots', undefined], ['', undefined], ['99999999999T', undefined],
  ];
  for (const [text, want] of cases) assert.equal(parseSize(text), want, text);
});

test('the tar limits come from the settings, environment first', () => {
  const env = { KILN_HOME: '/nonexistent', KILN_CONFIG: '', KILN_MAX_LAYER_ENTRIES: '1000', KILN_MAX_FILE_SIZE: '1M' };
  assert.deepEqual(tarLimitsOf(loadConfig(env)), { maxEntries: 1000, maxLayerSize: 64 * 1024 ** 3, maxFileSize: 1024 ** 2 });
  assert.throws(() => tarLimitsOf(loadConfig({ ...env, KILN_MAX_LAYER_SIZE: 'big' })), (err: Error & { code?: string; hint?: string }) => {
    assert.equal(err.code, 'CONFIG');
    assert.match(err.message, /max_layer_size \(KILN_MAX_LAYER_SIZE\)/u);
    return true;
  });
});
