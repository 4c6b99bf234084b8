/**
 * The DHCP server's decisions, pure: which address a client gets (RFC 2131 §4.3.1), whether a
 * REQUEST is acknowledged or refused (§4.3.2), and the options of the reply, in both modes:
 * authoritative (addresses and boot options) and proxyDHCP (PXE spec §2.2.4: boot options
 * only, no address; port 4011 for the PXE firmware's follow-up request).
 */
import { inIpv4Subnet, ipv4ToNumber, numberToIpv4, prefixMask } from '../core/index.ts';
import { bootFileFor, type DhcpClientInfo } from './dhcp-client.ts';
import { DhcpMessage, DhcpOption, opt, type DhcpPacket, type DhcpReply } from './dhcp-packet.ts';

/** The network settings the decisions need. */
export interface DhcpSettings {
  mode: 'authoritative' | 'proxy';
  /** Kiln's address on the node network: server identifier, next-server, TFTP server. */
  serverIp: string;
  /** Where the HTTP boot service is (`http://<ip>[:port]`), for iPXE's chain. */
  httpUrl?: string | undefined;
  /** The subnet: network address and prefix length. */
  subnet: { network: string; prefix: number };
  /** The address pool, inclusive (authoritative mode). */
  pool?: { first: string; last: string } | undefined;
  leaseSeconds: number;
  router?: string | undefined;
  dns?: readonly string[] | undefined;
}

/** An address held by a MAC; `bound` once acknowledged (persisted), else an offer. */
export interface Lease {
  mac: string;
  ip: string;
  /** Milliseconds since the epoch. */
  expires: number;
  bound: boolean;
}

/** What the decisions read about the present state. */
export interface DhcpState {
  lease(mac: string): Lease | undefined;
  /** Who holds an address, other than `mac`: a lease, a node's fixed address, a declined address. */
  takenByOther(ip: string, mac: string): boolean;
  /** A known node's fixed address (the catalog's), and its name. */
  node(mac: string): { ip?: string | undefined; name: string } | undefined;
}

/** A decision: the reply (if any), where it goes, and the lease change to apply. */
export interface DhcpDecision {
  reply?: DhcpReply;
  /** broadcast: the subnet broadcast (the client has no address yet); unicast: to ciaddr; source: back to the sender. */
  to?: 'broadcast' | 'unicast' | 'source';
  change?: { kind: 'offer' | 'bind'; ip: string } | { kind: 'release' } | { kind: 'decline'; ip: string };
  /** For the log line: what happened. */
  result: 'offer' | 'ack' | 'nak' | 'inform' | 'release' | 'decline' | 'ignored' | 'no-address';
  ip?: string;
  bootFile?: string;
}

/** True when `ip` is inside the subnet. */
export function inSubnet(ip: string, subnet: DhcpSettings['subnet']): boolean {
  return inIpv4Subnet(ip, subnet.network, subnet.prefix);
}

/** The subnet's broadcast address (where replies to clients without an address go). */
export function broadcastOf(subnet: DhcpSettings['subnet']): string {
  return numberToIpv4(((ipv4ToNumber(subnet.network) & prefixMask(subnet.prefix)) | ~prefixMask(subnet.prefix)) >>> 0);
}

const inPool = (ip: string, s: DhcpSettings): boolean =>
  s.pool !== undefined && ipv4ToNumber(ip) >= ipv4ToNumber(s.pool.first) && ipv4ToNumber(ip) <= ipv4ToNumber(s.pool.last) && ip !== s.serverIp;

/**
 * The address for a client, in RFC 2131 §4.3.1's order: a known node's fixed address; its
 * current lease or offer; the address it asks for, when free; else the first free one.
 */
export function chooseAddress(client: DhcpClientInfo, s: DhcpSettings, state: DhcpState): string | undefined {
  const fixed = state.node(client.mac)?.ip;
  if (fixed !== undefined && inSubnet(fixed, s.subnet)) return fixed;
  const held = state.lease(client.mac)?.ip;
  if (held !== undefined && inPool(held, s) && !state.takenByOther(held, client.mac)) return held;
  const asked = client.requestedIp;
  if (asked !== undefined && inPool(asked, s) && !state.takenByOther(asked, client.mac)) return asked;
  if (!s.pool) return undefined;
  for (let n = ipv4ToNumber(s.pool.first), last = ipv4ToNumber(s.pool.last); n <= last; n++) {
    const ip = numberToIpv4(n);
    if (ip !== s.serverIp && !state.takenByOther(ip, client.mac)) return ip;
  }
  return undefined;
}

