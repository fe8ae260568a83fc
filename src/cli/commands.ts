import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { join, resolve } from 'node:path';
import { isCustosError, ValidationError } from '../common/errors.ts';
import { stopSignal } from '../common/signals.ts';
import { fromHex, toHex, utf8 } from '../common/bytes.ts';
import type { Identity, Role } from '../policy/identity.ts';
import type { SignRequest } from '../policy/sign-request.ts';
import { genesisHash, parseGenesis } from '../wire/genesis.ts';
import { verifyKeyAttestations, type KeyAttestation } from '../wire/attestation.ts';
import { defaultHome, defaultPort, defaultToken, defaultUrl, parse } from './args.ts';
import { ApiClient } from './api-client.ts';
import type { StoredIdentity } from './credentials.ts';

/**
 * The `custos` command. Each subcommand has --help; errors are one clear line (code and
 * message), never a stack trace; exit status 0 ok, 1 failure, 2 usage.
 */
const HELP: Record<string, string> = {
  main: `custos — MPC-HSM hybrid custody signer

Usage: custos <command> [options]

Commands:
  init          provision a local cluster: node data dirs, SoftHSM2 tokens, genesis; production
                admins with --admins FILE (default deny), or --demo for demo credentials
  start         run the local cluster (3 nodes + coordinator on 127.0.0.1); inits a demo first if needed
  node          run one signer node from its data directory
  coordinator   run the coordinator (REST API) from its data directory
  keys create   create a threshold key by distributed key generation
  keys list     list keys
  keys show     show a key; --verify checks its node attestations against the genesis
  sign          sign a message with a key (a request signed by your identity key)
  requests      list, show, approve (or reject) and cancel sign requests
  policy        show, sign (admin ceremony), push and dry-run (evaluate) the custody policy
  tokens        create, list and revoke API tokens (on the coordinator's data directory)
  identity new  make an identity key pair: secret to a 0600 file, public identity on stdout
  audit         verify a node's audit log (audit verify)
  status        show node reachability and pool levels
  offline       the air-gapped node: init, import a bundle, export the answer, status, audit
  airgap        the online side of the air gap: export / import bundles, status, simulate

Environment: CUSTOS_HOME (state directory, default ./.custos), CUSTOS_PORT (API port, default 8700),
CUSTOS_URL (API URL for client commands, default http://127.0.0.1:$CUSTOS_PORT),
CUSTOS_TOKEN (API token; default: the token in $CUSTOS_HOME/credentials.json of a demo cluster).
Run "custos <command> --help" for a command's options.`,
  init: `Usage: custos init (--admins FILE | --demo) [--home DIR] [--nodes N]

Provisions a local cluster under DIR (default $CUSTOS_HOME or ./.custos): for each node a data
directory with its own SoftHSM2 token (PIN in a 0600 file), its identity and encryption keys made
inside that token, and one genesis listing every node's public keys, copied to every node.
  --nodes N       number of signer nodes (2..10, default 3)
  --admins FILE   production bootstrap. FILE is {"threshold": T, "identities": [public admin
                  identities]} (each from "custos identity new --roles admin"; public keys only).
                  The genesis names these admins; no credentials and no policy are written, so
                  every request is denied until T of them sign a policy and push it
                  (custos policy sign / custos policy push). API tokens: custos tokens create.
  --demo          a DEMO cluster instead: demo identities with their private keys, an API token
                  and a starter policy, all in DIR/credentials.json ("custos start" makes one
                  when DIR is empty). Never use a demo cluster for real funds.`,
  start: `Usage: custos start [--home DIR] [--port PORT]

Starts the local cluster: every node of the genesis and the coordinator, on 127.0.0.1. Runs
"custos init --demo" (a DEMO cluster) first when DIR has no genesis. On a demo cluster it
activates the starter policy and prints where the demo credentials are (DIR/credentials.json:
demo only). Prints
the API URL and commands to try; Ctrl-C stops everything.
  --port PORT  coordinator API port (default $CUSTOS_PORT or 8700; 0 = any free port)`,
  node: `Usage: custos node --data-dir DIR [--port PORT] [--print-public-keys]

Runs one signer node from DIR/node.json (id, listen address, PKCS#11 module, token label, PIN
file or PIN environment variable). Prints {"listening": URL} on stdout once it serves.
  --print-public-keys  open the token (creating the node's keys on first use), print the
                       identity and encryption public keys as JSON, and exit`,
  coordinator: `Usage: custos coordinator --data-dir DIR [--port PORT]

Runs the coordinator from DIR/coordinator.json (listen address, genesis path, node URLs, pool
settings). Prints {"listening": URL} on stdout once it serves. OpenAPI at /openapi.json.`,
  keys: `Usage: custos keys create|list|show ...

  custos keys create --scheme frost-ed25519|frost-secp256k1|bip340|ecdsa-secp256k1 --threshold T [--parties a,b,c] [--cold]
      --cold: every signing quorum must include the offline node(s) among the parties (attested
      and enforced by every node); key generation then runs across the air gap (custos airgap)
  custos keys stage ID --count N [--quorum a,b]   presignatures / nonces with the offline node
  custos keys list
  custos keys show ID [--verify] [--genesis PATH]
  custos keys xpub ID [--path m/44/60/0/0/7]   (ecdsa-secp256k1: BIP32 xpub, derived key)
--verify checks every attestation (public key, and chain code for ECDSA keys) against the genesis.
Options: --url URL (default $CUSTOS_URL)`,
  sign: `Usage: custos sign KEY_ID PAYLOAD [--to ADDR --amount N [--chain C] [--asset A]] [--path PATH] [--as ID] [--credentials FILE] [--idempotency-key K] [--url URL]

Builds a sign request, signs it with your identity key and submits it. Every node checks the
signature, decodes the payload, and applies the policy. Prints the result: the signature (200), or
the request id and what it waits for when the policy needs approvals (202; see custos requests).
PAYLOAD is one of:
  --hex HEX | --text TEXT       a raw message (FROST keys)
  --digest HEX32                a raw 32-byte digest (ecdsa-secp256k1)
  --eth-tx HEX                  an unsigned Ethereum tx (legacy EIP-155 or EIP-1559); needs --to and
                                --amount (the intent every node checks against the decoded tx)
  --eth-message TEXT            an EIP-191 personal message
Intent: --to ADDR, --amount N (base units, e.g. wei), --chain C (CAIP-2, e.g. eip155:1), --asset A.
  --path PATH          non-hardened BIP32 path for ecdsa-secp256k1 keys, e.g. m/44/60/0/0/7
  --as ID              the initiator to sign as (default: demo-initiator on the demo cluster,
                       otherwise the first identity with the initiator role in the credentials)
  --credentials FILE   your identity's key (default $CUSTOS_HOME/credentials.json; see identity new)
  --idempotency-key K  the coordinator answers a second submission under K only if it is the identical
                       signed request; each run of this command signs anew, so a rerun with the same
                       K is refused (request.idempotency_mismatch) rather than signing twice: find the
                       first request with "custos requests list --key KEY_ID"
  --url URL            coordinator API (default $CUSTOS_URL); the token is $CUSTOS_TOKEN or the demo's`,
  audit: `Usage: custos audit verify --party ID (--file LOG.jsonl | --node-url URL) [--anchors FILE | --url URL] [--peer ID=URL|FILE ...] [--genesis PATH]

Verifies one party's audit log: the hash chain, every entry's signature by the party's identity
key (from the genesis), and the signed anchors (sequence, head) the party handed out with its
shares and decisions, fetched from the coordinator (--url, default $CUSTOS_URL) or read from a
file. --peer adds a co-signer's log (its node URL or a JSONL file): it is verified, and the heads
of ID it countersigned (the peers list of its release entries) are checked too, so a cut tail is
caught even without the coordinator's anchors. Names the exact entry that was edited, deleted or moved, or where the
tail was cut. Exit 0 if intact, 1 if not. The log comes from a file (JSONL, as GET /v1/audit
returns it) or from the node. --party coordinator verifies the coordinator's own log (signed by
its HSM identity key, listed in the genesis), fetched from --url unless --file is given.`,
  status: `Usage: custos status [--url URL]

Prints node reachability (GET /healthz) and nonce pool levels from the coordinator.`,
};

