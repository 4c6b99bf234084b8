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

test('kiln.yaml server: DHCP settings, and what each mode needs', () => {
  const server = parseConfigFile('server:\n  subnet: 10.77.0.0/24\n  dhcp: authoritative\n  dhcp_pool: 10.77.0.10-10.77.0.99\n  dhcp_lease_time: 600\n  router: 10.77.0.254\n  dns: 10.77.0.1, 9.9.9.9\n', 'k.yaml').server!;
  assert.equal(server.dhcp, 'authoritative');
  assert.deepEqual(server.dhcp_pool, { first: '10.77.0.10', last: '10.77.0.99' });
  assert.equal(server.dhcp_lease_time, 600);
  assert.deepEqual(server.dns, ['10.77.0.1', '9.9.9.9']);
  assert.equal(parseConfigFile('server:\n  subnet: 10.77.0.0/24\n  dhcp: proxy\n', 'k.yaml').server?.dhcp, 'proxy');
  const cases: Array<[string, RegExp]> = [
    ['server:\n  dhcp: yes\n', /dhcp "yes" is not one of off, authoritative, proxy/u],
    ['server:\n  dhcp: proxy\n', /dhcp proxy needs "subnet"/u],
    ['server:\n  subnet: 10.77.0.0/24\n  dhcp: authoritative\n', /needs "dhcp_pool"/u],
    ['server:\n  subnet: 10.77.0.0/24\n  dhcp: authoritative\n  dhcp_pool: 10.77.0.10-10.78.0.1\n', /is not inside subnet 10\.77\.0\.0\/24/u],
    ['server:\n  dhcp_pool: 10.77.0.20-10.77.0.10\n', /k\.yaml:2:14: dhcp_pool "10.77.0.20-10.77.0.10" is not an address range/u],
    ['server:\n  dhcp_lease_time: 5\n', /dhcp_lease_time "5" is not a number of seconds/u],
    ['server:\n  dns: a.b\n', /dns "a.b" is not an IP address/u],
  ];
  for (const [text, message] of cases) assert.throws(() => parseConfigFile(text, 'k.yaml'), message);
});
