import { closeSync, openSync, writeSync } from 'node:fs';
import { ValidationError } from '../common/errors.ts';
import { newIdentity, parseIdentity, ROLES, type Role } from '../policy/identity.ts';
import type { StoredIdentity } from './credentials.ts';
import { parse } from './args.ts';
import { note, print, usage } from './commands.ts';

/**
 * `custos identity new`: a person's (or a system's) signing key, made on their own machine. The
 * secret goes to a 0600 file in the credentials format the other commands read (--credentials);
 * only the public identity is printed, for the genesis admins file or a policy's identities.
 */
export const IDENTITY_HELP = `Usage: custos identity new --id ID --roles ROLE[,ROLE...] [--alg p256|ed25519] --out FILE

Makes an identity key pair. Writes the secret key to FILE (mode 0600; an existing FILE is never
overwritten) as credentials: {"identities": {ID: {id, alg, secretKey, roles, publicKey}}}, for
--credentials FILE of "custos sign", "custos requests approve" and "custos policy sign". Prints the
PUBLIC identity {id, roles, alg, publicKey}: put it in the admins file of "custos init --admins"
or in a policy's identities.
  --id ID      1..100 characters of [A-Za-z0-9._@-]
  --roles      comma-separated, among ${ROLES.join(', ')}
  --alg        p256 (ECDSA P-256, default) or ed25519
Keep FILE private: whoever holds it acts as ID.`;

export async function cmdIdentity(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') { print(IDENTITY_HELP); return sub === undefined ? 2 : 0; }
  if (sub !== 'new') throw usage(`unknown identity subcommand ${JSON.stringify(sub)}; run "custos identity --help"`);
  const { values } = parse(rest, { id: { type: 'string' }, roles: { type: 'string' }, alg: { type: 'string' }, out: { type: 'string' } } as const);
  if (values.help) { print(IDENTITY_HELP); return 0; }
  if (!values.id || !values.roles || !values.out) throw usage('identity new needs --id, --roles and --out');
  const alg = values.alg ?? 'p256';
  if (alg !== 'p256' && alg !== 'ed25519') throw usage('--alg must be p256 or ed25519');
  const roles = values.roles.split(',').map((r) => r.trim()) as Role[];
  const { identity, secret } = newIdentity(values.id, roles, alg);
  try {
    parseIdentity(identity); // the id and roles, checked as every node will check them
  } catch (e) {
    throw usage((e as Error).message.replace(/^identity \$\.(\w+): /, '--$1 '));
  }
  const stored: StoredIdentity = { ...secret, roles: identity.roles, publicKey: identity.publicKey };
  let fd: number;
  try {
    fd = openSync(values.out, 'wx', 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ValidationError(code === 'EEXIST'
      ? `${values.out} already exists; refusing to overwrite an identity file (the key in it may be the only copy)`
      : `cannot create ${values.out}: ${(e as Error).message.split('\n')[0]}`, { code: 'cli.file' });
  }
  try {
    writeSync(fd, JSON.stringify({ identities: { [identity.id]: stored } }, null, 2) + '\n');
  } finally {
    closeSync(fd);
  }
  print(identity);
  note(`the secret key of ${identity.id} is in ${values.out} (mode 0600): keep it private. The public identity above is what goes into the genesis admins file or a policy.`);
  return 0;
}