export function print(x: unknown): void {
  process.stdout.write((typeof x === 'string' ? x : JSON.stringify(x, null, 2)) + '\n');
}

/** A one-line note for the person at the terminal, on stderr, so stdout stays machine-readable. */
export function note(s: string): void {
  process.stderr.write(`custos: ${s}\n`);
}

/** A command-line mistake: exit status 2. */
export function usage(message: string): ValidationError {
  return new ValidationError(message, { code: 'cli.usage' });
}

/** Reads a JSON file; a missing or malformed file is one clear line (exit 1), never a stack trace. */
/**
 * Reads a JSON document from `path`; with `yaml`, a .yaml/.yml file is read as YAML (issue 4: a
 * policy may be written in YAML; what is signed is always its canonical JSON).
 */
export function readJsonFile(path: string, what: string, yaml = false): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ValidationError(`cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message.split('\n')[0]}`, { code: 'cli.file' });
  }
  if (yaml && /\.ya?ml$/i.test(path)) {
    try {
      // YAML 1.2 core schema, no custom tags, duplicate keys refused: plain data only.
      return parseYaml(text, { schema: 'core', uniqueKeys: true, maxAliasCount: 0 });
    } catch (e) {
      throw new ValidationError(`${what} ${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`, { code: 'cli.file' });
    }
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ValidationError(`${what} ${path} is not valid JSON: ${(e as Error).message.split('\n')[0]}`, { code: 'cli.file' });
  }
}

