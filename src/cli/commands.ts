import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isCustosError, ValidationError } from '../common/errors.ts';
import { stopSignal } from '../common/signals.ts';
import { fromHex, toHex, utf8 } from '../common/bytes.ts';
import { parseGenesis } from '../wire/genesis.ts';
import { genesisHash } from '../wire/genesis.ts';
import { verifyKeyAttestations, type KeyAttestation } from '../wire/attestation.ts';
import { defaultHome, defaultPort, defaultUrl, parse } from './args.ts';
import { ApiClient } from './api-client.ts';

/**
 * The `custos` command. Each subcommand has --help; errors are one clear line (code and
 * message), never a stack trace; exit status 0 ok, 1 failure, 2 usage.
 */
const HELP: Record<string, string> = {
  main: `custos — MPC-HSM hybrid custody signer

Usage: custos <command> [options]

Commands:
  init          provision a local cluster: node data dirs, SoftHSM2 tokens, genesis
  start         run the local cluster (3 nodes + coordinator on 127.0.0.1); inits first if needed
  node          run one signer node from its data directory
  coordinator   run the coordinator (REST API) from its data directory
  keys create   create a threshold key by distributed key generation
  keys list     list keys
  keys show     show a key; --verify checks its node attestations against the genesis
  sign          sign a message with a key
  audit         verify a node's audit log (audit verify)
  status        show node reachability and pool levels

Environment: CUSTOS_HOME (state directory, default ./.custos), CUSTOS_PORT (API port, default 8700),
CUSTOS_URL (API URL for client commands, default http://127.0.0.1:$CUSTOS_PORT).
Run "custos <command> --help" for a command's options.`,
  init: `Usage: custos init [--home DIR] [--nodes N]

Provisions a local cluster under DIR (default $CUSTOS_HOME or ./.custos): for each node a data
directory with its own SoftHSM2 token (PIN in a 0600 file), its identity and encryption keys made
inside that token, and one genesis listing every node's public keys, copied to every node.
  --nodes N   number of signer nodes (2..10, default 3)`,
  start: `Usage: custos start [--home DIR] [--port PORT]

Starts the local cluster: every node of the genesis and the coordinator, on 127.0.0.1. Runs
"custos init" first when DIR has no genesis. Prints the API URL; Ctrl-C stops everything.
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

  custos keys create --scheme frost-ed25519|frost-secp256k1|bip340|ecdsa-secp256k1 --threshold T [--parties a,b,c]
  custos keys list
  custos keys show ID [--verify] [--genesis PATH]
  custos keys xpub ID [--path m/44/60/0/0/7]   (ecdsa-secp256k1: BIP32 xpub, derived key)
--verify checks every attestation (public key, and chain code for ECDSA keys) against the genesis.
Options: --url URL (default $CUSTOS_URL)`,
  sign: `Usage: custos sign KEY_ID (--hex HEX | --text TEXT | --digest HEX32) [--path PATH] [--idempotency-key K] [--url URL]

Signs with the threshold key and prints the JSON result. FROST keys sign a message (--hex bytes
or --text UTF-8); ecdsa-secp256k1 keys sign a 32-byte --digest, optionally under the
non-hardened BIP32 --path (e.g. m/44/60/0/0/7).`,
  audit: `Usage: custos audit verify --party ID (--file LOG.jsonl | --node-url URL) [--anchors FILE | --url URL] [--genesis PATH]

Verifies one party's audit log: the hash chain, every entry's signature by the party's identity
key (from the genesis), and the signed anchors (sequence, head) the party handed out with its
shares, fetched from the coordinator (--url, default $CUSTOS_URL) or read from a file. Names the
exact entry that was edited, deleted or moved, or where the tail was cut. Exit 0 if intact, 1 if
not. The log comes from a file (JSONL, as GET /v1/audit on a node returns it) or from the node.`,
  status: `Usage: custos status [--url URL]

Prints node reachability (GET /healthz) and nonce pool levels from the coordinator.`,
};

