/**
 * Kiln's TFTP server on node:dgram: read requests only (RFC 1350), with option negotiation
 * (RFC 2347), blksize (RFC 2348), tsize and timeout (RFC 2349) and windowsize (RFC 7440).
 * The listening socket only dispatches; each transfer runs from its own socket.
 */
import { createSocket, type Socket } from 'node:dgram';
import { KilnError } from '../core/index.ts';
import { decodePacket, encodeError, TftpError } from './tftp-packet.ts';
import { startTransfer, type Transfer, type TransferSettings } from './tftp-transfer.ts';
import type { BootLogger, BootResolver } from './types.ts';

/** Limits of a TFTP server; every field has a default. */
export interface TftpServerOptions extends Partial<TransferSettings> {
  /** Transfers served at once; further requests get an error packet and retry. */
  maxTransfers?: number;
}

/** What {@link createTftpServer} needs. */
export interface TftpServerConfig {
  /** Address to listen on (e.g. "0.0.0.0", "127.0.0.1", "::"). */
  address: string;
  /** UDP port (69; 0 picks a free one). */
  port: number;
  resolver: BootResolver;
  log: BootLogger;
  options?: TftpServerOptions;
}

/** A TFTP server: `start` binds and says on which port, `stop` ends every transfer and timer. */
export interface TftpServer {
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
}

/** The defaults: blksize up to the RFC 2348 maximum, windows up to 64 blocks, 1 s first retransmission. */
export const TFTP_DEFAULTS: Required<TftpServerOptions> = {
  maxTransfers: 2048,
  maxBlksize: 65464,
  maxWindowsize: 64,
  retransmitMs: 1000,
  maxRetries: 5,
  deadlineMs: 10 * 60_000,
};

/** Creates a TFTP server answering read requests through `resolver`. */
export function createTftpServer(config: TftpServerConfig): TftpServer {
  const settings = { ...TFTP_DEFAULTS, ...config.options };
  const transfers = new Map<string, Transfer>();
  let socket: Socket | undefined;

  function onMessage(msg: Buffer, rinfo: { address: string; port: number }): void {
    const packet = decodePacket(msg);
    const key = `${rinfo.address}|${rinfo.port}`;
    const refuse = (code: number, message: string, result: 'forbidden' | 'error', path: string) => {
      socket!.send(encodeError(code, message), rinfo.port, rinfo.address);
      config.log({ protocol: 'tftp', client: rinfo.address, path, bytes: 0, ms: 0, result });
    };
    if (packet.kind === 'wrq') return refuse(TftpError.ACCESS_VIOLATION, 'Access violation: write requests are refused', 'forbidden', packet.filename);
    if (packet.kind !== 'rrq') return; // stray packets on the listening port get no answer (no reflection)
    // A client that repeats its request before our first answer reached it gets the transfer
    // already running, not a second one.
    if (transfers.has(key)) return;
    if (transfers.size >= settings.maxTransfers) return refuse(TftpError.UNDEFINED, 'Server busy, try again', 'error', packet.filename);
    const transfer = startTransfer({
      client: { address: rinfo.address, port: rinfo.port },
      localAddress: config.address,
      request: packet,
      resolver: config.resolver,
      log: config.log,
      settings,
    });
    transfers.set(key, transfer);
    void transfer.done.then(() => transfers.delete(key));
  }

  return {
    async start() {
      if (socket) throw new KilnError('CONFLICT', 'the TFTP server is already started');
      const s = createSocket({ type: config.address.includes(':') ? 'udp6' : 'udp4' });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ address: config.address, port: config.port }, () => {
          s.off('error', reject);
          resolve();
        });
      }).catch((cause: unknown) => {
        s.close();
        throw new KilnError('IO', `cannot listen for TFTP on ${config.address}:${config.port}`, {
          cause,
          hint: 'another TFTP server may hold the port, or port 69 needs root or CAP_NET_BIND_SERVICE; set another port in kiln.yaml',
        });
      });
      s.on('message', onMessage);
      // A send error on the listening socket concerns one refused request only.
      s.on('error', () => undefined);
      socket = s;
      return { port: s.address().port };
    },
    async stop() {
      const s = socket;
      socket = undefined;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
      const running = [...transfers.values()];
      for (const t of running) t.abort();
      await Promise.all(running.map((t) => t.done));
    },
  };
}
