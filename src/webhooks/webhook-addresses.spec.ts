import { describe, expect, it } from 'vitest';
import { isAllowedAddress, resolveAll } from './webhook-addresses.js';

describe('webhook addresses', () => {
  it('refuse loopback, private, link-local (metadata), shared, reserved and multicast addresses, v4 and v6', () => {
    for (const address of [
      '127.0.0.1',
      '127.255.0.9',
      '10.0.0.1',
      '172.16.5.4',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fe80::1',
      'fd00:ec2::254',
      'fc00::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:169.254.169.254',
      '::ffff:7f00:1',
      '::ffff:a9fe:a9fe',
      '64:ff9b::a9fe:a9fe',
      'not an address',
    ]) {
      expect(isAllowedAddress(address), address).toBe(false);
    }
  });

  it('allow public addresses', () => {
    for (const address of ['93.184.215.14', '8.8.8.8', '172.32.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      expect(isAllowedAddress(address), address).toBe(true);
    }
  });

  it('resolve IP literals as themselves and names through the resolver', async () => {
    expect(await resolveAll('[::1]')).toEqual([{ address: '::1', family: 6 }]);
    expect(await resolveAll('10.0.0.1')).toEqual([{ address: '10.0.0.1', family: 4 }]);
    const local = await resolveAll('localhost');
    expect(local.length).toBeGreaterThan(0);
    expect(local.every((entry) => !isAllowedAddress(entry.address))).toBe(true);
  });
});