export async function runCli(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined: case '-h': case '--help': case 'help': print(HELP.main); return cmd === undefined ? 2 : 0;
      case 'init': return await cmdInit(rest);
      case 'start': return await cmdStart(rest);
      case 'node': return await cmdNode(rest);
      case 'coordinator': return await cmdCoordinator(rest);
      case 'keys': return await cmdKeys(rest);
      case 'sign': return await cmdSign(rest);
      case 'requests': return await (await import('./cmd-requests.ts')).cmdRequests(rest);
      case 'policy': return await (await import('./cmd-policy.ts')).cmdPolicy(rest);
      case 'tokens': return await (await import('./cmd-tokens.ts')).cmdTokens(rest);
      case 'identity': return await (await import('./cmd-identity.ts')).cmdIdentity(rest);
      case 'status': return await cmdStatus(rest);
      case 'audit': return await cmdAudit(rest);
      case 'offline': return await (await import('./cmd-offline.ts')).cmdOffline(rest);
      case 'airgap': return await (await import('./cmd-airgap.ts')).cmdAirgap(rest);
      default: throw usage(`unknown command ${JSON.stringify(cmd)}; run "custos --help"`);
    }
  } catch (e) {
    if (isCustosError(e)) {
      process.stderr.write(`custos: ${e.message}${e.culprit && e.culprit !== 'client' ? ` (culprit: ${e.culprit})` : ''} [${e.code}]\n`);
      return e.code === 'cli.usage' ? 2 : 1;
    }
    process.stderr.write(`custos: ${(e as Error).message?.split('\n')[0] ?? String(e)}\n`);
    return 1;
  }
}