/** May the client have `ip`: the address Kiln would give it, or a free pool address. */
function acceptable(ip: string, client: DhcpClientInfo, s: DhcpSettings, state: DhcpState): boolean {
  const fixed = state.node(client.mac)?.ip;
  if (fixed !== undefined && inSubnet(fixed, s.subnet)) return ip === fixed;
  return inPool(ip, s) && !state.takenByOther(ip, client.mac);
}

function replyFor(packet: DhcpPacket, client: DhcpClientInfo, s: DhcpSettings, type: number, yiaddr: string, state: DhcpState, withLease: boolean): { reply: DhcpReply; bootFile?: string } {
  const bootFile = bootFileFor(client, { ip: s.serverIp, httpUrl: s.httpUrl });
  const options: Array<[number, Buffer]> = [[DhcpOption.MESSAGE_TYPE, opt.byte(type)], [DhcpOption.SERVER_ID, opt.ip(s.serverIp)]];
  if (type !== DhcpMessage.NAK) {
    if (withLease) {
      options.push([DhcpOption.LEASE_TIME, opt.u32(s.leaseSeconds)], [DhcpOption.RENEWAL_TIME, opt.u32(Math.floor(s.leaseSeconds / 2))], [DhcpOption.REBINDING_TIME, opt.u32(Math.floor((s.leaseSeconds * 7) / 8))]);
    }
    if (s.mode === 'authoritative') {
      options.push([DhcpOption.SUBNET_MASK, opt.ip(numberToIpv4(prefixMask(s.subnet.prefix)))], [DhcpOption.BROADCAST, opt.ip(broadcastOf(s.subnet))]);
      if (s.router) options.push([DhcpOption.ROUTER, opt.ip(s.router)]);
      if (s.dns && s.dns.length > 0) options.push([DhcpOption.DNS, opt.ips(s.dns)]);
      const name = state.node(client.mac)?.name;
      if (name) options.push([DhcpOption.HOST_NAME, opt.text(name)]);
    }
    options.push([DhcpOption.TFTP_SERVER, opt.text(s.serverIp)]);
    if (bootFile) options.push([DhcpOption.BOOTFILE, opt.text(bootFile)]);
    if (client.pxe) {
      // PXE firmware ignores offers without "PXEClient"; sub-option 6 = 8: boot from the file given, no discovery.
      options.push([DhcpOption.VENDOR_CLASS, opt.text(client.vendorClass?.startsWith('HTTPClient') ? 'HTTPClient' : 'PXEClient')]);
      options.push([DhcpOption.VENDOR_SPECIFIC, Buffer.from([6, 1, 8, 255])]);
    }
  }
  return {
    reply: {
      op: 2, xid: packet.xid, flags: packet.flags, ciaddr: type === DhcpMessage.NAK ? '0.0.0.0' : packet.ciaddr, yiaddr,
      siaddr: type === DhcpMessage.NAK ? '0.0.0.0' : s.serverIp, giaddr: packet.giaddr, chaddr: packet.chaddr,
      ...(bootFile && type !== DhcpMessage.NAK && bootFile.length < 128 ? { file: bootFile } : {}),
      options,
    },
    ...(bootFile && type !== DhcpMessage.NAK ? { bootFile } : {}),
  };
}

const ZERO = '0.0.0.0';

