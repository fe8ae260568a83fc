import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Psbt, Transaction as BtcTransaction, payments, script } from 'bitcoinjs-lib';
import { Signature, Transaction, computeAddress, getBytes, hexlify } from 'ethers';

/**
 * Verifiers we did not write: ethers (EIP-1559) and bitcoinjs-lib (PSBT, BIP143 P2WPKH) check the
 * signatures custos produces, so a bug shared by our signer and our own verifier cannot hide.
 * Tests only.
 */

/** A secp256k1 ECDSA signature as custos returns it: 64-byte r||s and the recovery id. */
export type RecoverableSignature = { signature: Uint8Array; recoveryId: number };

/** An unsigned EIP-1559 (type 2) transfer and the digest to sign: keccak256(0x02 || rlp(fields)). */
export function eip1559Case(chainId: number | bigint = 1): { tx: Transaction; digest: Uint8Array } {
  const tx = Transaction.from({
    type: 2,
    chainId: BigInt(chainId),
    nonce: 7,
    to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    value: 10n ** 15n,
    gasLimit: 21_000n,
    maxFeePerGas: 30_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
    data: '0x',
  });
  return { tx, digest: getBytes(tx.unsignedHash) };
}

/**
 * Attaches the signature (yParity = recovery id, EIP-1559 signature_y_parity), serialises, parses
 * the raw transaction back and returns the sender ethers recovers from it, with the address of
 * `publicKey` for comparison. Leaves `tx` untouched.
 */
export function finishEip1559(tx: Transaction, sig: RecoverableSignature, publicKey: Uint8Array): { serialized: string; from: string | null; expected: string } {
  if (sig.signature.length !== 64) throw new Error('signature must be 64 bytes r||s');
  if (sig.recoveryId !== 0 && sig.recoveryId !== 1) throw new Error(`recovery id ${sig.recoveryId} has no EIP-1559 yParity`);
  const signed = tx.clone();
  signed.signature = Signature.from({ r: hexlify(sig.signature.subarray(0, 32)), s: hexlify(sig.signature.subarray(32)), yParity: sig.recoveryId });
  const serialized = signed.serialized;
  return { serialized, from: Transaction.from(serialized).from, expected: computeAddress(hexlify(publicKey)) };
}

/**
 * A PSBT spending one P2WPKH output of `publicKey` to one output, and the BIP143 digest to sign
 * (script code = the P2PKH script of the key, BIP143 "Specification", SIGHASH_ALL). `finish` puts
 * the signature into a copy of the PSBT as a DER partial signature, lets bitcoinjs recompute the
 * sighash and check it (with noble's low-s verify), finalises and extracts the transaction.
 */
export function p2wpkhCase(publicKey: Uint8Array): {
  psbt: Psbt;
  digest: Uint8Array;
  finish(sig: RecoverableSignature): { valid: boolean; txHex: string };
} {
  const value = 100_000n;
  const spk = payments.p2wpkh({ pubkey: publicKey }).output;
  const scriptCode = payments.p2pkh({ pubkey: publicKey }).output;
  if (!spk || !scriptCode) throw new Error('bitcoinjs built no script for the key');
  const psbt = new Psbt();
  psbt.addInput({ hash: '11'.repeat(32), index: 1, witnessUtxo: { script: spk, value } });
  psbt.addOutput({ script: spk, value: value - 2_000n });
  const unsigned = BtcTransaction.fromBuffer(psbt.data.globalMap.unsignedTx.toBuffer());
  const digest = unsigned.hashForWitnessV0(0, scriptCode, value, BtcTransaction.SIGHASH_ALL);
  return {
    psbt,
    digest,
    finish(sig) {
      if (sig.signature.length !== 64) throw new Error('signature must be 64 bytes r||s');
      const p = psbt.clone();
      p.updateInput(0, { partialSig: [{ pubkey: publicKey, signature: script.signature.encode(sig.signature, BtcTransaction.SIGHASH_ALL) }] });
      const valid = p.validateSignaturesOfInput(0, (pubkey, msghash, signature) => secp256k1.verify(signature, msghash, pubkey, { prehash: false, lowS: true }));
      p.finalizeInput(0);
      return { valid, txHex: p.extractTransaction().toHex() };
    },
  };
}
