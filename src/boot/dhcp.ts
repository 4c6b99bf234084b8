/**
 * Kiln's DHCP server on node:dgram (RFC 2131/2132, PXE proxyDHCP on port 4011). The decisions
 * are {@link decide}'s; this file holds the sockets, the leases in memory (bound ones are
 * persisted through `leases`), and the bounds: offers and declined addresses are capped and
 * expire, malformed packets are counted and dropped.
 */
import { createSocket, type Socket } from 'node:dgram';
import { KilnError, ErrorCode } from '../core/index.ts';
import { describeClient, type DhcpClientInfo } from './dhcp-client.ts';
import { broadcastOf, decide, type DhcpSettings, type DhcpState, type Lease } from './dhcp-decide.ts';
import { decodeDhcp, DhcpMessage, encodeDhcp } from './dhcp-packet.ts';

/** Where bound leases live between restarts (the catalog). */
export interface DhcpLeaseStore {
  load(): Lease[];
  save(lease: Lease): Promise<void>;
  drop(mac: string): Promise<void>;
}

/** The catalog's nodes, as the DHCP server sees them. */
export interface DhcpNodes {
  byMac(mac: string): { ip?: string | undefined; name: string } | undefined;
  /** The MAC of the node whose fixed address this is. */
  macByIp(ip: string): string | undefined;
}

/** One structured line per DHCP message handled. */
export interface DhcpRequestLog {
  protocol: 'dhcp';
  client: string;
  message: string;
  result: string;
  ip?: string;
  node?: string;
  model?: string;
  vendorClass?: string;
  userClass?: string;
  bootFile?: string;
  port: number;
}

/** What {@link createDhcpServer} needs. */
export interface DhcpServerConfig {
  settings: DhcpSettings;
  /** The address listened on: 0.0.0.0 (the default) so that broadcasts from clients without an address arrive. */
  address?: string;
  /** 67, or 0 for a free port (tests). */
  port: number;
  /** 4011 for PXE proxy requests; undefined: not listened on. */
  pxePort?: number | undefined;
  /** The port replies go to (68: clients'). */
  clientPort?: number;
  leases: DhcpLeaseStore;
  nodes: DhcpNodes;
  log: (entry: DhcpRequestLog) => void;
  /** Called for every client request (discovery: new nodes and unknown devices). */
  onClient?: (client: DhcpClientInfo, ip: string | undefined) => void;
  clock?: () => number;
  /** Caps on what is tracked in memory. */
  maxOffers?: number;
}

/** A running DHCP server. */
export interface DhcpServer {
  start(): Promise<{ port: number; pxePort?: number }>;
  stop(): Promise<void>;
  /** Counters: messages received, malformed ones dropped, replies sent. */
  stats(): { received: number; malformed: number; replies: number };
}

const OFFER_MS = 60_000;
const DECLINE_MS = 10 * 60_000;
const NAMES: Record<number, string> = Object.fromEntries(Object.entries(DhcpMessage).map(([k, v]) => [v, k]));

