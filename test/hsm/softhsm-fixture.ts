import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import pkcs11js from 'pkcs11js';
import type { Handle, PKCS11 } from 'pkcs11js';
import { Pkcs11Keystore } from '../../src/hsm/pkcs11-keystore.ts';
import { acquireModule } from '../../src/hsm/pkcs11-module.ts';
import { provisionSoftHsmToken, useSoftHsmConf } from '../../src/hsm/softhsm.ts';

/**
 * A fresh data directory with freshly initialized SoftHSM tokens, for one test. All tokens of a
 * test share one tokendir because SoftHSM reads its conf once per C_Initialize; the keystore
 * registry finalizes the module when the last keystore closes, so the next test's conf is read.
 */
export type SoftHsmFixture = {
  dataDir: string;
  tokenDir: string;
  confPath: string;
  modulePath: string;
  pins: Record<string, string>;
  open(label: string, pin?: string): Pkcs11Keystore;
};

export function softHsmFixture(t: TestContext, labels: string[]): SoftHsmFixture {
  const dataDir = mkdtempSync(join(tmpdir(), 'custos-hsm-'));
  const pins: Record<string, string> = {};
  let paths: { tokenDir: string; confPath: string; modulePath: string } | undefined;
  for (const label of labels) {
    pins[label] = `user-pin-${label}-${Math.random().toString(36).slice(2)}`;
    paths = provisionSoftHsmToken({ dataDir, label, soPin: `so-pin-${label}`, userPin: pins[label] });
  }
  if (paths === undefined) throw new Error('softHsmFixture needs at least one label');
  useSoftHsmConf(paths.confPath);
  const opened: Pkcs11Keystore[] = [];
  t.after(() => {
    for (const ks of opened) ks.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const { tokenDir, confPath, modulePath } = paths;
  return {
    dataDir, tokenDir, confPath, modulePath, pins,
    open(label: string, pin = pins[label]): Pkcs11Keystore {
      const ks = Pkcs11Keystore.open({ modulePath, tokenLabel: label, pin });
      opened.push(ks);
      return ks;
    },
  };
}

/**
 * Runs `fn` on a raw logged-in PKCS#11 session of a token (the keystore for it must be closed:
 * PKCS#11 login state is per process), for tests that look at or plant objects directly.
 */
export function withRawSession<T>(f: SoftHsmFixture, label: string, fn: (lib: PKCS11, session: Handle) => T): T {
  const lease = acquireModule(f.modulePath);
  try {
    lease.claimToken(label);
    const lib = lease.lib;
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === label);
    if (slot === undefined) throw new Error(`no token ${label}`);
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
    try {
      lib.C_Login(session, pkcs11js.CKU_USER, f.pins[label]);
      try { return fn(lib, session); } finally { lib.C_Logout(session); }
    } finally {
      lib.C_CloseSession(session);
    }
  } finally {
    lease.release();
  }
}

/** Handles of the objects with this label (any class). */
export function findByLabel(lib: PKCS11, session: Handle, label: string): Handle[] {
  lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: label }]);
  try { return lib.C_FindObjects(session, 100); } finally { lib.C_FindObjectsFinal(session); }
}