async function cmdInit(argv: string[]): Promise<number> {
  const { values } = parse(argv, { home: { type: 'string' }, nodes: { type: 'string' }, admins: { type: 'string' }, demo: { type: 'boolean' } } as const);
  if (values.help) { print(HELP.init); return 0; }
  // Production is the default meaning of init: a demo, with every key in one file, is asked for by name.
  if ((values.admins === undefined) === (values.demo !== true)) throw usage('give --admins FILE (production: default deny and an admin ceremony) or --demo (a quickstart cluster with demo credentials), not both');
  const nodes = values.nodes === undefined ? 3 : Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > 10) throw usage('--nodes must be 2..10');
  // Checked before provisioning: a typo in the admins file must not cost a round of HSM tokens.
  const admins = values.admins === undefined ? undefined : await readAdmins(values.admins);
  const { initLocalCluster, layout } = await import('./local-cluster.ts');
  const { credentialsPath } = await import('./credentials.ts');
  const home = values.home ?? defaultHome();
  const l = layout(home, nodes);
  note(`initialising a local ${admins ? 'production' : 'DEMO'} cluster of ${nodes} nodes in ${l.home}`);
  const g = await initLocalCluster(home, { nodes, log: (s) => process.stderr.write(s + '\n'), ...(admins ? { admins } : {}) });
  const out = { home: l.home, genesis: l.genesisPath, cluster: genesisHash(g), nodes: g.nodes.map((n) => n.id) };
  if (admins) {
    print({ ...out, demo: false, admins: { threshold: admins.threshold, identities: admins.identities.map((i) => i.id) }, policy: null });
    note(`no policy yet: every sign request is denied until ${admins.threshold} of the ${admins.identities.length} admins sign a policy and push it ("custos policy sign FILE --as ADMIN --credentials KEYFILE --genesis ${l.genesisPath}", then "custos policy push SIGNED_FILE")`);
    note(`API clients need a token: "custos tokens create --name NAME" (the token is shown once; only its hash is stored)`);
  } else {
    const creds = credentialsPath(l.home);
    print({ ...out, demo: true, credentials: creds });
    note(`this is a DEMO cluster: ${creds} holds every demo identity's private key and the API token. Demo only, never for real funds; a production cluster starts from "custos init --admins FILE"`);
  }
  return 0;
}

/** The production admins file: {threshold, identities: [public admin identities]}, checked strictly. */
async function readAdmins(path: string): Promise<{ threshold: number; identities: Identity[] }> {
  const { parseIdentity } = await import('../policy/identity.ts');
  const x = readJsonFile(path, 'admins file');
  const bad = (m: string) => new ValidationError(`admins file ${path}: ${m}`, { code: 'cli.admins' });
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad('must be {"threshold": T, "identities": [...]}');
  const o = x as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => k !== 'threshold' && k !== 'identities');
  if (extra.length) throw bad(`unexpected field(s) ${extra.join(', ')}`);
  if (!Array.isArray(o.identities) || o.identities.length === 0) throw bad('identities must be a non-empty array of public admin identities');
  const identities = o.identities.map((i, n) => {
    // A private key in here would end up in the genesis, which is copied everywhere.
    if (i && typeof i === 'object' && 'secretKey' in i) throw bad(`identities[${n}] contains a secret key; list public identities only (what "custos identity new" prints)`);
    try {
      return parseIdentity(i, `identities[${n}]`);
    } catch (e) {
      throw bad((e as Error).message.replace(/^identity /, ''));
    }
  });
  identities.forEach((i, n) => { if (!i.roles.includes('admin')) throw bad(`identities[${n}] (${i.id}) does not hold the admin role`); });
  if (new Set(identities.map((i) => i.id)).size !== identities.length) throw bad('admin ids must be distinct');
  if (!Number.isInteger(o.threshold) || (o.threshold as number) < 1 || (o.threshold as number) > identities.length) throw bad(`threshold must be an integer 1..${identities.length}`);
  return { threshold: o.threshold as number, identities };
}

