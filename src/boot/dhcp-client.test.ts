import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootFileFor, describeClient, parseUserClass } from './dhcp-client.ts';
import { decodeDhcp, DhcpMessage, DhcpOption, opt } from './dhcp-packet.ts';
import { request } from './dhcp-test-packet.ts';

test('user class: the RFC 3004 list and the plain string iPXE and U-Boot send', () => {
  const cases: Array<[string, Buffer, string[]]> = [
    ['RFC 3004, one', Buffer.from('\x04iPXE'), ['iPXE']],
    ['RFC 3004, two', Buffer.from('\x04iPXE\x13walt.node.pc-x86-64'), ['iPXE', 'walt.node.pc-x86-64']],
    ['plain string', Buffer.from('walt.node.rpi-3-b'), ['walt.node.rpi-3-b']],
    ['plain iPXE', Buffer.from('iPXE'), ['iPXE']],
    ['trailing NUL', Buffer.from('walt.node.pc-x86-64\0'), ['walt.node.pc-x86-64']],
  ];
  for (const [name, value, expected] of cases) assert.deepEqual(parseUserClass(value), expected, name);
});

test('the model comes from walt.node.<model> in the vendor class or a user class', () => {
  const cases: Array<[string, Array<readonly [number, Buffer]>, string | undefined]> = [
    ['vendor class', [[DhcpOption.VENDOR_CLASS, opt.text('walt.node.rpi-4-b')]], 'rpi-4-b'],
    ['user class, plain', [[DhcpOption.USER_CLASS, opt.text('walt.node.pc-x86-64')]], 'pc-x86-64'],
    ['user class, RFC 3004 beside iPXE', [[DhcpOption.USER_CLASS, Buffer.from('\x04iPXE\x13walt.node.pc-x86-32')]], 'pc-x86-32'],
    ['PXE firmware', [[DhcpOption.VENDOR_CLASS, opt.text('PXEClient:Arch:00000:UNDI:002001')]], undefined],
    ['not a model name', [[DhcpOption.VENDOR_CLASS, opt.text('walt.node.Bad Model')]], undefined],
  ];
  for (const [name, options, model] of cases) assert.equal(describeClient(decodeDhcp(request(DhcpMessage.DISCOVER, options))!)?.model, model, name);
});

test('the boot file: iPXE chains to start.ipxe, PXE firmware gets the iPXE binary of its architecture', () => {
  const server = { ip: '10.77.0.1', httpUrl: 'http://10.77.0.1:8080' };
  const pxe = (arch: number) => [[DhcpOption.VENDOR_CLASS, opt.text(`PXEClient:Arch:${String(arch).padStart(5, '0')}`)], [DhcpOption.CLIENT_ARCH, Buffer.from([0, arch])]] as Array<readonly [number, Buffer]>;
  const cases: Array<[string, Array<readonly [number, Buffer]>, string | undefined]> = [
    ['BIOS PXE', pxe(0), 'undionly.kpxe'],
    ['x64 UEFI PXE', pxe(7), 'snponly.efi'],
    ['x64 UEFI HTTP', [[DhcpOption.VENDOR_CLASS, opt.text('HTTPClient:Arch:00016')], [DhcpOption.CLIENT_ARCH, Buffer.from([0, 16])]], 'http://10.77.0.1:8080/boot/ipxe.efi'],
    ['arm64 UEFI (no Debian build)', pxe(11), undefined],
    ['iPXE by user class', [...pxe(0), [DhcpOption.USER_CLASS, Buffer.from('\x04iPXE')]], 'http://10.77.0.1:8080/boot/start.ipxe'],
    ['iPXE by option 175', [[DhcpOption.IPXE_ENCAP, Buffer.from([0xb1, 1, 1])]], 'http://10.77.0.1:8080/boot/start.ipxe'],
    ['U-Boot', [[DhcpOption.VENDOR_CLASS, opt.text('walt.node.rpi-4-b')]], undefined],
  ];
  for (const [name, options, file] of cases) assert.equal(bootFileFor(describeClient(decodeDhcp(request(DhcpMessage.DISCOVER, options))!)!, server), file, name);
  const ipxe = describeClient(decodeDhcp(request(DhcpMessage.DISCOVER, [[DhcpOption.USER_CLASS, opt.text('iPXE')]]))!)!;
  assert.equal(bootFileFor(ipxe, { ip: '10.77.0.1' }), 'tftp://10.77.0.1/start.ipxe', 'without HTTP: TFTP');
});
