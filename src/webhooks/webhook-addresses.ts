import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction, type Socket } from 'node:net';

/**
 * Where a webhook may not go: loopback, private, shared (CGNAT), link-local (the cloud metadata
 * service, 169.254.169.254, among them), unspecified, multicast, reserved and documentation ranges,
 * in IPv4 and IPv6, IPv4-mapped IPv6 addresses judged by their IPv4 address.
 */
const FORBIDDEN = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  FORBIDDEN.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  FORBIDDEN.addSubnet(network, prefix, 'ipv6');
}

/** Whether a webhook may be sent to this IP address. */
export function isAllowedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return !FORBIDDEN.check(mapped[1], 'ipv4');
    // ::ffff:7f00:1, the hexadecimal spelling of a mapped address.
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
    if (hex) {
      const value = (parseInt(hex[1], 16) << 16) | parseInt(hex[2], 16);
      return !FORBIDDEN.check([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.'), 'ipv4');
    }
    return !FORBIDDEN.check(address, 'ipv6');
  }
  return !FORBIDDEN.check(address, 'ipv4');
}

/** An address a webhook may not reach: refused before (or instead of) connecting. */
export class AddressNotAllowedError extends Error {
  override readonly name = 'AddressNotAllowedError';
  constructor() {
    super('The endpoint resolves to an address that is not allowed (loopback, private, link-local or reserved)');
  }
}

/** Every address a host name resolves to (an IP literal is itself). */
export function resolveAll(hostname: string): Promise<LookupAddress[]> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  if (isIP(bare)) return Promise.resolve([{ address: bare, family: isIP(bare) }]);
  return new Promise((resolve, reject) => dnsLookup(bare, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))));
}

/**
 * The lookup a delivery connects through: the host's addresses, refused if any is not allowed, so the
 * connection goes only to an address that was checked (no second resolution for a rebinding to slip in).
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '', 0);
    if (addresses.length === 0 || addresses.some((entry) => !isAllowedAddress(entry.address))) {
      return callback(new AddressNotAllowedError() as NodeJS.ErrnoException, '', 0);
    }
    if (options.all) return (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, addresses);
    callback(null, addresses[0].address, addresses[0].family);
  });
};

/** The last check, on the socket itself: the address actually connected to. */
export function checkConnectedAddress(socket: Socket): void {
  const address = socket.remoteAddress;
  if (address === undefined || !isAllowedAddress(address)) socket.destroy(new AddressNotAllowedError());
}
