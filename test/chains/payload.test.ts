import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Interface, Transaction } from 'ethers';
import { checkIntent, decodePayload, MAX_PAYLOAD_BYTES, PAYLOAD_TYPES, type DecodedPayload, type Intent, type PayloadType } from '../../src/chains/payload.ts';
import { toHex } from '../../src/common/bytes.ts';

const TOKEN = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const ALICE = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const ERC20 = new Interface(['function transfer(address to, uint256 amount)']);

function tokenTransfer(): DecodedPayload {
  const tx = Transaction.from({
    type: 2, chainId: 1n, nonce: 0, to: TOKEN, value: 0n, gasLimit: 60_000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n,
    data: ERC20.encodeFunctionData('transfer', [ALICE, 2_500_000n]),
  });
  return decodePayload({ type: 'eth-tx', hex: tx.unsignedSerialized.slice(2) });
}

function mismatch(d: DecodedPayload, intent: Intent, field: string, pattern?: RegExp): void {
  assert.throws(() => checkIntent(d, intent), (e: Error & { code?: string; detail?: Record<string, unknown> }) => {
    assert.equal(e.code, 'intent.mismatch');
    assert.equal(e.detail?.field, field);
    assert.match(e.message, new RegExp(`\\b${field}\\b`));
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

describe('decodePayload: raw payloads', () => {
  it('digest: exactly 32 bytes, signed as given', () => {
    const hex = 'ab'.repeat(32);
    const d = decodePayload({ type: 'digest', hex });
    assert.equal(d.txType, 'raw-digest');
    assert.equal(toHex(d.signBytes), hex);
    assert.equal(d.chain, null);
    for (const bad of ['ab'.repeat(31), 'ab'.repeat(33), '']) {
      assert.throws(() => decodePayload({ type: 'digest', hex: bad }), { code: 'payload.undecodable', message: /32 bytes/ });
    }
  });

  it('message: 0 bytes to 1 MiB, signed as given', () => {
    assert.equal(toHex(decodePayload({ type: 'message', hex: '00' }).signBytes), '00');
    const big = '5a'.repeat(MAX_PAYLOAD_BYTES);
    assert.equal(decodePayload({ type: 'message', hex: big }).signBytes.length, MAX_PAYLOAD_BYTES);
    assert.equal(decodePayload({ type: 'message', hex: big }).txType, 'raw-message');
    assert.throws(() => decodePayload({ type: 'message', hex: big + '00' }), { code: 'payload.undecodable', message: /larger than/ });
    assert.equal(decodePayload({ type: 'message', hex: '' }).signBytes.length, 0, 'EdDSA and FROST sign the empty message');
  });

  it('refuses unknown types and non-canonical hex for every type', () => {
    assert.throws(() => decodePayload({ type: 'btc-psbt' as PayloadType, hex: '00' }), { code: 'payload.undecodable', message: /payload type/ });
    for (const type of PAYLOAD_TYPES) {
      for (const hex of ['0x' + 'ab'.repeat(32), 'AB'.repeat(32), 'a', 'zz']) {
        assert.throws(() => decodePayload({ type, hex }), { code: 'payload.undecodable', message: /lowercase even-length hex/ }, `${type} ${hex}`);
      }
    }
  });
});

describe('checkIntent', () => {
  const d = tokenTransfer();

  it('the stated intent of a token transfer passes, with the address in any case', () => {
    checkIntent(d, { chain: 'eip155:1', to: ALICE, amount: '2500000' });
    checkIntent(d, { to: ALICE.toLowerCase(), amount: '2500000' });
    checkIntent(d, { to: '0x' + ALICE.slice(2).toUpperCase(), amount: '2500000', data: d.data!.toUpperCase().replace('0X', '0x') });
    checkIntent(d, { to: ALICE, amount: '2500000', data: d.data!.slice(2) });
  });

  it('each field that differs is named, with both values', () => {
    mismatch(d, { chain: 'eip155:137', to: ALICE, amount: '2500000' }, 'chain', /eip155:137.*eip155:1/);
    mismatch(d, { to: TOKEN, amount: '2500000' }, 'to', new RegExp(`${TOKEN}.*${ALICE.toLowerCase()}`));
    mismatch(d, { to: ALICE, amount: '2500001' }, 'amount', /2500001.*2500000/);
    mismatch(d, { to: ALICE, amount: '2500000', data: '0xa9059cbb' }, 'data');
  });

  it('amounts compare as integers: no floats, signs, hex or leading zeros', () => {
    for (const amount of ['2500000.0', '+2500000', '0x2625a0', '02500000', ' 2500000', '', '2.5e6']) {
      mismatch(d, { to: ALICE, amount }, 'amount', /not a base-unit decimal string/);
    }
  });

  it('a transaction needs to and amount stated', () => {
    mismatch(d, { amount: '2500000' }, 'to', /required/);
    mismatch(d, { to: ALICE }, 'amount', /required/);
    mismatch(d, {}, 'to', /required/);
  });

  it('a native transfer: amount is wei, BigInt-compared beyond 2^53', () => {
    const wei = 2n ** 70n + 1n;
    const tx = Transaction.from({ type: 0, chainId: 5n, nonce: 0, to: ALICE, value: wei, gasLimit: 21_000n, gasPrice: 1n });
    const n = decodePayload({ type: 'eth-tx', hex: tx.unsignedSerialized.slice(2) });
    checkIntent(n, { chain: 'eip155:5', to: ALICE, amount: wei.toString(), data: '0x' });
    mismatch(n, { to: ALICE, amount: (wei - 1n).toString() }, 'amount');
    mismatch(n, { to: ALICE, amount: wei.toString(), data: '0x00' }, 'data');
  });

  it('raw payloads: only stated fields are checked, and a chain cannot be claimed for them', () => {
    const raw = decodePayload({ type: 'digest', hex: '11'.repeat(32) });
    checkIntent(raw, {});
    checkIntent(raw, { amount: '0' });
    mismatch(raw, { chain: 'eip155:1' }, 'chain', /nothing/);
    mismatch(raw, { to: ALICE }, 'to');
  });

  it('typed data: chain and verifying contract are checked when stated', () => {
    const typed = {
      types: { Login: [{ name: 'nonce', type: 'uint256' }] }, primaryType: 'Login',
      domain: { chainId: 10, verifyingContract: TOKEN }, message: { nonce: 1 },
    };
    const t = decodePayload({ type: 'eth-typed-data', hex: Buffer.from(JSON.stringify(typed)).toString('hex') });
    checkIntent(t, {});
    checkIntent(t, { chain: 'eip155:10', to: TOKEN.toLowerCase() });
    mismatch(t, { chain: 'eip155:1' }, 'chain');
    mismatch(t, { to: ALICE }, 'to');
  });
});
