/**
 * A raw DHCP client for the DHCP tests, run inside the client's network namespace: sends the
 * packets given (hex) from port 68 to <address>:<port>, one at a time, and prints the first
 * reply to each (its xid matching) as a JSON line; exits 1 when one gets no reply in 10 s.
 * Usage: node dhcp-probe.ts <address> <port> <hex | raw:hex>...
 */
import { createSocket } from 'node:dgram';
import { decodeDhcp } from '../../src/boot/dhcp-packet.ts';

const [address = '', port = '67', ...packets] = process.argv.slice(2);
const socket = createSocket({ type: 'udp4', reuseAddr: true });
await new Promise<void>((resolve) => socket.bind(68, '0.0.0.0', resolve));
socket.setBroadcast(true);
for (const arg of packets) {
  // "raw:<hex>": garbage, sent without waiting for an answer.
  if (arg.startsWith('raw:')) {
    await new Promise<void>((resolve) => socket.send(Buffer.from(arg.slice(4), 'hex'), Number(port), address, () => resolve()));
    continue;
  }
  const data = Buffer.from(arg, 'hex');
  const xid = data.length >= 8 ? data.readUInt32BE(4) : -1;
  const reply = await new Promise<ReturnType<typeof decodeDhcp>>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 10_000);
    const onMessage = (msg: Buffer): void => {
      const packet = decodeDhcp(msg);
      if (!packet || packet.op !== 2 || packet.xid !== xid) return;
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(packet);
    };
    socket.on('message', onMessage);
    socket.send(data, Number(port), address);
  });
  if (!reply) {
    process.stderr.write(`no reply to packet ${xid}\n`);
    process.exit(1);
  }
  const options = Object.fromEntries([...reply.options].map(([code, value]) => [code, value.toString('latin1')]));
  process.stdout.write(`${JSON.stringify({ yiaddr: reply.yiaddr, siaddr: reply.siaddr, file: reply.file, type: reply.options.get(53)?.[0], options })}\n`);
}
socket.close();
