import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { parseBootScript } from './boot-script.ts';
import { findAppletNames } from './busybox.ts';
import { parseElf } from './elf.ts';
import { listInitramfs } from './initramfs.ts';
import { readEmbeddedConfig } from './kernel-config.ts';
import { evaluateSshdConfig } from './sshd.ts';
import { fakeBusybox, fakeElf, makeCpio } from './test-image.ts';

const compressors: Record<string, (data: Buffer) => Buffer> = {
  gzip: (d) => gzipSync(d),
  zstd: (d) => zstdCompressSync(d),
  xz: (d) => execFileSync('xz', ['-c', '--check=crc32'], { input: d }),
  lz4: (d) => execFileSync('lz4', ['-l', '-c'], { input: d }),
  bzip2: (d) => execFileSync('bzip2', ['-c'], { input: d }),
};

test('ELF headers give the machine and the dynamic loader; malformed ones are reasons', () => {
  const cases: Array<[string, Buffer, Partial<{ ok: boolean; arch: string; interpreter: string | undefined; bits: number }>]> = [
    ['x86-64 static', fakeElf(62), { ok: true, arch: 'x86-64', interpreter: undefined, bits: 64 }],
    ['aarch64 dynamic', fakeElf(183, { interp: '/lib/ld-linux-aarch64.so.1' }), { ok: true, arch: 'aarch64', interpreter: '/lib/ld-linux-aarch64.so.1' }],
    ['arm 32-bit dynamic', fakeElf(40, { bits: 32, interp: '/lib/ld-linux-armhf.so.3' }), { ok: true, arch: 'arm', interpreter: '/lib/ld-linux-armhf.so.3', bits: 32 }],
    ['a shell script', Buffer.from('#!/bin/sh\n'.padEnd(80, '#')), { ok: false }],
    ['program headers beyond the data', fakeElf(62, { interp: '/x' }).subarray(0, 70), { ok: false }],
  ];
  for (const [name, data, expected] of cases) {
    const info = parseElf(data);
    for (const [k, v] of Object.entries(expected)) assert.equal((info as Record<string, unknown>)[k], v, `${name}: ${k}`);
  }
});

test('the busybox applet table is the longest sorted run of names', () => {
  const names = findAppletNames(Buffer.concat([Buffer.from('\0zeta\0alpha\0beta\0'), fakeBusybox(62, ['sh', 'awk', 'nc'])]));
  assert.equal(names, undefined, 'five sorted names are too few to be the table');
  const full = findAppletNames(fakeBusybox(62));
  assert.ok(full?.includes('timeout') && full.includes('[[') && full[0] === '[');
  assert.equal(findAppletNames(Buffer.from('no table here\0at all\0')), undefined);
});

test('an embedded kernel configuration is found in gzip, zstd, xz, lz4 and bzip2 kernels', async () => {
  const config = 'CONFIG_OVERLAY_FS=y\nCONFIG_NFS_FS=m\n# CONFIG_ROOT_NFS is not set\nCONFIG_LOCALVERSION="-test"\n';
  const vmlinux = Buffer.concat([Buffer.alloc(4096, 0x90), Buffer.from('IKCFG_ST'), gzipSync(config), Buffer.from('IKCFG_ED'), Buffer.alloc(4096, 0xcc)]);
  for (const [name, compress] of Object.entries(compressors)) {
    const bzImage = Buffer.concat([Buffer.alloc(1024, 0x4d), compress(vmlinux), Buffer.from([1, 2, 3, 4]), Buffer.alloc(512, 0xff)]);
    const result = await readEmbeddedConfig(bzImage, false);
    assert.ok(result.ok, `${name}: ${result.ok ? '' : result.reason}`);
    assert.equal(result.options.get('CONFIG_NFS_FS'), 'm');
    assert.equal(result.options.get('CONFIG_ROOT_NFS'), 'n');
    assert.match(result.source, new RegExp(name));
  }
  const plain = await readEmbeddedConfig(vmlinux, false);
  assert.ok(plain.ok && plain.source === 'the kernel image (IKCONFIG)');
  const none = await readEmbeddedConfig(Buffer.concat([Buffer.alloc(100), compressors.xz!(Buffer.alloc(2 << 20, 1))]), false);
  assert.ok(!none.ok && /CONFIG_IKCONFIG/.test(none.reason), 'a kernel without IKCONFIG');
  const broken = await readEmbeddedConfig(Buffer.from('....IKCFG_STnot gzip at allIKCFG_ED'), false);
  assert.ok(!broken.ok && /not valid gzip/.test(broken.reason), 'malformed embedded data');
  const garbage = await readEmbeddedConfig(Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08]), Buffer.alloc(64, 7)]), false);
  assert.ok(!garbage.ok, 'a false gzip magic is not a crash');
});

