import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Interface } from 'ethers';
import { decodeErc20Call } from '../../../src/chains/ethereum/erc20.ts';

const ERC20 = new Interface([
  'function transfer(address to, uint256 amount)',
  'function approve(address spender, uint256 amount)',
  'function transferFrom(address from, address to, uint256 amount)',
]);
const ALICE = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const bytes = (hex: string) => new Uint8Array(Buffer.from(hex.replace(/^0x/, ''), 'hex'));

describe('ERC-20 calldata (encoded by ethers)', () => {
  it('transfer: recipient lowercase, amount exact up to 2^256-1', () => {
    for (const amount of [0n, 1n, 10n ** 30n, 2n ** 256n - 1n]) {
      assert.deepEqual(decodeErc20Call(bytes(ERC20.encodeFunctionData('transfer', [ALICE, amount]))), { method: 'transfer', to: ALICE.toLowerCase(), amount });
    }
  });

  it('approve: spender and allowance', () => {
    assert.deepEqual(decodeErc20Call(bytes(ERC20.encodeFunctionData('approve', [ALICE, 77n]))), { method: 'approve', spender: ALICE.toLowerCase(), amount: 77n });
  });

  it('other selectors and short data are not ERC-20 transfers', () => {
    assert.equal(decodeErc20Call(bytes(ERC20.encodeFunctionData('transferFrom', [ALICE, ALICE, 1n]))), null);
    assert.equal(decodeErc20Call(bytes('a9059c')), null);
    assert.equal(decodeErc20Call(new Uint8Array(0)), null);
  });

  it('a transfer selector with the wrong length or dirty padding is refused', () => {
    const good = ERC20.encodeFunctionData('transfer', [ALICE, 1n]).slice(2);
    for (const hex of [good + '00', good.slice(0, -2), 'a9059cbb']) {
      assert.throws(() => decodeErc20Call(bytes(hex)), { code: 'payload.undecodable', message: /must be 68 bytes/ });
    }
    // Non-zero bits above the 20-byte address: an old token would mask them and pay ALICE.
    const dirty = good.slice(0, 8) + 'ff' + good.slice(10);
    assert.throws(() => decodeErc20Call(bytes(dirty)), { code: 'payload.undecodable', message: /not canonically ABI-encoded/ });
    const approveDirty = ERC20.encodeFunctionData('approve', [ALICE, 1n]).slice(2);
    assert.throws(() => decodeErc20Call(bytes(approveDirty.slice(0, 8) + '01' + approveDirty.slice(10))), { code: 'payload.undecodable', message: /approve/ });
  });
});