async function cmdStart(argv: string[]): Promise<number> {
  const { values } = parse(argv, { home: { type: 'string' }, port: { type: 'string' } } as const);
  if (values.help) { print(HELP.start); return 0; }
  const { initLocalCluster, isInitialised, serviceOf, startLocalCluster, layout } = await import('./local-cluster.ts');
  const { credentialsPath, loadCredentials } = await import('./credentials.ts');
  const home = values.home ?? defaultHome();
  if (!isInitialised(home)) {
    note(`no cluster in ${layout(home).home} yet; initialising a DEMO cluster`);
    await initLocalCluster(home, { log: (s) => process.stderr.write(s + '\n') });
  }
  const port = values.port === undefined ? defaultPort() : Number(values.port);
  const stopped = stopSignal();
  const cluster = await startLocalCluster(home, { port, onLog: (l) => { if (!l.includes('"level":"info"')) process.stderr.write(l + '\n'); } });
  const l = layout(home);
  print(`custos local cluster is up (state in ${l.home})`);
  for (const n of cluster.nodes) print(`  ${n.id}: ${n.url}`);
  print(`API: ${cluster.url}   (OpenAPI: ${cluster.url}/openapi.json)`);
  // The suggested commands must reach this cluster: say where it is when
  // that is not the default, and use the npm script when started through npm.
  const env = [resolve(home) !== resolve('.custos') ? `CUSTOS_HOME=${l.home}` : '', cluster.url !== defaultUrl() ? `CUSTOS_URL=${cluster.url}` : ''].filter(Boolean).join(' ');
  const cli = process.env.npm_lifecycle_event ? 'npm run custos --' : 'custos';
  if (loadCredentials(home)?.demo) {
    const creds = credentialsPath(l.home);
    print(`DEMO credentials (API token and every demo identity's private key): ${creds}`);
    print('  demo only: never use them for real funds (production: custos init --admins FILE).');
    print(env ? `Try, in another terminal (after: export ${env}):` : 'Try, in another terminal:');
    const tries: [string, string][] = [
      ['keys create --scheme frost-ed25519 --threshold 2', 'prints the new key id'],
      ["sign KEY_ID --text 'hello custos'", 'signed as demo-initiator'],
      ['requests list --status PENDING_APPROVAL', 'ETH transfers over 1 ETH wait here'],
      ['requests approve REQUEST_ID', 'as demo-approver-1'],
      ['policy show', 'the starter policy, signed by both demo admins'],
    ];
    const width = Math.max(...tries.map(([c]) => c.length));
    for (const [c, why] of tries) print(`  ${cli} ${c.padEnd(width)}  # ${why}`);
    print(`  curl -s -H "Authorization: Bearer $(jq -r .token ${creds})" ${cluster.url}/v1/keys`);
  } else {
    print('No demo credentials here: API clients need a token (custos tokens create --name NAME), and every');
    print('sign request is denied until the admins sign and push a policy (custos policy sign / custos policy push).');
    if (env) print(`For those commands: export ${env}`);
  }
  print('Press Ctrl-C to stop.');
  await new Promise<void>((res) => {
    const done = () => res();
    void stopped.then(done);
    for (const p of [cluster.coordinator, ...cluster.nodes.map(serviceOf)]) p.onExit((code) => { process.stderr.write(`custos: ${p.id} exited (${code}); stopping\n`); done(); });
  });
  await cluster.stop();
  return 0;
}

async function cmdNode(argv: string[]): Promise<number> {
  const { values } = parse(argv, { 'data-dir': { type: 'string' }, port: { type: 'string' }, 'print-public-keys': { type: 'boolean' } } as const);
  if (values.help) { print(HELP.node); return 0; }
  if (!values['data-dir']) throw new ValidationError('--data-dir is required', { code: 'cli.usage' });
  const { runNode, printPublicKeys } = await import('../node/main.ts');
  if (values['print-public-keys']) { printPublicKeys(values['data-dir']); return 0; }
  const n = await runNode(values['data-dir'], values.port === undefined ? {} : { port: Number(values.port) });
  const stopped = stopSignal();
  process.stdout.write(JSON.stringify({ listening: n.url }) + '\n');
  await stopped;
  await n.close();
  return 0;
}

async function cmdCoordinator(argv: string[]): Promise<number> {
  const { values } = parse(argv, { 'data-dir': { type: 'string' }, port: { type: 'string' } } as const);
  if (values.help) { print(HELP.coordinator); return 0; }
  if (!values['data-dir']) throw new ValidationError('--data-dir is required', { code: 'cli.usage' });
  const { loadCoordinatorConfig, startCoordinator } = await import('../coordinator/main.ts');
  const cfg = loadCoordinatorConfig(values['data-dir'], values.port === undefined ? {} : { port: Number(values.port) });
  const c = await startCoordinator(cfg);
  const stopped = stopSignal();
  process.stdout.write(JSON.stringify({ listening: c.url }) + '\n');
  await stopped;
  await c.close();
  return 0;
}

