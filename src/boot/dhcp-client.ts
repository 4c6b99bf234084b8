/**
 * What a DHCP request says about its sender: its MAC, WalT's `walt.node.<model>` class
 * (vendor class, option 60, or user class, option 77), whether it is PXE firmware or iPXE,
 * and its architecture (option 93, RFC 4578 / IANA "Processor Architecture Types").
 */
import { DhcpOption, optionIp, packetMac, type DhcpPacket } from './dhcp-packet.ts';

/** The sender of a DHCP request, as far as Kiln cares. */
export interface DhcpClientInfo {
  mac: string;
  /** Option 53. */
  type: number;
  vendorClass?: string;
  userClasses: string[];
  /** From `walt.node.<model>` in the vendor class or a user class. */
  model?: string;
  /** Option 12. */
  hostname?: string;
  /** Option 93's first architecture type. */
  arch?: number;
  /** iPXE itself (user class "iPXE", or option 175): chain it to start.ipxe. */
  ipxe: boolean;
  /** PXE firmware (vendor class "PXEClient…" or "HTTPClient…"). */
  pxe: boolean;
  requestedIp?: string;
  serverId?: string;
}

const MODEL = /^walt\.node\.([a-z0-9][a-z0-9._-]*)$/u;

/**
 * User classes of option 77: the RFC 3004 form (a list of length-prefixed strings) when the
 * bytes parse as one exactly, else the whole value as one string (iPXE's `user-class`
 * setting and U-Boot send the bare text).
 */
export function parseUserClass(value: Buffer): string[] {
  const list: string[] = [];
  let at = 0;
  while (at < value.length) {
    const len = value[at]!;
    if (len === 0 || at + 1 + len > value.length) break;
    list.push(value.subarray(at + 1, at + 1 + len).toString('latin1'));
    at += 1 + len;
  }
  // Printable list items only: "walt.node.x" read as RFC 3004 would start with a 0x77 length.
  const printable = list.every((s) => /^[\x20-\x7e]+$/u.test(s));
  if (at === value.length && list.length > 0 && printable) return list;
  const text = value.toString('latin1').replace(/\0+$/u, '');
  return text === '' ? [] : [text];
}

/** The model named by `walt.node.<model>` in any of the classes, if one does. */
export function modelFromClasses(classes: readonly string[]): string | undefined {
  for (const c of classes) {
    const m = MODEL.exec(c.trim());
    if (m) return m[1];
  }
  return undefined;
}

/** Reads the sender of a request; undefined when it is no Ethernet client request. */
export function describeClient(packet: DhcpPacket): DhcpClientInfo | undefined {
  const mac = packetMac(packet);
  const type = packet.options.get(DhcpOption.MESSAGE_TYPE)?.[0];
  if (packet.op !== 1 || mac === undefined || type === undefined) return undefined;
  const vendor = packet.options.get(DhcpOption.VENDOR_CLASS)?.toString('latin1');
  const userRaw = packet.options.get(DhcpOption.USER_CLASS);
  const userClasses = userRaw ? parseUserClass(userRaw) : [];
  const model = modelFromClasses([...(vendor !== undefined ? [vendor] : []), ...userClasses]);
  const hostname = packet.options.get(DhcpOption.HOST_NAME)?.toString('latin1').replace(/\0+$/u, '');
  const archRaw = packet.options.get(DhcpOption.CLIENT_ARCH);
  const requestedIp = optionIp(packet, DhcpOption.REQUESTED_IP);
  const serverId = optionIp(packet, DhcpOption.SERVER_ID);
  return {
    mac,
    type,
    ...(vendor !== undefined ? { vendorClass: vendor } : {}),
    userClasses,
    ...(model !== undefined ? { model } : {}),
    ...(hostname ? { hostname } : {}),
    ...(archRaw && archRaw.length >= 2 ? { arch: archRaw.readUInt16BE(0) } : {}),
    ipxe: userClasses.includes('iPXE') || packet.options.has(DhcpOption.IPXE_ENCAP),
    pxe: vendor !== undefined && (vendor.startsWith('PXEClient') || vendor.startsWith('HTTPClient')),
    ...(requestedIp !== undefined ? { requestedIp } : {}),
    ...(serverId !== undefined ? { serverId } : {}),
  };
}

/** Debian's `ipxe` binaries (under /usr/lib/ipxe), by client architecture (RFC 4578 §2.1, IANA registry). */
export const IPXE_BINARIES: ReadonlyMap<number, string> = new Map([
  [0, 'undionly.kpxe'], // x86 BIOS
  [7, 'snponly.efi'], // x64 UEFI: the firmware's own network driver (SNP)
  [9, 'snponly.efi'], // EBC, sent by x64 UEFI firmware that mislabels itself
  [16, 'ipxe.efi'], // x64 UEFI HTTP boot
]);

/** The names Kiln serves from the iPXE binaries whatever node asks. */
export const IPXE_FILES: ReadonlySet<string> = new Set(IPXE_BINARIES.values());

/**
 * The boot file for a client: iPXE chains to Kiln's start.ipxe (over HTTP when the HTTP boot
 * service is known, else TFTP); PXE firmware gets the iPXE binary of its architecture
 * (a URL for UEFI HTTP boot, arch 16); other clients (U-Boot fetches its own script) none.
 */
export function bootFileFor(client: DhcpClientInfo, server: { ip: string; httpUrl?: string | undefined }): string | undefined {
  if (client.ipxe) return server.httpUrl ? `${server.httpUrl}/boot/start.ipxe` : `tftp://${server.ip}/start.ipxe`;
  if (!client.pxe) return undefined;
  const binary = IPXE_BINARIES.get(client.arch ?? 0);
  if (binary === undefined) return undefined;
  if (client.arch === 16) return server.httpUrl ? `${server.httpUrl}/boot/${binary}` : undefined;
  return binary;
}
