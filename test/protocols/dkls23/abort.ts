import assert from 'node:assert/strict';
import { ProtocolAbort } from '../../../src/common/errors.ts';

/** assert.throws predicate: an identifiable abort with this code and culprit, no key material in its message. */
export const abortOf = (code: string, culprit: string) => (e: unknown) => {
  assert.ok(e instanceof ProtocolAbort, String(e));
  assert.equal(e.code, code);
  assert.equal(e.culprit, culprit);
  assert.ok(!/[0-9a-f]{32}/i.test(e.message), 'no key material in the message');
  return true;
};
