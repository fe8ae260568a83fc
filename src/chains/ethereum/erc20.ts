/**
 * Recognises the two ERC-20 calls whose intent a policy must see through (EIP-20, "Methods"):
 * `transfer(address,uint256)` (selector a9059cbb) moves tokens, `approve(address,uint256)`
 * (selector 095ea7b3) lets a spender move them later. ABI decoding is micro-eth-signer's, with
 * the function fragments of its ERC-20 ABI, so the selectors are derived, not typed in by hand.
 */
import { Decoder, ERC20 } from 'micro-eth-signer/abi.js';
import { ValidationError } from '../../common/errors.ts';

export type Erc20Call =
  | { method: 'transfer'; to: string; amount: bigint }
  | { method: 'approve'; spender: string; amount: bigint };

/** Selector (4 bytes) + two static 32-byte words: the only length the ABI allows for both calls. */
const CALL_LENGTH = 4 + 32 + 32;
export const TRANSFER_SELECTOR = 'a9059cbb';
export const APPROVE_SELECTOR = '095ea7b3';

// The decoder matches by (contract, selector); one fixed key stands for "any token contract".
const ANY_TOKEN = '0x0000000000000000000000000000000000000000';
const decoder = new Decoder();
decoder.add(ANY_TOKEN, ERC20.filter((f) => f.type === 'function' && (f.name === 'transfer' || f.name === 'approve')));

function refuse(message: string): ValidationError {
  return new ValidationError(message, { code: 'payload.undecodable' });
}

/**
 * The ERC-20 transfer or approve encoded in `data`, or null when the selector is neither.
 * A transfer or approve selector with any other length, or with dirty padding, is refused rather
 * than passed on as an opaque call: a token contract compiled without strict ABI checks would
 * still execute it as a transfer, and the policy would never see the real recipient.
 */
export function decodeErc20Call(data: Uint8Array): Erc20Call | null {
  if (data.length < 4) return null;
  const selector = Buffer.from(data.subarray(0, 4)).toString('hex');
  if (selector !== TRANSFER_SELECTOR && selector !== APPROVE_SELECTOR) return null;
  const name = selector === TRANSFER_SELECTOR ? 'transfer' : 'approve';
  if (data.length !== CALL_LENGTH) {
    throw refuse(`ERC-20 ${name} calldata must be ${CALL_LENGTH} bytes, got ${data.length}`);
  }
  let value: unknown;
  try {
    const info = decoder.decode(ANY_TOKEN, data);
    if (info === undefined || Array.isArray(info) || info.name !== name) throw new Error('selector not matched');
    value = info.value;
  } catch {
    throw refuse(`ERC-20 ${name} arguments are not canonically ABI-encoded`);
  }
  const args = value as { to?: unknown; spender?: unknown; value?: unknown };
  const who = name === 'transfer' ? args.to : args.spender;
  if (typeof who !== 'string' || typeof args.value !== 'bigint') throw refuse(`ERC-20 ${name} arguments did not decode`);
  return name === 'transfer'
    ? { method: 'transfer', to: who.toLowerCase(), amount: args.value }
    : { method: 'approve', spender: who.toLowerCase(), amount: args.value };
}
