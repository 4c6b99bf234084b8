/**
 * One TFTP read transfer, from its own ephemeral socket (RFC 1350 §4: each side picks a new
 * transfer ID), so a slow or vanished client only ever holds up itself.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Readable } from 'node:stream';
import { ackedCount, checkRequestPath, decodePacket, encodeError, encodeOack, missError, negotiate, Opcode, TftpError, type TftpRequest } from './tftp-packet.ts';
import { isBootFile, type BootFile, type BootLogger, type BootRequestLog, type BootResolver } from './types.ts';

/** Limits and timing of the transfers a server runs. */
export interface TransferSettings {
  maxBlksize: number;
  maxWindowsize: number;
  /** First retransmission timeout, doubled on each retry up to 8×; a client's `timeout` option replaces it. */
  retransmitMs: number;
  /** Retransmissions of the same window before the transfer is given up. */
  maxRetries: number;
  /** Longest a whole transfer may take. */
  deadlineMs: number;
}

/** What a transfer needs from the server that starts it. */
export interface TransferContext {
  client: { address: string; port: number };
  localAddress: string;
  request: TftpRequest;
  resolver: BootResolver;
  log: BootLogger;
  settings: TransferSettings;
}

/** A running transfer: `done` settles when it has ended and its socket is closed. */
export interface Transfer {
  abort(): void;
  done: Promise<void>;
}

/** Socket send and receive buffers asked for each transfer. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/** Most bytes one transfer sends in one go before letting other transfers and I/O run. */
const BURST_BYTES = 256 * 1024;

