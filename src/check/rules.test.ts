import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KERNEL_OPTIONS } from './kconfig.ts';
import { REQUIRED_COMMANDS } from './rules/system.ts';
import { fakeBusybox, fakeElf, makeCpio, makeTestImage, type TestLayer } from './test-image.ts';
import type { Finding } from './types.ts';

const MODELS = { 'walt.node.models': 'pc-x86-64' };
const ALL_Y = `${KERNEL_OPTIONS.map((o) => `${o}=y`).join('\n')}\nCONFIG_BLK_DEV_NBD=m\n`;
const WITH_M = ALL_Y.replace('CONFIG_NFS_FS=y', 'CONFIG_NFS_FS=m').replace('CONFIG_ROOT_NFS=y', '# CONFIG_ROOT_NFS is not set');

/** A WalT PC image that meets every mandatory requirement. */
function walt(): TestLayer {
  return {
    'bin/busybox': { content: fakeBusybox(62), mode: 0o755 },
    'sbin/init': { type: 'symlink', linkname: '/bin/busybox' },
    ...Object.fromEntries(Object.keys(REQUIRED_COMMANDS).map((c) => [`bin/${c}`, { type: 'symlink' as const, linkname: 'busybox' }])),
    'usr/sbin/sshd': { content: fakeElf(62, { interp: '/lib64/ld-linux-x86-64.so.2' }), mode: 0o755 },
    'etc/ssh/sshd_config': { content: 'Include /etc/ssh/sshd_config.d/*.conf\n#PermitRootLogin prohibit-password\n' },
    'boot/vmlinuz-6.1.0-9-amd64': { content: 'kernel image' },
    'boot/initrd.img-6.1.0-9-amd64': { content: makeCpio([['init', '#!/bin/sh\n']]) },
    'boot/config-6.1.0-9-amd64': { content: ALL_Y },
    'boot/pc-x86-64/start.ipxe': { content: '#!ipxe\nkernel ${base-url}/kernel ip=dhcp root=/dev/nfs\nboot\n' },
    'boot/pc-x86-64/kernel': { type: 'symlink', linkname: '/boot/vmlinuz-6.1.0-9-amd64' },
  };
}

type Expect = { id: string; status: Finding['status']; model?: string; found?: RegExp };
interface Case { name: string; layers: TestLayer[]; labels?: Record<string, string>; models?: string[]; arch?: string; expect: Expect[] }

const without = (layer: TestLayer, ...paths: string[]): TestLayer => Object.fromEntries(Object.entries(layer).filter(([p]) => !paths.includes(p)));
const ipxe = (text: string): TestLayer => ({ 'boot/pc-x86-64/start.ipxe': { content: `#!ipxe\n${text}` } });

