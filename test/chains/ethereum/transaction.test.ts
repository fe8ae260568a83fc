import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Interface, Signature, Transaction, computeAddress, encodeRlp, hexlify, toBeHex } from 'ethers';
import { attachSignature, decodeEthTx } from '../../../src/chains/ethereum/transaction.ts';
import { ethAddress } from '../../../src/chains/ethereum/address.ts';
import { decodePayload, type DecodedPayload } from '../../../src/chains/payload.ts';
import { toHex } from '../../../src/common/bytes.ts';

// ethers builds every transaction and is the judge of every field: it shares no code with the
// decoder under test (micro-eth-signer).
const ERC20 = new Interface(['function transfer(address to, uint256 amount)', 'function approve(address spender, uint256 amount)']);
const OTHER = new Interface(['function deposit(uint256 amount, bytes32 ref)']);
const TOKEN = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const ALICE = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const SPENDER = '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359';
const MAX = 2n ** 256n - 1n;

type Kind = 'legacy' | 'eip1559';
function build(kind: Kind, fields: { chainId?: bigint; to: string | null; value?: bigint; data?: string; nonce?: number }): Transaction {
  const common = { chainId: fields.chainId ?? 1n, nonce: fields.nonce ?? 7, to: fields.to, value: fields.value ?? 0n, data: fields.data ?? '0x', gasLimit: 90_000n };
  return kind === 'legacy'
    ? Transaction.from({ type: 0, gasPrice: 20_000_000_000n, ...common })
    : Transaction.from({ type: 2, maxFeePerGas: 30_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, ...common });
}
const hexOf = (tx: Transaction) => tx.unsignedSerialized.slice(2);
const decode = (tx: Transaction): DecodedPayload => decodePayload({ type: 'eth-tx', hex: hexOf(tx) });

function refusal(hex: string, pattern: RegExp): void {
  assert.throws(() => decodePayload({ type: 'eth-tx', hex }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'payload.undecodable');
    assert.match(e.message, pattern);
    assert.doesNotMatch(e.message, /\n\s+at /, 'no stack trace in the message');
    return true;
  });
}

