// Which addresses fila may fetch a user-given URL from: public unicast only. Loopback, private,
// link-local (cloud metadata lives there), unique-local, CGNAT, documentation, multicast and
// reserved ranges are refused, on the literal host at submit and on every resolved address at
// fetch time (public-fetch.ts), so a name that later resolves inward (DNS rebinding) or a redirect
// inward is refused too. The one place these rules live.
import { BlockList, isIP } from 'node:net';

const refused = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // CGNAT (and Alibaba's metadata 100.100.100.200)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local: AWS/GCP/Azure metadata 169.254.169.254
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) refused.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b::', 96], // NAT64: reaches IPv4 through a translator, whichever
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 32], // Teredo
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4
  ['fc00::', 7], // unique-local (AWS's IPv6 metadata fd00:ec2::254 too)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) refused.addSubnet(net, bits, 'ipv6');
// IPv4-mapped IPv6 (::ffff:a.b.c.d) is checked against the IPv4 rules by BlockList itself

/** Host names that never mean a public server. */
const internalNames = /(^|\.)(localhost|local|internal|intranet|lan|home\.arpa|localdomain)$/i;

/** A public unicast IP address (v4 or v6)? Anything that is not an IP address is not. */
export function isPublicAddress(ip: string): boolean {
  const bare = ip.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family === 0) return false;
  return !refused.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/** Why a URL may not be fetched from its literal form (scheme, credentials, host), or null.
 *  A host name passes here; its addresses are checked when it is resolved. `allowAddress` is the
 *  address rule (public only, unless a test narrows it to its own loopback server). */
export function publicUrlRefusal(raw: string, allowAddress: (ip: string) => boolean = isPublicAddress): string | null {
  if (!URL.canParse(raw)) return 'not a valid URL';
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `only http and https URLs are accepted, not ${url.protocol.replace(/:$/, '')}`;
  if (url.username || url.password) return 'URLs with credentials are not accepted';
  // WHATWG URL parsing already turned 2130706433, 0x7f.1 and [::ffff:127.0.0.1] into plain IPs
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return allowAddress(host) ? null : `${host} is not a public address`;
  if (!host.includes('.') || internalNames.test(host.replace(/\.$/, ''))) return `${host} is not a public host name`;
  return null;
}

/** Host names reserved for examples and tests (RFC 2606, RFC 6761): `.example`, `.test`, `.invalid`,
 *  example.com/.net/.org. With the fake provider they stand for files it pretends to have read. */
export function isExampleHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return /(^|\.)(example|test|invalid)$/.test(h) || /(^|\.)example\.(com|net|org)$/.test(h);
}