/** Starts serving one read request. */
export function startTransfer(ctx: TransferContext): Transfer {
  const { client, request, settings } = ctx;
  const started = performance.now();
  const entry: BootRequestLog = { protocol: 'tftp', client: client.address, path: request.filename, bytes: 0, ms: 0, result: 'error' };
  const socket: Socket = createSocket({
    type: client.address.includes(':') ? 'udp6' : 'udp4',
    // Room for a whole window in flight (the kernel caps these at its configured maximum).
    sendBufferSize: SOCKET_BUFFER_BYTES,
    recvBufferSize: SOCKET_BUFFER_BYTES,
  });
  let finished = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));

  let stream: Readable | undefined;
  /** The file to read once the client acknowledges the options (OACK). */
  let pendingFile: BootFile | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = setTimeout(() => finish('timeout'), settings.deadlineMs);
  let blksize = 512;
  let windowsize = 1;
  let baseTimeout = settings.retransmitMs;
  let retries = 0;
  let state: 'starting' | 'oack' | 'data' = 'starting';
  let oack: Buffer | undefined;
  // Blocks lastAcked+1 .. filledUpTo, read ahead and kept until acknowledged, each as a whole
  // DATA packet in a ring of preallocated slots (block n in slot (n-1) mod slots): a block is
  // copied once, from the stream's chunks into its slot, and sent and resent from there. The
  // ring has one slot more than the window, so the block after the window is ready before the
  // ACK that opens room for it: an ACK turns into a send with no copy in between.
  let slotCount = 0;
  let slotSize = 0;
  let packets: Buffer[] = []; // what each slot sends: its full-block view, or the short final block
  let fullViews: Buffer[] = [];
  let filledUpTo = 0;
  let lastAcked = 0;
  let sentUpTo = 0;
  let finalBlock: number | undefined; // absolute number of the short (last) block, once read
  let streamEnded = false;
  let rewound = false;
  let connected = false;
  let burstPending = false;
  // Read-ahead of the stream's chunks, bounded: about a window of blocks (at least 64 KiB, one fs chunk).
  const queue: Buffer[] = [];
  let queued = 0;
  let readAhead = 65536;
  let timerMs = 0;

  function finish(result: BootRequestLog['result']): void {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    clearTimeout(deadline);
    stream?.destroy();
    entry.result = result;
    entry.ms = Math.round(performance.now() - started);
    ctx.log(entry);
    socket.close(() => resolveDone());
  }

  function sendError(code: number, message: string, result: BootRequestLog['result']): void {
    if (!connected) return finish(result); // the socket never came up: nowhere to send from
    socket.send(encodeError(code, message), () => finish(result));
  }

  /** The retransmission timeout for the current retry count (doubled each retry, at most 8×). */
  function backoffMs(): number {
    return Math.min(baseTimeout * 2 ** retries, baseTimeout * 8);
  }

  /** (Re)starts the retransmission timer; on the per-packet path a refresh of the same timer. */
  function armTimer(): void {
    if (timer !== undefined && timerMs === baseTimeout && retries === 0) {
      timer.refresh(); // cheaper than a new timer for every packet
      return;
    }
    clearTimeout(timer);
    timerMs = backoffMs();
    timer = setTimeout(onTimeout, timerMs);
  }

  function onTimeout(): void {
    if (finished) return;
    if (++retries > settings.maxRetries) return finish('timeout');
    if (state === 'oack') {
      socket.send(oack!);
      armTimer();
      return;
    }
    sentUpTo = lastAcked; // resend the whole window from the first unacknowledged block
    pump();
  }

  /** Copies `n` bytes (n ≤ queued) off the read-ahead queue into `out` at `at`. */
  function take(out: Buffer, at: number, n: number): void {
    for (let o = 0; o < n; ) {
      const head = queue[0]!;
      const k = Math.min(head.length, n - o);
      head.copy(out, at + o, 0, k);
      o += k;
      if (k === head.length) queue.shift();
      else queue[0] = head.subarray(k);
    }
    queued -= n;
    if (queued < readAhead && stream!.isPaused()) stream!.resume();
  }

  /**
   * Reads the next block into its slot; false when the stream has none buffered yet.
   * `sendsQueued`: the socket still holds unsent packets (a full kernel buffer), which keep
   * their memory alive: a slot is then given fresh memory, not new bytes under a queued packet.
   */
  function fillBlock(sendsQueued: boolean): boolean {
    if (finalBlock !== undefined) return false;
    let n = blksize;
    if (queued < blksize) {
      if (!streamEnded) return false;
      // The stream ended: a short block ends the transfer (an empty one when the file ends on
      // a block boundary, or is empty).
      n = queued;
    }
    const number = filledUpTo + 1;
    const slot = (number - 1) % slotCount;
    if (sendsQueued) fullViews[slot] = Buffer.allocUnsafe(slotSize);
    const packet = fullViews[slot]!;
    packet.writeUInt16BE(Opcode.DATA, 0);
    packet.writeUInt16BE(number & 0xffff, 2);
    if (n > 0) take(packet, 4, n);
    packets[slot] = n === blksize ? packet : packet.subarray(0, 4 + n);
    filledUpTo = number;
    if (n < blksize) finalBlock = number;
    return true;
  }

  /**
   * Sends blocks until the window is full or the stream has nothing buffered, in one
   * synchronous burst of at most BURST_BYTES; a bigger window goes on after other I/O had its turn.
   */
  function pump(): void {
    if (finished || state !== 'data') return;
    // Asked once per burst, not per block: a packet queued during this burst belongs to the
    // window in flight, whose slots this burst does not refill.
    const sendsQueued = socket.getSendQueueCount() > 0;
    let sent = 0;
    const limit = lastAcked + windowsize;
    while (sentUpTo < limit) {
      if (sentUpTo === filledUpTo && !fillBlock(sendsQueued)) break;
      const number = sentUpTo + 1;
      socket.send(packets[(number - 1) % slotCount]!);
      sentUpTo = number;
      sent += blksize;
      if (number === finalBlock) break;
      if (sent >= BURST_BYTES && sentUpTo < limit) {
        if (!burstPending) {
          burstPending = true;
          setImmediate(nextBurst);
        }
        break;
      }
    }
    if (sent > 0) {
      const bytes = (sentUpTo - 1) * blksize + packets[(sentUpTo - 1) % slotCount]!.length - 4;
      if (bytes > entry.bytes) entry.bytes = bytes;
      armTimer();
    }
    // Off the path from ACK to send: ready the block after the window in the spare slot.
    if (filledUpTo < lastAcked + slotCount) fillBlock(sendsQueued);
  }

  function nextBurst(): void {
    burstPending = false;
    pump();
  }

  function onAck(block: number): void {
    if (state === 'oack') {
      if (block !== 0) return;
      startReading(pendingFile!);
      pendingFile = undefined;
      state = 'data';
      retries = 0;
      clearTimeout(timer);
      timer = undefined;
      pump();
      return;
    }
    if (state !== 'data') return;
    const count = ackedCount(block, lastAcked, sentUpTo - lastAcked);
    if (count < 0) return; // stale
    if (count === 0) {
      // Lock-step: a duplicate ACK is ignored, or both sides double every packet (the
      // Sorcerer's Apprentice, RFC 1123 §4.2.3.1). In a window it says a block was lost
      // (RFC 7440 §4): resend from there, once per loss.
      if (windowsize > 1 && sentUpTo > lastAcked && !rewound) {
        rewound = true;
        sentUpTo = lastAcked;
        pump();
      }
      return;
    }
    lastAcked += count;
    retries = 0;
    rewound = false;
    if (lastAcked === finalBlock) return finish('ok');
    if (sentUpTo > lastAcked) sentUpTo = lastAcked; // partial window acknowledged: the rest was lost
    pump();
    if (sentUpTo === lastAcked) {
      // Nothing in flight (waiting for the file): no retransmission is due.
      clearTimeout(timer);
      timer = undefined;
    }
  }

  socket.on('message', (msg) => {
    // The socket is connected to the client: the kernel drops datagrams from anyone else.
    if (finished || !connected) return;
    // The hot path: an ACK, read in place.
    if (msg.length >= 4 && msg[0] === 0 && msg[1] === Opcode.ACK) return onAck((msg[2]! << 8) | msg[3]!);
    const packet = decodePacket(msg);
    if (packet.kind === 'ack') onAck(packet.block);
    else if (packet.kind === 'error') finish('aborted'); // the client gave up (or refused our options)
  });
  // Connected: the kernel drops other senders, and a client whose port closed shows up as
  // ECONNREFUSED here instead of costing every retry.
  socket.on('error', () => finish('aborted'));

  async function begin(file: BootFile): Promise<void> {
    if (file.node !== undefined) entry.node = file.node;
    entry.served = file.served;
    const session = negotiate(request.options, file.size, settings);
    blksize = session.blksize;
    windowsize = session.windowsize;
    if (session.timeoutMs !== undefined) baseTimeout = session.timeoutMs;
    if (session.oack) {
      // Nothing is read or allocated before the client acknowledges the options: a forged
      // request (any source address) costs a socket and a resolve, not a window of memory.
      pendingFile = file;
      state = 'oack';
      oack = encodeOack(session.oack);
      socket.send(oack);
      armTimer();
    } else {
      startReading(file);
      state = 'data';
      pump();
    }
  }

  /** The ring of DATA packets, and the file read ahead of the client by about one window. */
  function startReading(file: BootFile): void {
    readAhead = Math.max(65536, (windowsize + 1) * blksize);
    slotCount = Math.min(windowsize + 1, Math.floor(file.size / blksize) + 1);
    slotSize = 4 + blksize;
    const ring = Buffer.allocUnsafe(slotCount * slotSize);
    for (let i = 0; i < slotCount; i++) fullViews.push(ring.subarray(i * slotSize, (i + 1) * slotSize));
    packets = fullViews.slice();
    stream = file.open();
    stream.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      queued += chunk.length;
      if (queued >= readAhead) stream!.pause(); // backpressure: the client sets the pace
      pump();
    });
    stream.on('end', () => {
      streamEnded = true;
      pump();
    });
    stream.on('error', () => (finished ? undefined : sendError(TftpError.UNDEFINED, 'Read error', 'error')));
  }

  async function serve(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: ctx.localAddress, port: 0 }, () => {
        socket.off('error', reject);
        socket.connect(client.port, client.address, () => {
          connected = true;
          resolve();
        });
      });
    });
    if (finished) return;
    // netascii is served as octet: boot files are binary, and converting line ends would
    // make the bytes sent differ from tsize.
    if (request.mode !== 'octet' && request.mode !== 'netascii') {
      return sendError(TftpError.ILLEGAL_OPERATION, `Unsupported mode ${request.mode}`, 'error');
    }
    const checked = checkRequestPath(request.filename);
    if ('refused' in checked) return sendError(TftpError.ACCESS_VIOLATION, `Access violation: ${checked.refused}`, 'forbidden');
    entry.path = checked.path;
    const answer = await ctx.resolver.resolve({ address: client.address }, checked.path);
    if (finished) return;
    if (!isBootFile(answer)) {
      const { code, message } = missError(answer);
      return sendError(code, message, answer.reason);
    }
    await begin(answer);
  }

  serve().catch(() => {
    if (!finished) sendError(TftpError.UNDEFINED, 'Server error', 'error');
  });
  return { abort: () => finish('aborted'), done };
}
