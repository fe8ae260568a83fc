import assert from 'node:assert/strict';
import { HsmError } from '../../src/common/errors.ts';

/** An assert.throws predicate: an HsmError with this code and, if given, this text in its message. */
export function hsmError(code: string, messageIncludes?: string): (e: unknown) => true {
  return (e: unknown) => {
    assert.ok(e instanceof HsmError, `expected HsmError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (messageIncludes !== undefined) assert.ok(e.message.includes(messageIncludes), e.message);
    return true;
  };
}
