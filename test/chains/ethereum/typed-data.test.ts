import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypedDataEncoder } from 'ethers';
import { decodePayload, type DecodedPayload } from '../../../src/chains/payload.ts';
import { toHex } from '../../../src/common/bytes.ts';

type Field = { name: string; type: string };
type Typed = { types: Record<string, Field[]>; primaryType: string; domain: Record<string, unknown>; message: Record<string, unknown> };

const encode = (t: unknown) => Buffer.from(JSON.stringify(t), 'utf8').toString('hex');
const decode = (t: unknown): DecodedPayload => decodePayload({ type: 'eth-typed-data', hex: encode(t) });
/** ethers wants the struct types without EIP712Domain; it derives the domain type itself. */
function ethersHash(t: Typed): string {
  const { EIP712Domain: _, ...types } = t.types;
  return TypedDataEncoder.hash(t.domain, types, t.message);
}

const USDC = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const PERMIT: Typed = {
  types: {
    EIP712Domain: [
      { name: 'name', type: 'string' }, { name: 'version', type: 'string' },
      { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' },
    ],
    Permit: [
      { name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'value', type: 'uint256' },
      { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' },
    ],
  },
  primaryType: 'Permit',
  domain: { name: 'USD Coin', version: '2', chainId: 1, verifyingContract: USDC },
  message: {
    owner: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    spender: '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
    value: '115792089237316195423570985008687907853269984665640564039457584007913129639935',
    nonce: 0,
    deadline: 1893456000,
  },
};

// The EIP-712 specification's own example, extended: nested structs, a struct array, bytes, bytes32, salt.
const MAIL: Typed = {
  types: {
    Person: [{ name: 'name', type: 'string' }, { name: 'wallets', type: 'address[]' }],
    Group: [{ name: 'name', type: 'string' }, { name: 'members', type: 'Person[]' }],
    Mail: [
      { name: 'from', type: 'Person' }, { name: 'to', type: 'Group' }, { name: 'contents', type: 'string' },
      { name: 'attachment', type: 'bytes' }, { name: 'ref', type: 'bytes32' }, { name: 'urgent', type: 'bool' }, { name: 'delta', type: 'int64' },
    ],
  },
  primaryType: 'Mail',
  domain: { name: 'Ether Mail', version: '1', chainId: '0x89', verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC', salt: '0x' + '5a'.repeat(32) },
  message: {
    from: { name: 'Cow', wallets: ['0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826', '0xDeaDbeefdEAdbeefdEadbEEFdeadbeEFdEaDbeeF'] },
    to: { name: 'Friends', members: [{ name: 'Bob', wallets: ['0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB'] }, { name: 'Ann', wallets: [] }] },
    contents: 'Hello, Bob! ✉',
    attachment: '0xdeadbeef00',
    ref: '0x' + '01'.repeat(32),
    urgent: true,
    delta: -42,
  },
};

describe('eth-typed-data, digest judged by ethers.TypedDataEncoder.hash', () => {
  it('EIP-2612 Permit: digest, chain and verifying contract', () => {
    const d = decode(PERMIT);
    assert.equal('0x' + toHex(d.signBytes), ethersHash(PERMIT));
    assert.deepEqual({ ...d, signBytes: null }, { txType: 'typed-data', chain: 'eip155:1', contract: null, to: USDC.toLowerCase(), amount: '0', data: null, signBytes: null });
  });

  it('the same Permit without types.EIP712Domain (derived from the domain) gives the same digest', () => {
    const { EIP712Domain: _, ...types } = PERMIT.types;
    assert.equal(toHex(decode({ ...PERMIT, types }).signBytes), toHex(decode(PERMIT).signBytes));
  });

  it('nested structs, struct arrays, bytes, salt, hex chain id', () => {
    const d = decode(MAIL);
    assert.equal('0x' + toHex(d.signBytes), ethersHash(MAIL));
    assert.equal(d.chain, 'eip155:137');
    assert.equal(d.to, '0xcccccccccccccccccccccccccccccccccccccccc');
  });

  it('one changed field changes the digest (the check can fail)', () => {
    const other = { ...PERMIT, message: { ...PERMIT.message, value: '1' } };
    assert.notEqual(toHex(decode(other).signBytes), toHex(decode(PERMIT).signBytes));
    assert.equal('0x' + toHex(decode(other).signBytes), ethersHash(other));
  });

  it('a domain without chainId or verifyingContract has no chain and no to', () => {
    const t: Typed = { types: { Login: [{ name: 'nonce', type: 'uint256' }] }, primaryType: 'Login', domain: { name: 'app' }, message: { nonce: '7' } };
    const d = decode(t);
    assert.equal(d.chain, null);
    assert.equal(d.to, null);
    assert.equal('0x' + toHex(d.signBytes), ethersHash(t));
  });

  const refused: [string, unknown, RegExp][] = [
    ['not JSON', null, /not valid JSON/],
    ['an array', [], /JSON object/],
    ['an extra top-level key', { ...PERMIT, extra: 1 }, /exactly the keys/],
    ['primaryType not in types', { ...PERMIT, primaryType: 'Nope' }, /primaryType/],
    ['primaryType EIP712Domain', { ...PERMIT, primaryType: 'EIP712Domain' }, /primaryType EIP712Domain/],
    ['an unknown domain field', { ...PERMIT, domain: { ...PERMIT.domain, owner: 'x' } }, /not an EIP-712 domain field/],
    ['chainId re-typed as string', { ...PERMIT, types: { ...PERMIT.types, EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' }, { name: 'chainId', type: 'string' }, { name: 'verifyingContract', type: 'address' }] } }, /standard domain field/],
    ['a domain field missing from the declared domain type', { ...PERMIT, domain: { ...PERMIT.domain, salt: '0x' + '00'.repeat(32) } }, /exactly the fields/],
    ['chainId zero', { ...PERMIT, domain: { ...PERMIT.domain, chainId: 0 } }, /chainId/],
    ['chainId empty string', { ...PERMIT, domain: { ...PERMIT.domain, chainId: '' } }, /chainId/],
    ['verifyingContract with a wrong checksum', { ...PERMIT, domain: { ...PERMIT.domain, verifyingContract: USDC.replace('A0b8', 'a0B8') } }, /checksum/],
    ['a message field the type does not declare', { ...PERMIT, message: { ...PERMIT.message, bonus: 1 } }, /does not encode/],
    ['a uint given as an unsafe JSON number', { ...PERMIT, message: { ...PERMIT.message, value: 2 ** 60 } }, /does not encode/],
    ['a negative uint', { ...PERMIT, message: { ...PERMIT.message, value: -1 } }, /does not encode/],
  ];
  for (const [name, t, pattern] of refused) {
    it(`refuses ${name}`, () => {
      const hex = t === null ? Buffer.from('{"types":', 'utf8').toString('hex') : encode(t);
      assert.throws(() => decodePayload({ type: 'eth-typed-data', hex }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'payload.undecodable');
        assert.match(e.message, pattern);
        return true;
      });
    });
  }

  it('refuses invalid UTF-8', () => {
    assert.throws(() => decodePayload({ type: 'eth-typed-data', hex: '7bff7d' }), { code: 'payload.undecodable', message: /UTF-8/ });
  });
});