for (const kind of ['legacy', 'eip1559'] as const) {
  describe(`eth-tx ${kind}: decoded fields equal what ethers built`, () => {
    it('native transfer', () => {
      const tx = build(kind, { chainId: 1n, to: ALICE, value: 10n ** 18n + 1n });
      const d = decode(tx);
      assert.deepEqual({ ...d, signBytes: undefined }, {
        txType: 'transfer', chain: 'eip155:1', contract: null, to: ALICE.toLowerCase(), amount: (10n ** 18n + 1n).toString(), data: null, signBytes: undefined,
        // The most the transaction may pay in fees, from what ethers built.
        maxFee: (tx.gasLimit * (tx.type === 2 ? tx.maxFeePerGas! : tx.gasPrice!)).toString(),
      });
      assert.equal('0x' + toHex(d.signBytes), tx.unsignedHash);
    });

    it('ERC-20 transfer: contract is the token, to is the recipient, amount in token units', () => {
      const data = ERC20.encodeFunctionData('transfer', [ALICE, 1_234_567n]);
      const tx = build(kind, { chainId: 137n, to: TOKEN, data });
      const d = decode(tx);
      assert.equal(d.txType, 'transfer');
      assert.equal(d.chain, 'eip155:137');
      assert.equal(d.contract, TOKEN.toLowerCase());
      assert.equal(d.to, ALICE.toLowerCase());
      assert.equal(d.amount, '1234567');
      assert.equal(d.data, data.toLowerCase());
      assert.equal('0x' + toHex(d.signBytes), tx.unsignedHash);
    });

    it('ERC-20 approve: a contract call naming spender and allowance (unlimited here)', () => {
      const data = ERC20.encodeFunctionData('approve', [SPENDER, MAX]);
      const tx = build(kind, { chainId: 11155111n, to: TOKEN, data });
      const d = decode(tx);
      assert.equal(d.txType, 'contract-call');
      assert.equal(d.chain, 'eip155:11155111');
      assert.equal(d.contract, TOKEN.toLowerCase());
      assert.equal(d.to, SPENDER.toLowerCase());
      assert.equal(d.amount, MAX.toString());
      assert.equal('0x' + toHex(d.signBytes), tx.unsignedHash);
    });

    it('arbitrary call: to is the contract called, amount is the ether sent', () => {
      const data = OTHER.encodeFunctionData('deposit', [5n, '0x' + '42'.repeat(32)]);
      const tx = build(kind, { chainId: 10n, to: TOKEN, value: 3n, data });
      const d = decode(tx);
      assert.deepEqual({ txType: d.txType, chain: d.chain, contract: d.contract, to: d.to, amount: d.amount, data: d.data },
        { txType: 'contract-call', chain: 'eip155:10', contract: null, to: TOKEN.toLowerCase(), amount: '3', data: data.toLowerCase() });
      assert.equal('0x' + toHex(d.signBytes), tx.unsignedHash);
    });

    it('a token transfer that also sends ether is a contract call carrying the ether', () => {
      const data = ERC20.encodeFunctionData('transfer', [ALICE, 100n]);
      const d = decode(build(kind, { to: TOKEN, value: 9n, data }));
      assert.equal(d.txType, 'contract-call');
      assert.equal(d.contract, null);
      assert.equal(d.to, TOKEN.toLowerCase());
      assert.equal(d.amount, '9');
    });

    it('signature attached: ethers recovers the key owner and re-serializes the same bytes', () => {
      const sk = secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(kind === 'legacy' ? 3 : 4));
      const pub = secp256k1.getPublicKey(sk, true);
      const tx = build(kind, { chainId: 137n, to: TOKEN, data: ERC20.encodeFunctionData('transfer', [ALICE, 5n]) });
      const d = decode(tx);
      const rec = secp256k1.sign(d.signBytes, sk, { prehash: false, format: 'recovered' }); // recovery || r || s
      const sig = { r: toHex(rec.subarray(1, 33)), s: toHex(rec.subarray(33)), recoveryId: rec[0] };
      const signed = attachSignature(hexOf(tx), sig);
      assert.match(signed, /^[0-9a-f]+$/);
      const parsed = Transaction.from('0x' + signed);
      assert.equal(parsed.from, ethAddress(pub));
      assert.equal(parsed.from, computeAddress(hexlify(pub)));
      assert.equal(parsed.unsignedHash, tx.unsignedHash);
      if (kind === 'legacy') assert.equal(parsed.signature?.networkV, 137n * 2n + 35n + BigInt(sig.recoveryId));
      else assert.equal(parsed.signature?.yParity, sig.recoveryId);
      const viaEthers = tx.clone();
      viaEthers.signature = Signature.from({ r: '0x' + sig.r, s: '0x' + sig.s, yParity: sig.recoveryId as 0 | 1 });
      assert.equal('0x' + signed, viaEthers.serialized);
    });
  });
}

