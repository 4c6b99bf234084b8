import { DhcpOption, encodeDhcp, opt } from './dhcp-packet.ts';

/** The MAC of the tests' client. */
export const MAC = Buffer.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

/** A client request as udhcpc sends one. */
export function request(type: number, options: Array<readonly [number, Buffer]> = [], fields: { ciaddr?: string; chaddr?: Buffer } = {}): Buffer {
  const buf = encodeDhcp({
    op: 1, xid: 0x1234abcd, flags: 0, ciaddr: fields.ciaddr ?? '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0',
    chaddr: fields.chaddr ?? MAC, options: [[DhcpOption.MESSAGE_TYPE, opt.byte(type)], ...options],
  });
  return buf;
}

