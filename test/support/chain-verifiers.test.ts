import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Transaction as BtcTransaction } from 'bitcoinjs-lib';
import { computeAddress, hexlify } from 'ethers';
import { toHex } from '../../src/common/bytes.ts';
import { seededRng } from '../crypto/rng.ts';
import { eip1559Case, finishEip1559, p2wpkhCase, type RecoverableSignature } from './chain-verifiers.ts';

// A plain single key stands in for the threshold signer: this file proves the helpers, not custos.
const sk = secp256k1.utils.randomSecretKey(seededRng('chain-verifiers')(48));
const publicKey = secp256k1.getPublicKey(sk, true);

function signDigest(digest: Uint8Array): RecoverableSignature {
  // 'recovered' is recovery byte || r || s.
  const rec = secp256k1.sign(digest, sk, { prehash: false, format: 'recovered' });
  return { signature: rec.slice(1), recoveryId: rec[0] };
}

/** Flips one bit of s (its low byte, so s stays below 2^255 and ethers still parses it). */
function tamper(sig: RecoverableSignature): RecoverableSignature {
  const signature = Uint8Array.from(sig.signature);
  signature[63] ^= 1;
  return { signature, recoveryId: sig.recoveryId };
}

describe('eip1559 verifier (ethers)', () => {
  it('recovers the signer address from the serialised transaction', () => {
    const { tx, digest } = eip1559Case();
    assert.equal(tx.type, 2);
    assert.equal(tx.chainId, 1n);
    const out = finishEip1559(tx, signDigest(digest), publicKey);
    assert.equal(out.expected, computeAddress(hexlify(publicKey)));
    assert.equal(out.from, computeAddress(hexlify(publicKey)));
    assert.match(out.serialized, /^0x02/);
    assert.equal(tx.signature, null, 'the unsigned case is left untouched');
  });

  it('the chain id is part of the digest', () => {
    assert.notEqual(toHex(eip1559Case(1).digest), toHex(eip1559Case(137).digest));
    assert.equal(eip1559Case(137n).tx.chainId, 137n);
  });

  it('a tampered signature, a wrong recovery id or a signature over another digest recovers another address', () => {
    const { tx, digest } = eip1559Case();
    const good = signDigest(digest);
    const me = computeAddress(hexlify(publicKey));
    assert.notEqual(finishEip1559(tx, tamper(good), publicKey).from, me);
    assert.notEqual(finishEip1559(tx, { ...good, recoveryId: 1 - good.recoveryId }, publicKey).from, me);
    assert.notEqual(finishEip1559(tx, signDigest(eip1559Case(5).digest), publicKey).from, me);
  });
});

describe('p2wpkh verifier (bitcoinjs-lib)', () => {
  it('validates the signature over the BIP143 digest and extracts a signed transaction', () => {
    const btc = p2wpkhCase(publicKey);
    const out = btc.finish(signDigest(btc.digest));
    assert.equal(out.valid, true);
    const tx = BtcTransaction.fromHex(out.txHex);
    assert.equal(tx.ins.length, 1);
    assert.equal(tx.ins[0].witness.length, 2);
    assert.equal(toHex(tx.ins[0].witness[1]), toHex(publicKey));
    assert.equal(tx.ins[0].witness[0].at(-1), BtcTransaction.SIGHASH_ALL);
  });

  it('rejects a tampered signature and a signature over another digest', () => {
    const btc = p2wpkhCase(publicKey);
    const good = signDigest(btc.digest);
    assert.equal(btc.finish(tamper(good)).valid, false);
    assert.equal(btc.finish(signDigest(eip1559Case().digest)).valid, false);
    // finish works on a copy: the honest signature still validates afterwards.
    assert.equal(btc.finish(good).valid, true);
  });

  it('rejects a high-s signature (BIP62 low-s, as nodes relay)', () => {
    const btc = p2wpkhCase(publicKey);
    const good = signDigest(btc.digest);
    const n = secp256k1.Point.Fn.ORDER;
    const s = BigInt('0x' + toHex(good.signature.subarray(32)));
    const highS = Uint8Array.of(...good.signature.subarray(0, 32), ...secp256k1.Point.Fn.toBytes(n - s));
    assert.equal(btc.finish({ signature: highS, recoveryId: good.recoveryId ^ 1 }).valid, false);
  });
});