function print(x: unknown): void {
  process.stdout.write((typeof x === 'string' ? x : JSON.stringify(x, null, 2)) + '\n');
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
      case 'status': return await cmdStatus(rest);
      case 'audit': return await cmdAudit(rest);
      default: throw new ValidationError(`unknown command ${JSON.stringify(cmd)}; run "custos --help"`, { code: 'cli.usage' });
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
  const { values } = parse(argv, { home: { type: 'string' }, nodes: { type: 'string' } } as const);
  if (values.help) { print(HELP.init); return 0; }
  const nodes = values.nodes === undefined ? 3 : Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > 10) throw new ValidationError('--nodes must be 2..10', { code: 'cli.usage' });
  const { initLocalCluster, layout } = await import('./local-cluster.ts');
  const home = values.home ?? defaultHome();
  process.stderr.write(`custos: initialising a local cluster of ${nodes} nodes in ${layout(home, nodes).home}\n`);
  const g = await initLocalCluster(home, { nodes, log: (s) => process.stderr.write(s + '\n') });
  print({ home: layout(home, nodes).home, genesis: join(layout(home, nodes).home, 'genesis.json'), cluster: genesisHash(g), nodes: g.nodes.map((n) => n.id) });
  return 0;
}

async function cmdStart(argv: string[]): Promise<number> {
  const { values } = parse(argv, { home: { type: 'string' }, port: { type: 'string' } } as const);
  if (values.help) { print(HELP.start); return 0; }
  const { initLocalCluster, isInitialised, serviceOf, startLocalCluster, layout } = await import('./local-cluster.ts');
  const home = values.home ?? defaultHome();
  if (!isInitialised(home)) {
    process.stderr.write(`custos: no cluster in ${layout(home).home} yet; initialising one\n`);
    await initLocalCluster(home, { log: (s) => process.stderr.write(s + '\n') });
  }
  const port = values.port === undefined ? defaultPort() : Number(values.port);
  const stopped = stopSignal();
  const cluster = await startLocalCluster(home, { port, onLog: (l) => { if (!l.includes('"level":"info"')) process.stderr.write(l + '\n'); } });
  print(`custos local cluster is up (state in ${layout(home).home})`);
  for (const n of cluster.nodes) print(`  ${n.id}: ${n.url}`);
  print(`API: ${cluster.url}   (OpenAPI: ${cluster.url}/openapi.json)`);
  print(`Try: curl -s -X POST ${cluster.url}/v1/keys -H 'content-type: application/json' -d '{"scheme":"frost-ed25519","threshold":2}'`);
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
  const opts = { url: { type: 'string' as const }, scheme: { type: 'string' as const }, threshold: { type: 'string' as const }, parties: { type: 'string' as const }, verify: { type: 'boolean' as const }, genesis: { type: 'string' as const }, path: { type: 'string' as const } };
  const { values, positionals } = parse(rest, opts, true);
  if (values.help) { print(HELP.keys); return 0; }
  const api = new ApiClient(values.url ?? defaultUrl());
  switch (sub) {
    case 'create': {
      if (!values.scheme || !values.threshold) throw new ValidationError('keys create needs --scheme and --threshold', { code: 'cli.usage' });
      const body: Record<string, unknown> = { scheme: values.scheme, threshold: Number(values.threshold) };
      if (values.parties) body.parties = values.parties.split(',').map((s) => s.trim());
      print(await api.post('/v1/keys', body));
      return 0;
    }
    case 'list': print(await api.get('/v1/keys')); return 0;
    case 'show': {
      const id = positionals[0];
      if (!id) throw new ValidationError('keys show needs a key id', { code: 'cli.usage' });
      const key = await api.get(`/v1/keys/${encodeURIComponent(id)}`) as { id: string; scheme: string; threshold: number; parties: string[]; publicKey: string; chainCode?: string; attestations: KeyAttestation[] };
      if (values.verify) {
        const gpath = values.genesis ?? join(defaultHome(), 'genesis.json');
        const genesis = parseGenesis(JSON.parse(readFileSync(gpath, 'utf8')));
        const transcriptHash = key.attestations[0]?.transcriptHash ?? '';
        verifyKeyAttestations(genesis, genesisHash(genesis), { keyId: key.id, scheme: key.scheme, threshold: key.threshold, parties: key.parties, publicKey: key.publicKey, transcriptHash, chainCode: key.chainCode }, key.attestations);
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
  const { values } = parse(rest, { party: { type: 'string' }, file: { type: 'string' }, 'node-url': { type: 'string' }, anchors: { type: 'string' }, url: { type: 'string' }, genesis: { type: 'string' } } as const);
  if (values.help) { print(HELP.audit); return 0; }
  if (!values.party) throw new ValidationError('--party is required', { code: 'cli.usage' });
  if ((values.file === undefined) === (values['node-url'] === undefined)) throw new ValidationError('give exactly one of --file or --node-url', { code: 'cli.usage' });
  const { parseAuditJsonl, verifyAuditLog } = await import('../wire/audit-chain.ts');
  const gpath = values.genesis ?? join(defaultHome(), 'genesis.json');
  const genesis = parseGenesis(JSON.parse(readFileSync(gpath, 'utf8')));
  const node = genesis.nodes.find((n) => n.id === values.party);
  if (!node) throw new ValidationError(`${values.party} is not a node of the genesis ${gpath}`, { code: 'cli.usage' });
  const text = values.file !== undefined ? readFileSync(values.file, 'utf8') : await new ApiClient(values['node-url']!).text('/v1/audit');
  const anchors = values.anchors !== undefined
    ? JSON.parse(readFileSync(values.anchors, 'utf8')).anchors
    : ((await new ApiClient(values.url ?? defaultUrl()).get('/v1/audit/anchors')) as { anchors: unknown[] }).anchors;
  const out = verifyAuditLog(values.party, fromHex(node.identityKey), parseAuditJsonl(text), anchors as never);
  print({ party: values.party, intact: true, entries: out.count, lastSeq: out.seq, head: out.head, anchorsChecked: (anchors as { party?: string }[]).filter((a) => a.party === values.party).length });
  return 0;
}

async function cmdSign(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { url: { type: 'string' }, hex: { type: 'string' }, text: { type: 'string' }, digest: { type: 'string' }, path: { type: 'string' }, 'idempotency-key': { type: 'string' } } as const, true);
  if (values.help) { print(HELP.sign); return 0; }
  const id = positionals[0];
  if (!id) throw new ValidationError('sign needs a key id', { code: 'cli.usage' });
  if ([values.hex, values.text, values.digest].filter((v) => v !== undefined).length !== 1) throw new ValidationError('give exactly one of --hex, --text or --digest', { code: 'cli.usage' });
  if (values.path !== undefined && values.digest === undefined) throw new ValidationError('--path applies to --digest (ecdsa-secp256k1 keys) only', { code: 'cli.usage' });
  const api = new ApiClient(values.url ?? defaultUrl());
  const body = values.digest !== undefined
    ? { payload: { type: 'digest', hex: toHex(fromHex(values.digest, '--digest', 32)) }, ...(values.path !== undefined ? { derivationPath: values.path } : {}) }
    : { payload: { type: 'message', hex: values.hex !== undefined ? toHex(fromHex(values.hex, '--hex')) : toHex(utf8(values.text!)) } };
  print(await api.post(`/v1/keys/${encodeURIComponent(id)}/sign`, body, values['idempotency-key'] ? { 'idempotency-key': values['idempotency-key'] } : {}));
  return 0;
}

async function cmdStatus(argv: string[]): Promise<number> {
  const { values } = parse(argv, { url: { type: 'string' } } as const);
  if (values.help) { print(HELP.status); return 0; }
  const api = new ApiClient(values.url ?? defaultUrl());
  const health = await api.get('/healthz', true);
  const metrics = await api.text('/metrics');
  const pools = metrics.split('\n').filter((l) => l.startsWith('custos_nonce_pool_level{')).map((l) => {
    const m = /key="([^"]+)",quorum="([^"]+)"\} (\d+)/.exec(l);
    return m ? { key: m[1], quorum: m[2], ready: Number(m[3]) } : undefined;
  }).filter(Boolean);
  print({ url: api.base, health, pools });
  return 0;
}
