import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, NotFoundError } from '../common/errors.ts';
import { openDatabase } from '../common/sqlite.ts';
import { ApiTokens } from '../coordinator/api-tokens.ts';
import { defaultHome, parse } from './args.ts';
import { layout } from './local-cluster.ts';
import { note, print, usage } from './commands.ts';

/**
 * `custos tokens`: API tokens, managed on the coordinator's own database rather than over the API,
 * so that having a token never lets anyone mint more. Works while the coordinator runs (SQLite
 * WAL); it checks tokens against the database on every request, so changes apply at once.
 */
export const TOKENS_HELP = `Usage: custos tokens create|list|revoke ... [--data-dir DIR]

  custos tokens create --name NAME   makes a token and prints it ONCE: only its SHA-256 hash is
                                     stored, so it cannot be shown again. Clients send it as
                                     "Authorization: Bearer TOKEN" (the CLI reads $CUSTOS_TOKEN).
  custos tokens list                 id, name, creation and revocation time of every token
  custos tokens revoke ID            revokes a token for good (ID as "tokens list" shows it)
--data-dir DIR: the coordinator's data directory, which holds coordinator.db (default
$CUSTOS_HOME/coordinator). Run it on the coordinator's machine, as the user that owns DIR.
A token only opens the API's front door: every sign request must still be signed by an initiator
and pass the policy on every node.`;

export async function cmdTokens(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') { print(TOKENS_HELP); return sub === undefined ? 2 : 0; }
  const { values, positionals } = parse(rest, { 'data-dir': { type: 'string' }, name: { type: 'string' } } as const, true);
  if (values.help) { print(TOKENS_HELP); return 0; }
  if (!['create', 'list', 'revoke'].includes(sub)) throw usage(`unknown tokens subcommand ${JSON.stringify(sub)}; run "custos tokens --help"`);
  if ((sub === 'create') !== (values.name !== undefined)) throw usage(sub === 'create' ? 'tokens create needs --name NAME (who or what the token is for)' : `tokens ${sub} takes no --name`);
  if (positionals.length !== (sub === 'revoke' ? 1 : 0)) throw usage(sub === 'revoke' ? 'tokens revoke needs one token ID' : `tokens ${sub} takes no positional arguments`);
  const dir = values['data-dir'] ?? layout(defaultHome()).coordinatorDir;
  // Opening the database would create it: a wrong path must not leave a stray token store behind.
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(`no coordinator data directory at ${dir} (run "custos init" first, or pass --data-dir)`);
  const db = openDatabase(join(dir, 'coordinator.db'));
  try {
    const tokens = new ApiTokens(db);
    switch (sub) {
      case 'create': {
        const t = tokens.create(values.name!);
        print(t);
        note(`store this token now: it is shown only once (only its SHA-256 hash is kept in ${join(dir, 'coordinator.db')}). Use it as CUSTOS_TOKEN or "Authorization: Bearer TOKEN".`);
        return 0;
      }
      case 'list': print({ tokens: tokens.list() }); return 0;
      default: {
        const id = positionals[0];
        if (!tokens.revoke(id)) throw new NotFoundError('token', id);
        print(tokens.list().find((t) => t.id === id));
        return 0;
      }
    }
  } finally {
    db.close();
  }
}