async function cmdKeys(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') { print(HELP.keys); return sub === undefined ? 2 : 0; }
  const opts = { url: { type: 'string' as const }, scheme: { type: 'string' as const }, threshold: { type: 'string' as const }, parties: { type: 'string' as const }, verify: { type: 'boolean' as const }, genesis: { type: 'string' as const }, path: { type: 'string' as const }, cold: { type: 'boolean' as const }, count: { type: 'string' as const }, quorum: { type: 'string' as const } };
  const { values, positionals } = parse(rest, opts, true);
  if (values.help) { print(HELP.keys); return 0; }
  const api = new ApiClient(values.url ?? defaultUrl(), defaultToken());
  switch (sub) {
    case 'create': {
      if (!values.scheme || !values.threshold) throw new ValidationError('keys create needs --scheme and --threshold', { code: 'cli.usage' });
      const body: Record<string, unknown> = { scheme: values.scheme, threshold: Number(values.threshold) };
      if (values.parties) body.parties = values.parties.split(',').map((s) => s.trim());
      if (values.cold) body.cold = true;
      print(await api.post('/v1/keys', body));
      return 0;
    }
    case 'stage': {
      if (!positionals[0] || !values.count) throw new ValidationError('keys stage needs a key ID and --count N', { code: 'cli.usage' });
      const body: Record<string, unknown> = { count: Number(values.count) };
      if (values.quorum) body.quorum = values.quorum.split(',').map((s) => s.trim());
      print(await api.post(`/v1/keys/${encodeURIComponent(positionals[0])}/stage`, body));
      return 0;
    }
    case 'list': print(await api.get('/v1/keys')); return 0;
    case 'show': {
      const id = positionals[0];
      if (!id) throw new ValidationError('keys show needs a key id', { code: 'cli.usage' });
      const key = await api.get(`/v1/keys/${encodeURIComponent(id)}`) as { id: string; scheme: string; threshold: number; parties: string[]; publicKey: string; chainCode?: string; requiredParties?: string[]; attestations: KeyAttestation[] };
      if (values.verify) {
        const gpath = values.genesis ?? join(defaultHome(), 'genesis.json');
        const genesis = parseGenesis(JSON.parse(readFileSync(gpath, 'utf8')));
        const transcriptHash = key.attestations[0]?.transcriptHash ?? '';
        verifyKeyAttestations(genesis, genesisHash(genesis), { keyId: key.id, scheme: key.scheme, threshold: key.threshold, parties: key.parties, publicKey: key.publicKey, transcriptHash, chainCode: key.chainCode, requiredParties: key.requiredParties }, key.attestations);
        print({ ...key, verified: `all ${key.parties.length} attestations check out against ${gpath}` });
        return 0;
      }
      print(key);
      return 0;
    }
    case 'xpub': {
      const id = positionals[0];
      if (!id) throw new ValidationError('keys xpub needs a key id', { code: 'cli.usage' });
      print(await api.get(`/v1/keys/${encodeURIComponent(id)}/xpub${values.path ? `?path=${encodeURIComponent(values.path)}` : ''}`));
      return 0;
    }
    default: throw new ValidationError(`unknown keys subcommand ${JSON.stringify(sub)}`, { code: 'cli.usage' });
  }
}

