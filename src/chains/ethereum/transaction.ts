/**
 * Unsigned Ethereum transactions: what the key signs and what the transaction does.
 *
 * Accepted: legacy transactions with EIP-155 replay protection (RLP [nonce, gasPrice, gasLimit,
 * to, value, data, chainId, 0, 0], EIP-155 "Specification") and EIP-1559 transactions
 * (0x02 || RLP [chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value, data,
 * accessList], EIP-1559 "Specification"). Everything else is refused by name: pre-EIP-155 legacy
 * (replayable on every chain), contract creation (no destination to check), already-signed
 * transactions, and the other EIP-2718 types. RLP and field parsing are micro-eth-signer's; the
 * input must be the library's own canonical re-encoding, so the bytes hashed for signing are
 * exactly the bytes that were decoded.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { AggregatedError, Transaction } from 'micro-eth-signer';
import { equalBytes, toHex } from '../../common/bytes.ts';
import { ValidationError } from '../../common/errors.ts';
import type { DecodedPayload } from '../payload.ts';
import { decodeErc20Call } from './erc20.ts';

/** geth's txMaxSize (4 slots of 32 KiB): a larger transaction would not enter any mempool. */
export const MAX_TX_BYTES = 128 * 1024;

/** What `attachSignature` needs: r and s as 32-byte hex, and the secp256k1 recovery id. */
export type RecoverableSignatureHex = { r: string; s: string; recoveryId: number };

const REFUSED_TYPES: Record<number, string> = {
  0x01: 'EIP-2930 access-list transactions (type 0x01) are not supported; use EIP-1559 (type 0x02)',
  0x03: 'EIP-4844 blob transactions (type 0x03) are not supported',
  0x04: 'EIP-7702 set-code transactions (type 0x04) are not supported: they delegate the account to code',
};

type Fields = { to: string; value: bigint; data: string; chainId?: bigint; gasLimit?: bigint; gasPrice?: bigint; maxFeePerGas?: bigint };
/** micro-eth-signer exports Transaction as a value only; this is its instance type. */
type Tx = ReturnType<typeof Transaction.fromBytes>;
type Unsigned = { tx: Tx; fields: Fields; chainId: bigint };

function refuse(message: string): ValidationError {
  return new ValidationError(message, { code: 'payload.undecodable' });
}

/** The library's complaint, short and without a stack: field errors are listed by name. */
function reason(e: unknown): string {
  if (e instanceof AggregatedError) return e.errors.map((x) => `${x.field}: ${x.error}`).join('; ').slice(0, 300);
  return (e instanceof Error ? e.message : String(e)).slice(0, 300);
}

/** Parses and checks an unsigned transaction; every refusal says which rule it broke. */
function parseUnsigned(bytes: Uint8Array): Unsigned {
  if (bytes.length === 0) throw refuse('transaction is empty');
  if (bytes.length > MAX_TX_BYTES) throw refuse(`transaction is ${bytes.length} bytes, more than ${MAX_TX_BYTES}`);
  const first = bytes[0];
  // EIP-2718: a first byte in [0, 0x7f] is a transaction type; a legacy transaction is an RLP
  // list, so it starts at 0xc0 or above.
  if (first <= 0x7f && first !== 0x02) {
    throw refuse(REFUSED_TYPES[first] ?? `unknown transaction type 0x${first.toString(16).padStart(2, '0')}`);
  }
  if (first >= 0x80 && first < 0xc0) throw refuse('not a transaction: a legacy transaction is an RLP list');
  let tx: Tx;
  try {
    const parsed = Transaction.fromBytes(bytes, false);
    if (parsed.type !== 'legacy' && parsed.type !== 'eip1559') throw new Error(`unexpected type ${parsed.type}`);
    tx = parsed;
  } catch (e) {
    throw refuse(`transaction does not decode: ${reason(e)}`);
  }
  if (tx.isSigned) throw refuse('transaction is already signed; submit the unsigned serialization');
  const fields = tx.raw as Fields;
  if (fields.chainId === undefined) {
    throw refuse('legacy transaction without EIP-155 chain id is refused: its signature would be valid on every chain');
  }
  if (fields.chainId < 1n) throw refuse(`chain id ${fields.chainId} is not a valid EIP-155 chain id`);
  if (fields.to === '0x') throw refuse('contract creation (no recipient) is not supported');
  let canonical: Uint8Array;
  try {
    canonical = tx.toBytes({ includeSignature: false });
  } catch (e) {
    throw refuse(`transaction does not re-encode: ${reason(e)}`);
  }
  // Non-minimal integers or other slack would make the signed bytes differ from what was decoded.
  if (!equalBytes(canonical, bytes)) throw refuse('transaction is not canonically RLP-encoded');
  return { tx, fields, chainId: fields.chainId };
}

