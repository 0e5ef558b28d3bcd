import { hashedPart } from '../../engine/keys.js';

/** Hash slots of a Redis Cluster: 16384, one owner each. */
export const SLOTS = 16_384;

/** CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with, as a byte-indexed table. */
const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

/**
 * The Cluster slot of a key, as `CLUSTER KEYSLOT` computes it: CRC16 of the
 * UTF-8 bytes of its hashed part, modulo 16384.
 *
 * @example
 * ```ts
 * keySlot('foo'); // 12182, as CLUSTER KEYSLOT foo
 * ```
 */
export function keySlot(key: string): number {
  const part = hashedPart(key);
  let crc = 0;
  // Keys are ASCII nearly always: hash their code units directly and encode only when one is not.
  let ascii = true;
  for (let i = 0; i < part.length; i++) {
    const unit = part.charCodeAt(i);
    if (unit > 0x7f) {
      ascii = false;
      break;
    }
    crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ unit) & 0xff] as number);
  }
  if (!ascii) {
    crc = 0;
    for (const byte of Buffer.from(part, 'utf8')) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number);
  }
  return crc % SLOTS;
}