async function cmdAudit(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') { print(HELP.audit); return sub === undefined ? 2 : 0; }
  if (sub !== 'verify') throw new ValidationError(`unknown audit subcommand ${JSON.stringify(sub)}`, { code: 'cli.usage' });
  const { values } = parse(rest, { party: { type: 'string' }, file: { type: 'string' }, 'node-url': { type: 'string' }, anchors: { type: 'string' }, url: { type: 'string' }, genesis: { type: 'string' }, peer: { type: 'string', multiple: true } } as const);
  if (values.help) { print(HELP.audit); return 0; }
  if (!values.party) throw new ValidationError('--party is required', { code: 'cli.usage' });
  const coordinator = values.party === 'coordinator';
  if (values.file !== undefined && values['node-url'] !== undefined) throw new ValidationError('give at most one of --file or --node-url', { code: 'cli.usage' });
  if (!coordinator && values.file === undefined && values['node-url'] === undefined) throw new ValidationError('give --file or --node-url', { code: 'cli.usage' });
  const { countersignaturesIn, parseAuditJsonl, verifyAuditLog } = await import('../wire/audit-chain.ts');
  const gpath = values.genesis ?? join(defaultHome(), 'genesis.json');
  const genesis = parseGenesis(JSON.parse(readFileSync(gpath, 'utf8')));
  const keyOf = (id: string): string => {
    const k = id === 'coordinator' ? genesis.coordinator?.identityKey : genesis.nodes.find((n) => n.id === id)?.identityKey;
    if (!k) throw new ValidationError(`${id} is not a party of the genesis ${gpath}${id === 'coordinator' ? ' (it names no coordinator identity key)' : ''}`, { code: 'cli.usage' });
    return k;
  };
  const partyKey = keyOf(values.party);
  const coord = new ApiClient(values.url ?? defaultUrl(), defaultToken());
  const text = values.file !== undefined ? readFileSync(values.file, 'utf8')
    : values['node-url'] !== undefined ? await new ApiClient(values['node-url']).text('/v1/audit') : await coord.text('/v1/audit');
  const anchors = values.anchors !== undefined
    ? JSON.parse(readFileSync(values.anchors, 'utf8')).anchors
    : coordinator ? [] : ((await coord.get('/v1/audit/anchors')) as { anchors: unknown[] }).anchors;
  // Countersignatures: each peer's own log is verified first, then the heads it recorded for
  // this party are checked like anchors (the peer's signed chain vouches for them).
  const countersigned = [];
  for (const spec of values.peer ?? []) {
    const m = /^([a-z0-9][a-z0-9-]{0,31})=(.+)$/.exec(spec);
    if (!m) throw new ValidationError(`--peer takes ID=URL or ID=FILE, got ${JSON.stringify(spec)}`, { code: 'cli.usage' });
    const peerText = /^https?:\/\//.test(m[2]) ? await new ApiClient(m[2]).text('/v1/audit') : readFileSync(m[2], 'utf8');
    const peerLog = parseAuditJsonl(peerText);
    verifyAuditLog(m[1], fromHex(keyOf(m[1])), peerLog);
    countersigned.push(...countersignaturesIn(peerLog, values.party, fromHex(partyKey)));
  }
  const out = verifyAuditLog(values.party, fromHex(partyKey), parseAuditJsonl(text), anchors as never, countersigned);
  print({ party: values.party, intact: true, entries: out.count, lastSeq: out.seq, head: out.head, anchorsChecked: (anchors as { party?: string }[]).filter((a) => a.party === values.party).length, countersignaturesChecked: countersigned.length });
  return 0;
}

/** The flags that say what to sign and as whom; shared by `sign` and `policy evaluate`. */
export const REQUEST_OPTIONS = {
  hex: { type: 'string' }, text: { type: 'string' }, digest: { type: 'string' }, 'eth-tx': { type: 'string' }, 'eth-message': { type: 'string' },
  to: { type: 'string' }, amount: { type: 'string' }, chain: { type: 'string' }, asset: { type: 'string' },
  path: { type: 'string' }, as: { type: 'string' }, credentials: { type: 'string' },
} as const;
export type RequestFlags = { [K in keyof typeof REQUEST_OPTIONS]?: string };

/**
 * Builds the sign request for key `keyId` from the payload flags and signs it with the
 * initiator's identity key: the body of POST /v1/keys/{id}/sign and of POST /v1/policy/evaluate.
 */
export async function signedRequest(keyId: string | undefined, values: RequestFlags, cmd: string): Promise<{ request: SignRequest; signature: string }> {
  if (!keyId) throw usage(`${cmd} needs a key id`);
  const kinds = [values.hex, values.text, values.digest, values['eth-tx'], values['eth-message']].filter((v) => v !== undefined);
  if (kinds.length !== 1) throw usage('give exactly one of --hex, --text, --digest, --eth-tx or --eth-message');
  const hexArg = (v: string, name: string) => toHex(fromHex(v.replace(/^0x/, '').toLowerCase(), name));
  const payload = values.digest !== undefined ? { type: 'digest', hex: toHex(fromHex(values.digest.replace(/^0x/, '').toLowerCase(), '--digest', 32)) }
    : values['eth-tx'] !== undefined ? { type: 'eth-tx', hex: hexArg(values['eth-tx'], '--eth-tx') }
      : values['eth-message'] !== undefined ? { type: 'eth-message', hex: toHex(utf8(values['eth-message'])) }
        : { type: 'message', hex: values.hex !== undefined ? hexArg(values.hex, '--hex') : toHex(utf8(values.text!)) };
  const intent = Object.fromEntries(([['chain', values.chain], ['asset', values.asset], ['to', values.to], ['amount', values.amount]] as const).filter(([, v]) => v !== undefined));
  const { signer } = await identityFor(values.as, values.credentials);
  const { signRequestAs } = await import('../policy/client-signing.ts');
  return signRequestAs(signer, {
    keyId, payload: payload as SignRequest['payload'],
    ...(Object.keys(intent).length ? { intent } : {}),
    ...(values.path !== undefined ? { derivationPath: values.path } : {}),
  });
}