/**
 * Decodes an unsigned legacy (EIP-155) or EIP-1559 transaction into its intent.
 * Native transfer when there is no calldata; ERC-20 transfer(address,uint256) with zero value is
 * a token transfer (contract = token, to = recipient); ERC-20 approve is a contract call naming
 * the spender and allowance; anything else is a contract call to `to` carrying `value`.
 */
export function decodeEthTx(bytes: Uint8Array): DecodedPayload {
  const { fields, chainId } = parseUnsigned(bytes);
  const to = fields.to.toLowerCase();
  const calldata = new Uint8Array(Buffer.from(fields.data.replace(/^0x/, ''), 'hex'));
  const perGas = fields.maxFeePerGas ?? fields.gasPrice;
  if (fields.gasLimit === undefined || perGas === undefined) throw refuse('transaction has no gas limit or fee per gas');
  const common = {
    chain: `eip155:${chainId}`,
    data: calldata.length === 0 ? null : '0x' + toHex(calldata),
    signBytes: keccak_256(bytes),
    maxFee: (fields.gasLimit * perGas).toString(),
  };
  if (calldata.length === 0) {
    return { txType: 'transfer', contract: null, to, amount: fields.value.toString(), ...common };
  }
  const call = decodeErc20Call(calldata);
  // A token call that also sends ether is not a plain token transfer: keep the ether visible.
  if (call !== null && fields.value === 0n) {
    if (call.method === 'transfer') return { txType: 'transfer', contract: to, to: call.to, amount: call.amount.toString(), ...common };
    return { txType: 'contract-call', contract: to, to: call.spender, amount: call.amount.toString(), ...common };
  }
  return { txType: 'contract-call', contract: null, to, amount: fields.value.toString(), ...common };
}

function parseHex(s: string, what: string): Uint8Array {
  if (typeof s !== 'string' || !/^(0x)?([0-9a-fA-F]{2})*$/.test(s)) throw new ValidationError(`${what} must be hex`, { code: 'encoding.bad_hex' });
  return new Uint8Array(Buffer.from(s.replace(/^0x/, ''), 'hex'));
}

function scalar(s: string, what: string): bigint {
  const b = parseHex(s, what);
  if (b.length !== 32) throw new ValidationError(`signature ${what} must be 32 bytes`, { code: 'signature.invalid' });
  return BigInt('0x' + toHex(b));
}

/**
 * Attaches a secp256k1 signature to an unsigned transaction and returns the signed serialization
 * (lowercase hex, no 0x). Legacy: v = chainId * 2 + 35 + recoveryId (EIP-155); EIP-1559:
 * signature_y_parity = recoveryId. High s is refused (EIP-2: the network would reject it).
 */
export function attachSignature(unsignedHex: string, sig: RecoverableSignatureHex): string {
  const { tx } = parseUnsigned(parseHex(unsignedHex, 'unsigned transaction'));
  const r = scalar(sig.r, 'r');
  const s = scalar(sig.s, 's');
  if (sig.recoveryId !== 0 && sig.recoveryId !== 1) {
    throw new ValidationError(`recovery id ${sig.recoveryId} cannot be expressed in an Ethereum signature (0 or 1)`, { code: 'signature.invalid' });
  }
  let highS: boolean;
  try {
    highS = new secp256k1.Signature(r, s).hasHighS();
  } catch {
    throw new ValidationError('signature r or s is outside [1, n-1]', { code: 'signature.invalid' });
  }
  if (highS) throw new ValidationError('signature has high s (EIP-2); normalise it before attaching', { code: 'signature.invalid' });
  const raw = { ...tx.raw, r, s, yParity: sig.recoveryId };
  const signed = new Transaction(tx.type, raw as never, { strict: false });
  return toHex(signed.toBytes({ includeSignature: true }));
}
