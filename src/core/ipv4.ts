/** IPv4 addresses as numbers (DHCP pools, subnets, settings). */

/** "a.b.c.d" → 32-bit unsigned number. */
export function ipv4ToNumber(text: string): number {
  return text.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

/** 32-bit number → "a.b.c.d". */
export function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
}

/** The netmask of a prefix length, as a number (/22 → 0xfffffc00). */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** True when `ip` is inside `network`/`prefix`. */
export function inIpv4Subnet(ip: string, network: string, prefix: number): boolean {
  const mask = prefixMask(prefix);
  return ((ipv4ToNumber(ip) & mask) >>> 0) === ((ipv4ToNumber(network) & mask) >>> 0);
}
