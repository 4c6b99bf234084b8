/**
 * A minimal TFTP read client on node:dgram, for tests and the load benchmark: fetches one
 * file (hashing it, never holding it), and can misbehave on purpose (duplicate every ACK,
 * drop every Nth DATA packet, go silent after the request).
 */
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { decodePacket, encodeAck, encodeRequest } from '../src/boot/tftp-packet.ts';

/** What a fetch ended with: the bytes' hash and count, DATA packets seen, or the server's error. */
export interface RawFetchResult {
  sha256: string;
  bytes: number;
  packets: number;
  error?: { code: number; message: string };
}

/** Fetches `path`; `options` are sent in the request (e.g. blksize, windowsize, tsize). */
export function rawFetch(port: number, path: string, options: Record<string, string> = {}, behaviour: { duplicateAcks?: boolean; dropEvery?: number; host?: string; idleMs?: number } = {}): Promise<RawFetchResult> {
  const host = behaviour.host ?? '127.0.0.1';
  const socket = createSocket('udp4');
  const hash = createHash('sha256');
  let blksize = 512;
  let windowsize = 1;
  let last = 0; // absolute number of the last block received in order
  let sinceAck = 0;
  let bytes = 0;
  let packets = 0;
  let tid: number | undefined;
  let idle: NodeJS.Timeout | undefined;
  let retries = 0;
  let reportedAt = -1;
  return new Promise<RawFetchResult>((resolve, reject) => {
    const end = (result: RawFetchResult | Error) => {
      clearTimeout(idle);
      socket.close();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const ack = (block: number, then?: () => void) => {
      if (behaviour.duplicateAcks) socket.send(encodeAck(block), tid!, host);
      socket.send(encodeAck(block), tid!, host, then);
    };
    const request = encodeRequest('rrq', path, 'octet', options);
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        if (++retries > 8) return end(new Error(`${path}: no answer after ${retries - 1} retries at block ${last}`));
        if (tid === undefined) socket.send(request, port, host);
        else ack(last);
        arm();
      }, behaviour.idleMs ?? 2000);
    };
    socket.on('error', (err) => end(err));
    socket.on('message', (msg, rinfo) => {
      tid ??= rinfo.port;
      if (rinfo.port !== tid) return;
      retries = 0;
      arm();
      const p = decodePacket(msg);
      if (p.kind === 'error') return end({ sha256: '', bytes, packets, error: { code: p.code, message: p.message } });
      if (p.kind === 'oack') {
        blksize = Number(p.options.get('blksize') ?? 512);
        windowsize = Number(p.options.get('windowsize') ?? 1);
        return ack(0);
      }
      if (p.kind !== 'data') return;
      packets++;
      if (behaviour.dropEvery !== undefined && packets % behaviour.dropEvery === 0) return; // "lost"
      if (p.block !== ((last + 1) & 0xffff)) {
        // Out of order: say where we are (RFC 7440 §4), once per loss.
        if (reportedAt !== last) ack(last);
        reportedAt = last;
        sinceAck = 0;
        return;
      }
      last++;
      hash.update(p.payload);
      bytes += p.payload.length;
      if (p.payload.length < blksize) {
        const result = { sha256: hash.digest('hex'), bytes, packets };
        clearTimeout(idle);
        return ack(last, () => end(result)); // close only once the last ACK is out
      }
      if (++sinceAck >= windowsize) {
        sinceAck = 0;
        ack(last);
      }
    });
    socket.bind(0, '127.0.0.1', () => {
      socket.send(request, port, host);
      arm();
    });
  });
}

/** Sends a read request and then never answers: a node that crashed mid-transfer. Returns a closer. */
export async function requestThenSilence(port: number, path: string, options: Record<string, string> = {}): Promise<{ close(): void; packets(): number }> {
  const socket = createSocket('udp4');
  let count = 0;
  socket.on('message', () => count++);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  socket.send(encodeRequest('rrq', path, 'octet', options), port, '127.0.0.1');
  return { close: () => socket.close(), packets: () => count };
}
