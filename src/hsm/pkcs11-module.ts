import { existsSync, realpathSync } from 'node:fs';
import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { HsmError } from '../common/errors.ts';
import { ckrOf } from './pkcs11-errors.ts';

/**
 * A PKCS#11 module is process-wide state: C_Initialize may run once per process per library
 * (a second call, even through another path to the same .so, answers
 * CKR_CRYPTOKI_ALREADY_INITIALIZED) and C_Finalize ends every session of every caller. So
 * keystores share one loaded module per library, counted; the last one out finalizes it, which
 * also lets SoftHSM read SOFTHSM2_CONF afresh at the next C_Initialize.
 *
 * PKCS#11 login state is per application and token, not per session: a second login to a token
 * already logged in answers CKR_USER_ALREADY_LOGGED_IN without checking the PIN. So a token is
 * claimed by at most one open keystore in this process.
 */
type LoadedModule = {
  lib: PKCS11;
  refs: number;
  /** False when someone else in the process had already initialized the library: not ours to finalize. */
  finalize: boolean;
  claimed: Set<string>;
};

const loaded = new Map<string, LoadedModule>();

export type ModuleLease = {
  readonly lib: PKCS11;
  /** Marks `tokenLabel` as used by the caller; throws `hsm.token_in_use` if it already is. */
  claimToken(tokenLabel: string): void;
  /** Gives the token and the module back; idempotent. */
  release(): void;
};

export function acquireModule(modulePath: string): ModuleLease {
  if (typeof modulePath !== 'string' || modulePath === '') throw new HsmError('hsm.config', 'PKCS#11 module path is empty');
  if (!existsSync(modulePath)) throw new HsmError('hsm.module_missing', `PKCS#11 module ${modulePath} does not exist`);
  const key = realpathSync(modulePath);
  let entry = loaded.get(key);
  if (entry === undefined) {
    entry = load(modulePath);
    loaded.set(key, entry);
  }
  entry.refs++;
  const mine = new Set<string>();
  let released = false;
  const e = entry;
  return {
    lib: e.lib,
    claimToken(tokenLabel: string): void {
      if (e.claimed.has(tokenLabel)) {
        throw new HsmError('hsm.token_in_use', `token "${tokenLabel}" is already open in this process (one keystore per token)`);
      }
      e.claimed.add(tokenLabel);
      mine.add(tokenLabel);
    },
    release(): void {
      if (released) return;
      released = true;
      for (const t of mine) e.claimed.delete(t);
      if (--e.refs > 0) return;
      loaded.delete(key);
      try { if (e.finalize) e.lib.C_Finalize(); } catch { /* the module is going away either way */ }
      try { e.lib.close(); } catch { /* idem */ }
    },
  };
}

/** Whether any PKCS#11 module is currently initialized through this registry. */
export function modulesInUse(): number {
  return loaded.size;
}

function load(modulePath: string): LoadedModule {
  const lib = new pkcs11js.PKCS11();
  try {
    lib.load(modulePath);
  } catch (e) {
    throw new HsmError('hsm.module_load_failed', `cannot load PKCS#11 module ${modulePath}`, e);
  }
  let finalize = true;
  try {
    lib.C_Initialize();
  } catch (e) {
    if (ckrOf(e) === pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      finalize = false;
    } else {
      try { lib.close(); } catch { /* nothing more to undo */ }
      throw new HsmError('hsm.module_init_failed', `C_Initialize failed for PKCS#11 module ${modulePath}`, e);
    }
  }
  return { lib, refs: 0, finalize, claimed: new Set() };
}
