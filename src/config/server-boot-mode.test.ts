import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigFile } from './load.ts';

test('kiln.yaml server.boot_mode: the boot mode of nodes without their own boot.mode setting', () => {
  assert.equal(parseConfigFile('server:\n  boot_mode: nfs\n', 'k.yaml').server?.boot_mode, 'nfs');
  assert.equal(parseConfigFile('server:\n  http_port: 80\n', 'k.yaml').server?.boot_mode, undefined);
  assert.throws(() => parseConfigFile('server:\n  boot_mode: floppy\n', 'k.yaml'), /k\.yaml:2:14: boot_mode "floppy" is not one of image, nfs, live/u);
});
