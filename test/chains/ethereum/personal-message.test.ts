import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashMessage } from 'ethers';
import { decodePayload } from '../../../src/chains/payload.ts';
import { toHex } from '../../../src/common/bytes.ts';

describe('eth-message (EIP-191 personal_sign), digest judged by ethers.hashMessage', () => {
  const cases: [string, Uint8Array][] = [
    ['one byte', Uint8Array.of(0x41)],
    ['utf-8 text', new TextEncoder().encode('Sign in to custos: nonce 8f2a ✓')],
    ['binary, not utf-8', Uint8Array.of(0xff, 0x00, 0xfe, 0x80, 0x19)],
    ['32 bytes (looks like a hash, is still prefixed)', new Uint8Array(32).fill(0xab)],
    ['1000 bytes (three-digit length in the prefix)', new Uint8Array(1000).map((_, i) => i & 0xff)],
  ];
  for (const [name, msg] of cases) {
    it(name, () => {
      const d = decodePayload({ type: 'eth-message', hex: toHex(msg) });
      assert.equal('0x' + toHex(d.signBytes), hashMessage(msg));
      assert.deepEqual({ ...d, signBytes: null }, { txType: 'raw-message', chain: null, contract: null, to: null, amount: '0', data: null, signBytes: null });
    });
  }

  it('the digest is not the message: signing it cannot sign the raw bytes', () => {
    const msg = new Uint8Array(32).fill(7);
    assert.notEqual(toHex(decodePayload({ type: 'eth-message', hex: toHex(msg) }).signBytes), toHex(msg));
  });

  it('an empty message is refused', () => {
    assert.throws(() => decodePayload({ type: 'eth-message', hex: '' }), { code: 'payload.undecodable' });
  });
});
