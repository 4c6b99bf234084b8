import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigFile } from './load.ts';

test('kiln.yaml server: defaults, values, and errors at their file:line:col', () => {
  assert.deepEqual(parseConfigFile('server:\n  address: 192.168.152.1\n  http_port: 8080\n  subnet: 192.168.152.0/22\n', 'k.yaml').server, { tftp_port: 69, http_port: 8080, rootfs_compression: 'gzip', address: '192.168.152.1', subnet: '192.168.152.0/22' });
  const cases: Array<[string, RegExp]> = [
    ['server:\n  tftp_port: 70000\n', /k\.yaml:2:14: tftp_port "70000" is not a port number/u],
    ['server:\n  rootfs_compression: brotli\n', /k\.yaml:2:23: rootfs_compression "brotli" is not one of gzip, xz, zstd, lzo, lz4/u],
    ['server:\n  nope: 1\n', /k\.yaml:2:3: unknown server setting "nope"/u],
    ['server:\n  subnet: 10.0.0.0\n', /k\.yaml:2:11: subnet "10.0.0.0" is not an IPv4 CIDR/u],
    ['server:\n  address: 300.1.1.1\n', /k\.yaml:2:12: address "300.1.1.1" is not an IP address/u],
    ['server: 3\n', /k\.yaml:1:9: "server" must be a mapping/u],
  ];
  for (const [text, message] of cases) assert.throws(() => parseConfigFile(text, 'k.yaml'), message);
});
