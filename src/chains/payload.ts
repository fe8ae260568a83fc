/**
 * "Intent, not bytes": a node decodes what it is asked to sign into what that signature would do
 * (chain, token, recipient, amount), checks it against the intent the initiator stated, and hands
 * the decoded intent to the policy. The bytes the key signs are derived here, from the payload,
 * never taken from the client separately, so the checked intent and the signature cannot diverge.
 */
import { ValidationError, isCustosError } from '../common/errors.ts';
import { decodePersonalMessage } from './ethereum/personal-message.ts';
import { decodeEthTx } from './ethereum/transaction.ts';
import { decodeTypedData } from './ethereum/typed-data.ts';
import { isHexAddress } from './ethereum/address.ts';

export const PAYLOAD_TYPES = ['eth-tx', 'eth-message', 'eth-typed-data', 'digest', 'message'] as const;
export type PayloadType = (typeof PAYLOAD_TYPES)[number];
/** A payload to sign; `hex` is lowercase hex without 0x. */
export type SignPayload = { type: PayloadType; hex: string };
/** What the initiator says the signature is for; every field present is checked. */
export type Intent = { chain?: string; asset?: string; to?: string; amount?: string; data?: string };
/** What a payload does, as policy rules match it (`txTypes`). */
export const TX_TYPES = ['transfer', 'contract-call', 'raw-message', 'typed-data', 'raw-digest'] as const;
export type TxType = (typeof TX_TYPES)[number];

export type DecodedPayload = {
  txType: TxType;
  /** CAIP-2 chain id ('eip155:1'); null for raw digests and messages. */
  chain: string | null;
  /** ERC-20 token contract (lowercase 0x address); null for the native coin and raw payloads. */
  contract: string | null;
  /** Recipient (native or token transfer), spender (approve), contract called, or EIP-712 verifying contract. */
  to: string | null;
  /** Base units as a decimal string: wei, token units, or '0'. */
  amount: string;
  /** Calldata as lowercase 0x hex, or null. */
  data: string | null;
  /** What the key signs: a 32-byte digest for eth-* and 'digest', the raw bytes for 'message'. */
  signBytes: Uint8Array;
  /**
   * Transactions only: the most the transaction may pay in fees, in the chain's native base units
   * (gasLimit × maxFeePerGas, or × gasPrice for legacy). Fees leave the account like a transfer.
   */
  maxFee?: string;
};

/** Upper bound on any payload, so a hostile request cannot make a node parse megabytes. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
const LOWER_HEX = /^(?:[0-9a-f]{2})*$/;
/** An amount in base units: a decimal string without sign or leading zeros (policy, intents, payloads). */
export const BASE_UNITS = /^(0|[1-9][0-9]*)$/;

function refuse(message: string): ValidationError {
  return new ValidationError(message, { code: 'payload.undecodable' });
}

function payloadBytes(p: SignPayload): Uint8Array {
  if (typeof p.hex !== 'string' || !LOWER_HEX.test(p.hex)) throw refuse(`${p.type} payload must be lowercase even-length hex without 0x`);
  if (p.hex.length / 2 > MAX_PAYLOAD_BYTES) throw refuse(`${p.type} payload is larger than ${MAX_PAYLOAD_BYTES} bytes`);
  return new Uint8Array(Buffer.from(p.hex, 'hex'));
}

/** Decodes a payload into its intent and the bytes to sign; refuses with 'payload.undecodable'. */
export function decodePayload(p: SignPayload): DecodedPayload {
  if (typeof p !== 'object' || p === null || !(PAYLOAD_TYPES as readonly unknown[]).includes(p.type)) {
    throw refuse(`payload type must be one of ${PAYLOAD_TYPES.join(', ')}`);
  }
  const bytes = payloadBytes(p);
  try {
    switch (p.type) {
      case 'eth-tx':
        return decodeEthTx(bytes);
      case 'eth-message':
        if (bytes.length === 0) throw refuse('eth-message payload is empty');
        return decodePersonalMessage(bytes);
      case 'eth-typed-data':
        return decodeTypedData(bytes);
      case 'digest':
        if (bytes.length !== 32) throw refuse(`digest payload must be 32 bytes, got ${bytes.length}`);
        return raw('raw-digest', bytes);
      case 'message':
        // Empty is a valid message for Schnorr/EdDSA (RFC 8032 and RFC 9591 sign it).
        return raw('raw-message', bytes);
    }
  } catch (e) {
    if (isCustosError(e)) throw e;
    // A decoder library failed in a way its caller did not anticipate: keep its words, not its stack.
    throw refuse(`${p.type} payload does not decode: ${(e instanceof Error ? e.message : String(e)).slice(0, 200)}`);
  }
}

function raw(txType: 'raw-digest' | 'raw-message', bytes: Uint8Array): DecodedPayload {
  return { txType, chain: null, contract: null, to: null, amount: '0', data: null, signBytes: bytes };
}

function mismatch(field: string, stated: string | undefined, decoded: string | null, why?: string): ValidationError {
  const show = (v: string | null | undefined) => (v === undefined || v === null ? 'nothing' : JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}… (${v.length} chars)` : v));
  const message = why ?? `intent ${field} mismatch: intent says ${show(stated)}, payload says ${show(decoded)}`;
  return new ValidationError(message, {
    code: 'intent.mismatch',
    detail: { field, intent: stated ?? null, payload: decoded },
  });
}

function sameAddress(a: string, b: string): boolean {
  return isHexAddress(a) && isHexAddress(b) ? a.toLowerCase() === b.toLowerCase() : a === b;
}

function normData(s: string): string | null {
  const h = s.startsWith('0x') ? s.slice(2) : s;
  return /^(?:[0-9a-fA-F]{2})*$/.test(h) ? h.toLowerCase() : null;
}

/**
 * Checks the decoded payload against the stated intent; throws 'intent.mismatch' naming the
 * field and both values. Fields absent from the intent are not checked, except that a
 * transaction (transfer or contract call) needs `to` and `amount` stated: a node never signs a
 * transaction whose destination and amount nobody stated. `asset` is not checked here: it is a
 * policy asset id, resolved against `contract` and `chain` by the policy layer.
 */
export function checkIntent(d: DecodedPayload, intent: Intent): void {
  const isTx = d.txType === 'transfer' || d.txType === 'contract-call';
  if (isTx && intent.to === undefined) throw mismatch('to', undefined, d.to, 'intent to is required for a transaction');
  if (isTx && intent.amount === undefined) throw mismatch('amount', undefined, d.amount, 'intent amount is required for a transaction');
  if (intent.chain !== undefined && intent.chain !== d.chain) throw mismatch('chain', intent.chain, d.chain);
  if (intent.to !== undefined && (d.to === null || !sameAddress(intent.to, d.to))) throw mismatch('to', intent.to, d.to);
  if (intent.amount !== undefined) {
    if (typeof intent.amount !== 'string' || !BASE_UNITS.test(intent.amount)) {
      throw mismatch('amount', intent.amount, d.amount, `intent amount ${JSON.stringify(intent.amount)} is not a base-unit decimal string`);
    }
    if (BigInt(intent.amount) !== BigInt(d.amount)) throw mismatch('amount', intent.amount, d.amount);
  }
  if (intent.data !== undefined) {
    const stated = typeof intent.data === 'string' ? normData(intent.data) : null;
    if (stated === null) throw mismatch('data', intent.data, d.data, 'intent data is not hex');
    const decoded = d.data === null ? '' : (normData(d.data) ?? '');
    if (stated !== decoded) throw mismatch('data', intent.data, d.data);
  }
}
