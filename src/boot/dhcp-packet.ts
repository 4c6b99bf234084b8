/**
 * DHCP messages (RFC 2131 §2, options RFC 2132): decoding is total (a malformed packet gives
 * `undefined`, never an exception), encoding splits long options (RFC 3396).
 */

/** Message types (option 53, RFC 2132 §9.6). */
export const DhcpMessage = {
  DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8,
} as const;

/** Option codes Kiln reads or writes. */
export const DhcpOption = {
  PAD: 0, SUBNET_MASK: 1, ROUTER: 3, DNS: 6, HOST_NAME: 12, BROADCAST: 28, VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50, LEASE_TIME: 51, OVERLOAD: 52, MESSAGE_TYPE: 53, SERVER_ID: 54, MESSAGE: 56,
  RENEWAL_TIME: 58, REBINDING_TIME: 59, VENDOR_CLASS: 60, CLIENT_ID: 61, TFTP_SERVER: 66,
  BOOTFILE: 67, USER_CLASS: 77, CLIENT_ARCH: 93, CLIENT_NDI: 94, UUID: 97, IPXE_ENCAP: 175, END: 255,
} as const;

const MAGIC = 0x63825363;
const FIXED = 236;
/** BOOTP relays and old clients expect at least this much (RFC 1542 §2.1). */
const MIN_SIZE = 300;

/** The header fields a decoded message and a reply both carry (RFC 2131 §2, Table 1). */
export interface DhcpHeader {
  op: number;
  xid: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The hardware address, at most 16 bytes (a decoded message's `hlen`). */
  chaddr: Buffer;
}

/** A decoded DHCP message. Options are raw bytes by code; repeated ones are concatenated (RFC 3396). */
export interface DhcpPacket extends DhcpHeader {
  htype: number;
  hlen: number;
  hops: number;
  secs: number;
  sname: string;
  file: string;
  options: Map<number, Buffer>;
}

const ip = (buf: Buffer, at: number): string => `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
const cstring = (buf: Buffer): string => {
  const end = buf.indexOf(0);
  return buf.subarray(0, end < 0 ? buf.length : end).toString('latin1');
};

/** Reads an options area into `into`; false when it is malformed (an option running past the end). */
function readOptions(area: Buffer, into: Map<number, Buffer>): boolean {
  let at = 0;
  while (at < area.length) {
    const code = area[at]!;
    if (code === DhcpOption.END) return true;
    if (code === DhcpOption.PAD) {
      at++;
      continue;
    }
    if (at + 1 >= area.length) return false;
    const len = area[at + 1]!;
    if (at + 2 + len > area.length) return false;
    const value = area.subarray(at + 2, at + 2 + len);
    const seen = into.get(code);
    into.set(code, seen ? Buffer.concat([seen, value]) : Buffer.from(value));
    at += 2 + len;
  }
  // No END: tolerated (some firmware omits it), the area was consumed exactly.
  return true;
}

/** Decodes a DHCP message; undefined when it is not one (too short, bad cookie, hlen > 16, broken options). */
export function decodeDhcp(buf: Buffer): DhcpPacket | undefined {
  if (buf.length < FIXED + 4 || buf.readUInt32BE(FIXED) !== MAGIC) return undefined;
  const hlen = buf[2]!;
  if (hlen > 16) return undefined;
  const options = new Map<number, Buffer>();
  if (!readOptions(buf.subarray(FIXED + 4), options)) return undefined;
  // Option overload (RFC 2132 §9.3): file and/or sname carry more options.
  const overload = options.get(DhcpOption.OVERLOAD)?.[0] ?? 0;
  if ((overload & 1) !== 0 && !readOptions(buf.subarray(108, 236), options)) return undefined;
  if ((overload & 2) !== 0 && !readOptions(buf.subarray(44, 108), options)) return undefined;
  return {
    op: buf[0]!,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ip(buf, 12),
    yiaddr: ip(buf, 16),
    siaddr: ip(buf, 20),
    giaddr: ip(buf, 24),
    chaddr: Buffer.from(buf.subarray(28, 28 + hlen)),
    sname: (overload & 2) !== 0 ? '' : cstring(buf.subarray(44, 108)),
    file: (overload & 1) !== 0 ? '' : cstring(buf.subarray(108, 236)),
    options,
  };
}

/** What {@link encodeDhcp} writes; options in the order given. */
export interface DhcpReply extends DhcpHeader {
  sname?: string;
  file?: string;
  options: ReadonlyArray<readonly [number, Buffer]>;
}

function writeIp(buf: Buffer, at: number, text: string): void {
  const parts = text.split('.').map(Number);
  for (let i = 0; i < 4; i++) buf[at + i] = parts[i] ?? 0;
}

/** Encodes a message (htype Ethernet, hlen from chaddr); values longer than 255 bytes become several options. */
export function encodeDhcp(reply: DhcpReply): Buffer {
  const head = Buffer.alloc(FIXED + 4);
  head[0] = reply.op;
  head[1] = 1;
  head[2] = Math.min(reply.chaddr.length, 16);
  head.writeUInt32BE(reply.xid >>> 0, 4);
  head.writeUInt16BE(reply.flags & 0xffff, 10);
  writeIp(head, 12, reply.ciaddr);
  writeIp(head, 16, reply.yiaddr);
  writeIp(head, 20, reply.siaddr);
  writeIp(head, 24, reply.giaddr);
  reply.chaddr.copy(head, 28, 0, 16);
  head.write((reply.sname ?? '').slice(0, 63), 44, 'latin1');
  head.write((reply.file ?? '').slice(0, 127), 108, 'latin1');
  head.writeUInt32BE(MAGIC, FIXED);
  const parts: Buffer[] = [head];
  for (const [code, value] of reply.options) {
    for (let at = 0; at === 0 || at < value.length; at += 255) {
      const chunk = value.subarray(at, at + 255);
      parts.push(Buffer.from([code, chunk.length]), chunk);
    }
  }
  parts.push(Buffer.from([DhcpOption.END]));
  const out = Buffer.concat(parts);
  return out.length >= MIN_SIZE ? out : Buffer.concat([out, Buffer.alloc(MIN_SIZE - out.length)]);
}

/** Option value helpers. */
export const opt = {
  byte: (n: number): Buffer => Buffer.from([n & 0xff]),
  u32: (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  },
  ip: (text: string): Buffer => {
    const b = Buffer.alloc(4);
    writeIp(b, 0, text);
    return b;
  },
  ips: (list: readonly string[]): Buffer => Buffer.concat(list.map((t) => opt.ip(t))),
  text: (text: string): Buffer => Buffer.from(text, 'latin1'),
};

/** The lower-case colon form of an Ethernet chaddr; undefined for other hardware types. */
export function packetMac(packet: DhcpPacket): string | undefined {
  if (packet.htype !== 1 || packet.hlen !== 6) return undefined;
  return [...packet.chaddr].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** An IPv4 address option (4 bytes) as text, else undefined. */
export function optionIp(packet: DhcpPacket, code: number): string | undefined {
  const v = packet.options.get(code);
  return v && v.length === 4 ? ip(v, 0) : undefined;
}