describe('eth-tx refusals', () => {
  const good = build('eip1559', { to: ALICE, value: 1n });

  it('garbage and malformed hex', () => {
    refusal('zz', /hex/);
    refusal('0x02', /hex/);
    refusal('abc', /hex/);
    refusal(hexOf(good).toUpperCase(), /hex/);
    refusal('', /empty/);
    refusal('80', /RLP list/);
    refusal('c0', /does not decode/);
  });

  it('truncated RLP and trailing bytes', () => {
    const hex = hexOf(build('legacy', { to: ALICE, value: 1n }));
    refusal(hex.slice(0, -2), /does not decode/);
    refusal(hexOf(good).slice(0, 40), /does not decode/);
    refusal(hexOf(good) + '00', /does not decode|canonical/);
  });

  it('an already signed transaction', () => {
    const tx = build('eip1559', { to: ALICE, value: 1n });
    tx.signature = Signature.from({ r: '0x' + '11'.repeat(32), s: '0x' + '22'.repeat(32), yParity: 0 });
    refusal(tx.serialized.slice(2), /already signed/);
    const legacy = build('legacy', { to: ALICE, value: 1n });
    legacy.signature = Signature.from({ r: '0x' + '11'.repeat(32), s: '0x' + '22'.repeat(32), v: 27 });
    refusal(legacy.serialized.slice(2), /already signed/);
  });

  it('pre-EIP-155 legacy (no chain id)', () => {
    const pre = Transaction.from({ type: 0, chainId: 0n, nonce: 1, gasPrice: 1n, gasLimit: 21_000n, to: ALICE, value: 1n });
    refusal(hexOf(pre), /EIP-155/);
  });

  it('EIP-2930, blob and set-code types, and unknown types', () => {
    const t1 = Transaction.from({ type: 1, chainId: 1n, nonce: 1, gasPrice: 1n, gasLimit: 21_000n, to: ALICE, value: 1n, accessList: [] });
    refusal(hexOf(t1), /EIP-2930/);
    refusal('03' + hexOf(good).slice(2), /EIP-4844/);
    refusal('04' + hexOf(good).slice(2), /EIP-7702/);
    refusal('05' + hexOf(good).slice(2), /unknown transaction type 0x05/);
  });

  it('contract creation', () => {
    refusal(hexOf(build('eip1559', { to: null, data: '0x6000' })), /contract creation/);
    refusal(hexOf(build('legacy', { to: null, data: '0x6000' })), /contract creation/);
  });

  it('non-minimal integer encoding (the signed bytes would not be the decoded bytes)', () => {
    // A legacy EIP-155 list whose nonce carries a leading zero byte.
    const fields = ['0x0007', toBeHex(1n), toBeHex(21_000n), ALICE.toLowerCase(), toBeHex(1n), '0x', '0x01', '0x', '0x'];
    refusal(encodeRlp(fields).slice(2), /does not decode|canonical/);
    const minimal = ['0x07', ...fields.slice(1)];
    assert.equal(decodeEthTx(Buffer.from(encodeRlp(minimal).slice(2), 'hex')).chain, 'eip155:1');
  });

  it('chain id 0', () => {
    const fields = ['0x07', toBeHex(1n), toBeHex(21_000n), ALICE.toLowerCase(), toBeHex(1n), '0x', '0x', '0x', '0x'];
    refusal(encodeRlp(fields).slice(2), /does not decode/);
    refusal(hexOf(build('eip1559', { chainId: 0n, to: ALICE, value: 1n })), /chain id 0 is not a valid EIP-155 chain id/);
  });

  it('a malformed ERC-20 transfer is refused, not passed on as an opaque call', () => {
    const data = ERC20.encodeFunctionData('transfer', [ALICE, 1n]);
    refusal(hexOf(build('eip1559', { to: TOKEN, data: data + '00'.repeat(32) })), /ERC-20 transfer calldata must be 68 bytes/);
  });
});

describe('attachSignature refusals', () => {
  const tx = build('eip1559', { to: ALICE, value: 1n });
  const sk = secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(9));
  const rec = secp256k1.sign(Buffer.from(tx.unsignedHash.slice(2), 'hex'), sk, { prehash: false, format: 'recovered' });
  const r = toHex(rec.subarray(1, 33));
  const s = toHex(rec.subarray(33));
  const n = secp256k1.Point.CURVE().n;

  it('high s, recovery id outside 0/1, wrong lengths, zero r', () => {
    const highS = (n - BigInt('0x' + s)).toString(16).padStart(64, '0');
    assert.throws(() => attachSignature(hexOf(tx), { r, s: highS, recoveryId: 1 - rec[0] }), { code: 'signature.invalid', message: /high s/ });
    assert.throws(() => attachSignature(hexOf(tx), { r, s, recoveryId: 2 }), { code: 'signature.invalid' });
    assert.throws(() => attachSignature(hexOf(tx), { r: r.slice(2), s, recoveryId: rec[0] }), { code: 'signature.invalid' });
    assert.throws(() => attachSignature(hexOf(tx), { r: '00'.repeat(32), s, recoveryId: rec[0] }), { code: 'signature.invalid' });
  });

  it('refuses to sign over a transaction it would not decode', () => {
    const signedAlready = tx.clone();
    signedAlready.signature = Signature.from({ r: '0x' + r, s: '0x' + s, yParity: rec[0] as 0 | 1 });
    assert.throws(() => attachSignature(signedAlready.serialized.slice(2), { r, s, recoveryId: rec[0] }), { code: 'payload.undecodable' });
  });
});