test('initramfs images: concatenated, compressed, padded cpio archives are listed; malformed ones are reasons', async () => {
  const microcode = makeCpio([['kernel/', ''], ['kernel/x86/microcode/GenuineIntel.bin', 'ucode']]);
  const main = makeCpio([['usr/', ''], ['usr/sbin/livenetroot', '#!/bin/sh'], ['usr/sbin/dmsquash-live-root', '#!/bin/sh']]);
  for (const [name, compress] of Object.entries(compressors)) {
    const image = Buffer.concat([microcode, Buffer.alloc(512), compress(main)]);
    const listing = await listInitramfs(image, false);
    assert.ok(listing.ok, `${name}: ${listing.ok ? '' : listing.reason}`);
    assert.ok(listing.names.has('usr/sbin/livenetroot') && listing.names.has('kernel/x86/microcode/GenuineIntel.bin'), name);
    assert.equal(listing.layout, `cpio + ${name} cpio`);
  }
  const cases: Array<[string, Buffer, RegExp]> = [
    ['truncated', main.subarray(0, 60), /truncated/],
    ['not cpio', Buffer.from('hello world, not an archive'), /unrecognised data/],
    ['bad compressed part', Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(40, 9)]), /could not decompress/],
    ['empty', Buffer.alloc(0), /empty/],
  ];
  for (const [name, data, reason] of cases) {
    const listing = await listInitramfs(data, false);
    assert.ok(!listing.ok && reason.test(listing.reason), `${name}: ${JSON.stringify(listing)}`);
  }
  const tail = await listInitramfs(Buffer.concat([microcode, Buffer.from('junk after the archive')]), false);
  assert.ok(tail.ok && /unrecognised/.test(tail.layout), 'what was listed is kept, the problem noted');
});

test('boot scripts: iPXE and U-Boot downloads map to /boot/<model>/', () => {
  const ipxe = parseBootScript(Buffer.from('#!ipxe\nset base-url tftp://${next-server}\nkernel --name k ${base-url}/kernel ip=dhcp || goto failed\ninitrd tftp://${next-server}/initrd.img\nmodule ${url}${x}/dtb.dtb\nboot\n'), 'ipxe');
  assert.deepEqual(ipxe.loads.map((l) => [l.role, l.name]), [['kernel', 'kernel'], ['initrd', 'initrd.img']]);
  assert.deepEqual(ipxe.unresolved, ['${url}${x}/dtb.dtb']);
  const uboot = parseBootScript(Buffer.from('tftp ${kernel_addr_r} "kernel" || reset; tftp ${ramdisk_addr_r} ${serverip}:initrd\ntftpboot ${fdt_addr_r} /dtb\n# tftp 0x1000 commented\ntftp ${loadaddr}\n'), 'u-boot');
  assert.deepEqual(uboot.loads.map((l) => [l.role, l.name]), [['kernel', 'kernel'], ['initrd', 'initrd'], ['dtb', 'dtb']]);
  assert.equal(uboot.unresolved.length, 1);
  assert.match(parseBootScript(Buffer.from([0xd0, 0x0d, 0xfe, 0xed, 0, 0]), 'u-boot').error ?? '', /FIT/);
  assert.match(parseBootScript(Buffer.from('\x7fELF\0\0\0'), 'ipxe').error ?? '', /binary/);
});

test('sshd_config: first value wins across includes, Port accumulates, Match blocks are skipped', () => {
  const files: Record<string, string> = {
    'etc/ssh/sshd_config': 'Include sshd_config.d/*.conf\nPermitRootLogin yes\nPort 22\nMatch Address 10.0.0.0/8\n  PubkeyAuthentication no\n',
    'etc/ssh/sshd_config.d/a.conf': 'permitrootlogin=without-password\nPort 2222\n',
    'etc/ssh/sshd_config.d/b.conf': 'PermitRootLogin no\nInclude /etc/ssh/sshd_config.d/b.conf\n',
  };
  const glob = (p: string): string[] => Object.keys(files).filter((f) => new RegExp(`^${p.replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`).test(f)).sort();
  const s = evaluateSshdConfig((p) => files[p], glob);
  assert.equal(s.permitRootLogin, 'without-password');
  assert.equal(s.pubkeyAuthentication, 'yes');
  assert.deepEqual(s.ports.sort(), [22, 2222]);
  assert.ok(s.problems.some((p) => /nesting/.test(p)), 'a self-including file is cut off, not an endless loop');
  assert.equal(evaluateSshdConfig(() => undefined, () => []).permitRootLogin, 'prohibit-password', 'built-in default');
});
