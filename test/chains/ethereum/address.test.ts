import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { computeAddress, getAddress, hexlify } from 'ethers';
import { ethAddress, parseHexAddress } from '../../../src/chains/ethereum/address.ts';

describe('ethAddress, judged by ethers.computeAddress', () => {
  it('compressed and uncompressed keys give the same EIP-55 address', () => {
    for (let i = 1; i <= 5; i++) {
      const sk = secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(i));
      const c = secp256k1.getPublicKey(sk, true);
      const u = secp256k1.getPublicKey(sk, false);
      assert.equal(ethAddress(c), computeAddress(hexlify(c)));
      assert.equal(ethAddress(u), ethAddress(c));
      assert.equal(ethAddress(c), getAddress(ethAddress(c).toLowerCase()), 'checksummed');
    }
  });

  it('refuses wrong lengths and points off the curve', () => {
    const c = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(1)), true);
    assert.throws(() => ethAddress(c.subarray(1)), { code: 'key.invalid' });
    assert.throws(() => ethAddress(new Uint8Array(64)), { code: 'key.invalid' });
    const off = Uint8Array.from(c);
    off[0] = 0x05;
    assert.throws(() => ethAddress(off), { code: 'key.invalid' });
    assert.throws(() => ethAddress(Uint8Array.of(0x02, ...new Uint8Array(32).fill(0xff))), { code: 'key.invalid' });
  });
});

describe('parseHexAddress', () => {
  const good = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
  it('accepts lowercase, uppercase and correct checksums; returns lowercase', () => {
    assert.equal(parseHexAddress(good), good.toLowerCase());
    assert.equal(parseHexAddress(good.toLowerCase()), good.toLowerCase());
    assert.equal(parseHexAddress('0x' + good.slice(2).toUpperCase()), good.toLowerCase());
  });
  it('refuses a wrong checksum, wrong lengths and non-strings', () => {
    assert.equal(parseHexAddress(good.replace('a', 'A')), null);
    assert.equal(parseHexAddress(good.slice(0, -1)), null);
    assert.equal(parseHexAddress(good.slice(2)), null);
    assert.equal(parseHexAddress(42), null);
  });
});