/** Creates a DHCP server (authoritative or proxy, as `settings.mode` says). */
export function createDhcpServer(config: DhcpServerConfig): DhcpServer {
  const clock = config.clock ?? Date.now;
  const maxOffers = config.maxOffers ?? 4096;
  const settings = config.settings;
  const leases = new Map<string, Lease>();
  const holders = new Map<string, string>();
  const declined = new Map<string, number>();
  const counters = { received: 0, malformed: 0, replies: 0 };
  const sockets: Socket[] = [];
  let offers = 0;

  for (const lease of config.leases.load()) {
    leases.set(lease.mac, lease);
    holders.set(lease.ip, lease.mac);
  }

  const forget = (mac: string): Lease | undefined => {
    const lease = leases.get(mac);
    if (!lease) return undefined;
    leases.delete(mac);
    if (holders.get(lease.ip) === mac) holders.delete(lease.ip);
    if (!lease.bound) offers--;
    return lease;
  };
  const live = (mac: string): Lease | undefined => {
    const lease = leases.get(mac);
    // An expired lease stays the client's until someone else needs the address (RFC 2131 §4.3.1 prefers it).
    if (lease && !lease.bound && lease.expires < clock()) {
      forget(mac);
      return undefined;
    }
    return lease;
  };
  // The node row of the packet being handled: its decision and its log line read it once, not at each use.
  let row: { mac: string; node: ReturnType<DhcpState['node']> } | undefined;
  const nodeOf = (mac: string): ReturnType<DhcpState['node']> => {
    if (row?.mac !== mac) row = { mac, node: config.nodes.byMac(mac) };
    return row.node;
  };
  const state: DhcpState = {
    lease: live,
    node: nodeOf,
    takenByOther: (ip, mac) => {
      const until = declined.get(ip);
      if (until !== undefined) {
        if (until > clock()) return true;
        declined.delete(ip);
      }
      // In memory first: a pool scan asks the catalog only for addresses no live lease holds.
      const holder = holders.get(ip);
      if (holder !== undefined && holder !== mac) {
        const lease = live(holder);
        if (lease !== undefined && lease.expires >= clock()) return true;
      }
      const nodeMac = config.nodes.macByIp(ip);
      return nodeMac !== undefined && nodeMac !== mac;
    },
  };

  const persist = (what: Promise<void>): void => {
    what.catch(() => undefined); // a lost write costs a lease after a restart, not the server
  };

  function apply(mac: string, change: NonNullable<ReturnType<typeof decide>['change']>): void {
    if (change.kind === 'release') {
      const old = forget(mac);
      if (old?.bound) persist(config.leases.drop(mac));
      return;
    }
    if (change.kind === 'decline') {
      forget(mac);
      persist(config.leases.drop(mac));
      if (declined.size < maxOffers) declined.set(change.ip, clock() + DECLINE_MS);
      return;
    }
    const previous = forget(mac);
    // An address taken over from an expired holder leaves that holder.
    const holder = holders.get(change.ip);
    if (holder !== undefined && holder !== mac) {
      forget(holder);
      persist(config.leases.drop(holder));
    }
    if (change.kind === 'offer') {
      if (previous?.bound && previous.ip === change.ip) {
        leases.set(mac, previous);
        holders.set(previous.ip, mac);
        return;
      }
      if (offers >= maxOffers) return; // bounded: the client will be offered again when it retries
      offers++;
      leases.set(mac, { mac, ip: change.ip, expires: clock() + OFFER_MS, bound: false });
    } else {
      const lease = { mac, ip: change.ip, expires: clock() + settings.leaseSeconds * 1000, bound: true };
      leases.set(mac, lease);
      persist(config.leases.save(lease));
    }
    holders.set(change.ip, mac);
  }

  function onMessage(socket: Socket, port: 'dhcp' | 'pxe', msg: Buffer, rinfo: { address: string; port: number }): void {
    counters.received++;
    row = undefined; // rows change between packets (a node booted elsewhere, renamed, registered)
    const packet = decodeDhcp(msg);
    const client = packet ? describeClient(packet) : undefined;
    if (!packet || !client) {
      counters.malformed++;
      return;
    }
    const decision = decide(packet, client, settings, state, port);
    if (decision.change) apply(client.mac, decision.change);
    if (decision.reply) {
      const data = encodeDhcp(decision.reply);
      const relayed = packet.giaddr !== '0.0.0.0';
      const [address, dport] = decision.to === 'source' ? [rinfo.address, rinfo.port]
        : relayed ? [packet.giaddr, 67]
          : decision.to === 'unicast' ? [packet.ciaddr, config.clientPort ?? 68]
            : [broadcastOf(settings.subnet), config.clientPort ?? 68];
      counters.replies++;
      // A failed send is one lost reply: the client retransmits.
      socket.send(data, dport, address, () => undefined);
    }
    const node = nodeOf(client.mac)?.name;
    config.log({
      protocol: 'dhcp', client: client.mac, message: NAMES[client.type] ?? String(client.type), result: decision.result,
      ...(decision.ip !== undefined && decision.ip !== '0.0.0.0' ? { ip: decision.ip } : {}),
      ...(node !== undefined ? { node } : {}),
      ...(client.model !== undefined ? { model: client.model } : {}),
      ...(client.vendorClass !== undefined ? { vendorClass: client.vendorClass } : {}),
      ...(client.userClasses.length > 0 ? { userClass: client.userClasses.join(',') } : {}),
      ...(decision.bootFile !== undefined ? { bootFile: decision.bootFile } : {}),
      port: port === 'pxe' ? 4011 : 67,
    });
    if (client.type === DhcpMessage.DISCOVER || client.type === DhcpMessage.REQUEST || client.type === DhcpMessage.INFORM) {
      config.onClient?.(client, decision.result === 'ack' || decision.result === 'inform' ? decision.ip : undefined);
    }
  }

  async function bind(port: number, kind: 'dhcp' | 'pxe'): Promise<number> {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ address: config.address ?? '0.0.0.0', port }, () => {
        s.off('error', reject);
        resolve();
      });
    }).catch((cause: unknown) => {
      s.close();
      throw new KilnError(ErrorCode.IO, `cannot listen for DHCP on port ${port}`, {
        cause,
        hint: 'another DHCP server (dnsmasq, isc-dhcp-server) may hold the port, or it needs root or CAP_NET_BIND_SERVICE; use dhcp: proxy beside an existing DHCP server',
      });
    });
    s.setBroadcast(true);
    s.on('message', (msg, rinfo) => onMessage(s, kind, msg, rinfo));
    // A failed send concerns one reply; the client retries.
    s.on('error', () => undefined);
    sockets.push(s);
    return s.address().port;
  }

  return {
    async start() {
      if (sockets.length > 0) throw new KilnError(ErrorCode.CONFLICT, 'the DHCP server is already started');
      const port = await bind(config.port, 'dhcp');
      if (config.pxePort === undefined) return { port };
      return { port, pxePort: await bind(config.pxePort, 'pxe') };
    },
    async stop() {
      const all = sockets.splice(0);
      await Promise.all(all.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
    stats: () => ({ ...counters }),
  };
}
