import { createReadStream, statSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { IPXE_FILES } from './dhcp-client.ts';
import { memoryFile } from './memory-file.ts';
import type { BootFile } from './types.ts';

/**
 * WalT's `tftp-static`: what a client Kiln does not know gets, so that it retries rather than
 * hangs. iPXE: a script that says why, waits and re-runs DHCP and the chain (the node appears
 * once registered). U-Boot (Raspberry Pi and other boards with U-Boot on their SD card or
 * flash): a script that says why, waits and resets. WalT also ships the Raspberry Pi
 * firmware (bootcode.bin, start*.elf) for network-booting Pis without an SD card; Kiln does
 * not redistribute those binary files, so such a Pi needs U-Boot on its SD card.
 */
const RETRY_SECONDS = 10;

/**
 * WalT's PC first stage, for an iPXE client that has not said its model: a PC's firmware
 * (its NIC's iPXE ROM, or the iPXE binary DHCP chained) announces none. It sets the user class
 * `walt.node.pc-x86-64` (`pc-x86-32` when `cpuid` finds no long mode; an iPXE without the
 * `cpuid` command is taken for the common 64-bit PC), asks DHCP again, so that discovery makes
 * it a node of that model, and chains start.ipxe again. A client that already announced a
 * model and is still unknown (no default image yet) waits and retries.
 */
const IPXE = `#!ipxe
isset \${user-class} && goto kiln_unknown ||
iseq \${buildarch} i386 || iseq \${buildarch} x86_64 || goto kiln_unknown
set kiln-model pc-x86-64
cpuid 0 || goto kiln_announce
cpuid --ext 29 || set kiln-model pc-x86-32
:kiln_announce
set user-class walt.node.\${kiln-model}
echo Kiln: first stage: this PC announces itself as \${user-class}
dhcp || goto kiln_unknown
chain --replace --autofree \${filename} || chain --replace --autofree tftp://\${next-server}/start.ipxe || goto kiln_unknown
:kiln_unknown
echo Kiln: this machine (\${mac}, \${ip}) is not a registered node; retrying in ${RETRY_SECONDS} s
echo Register it with: kiln node register \${mac} --model <model> --ip \${ip}
sleep ${RETRY_SECONDS}
dhcp && chain --replace --autofree tftp://\${next-server}/start.ipxe || reboot
`;

const UBOOT_TEXT = `echo "Kiln: this board is not a registered node; resetting in ${RETRY_SECONDS} s"
sleep ${RETRY_SECONDS}
reset
`;

/** A U-Boot legacy script image (`mkimage -T script`): header, length table, then the text. */
export function ubootScript(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const data = Buffer.alloc(8 + body.length);
  data.writeUInt32BE(body.length, 0);
  body.copy(data, 8);
  const header = Buffer.alloc(64);
  header.writeUInt32BE(0x27051956, 0); // IH_MAGIC
  header.writeUInt32BE(0, 8); // time: 0 keeps the bytes reproducible
  header.writeUInt32BE(data.length, 12);
  header.writeUInt32BE(crc32(data), 24);
  header[28] = 5; // IH_OS_LINUX
  header[29] = 0; // IH_ARCH_INVALID: scripts run on any arch
  header[30] = 6; // IH_TYPE_SCRIPT
  header[31] = 0; // IH_COMP_NONE
  header.write('kiln: unknown node', 32, 'ascii');
  header.writeUInt32BE(crc32(header), 4);
  return Buffer.concat([header, data]);
}

function staticFile(name: string, data: Buffer): BootFile {
  return memoryFile(data, `fallback:${name}`);
}

const FILES = new Map<string, BootFile>([
  ['start.ipxe', staticFile('start.ipxe', Buffer.from(IPXE, 'utf8'))],
  ['start.uboot', staticFile('start.uboot', ubootScript(UBOOT_TEXT))],
]);

/** Where Debian's `ipxe` package puts the binaries DHCP hands PXE firmware. */
export const IPXE_DIR = '/usr/lib/ipxe';

/**
 * An iPXE binary (`undionly.kpxe`, `snponly.efi`, `ipxe.efi`) from the host's `ipxe` package,
 * for PXE firmware that DHCP pointed at it; undefined when the name is none or it is not installed.
 */
export function ipxeBinary(path: string, dir = IPXE_DIR): BootFile | undefined {
  const name = path.split('/').filter(Boolean).pop() ?? '';
  if (!IPXE_FILES.has(name)) return undefined;
  const file = `${dir}/${name}`;
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat?.isFile()) return undefined;
  return {
    size: stat.size,
    etag: `"ipxe-${stat.size}-${Math.floor(stat.mtimeMs)}"`,
    served: `ipxe:${name}`,
    open: (range) => createReadStream(file, range ? { start: range.start, end: range.end } : {}),
  };
}

/** The fallback file for a path an unknown client asked (by its last name: `boot/start.ipxe` too), if any. */
export function fallbackFile(path: string): BootFile | undefined {
  const name = path.split('/').filter(Boolean).pop() ?? '';
  return FILES.get(name) ?? ipxeBinary(name);
}