/** Decides the answer to one request; `port` is where it arrived (67, or 4011 for PXE's proxy requests). */
export function decide(packet: DhcpPacket, client: DhcpClientInfo, s: DhcpSettings, state: DhcpState, port: 'dhcp' | 'pxe'): DhcpDecision {
  if (s.mode === 'proxy' || port === 'pxe') return decideProxy(packet, client, s, state, port);
  const dest = (): DhcpDecision['to'] => (packet.ciaddr !== ZERO ? 'unicast' : 'broadcast');
  switch (client.type) {
    case DhcpMessage.DISCOVER: {
      const ip = chooseAddress(client, s, state);
      if (ip === undefined) return { result: 'no-address' };
      const { reply, bootFile } = replyFor(packet, client, s, DhcpMessage.OFFER, ip, state, true);
      return { reply, to: 'broadcast', change: { kind: 'offer', ip }, result: 'offer', ip, ...(bootFile ? { bootFile } : {}) };
    }
    case DhcpMessage.REQUEST: {
      // SELECTING: the client answers an offer; one for another server is that server's business.
      if (client.serverId !== undefined && client.serverId !== s.serverIp) return { change: { kind: 'release' }, result: 'ignored' };
      const ip = client.requestedIp ?? (packet.ciaddr !== ZERO ? packet.ciaddr : undefined);
      if (ip === undefined) return { result: 'ignored' };
      // INIT-REBOOT with an address of another network: not ours to refuse (RFC 2131 §4.3.2).
      if (!inSubnet(ip, s.subnet)) return client.serverId === undefined ? { result: 'ignored' } : nak(packet, client, s, state);
      if (!acceptable(ip, client, s, state)) return nak(packet, client, s, state);
      const { reply, bootFile } = replyFor(packet, client, s, DhcpMessage.ACK, ip, state, true);
      return { reply, to: dest(), change: { kind: 'bind', ip }, result: 'ack', ip, ...(bootFile ? { bootFile } : {}) };
    }
    case DhcpMessage.DECLINE: {
      if (client.serverId !== undefined && client.serverId !== s.serverIp) return { result: 'ignored' };
      const ip = client.requestedIp;
      return ip !== undefined && inSubnet(ip, s.subnet) ? { change: { kind: 'decline', ip }, result: 'decline', ip } : { result: 'ignored' };
    }
    case DhcpMessage.RELEASE:
      if (client.serverId !== undefined && client.serverId !== s.serverIp) return { result: 'ignored' };
      return { change: { kind: 'release' }, result: 'release', ip: packet.ciaddr };
    case DhcpMessage.INFORM: {
      if (packet.ciaddr === ZERO) return { result: 'ignored' };
      const { reply, bootFile } = replyFor(packet, client, s, DhcpMessage.ACK, ZERO, state, false);
      return { reply, to: 'unicast', result: 'inform', ip: packet.ciaddr, ...(bootFile ? { bootFile } : {}) };
    }
    default:
      return { result: 'ignored' };
  }
}

function nak(packet: DhcpPacket, client: DhcpClientInfo, s: DhcpSettings, state: DhcpState): DhcpDecision {
  const { reply } = replyFor(packet, client, s, DhcpMessage.NAK, ZERO, state, false);
  // RFC 2131 §4.3.2: NAKs are broadcast (the client's address is what is wrong). Its lease, if
  // any, stays: the DISCOVER that follows gets that address again.
  return { reply: { ...reply, flags: packet.flags | 0x8000 }, to: 'broadcast', result: 'nak' };
}

/**
 * proxyDHCP: only boot clients (PXE firmware, iPXE, WalT's classes) are answered, never with an
 * address. DISCOVER on 67 → an offer with the boot file, broadcast; REQUEST on 4011 → an ACK
 * with the boot file, back to the sender (it has its address from the network's DHCP server).
 */
function decideProxy(packet: DhcpPacket, client: DhcpClientInfo, s: DhcpSettings, state: DhcpState, port: 'dhcp' | 'pxe'): DhcpDecision {
  if (!client.pxe && !client.ipxe && client.model === undefined) return { result: 'ignored' };
  const type = port === 'dhcp' && client.type === DhcpMessage.DISCOVER ? DhcpMessage.OFFER
    : port === 'pxe' && (client.type === DhcpMessage.REQUEST || client.type === DhcpMessage.INFORM) ? DhcpMessage.ACK : undefined;
  if (type === undefined) return { result: 'ignored' };
  const proxy = { ...s, mode: 'proxy' as const };
  const { reply, bootFile } = replyFor(packet, client, proxy, type, ZERO, state, false);
  return { reply, to: port === 'pxe' ? 'source' : 'broadcast', result: type === DhcpMessage.OFFER ? 'offer' : 'ack', ...(bootFile ? { bootFile } : {}) };
}