const CASES: Case[] = [
  { name: 'labels: present and well-formed', layers: [walt()], labels: { ...MODELS, 'walt.server.minversion': '5' }, expect: [{ id: 'labels.models', status: 'pass' }, { id: 'labels.minversion', status: 'pass', found: /^5;/ }] },
  { name: 'labels: walt.node.models absent', layers: [walt()], labels: {}, expect: [{ id: 'labels.models', status: 'fail', found: /absent/ }] },
  { name: 'labels: walt.node.models with a space and an empty item', layers: [walt()], labels: { 'walt.node.models': 'rpi-b, rpi-b-plus,' }, models: ['pc-x86-64'], expect: [{ id: 'labels.models', status: 'fail' }] },
  { name: 'labels: minversion absent means 4', layers: [walt()], expect: [{ id: 'labels.minversion', status: 'pass', found: /assumes 4/ }] },
  { name: 'labels: minversion beyond what Kiln supports', layers: [walt()], labels: { ...MODELS, 'walt.server.minversion': '11' }, expect: [{ id: 'labels.minversion', status: 'fail', found: /up to 10/ }] },
  { name: 'labels: minversion not a number', layers: [walt()], labels: { ...MODELS, 'walt.server.minversion': 'five' }, expect: [{ id: 'labels.minversion', status: 'fail' }] },
  { name: 'labels: preferred-name well-formed', layers: [walt()], labels: { ...MODELS, 'walt.image.preferred-name': 'pc-default:latest' }, expect: [{ id: 'labels.preferred-name', status: 'pass' }] },
  { name: 'labels: preferred-name malformed', layers: [walt()], labels: { ...MODELS, 'walt.image.preferred-name': 'PC Default' }, expect: [{ id: 'labels.preferred-name', status: 'warn' }] },
  { name: 'boot: a passing image', layers: [walt()], expect: ['boot.dir', 'boot.script', 'boot.links', 'boot.files', 'kernel.options', 'arch'].map((id) => ({ id, status: 'pass' as const, model: 'pc-x86-64' })) },
  { name: 'boot: no /boot/<model>', layers: [walt()], models: ['rpi-3-b'], expect: [{ id: 'boot.dir', status: 'fail', model: 'rpi-3-b', found: /absent/ }] },
  { name: 'boot: no second-stage script', layers: [without(walt(), 'boot/pc-x86-64/start.ipxe')], expect: [{ id: 'boot.script', status: 'fail', model: 'pc-x86-64' }] },
  { name: 'boot: a compiled U-Boot script', layers: [without(walt(), 'boot/pc-x86-64/start.ipxe'), { 'boot/pc-x86-64/start.uboot': { content: uimage('tftp ${kernel_addr_r} kernel || reset\nbootz ${kernel_addr_r}\n') } }], expect: [{ id: 'boot.files', status: 'pass', found: /kernel kernel/ }] },
  { name: 'boot: dangling link', layers: [walt(), { 'boot/pc-x86-64/kernel': { type: 'symlink', linkname: '/boot/vmlinuz-gone' } }], expect: [{ id: 'boot.links', status: 'fail', found: /missing/ }, { id: 'boot.files', status: 'fail' }] },
  { name: 'boot: link loop', layers: [walt(), { 'boot/pc-x86-64/kernel': { type: 'symlink', linkname: 'kernel2' }, 'boot/pc-x86-64/kernel2': { type: 'symlink', linkname: '/boot/pc-x86-64/kernel' } }], expect: [{ id: 'boot.links', status: 'fail', found: /loop/ }] },
  { name: 'boot: link climbing out of the root', layers: [walt(), { 'boot/pc-x86-64/dtb': { type: 'symlink', linkname: '../../../../../etc/hostname' }, 'etc/hostname': { content: 'h' } }], expect: [{ id: 'boot.links', status: 'fail', found: /above the image root/ }] },
  { name: 'boot: link to a device-less directory is noted, not failed', layers: [walt(), { 'boot/overlays/x.dtbo': { content: 'o' }, 'boot/pc-x86-64/overlays': { type: 'symlink', linkname: '/boot/overlays' } }], expect: [{ id: 'boot.links', status: 'pass', found: /links to directories/ }] },
  { name: 'boot: the script loads a missing initrd', layers: [walt(), ipxe('kernel kernel\ninitrd initrd-missing\nboot\n')], expect: [{ id: 'boot.files', status: 'fail', found: /initrd initrd-missing/ }] },
  { name: 'kernel: modules without an initrd', layers: [walt(), { 'boot/config-6.1.0-9-amd64': { content: WITH_M } }], expect: [{ id: 'kernel.options', status: 'fail', found: /CONFIG_NFS_FS=m.*no initrd/ }] },
  { name: 'kernel: modules with an initrd', layers: [walt(), { 'boot/config-6.1.0-9-amd64': { content: WITH_M }, 'boot/pc-x86-64/initrd': { type: 'symlink', linkname: '../initrd.img-6.1.0-9-amd64' } }, ipxe('kernel kernel\ninitrd initrd\nboot\n')], expect: [{ id: 'kernel.options', status: 'pass', found: /allowed with an initrd: CONFIG_NFS_FS=m/ }] },
  { name: 'kernel: overlayfs missing even with an initrd', layers: [walt(), { 'boot/config-6.1.0-9-amd64': { content: ALL_Y.replace('CONFIG_OVERLAY_FS=y', '') }, 'boot/pc-x86-64/initrd': { type: 'symlink', linkname: '../initrd.img-6.1.0-9-amd64' } }, ipxe('kernel kernel\ninitrd initrd\n')], expect: [{ id: 'kernel.options', status: 'fail', found: /CONFIG_OVERLAY_FS=not set/ }] },
  { name: 'kernel: no PC network driver warns', layers: [walt()], expect: [{ id: 'kernel.network', status: 'warn', model: 'pc-x86-64', found: /none of E1000, .*IGB/ }] },
  { name: 'kernel: a cloud kernel has only virtual cards', layers: [walt(), { 'boot/config-6.1.0-9-amd64': { content: `${ALL_Y}CONFIG_VIRTIO_NET=m\n# CONFIG_E1000 is not set\n` } }], expect: [{ id: 'kernel.network', status: 'warn', found: /only virtual cards: VIRTIO_NET=m/ }] },
  { name: 'kernel: IGB built in', layers: [walt(), { 'boot/config-6.1.0-9-amd64': { content: `${ALL_Y}CONFIG_IGB=y\n` } }], expect: [{ id: 'kernel.network', status: 'pass', found: /^IGB=y from/ }] },
  { name: 'kernel: E1000E as a module needs an initrd', layers: [walt(), { 'boot/config-6.1.0-9-amd64': { content: `${ALL_Y}CONFIG_E1000E=m\n` } }], expect: [{ id: 'kernel.network', status: 'warn', found: /E1000E=m but no initrd/ }] },
  { name: 'kernel: E1000E as a module with an initrd', layers: [walt(), { 'boot/config-6.1.0-9-amd64': { content: `${ALL_Y}CONFIG_E1000E=m\n` }, 'boot/pc-x86-64/initrd': { type: 'symlink', linkname: '../initrd.img-6.1.0-9-amd64' } }, ipxe('kernel kernel\ninitrd initrd\nboot\n')], expect: [{ id: 'kernel.network', status: 'pass', found: /E1000E=m/ }] },
  { name: 'kernel: no config anywhere is unknown', layers: [without(walt(), 'boot/config-6.1.0-9-amd64')], expect: [{ id: 'kernel.options', status: 'warn', found: /^unknown/ }] },
  { name: 'init: present through links', layers: [walt()], expect: [{ id: 'init', status: 'pass', found: /→ \/bin\/busybox/ }] },
  { name: 'init: absent', layers: [without(walt(), 'sbin/init')], expect: [{ id: 'init', status: 'fail' }] },
  { name: 'init: a link loop', layers: [walt(), { 'sbin/init': { type: 'symlink', linkname: '/sbin/init' } }], expect: [{ id: 'init', status: 'fail', found: /loop/ }] },
  { name: 'busybox: static with every applet', layers: [walt()], expect: [{ id: 'busybox.present', status: 'pass' }, { id: 'busybox.applets', status: 'pass' }, { id: 'busybox.static', status: 'pass' }] },
  { name: 'busybox: whited out by an upper layer', layers: [walt(), { 'bin/.wh.busybox': { content: '' } }], expect: [{ id: 'busybox.present', status: 'fail' }] },
  { name: 'busybox: applets missing', layers: [walt(), { 'bin/busybox': { content: fakeBusybox(62, ['awk', 'cat', 'ls', 'rm', 'sed', 'sh', 'sleep', 'uname', 'mount']), mode: 0o755 } }], expect: [{ id: 'busybox.applets', status: 'fail', found: /missing: chroot mktemp mkfifo nc realpath reboot timeout/ }] },
  { name: 'busybox: dynamic without ldd', layers: [walt(), { 'bin/busybox': { content: fakeBusybox(62, undefined, '/lib64/ld-linux-x86-64.so.2'), mode: 0o755 } }], expect: [{ id: 'busybox.static', status: 'fail', found: /ld-linux/ }] },
  { name: 'busybox: dynamic with ldd', layers: [walt(), { 'bin/busybox': { content: fakeBusybox(62, undefined, '/lib/ld-linux.so.3'), mode: 0o755 }, 'usr/bin/ldd': { content: '#!/bin/sh\n', mode: 0o755 } }], expect: [{ id: 'busybox.static', status: 'pass', found: /ldd at/ }] },
  { name: 'busybox: not an ELF binary', layers: [walt(), { 'bin/busybox': { content: '#!/bin/sh\necho busybox\n', mode: 0o755 } }], expect: [{ id: 'busybox.present', status: 'fail', found: /not an ELF/ }] },
  { name: 'busybox: malformed ELF header', layers: [walt(), { 'bin/busybox': { content: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 9, 9]), Buffer.alloc(60)]), mode: 0o755 } }], expect: [{ id: 'busybox.present', status: 'fail', found: /malformed/ }] },
  { name: 'commands: applets count when /bin/sh is busybox', layers: [without(walt(), 'bin/grep')], expect: [{ id: 'commands', status: 'pass', found: /grep as applets/ }] },
  { name: 'commands: missing when /bin/sh is not busybox', layers: [without(walt(), 'bin/grep', 'bin/setsid'), { 'bin/sh': { content: fakeElf(62), mode: 0o755 } }], expect: [{ id: 'commands', status: 'fail', found: /missing: grep setsid/ }] },
  { name: 'commands: not executable', layers: [walt(), { 'usr/bin/tr': { content: 'x', mode: 0o644 }, 'bin/tr': { type: 'symlink', linkname: '/usr/bin/tr' }, 'bin/sh': { content: fakeElf(62), mode: 0o755 } }], expect: [{ id: 'commands', status: 'fail', found: /tr/ }] },
  { name: 'ssh: OpenSSH defaults let root in with a key', layers: [walt()], expect: [{ id: 'ssh', status: 'pass', found: /prohibit-password/ }] },
  { name: 'ssh: a drop-in says no first', layers: [walt(), { 'etc/ssh/sshd_config': { content: 'Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\n' }, 'etc/ssh/sshd_config.d/10-no.conf': { content: 'PermitRootLogin no\n' } }], expect: [{ id: 'ssh', status: 'fail', found: /PermitRootLogin no/ }] },
  { name: 'ssh: a Match block does not change the global setting', layers: [walt(), { 'etc/ssh/sshd_config': { content: 'Match User bob\n  PermitRootLogin no\nMatch all\nPermitRootLogin without-password\n' } }], expect: [{ id: 'ssh', status: 'pass', found: /without-password/ }] },
  { name: 'ssh: another port', layers: [walt(), { 'etc/ssh/sshd_config': { content: 'Port 2222\n' } }], expect: [{ id: 'ssh', status: 'fail', found: /port 2222/ }] },
  { name: 'ssh: none', layers: [without(walt(), 'usr/sbin/sshd')], expect: [{ id: 'ssh', status: 'fail', found: /no sshd or dropbear/ }] },
  { name: 'ssh: dropbear', layers: [without(walt(), 'usr/sbin/sshd'), { 'usr/sbin/dropbear': { content: fakeElf(62), mode: 0o755 } }], expect: [{ id: 'ssh', status: 'pass', found: /dropbear/ }] },
  { name: 'ssh: dropbear refusing root', layers: [without(walt(), 'usr/sbin/sshd'), { 'usr/sbin/dropbear': { content: fakeElf(62), mode: 0o755 }, 'etc/default/dropbear': { content: 'DROPBEAR_EXTRA_ARGS="-w -s"\n' } }], expect: [{ id: 'ssh', status: 'fail', found: /-w/ }] },
  { name: 'arch: x86-64 binaries for a Raspberry Pi', layers: [walt(), { 'boot/rpi-4-b/start.uboot': { content: 'tftp ${kernel_addr_r} kernel\n' }, 'boot/rpi-4-b/kernel': { type: 'symlink', linkname: '/boot/vmlinuz-6.1.0-9-amd64' } }], models: ['rpi-4-b'], expect: [{ id: 'arch', status: 'fail', model: 'rpi-4-b', found: /x86-64.*aarch64 or arm/ }] },
  { name: 'arch: arm binaries for a Raspberry Pi', layers: [walt(), { 'bin/busybox': { content: fakeBusybox(40), mode: 0o755 } }], models: ['rpi-2-b'], expect: [{ id: 'arch', status: 'pass', model: 'rpi-2-b', found: /arm/ }] },
  { name: 'arch: a model Kiln does not know', layers: [walt()], models: ['my-board'], expect: [{ id: 'arch', status: 'info', model: 'my-board', found: /not in Kiln's table/ }] },
  { name: 'arch: platform disagrees with the binaries', layers: [walt()], arch: 'arm64', expect: [{ id: 'arch.platform', status: 'warn' }] },
  { name: 'time: ptpd started at boot', layers: [walt(), { 'usr/sbin/ptpd': { content: 'x', mode: 0o755 }, 'etc/default/ptpd': { content: 'START_DAEMON=yes\n' } }], expect: [{ id: 'time', status: 'pass', found: /ptpd/ }] },
  { name: 'time: ntp.conf templated but not listed', layers: [walt(), { 'etc/ntp.conf': { content: 'server %(server_ip)s\n' } }], expect: [{ id: 'time', status: 'warn' }] },
  { name: 'time: ntp.conf templated and listed', layers: [walt(), { 'etc/ntp.conf': { content: 'server %(server_ip)s\n' }, 'etc/walt/image.spec': { content: '{\n "templates": [\n "/etc/ntp.conf"\n ]\n}\n' } }], expect: [{ id: 'time', status: 'pass' }, { id: 'image-spec', status: 'pass' }] },
  { name: 'image.spec malformed', layers: [walt(), { 'etc/walt/image.spec': { content: '{"templates": ["/etc/ntp.conf"' } }], expect: [{ id: 'image-spec', status: 'fail' }] },
  { name: 'image.spec with a wrong shape', layers: [walt(), { 'etc/walt/image.spec': { content: 'templates: /etc/ntp.conf\n' } }], expect: [{ id: 'image-spec', status: 'fail', found: /list/ }] },
  { name: 'optional features present', layers: [walt(), {
    'usr/sbin/lldpd': { content: 'x', mode: 0o755 }, 'usr/sbin/avahi-daemon': { content: 'x', mode: 0o755 }, 'usr/lib/x86_64-linux-gnu/libnss_mdns4_minimal.so.2': { content: 'x' },
    'usr/local/lib/python3.11/dist-packages/walt_node-9.0.dist-info/METADATA': { content: 'x' }, 'bin/blink': { content: 'x', mode: 0o755 }, 'bin/walt-reboot': { content: 'x', mode: 0o755 },
    'etc/cpuinfo': { content: 'x' }, 'bin/walt-image-shell-start': { content: 'x', mode: 0o755 }, 'bin/walt-image-shell-shutdown': { content: 'x', mode: 0o755 },
    'usr/sbin/nbd-client': { content: 'x', mode: 0o755 }, 'sbin/mkswap': { content: 'x', mode: 0o755 }, 'sbin/swapon': { content: 'x', mode: 0o755 }, 'lib/modules/6.1.0-9-amd64/kernel/drivers/block/nbd.ko.xz': { content: 'x' },
  }], expect: ['lldp', 'mdns', 'walt-node', 'blink', 'walt-reboot', 'cpuinfo', 'image-shell', 'nbd-swap'].map((id) => ({ id, status: 'pass' as const })) },
  { name: 'optional features half there', layers: [walt(), {
    'usr/sbin/avahi-daemon': { content: 'x', mode: 0o755 }, 'bin/blink': { content: 'x', mode: 0o644 }, 'bin/walt-image-shell-start': { content: 'x', mode: 0o755 }, 'usr/sbin/nbd-client': { content: 'x', mode: 0o755 },
  }], expect: [{ id: 'lldp', status: 'info' }, { id: 'mdns', status: 'warn' }, { id: 'blink', status: 'warn' }, { id: 'image-shell', status: 'warn' }, { id: 'nbd-swap', status: 'warn', found: /nbd module/ }, { id: 'cpuinfo', status: 'info' }] },
  { name: 'diskless: live-boot initramfs', layers: [without(walt(), 'boot/pc-x86-64/start.ipxe', 'boot/pc-x86-64/kernel'), { 'boot/initrd.img-6.1.0-9-amd64': { content: makeCpio([['scripts/', ''], ['scripts/live', '#!/bin/sh'], ['usr/lib/live/boot/9990-main.sh', '']]) } }], labels: {}, expect: [{ id: 'diskless.initramfs', status: 'pass' }, { id: 'diskless.live', status: 'pass', found: /live-boot/ }] },
  { name: 'diskless: initramfs without a way to mount a network root', layers: [without(walt(), 'boot/pc-x86-64/start.ipxe', 'boot/pc-x86-64/kernel')], labels: {}, expect: [{ id: 'diskless.live', status: 'fail' }] },
  { name: 'diskless: kernel without initramfs', layers: [without(walt(), 'boot/pc-x86-64/start.ipxe', 'boot/pc-x86-64/kernel', 'boot/initrd.img-6.1.0-9-amd64')], labels: {}, expect: [{ id: 'diskless.initramfs', status: 'fail', found: /initramfs-6\.1\.0-9-amd64\.img/ }] },
  { name: 'diskless: malformed initramfs', layers: [without(walt(), 'boot/pc-x86-64/start.ipxe', 'boot/pc-x86-64/kernel'), { 'boot/initrd.img-6.1.0-9-amd64': { content: `070701${'z'.repeat(120)}` } }], labels: {}, expect: [{ id: 'diskless.live', status: 'warn', found: /bad cpio header/ }] },
];

/** A legacy mkimage script image: 64-byte header, the length list, the script. */
function uimage(script: string): Buffer {
  const body = Buffer.from(script);
  const header = Buffer.alloc(64);
  header.writeUInt32BE(0x27051956, 0);
  const lengths = Buffer.alloc(8);
  lengths.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, lengths, body]);
}

for (const c of CASES) {
  test(`rule: ${c.name}`, async () => {
    const image = await makeTestImage(c.layers);
    try {
      const findings = await image.check(c.labels ?? MODELS, c.models, c.arch);
      for (const e of c.expect) {
        const f = findings.find((x) => x.id === e.id && (e.model === undefined || x.model === e.model));
        assert.ok(f, `no ${e.id} finding in:\n${findings.map((x) => `${x.id} ${x.status} ${x.found}`).join('\n')}`);
        assert.equal(f.status, e.status, `${e.id}: ${f.found}`);
        if (e.found) assert.match(f.found, e.found);
        if (f.status === 'fail') assert.ok(f.fix, `${e.id}: a failure says how to fix it`);
      }
    } finally {
      image.cleanup();
    }
  });
}

test('rule: the passing image passes every mandatory requirement', async () => {
  const image = await makeTestImage([walt()]);
  try {
    const failing = (await image.check(MODELS)).filter((f) => f.mandatory && f.status !== 'pass');
    assert.deepEqual(failing, []);
  } finally {
    image.cleanup();
  }
});