async function cmdSign(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...REQUEST_OPTIONS, url: { type: 'string' }, 'idempotency-key': { type: 'string' } } as const, true);
  if (values.help) { print(HELP.sign); return 0; }
  const body = await signedRequest(positionals[0], values, 'sign');
  const api = new ApiClient(values.url ?? defaultUrl(), defaultToken());
  print(await api.post(`/v1/keys/${encodeURIComponent(body.request.keyId)}/sign`, body, values['idempotency-key'] ? { 'idempotency-key': values['idempotency-key'] } : {}));
  return 0;
}

/**
 * The identity a client command signs as, from a credentials file ({identities: {id: {id, alg,
 * secretKey, roles, publicKey}}}, as "custos identity new" or the demo writes it): --as ID, else
 * the first identity holding `role`, else (no role) the demo's default initiator or the first
 * initiator. Which roles count is the policy's business; the nodes check that, not this.
 */
export async function identityFor(as: string | undefined, file: string | undefined, role?: Role): Promise<{ signer: StoredIdentity; path: string }> {
  const { credentialsPath, loadCredentials } = await import('./credentials.ts');
  const path = file ?? credentialsPath(defaultHome());
  const creds = file ? readJsonFile(file, 'credentials') as { identities?: unknown; defaultInitiator?: string } : loadCredentials(defaultHome());
  if (!creds) throw new ValidationError(`no credentials at ${path}: pass --credentials FILE (with your identity's key) or run "npm start" for the demo`, { code: 'cli.no_credentials' });
  if (typeof creds.identities !== 'object' || creds.identities === null) throw new ValidationError(`${path} has no "identities" object`, { code: 'cli.file' });
  const identities = creds.identities as Record<string, StoredIdentity>;
  const withRole = (r: Role) => Object.values(identities).find((i) => Array.isArray(i?.roles) && i.roles.includes(r))?.id;
  const want = as ?? (role ? withRole(role) : creds.defaultInitiator ?? withRole('initiator'));
  if (want === undefined) throw new ValidationError(`no identity with the ${role ?? 'initiator'} role in ${path}; pass --as ID`, { code: 'identity.unknown' });
  const signer = Object.hasOwn(identities, want) ? identities[want] : undefined;
  if (!signer) throw new ValidationError(`identity ${JSON.stringify(want)} is not in ${path}`, { code: 'identity.unknown' });
  if (typeof signer.secretKey !== 'string' || (signer.alg !== 'p256' && signer.alg !== 'ed25519') || signer.id !== want) {
    throw new ValidationError(`identity ${JSON.stringify(want)} in ${path} is not {id, alg: p256|ed25519, secretKey, ...}`, { code: 'cli.file' });
  }
  return { signer, path };
}

async function cmdStatus(argv: string[]): Promise<number> {
  const { values } = parse(argv, { url: { type: 'string' } } as const);
  if (values.help) { print(HELP.status); return 0; }
  const api = new ApiClient(values.url ?? defaultUrl(), defaultToken());
  const health = await api.get('/healthz', true);
  const metrics = await api.text('/metrics');
  const pools = metrics.split('\n').filter((l) => l.startsWith('custos_nonce_pool_level{')).map((l) => {
    const m = /key="([^"]+)",quorum="([^"]+)"\} (\d+)/.exec(l);
    return m ? { key: m[1], quorum: m[2], ready: Number(m[3]) } : undefined;
  }).filter(Boolean);
  print({ url: api.base, health, pools });
  return 0;
}
