import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex, toHex } from '../common/bytes.ts';
import { ConfigError, ValidationError } from '../common/errors.ts';
import { jsonLogger } from '../common/logger.ts';
import { loadNodeConfig } from '../node/config.ts';
import { openNodeKeystore, openNodeState } from '../node/main.ts';
import { OfflineNode } from '../node/offline.ts';
import { parseAuditJsonl, verifyAuditLog } from '../wire/audit-chain.ts';
import { parseGenesis } from '../wire/genesis.ts';
import { parse } from './args.ts';
import { checkWriteOpts, readBundleIn, TRANSPORT_HELP, TRANSPORT_OPTIONS, writeBundleOut } from './bundle-io.ts';
import { note, print, usage } from './commands.ts';
import { provisionNode } from './local-cluster.ts';

/**
 * `custos offline`: the air-gapped signer node. Its own SoftHSM2 token and SQLite in --home, the
 * same signer core, policy gate and audit log as an online node, and no network at all: it reads
 * bundles from files or captured QR frames and writes its signed answers the same ways.
 */
export const OFFLINE_HELP = `Usage: custos offline init|import|export|status|audit --home DIR ...

  custos offline init --home DIR --id ID
        makes DIR: the node's own SoftHSM2 token (identity and encryption keys made inside it)
        and node.json; prints the node's genesis entry {id, identityKey, encryptionKey} to put in
        the cluster's genesis
  custos offline init --home DIR --genesis FILE
        installs the cluster's genesis (it must list this node with the keys of its token)
  custos offline import --home DIR (FILE | --qr FRAMES_DIR) --out DIR [--transport file|qr]
        checks a bundle from the coordinator (signature, addressing, sequence, time attestations),
        serves its calls (key generation and presigning rounds, sign requests, policy versions:
        each decided by this node's own policy) and writes the signed answer
  custos offline export --home DIR --out DIR [--seq N] [--transport file|qr]
        writes an answer again (the newest, or number N)
  custos offline status --home DIR
        keys, staged presignatures, policy version, bundle sequence numbers
  custos offline audit verify --home DIR | audit export --home DIR --out FILE
        checks this node's hash-chained, HSM-signed audit log / writes it as JSONL for
        "custos audit verify --party ID --file FILE"

  ${TRANSPORT_HELP}
  --qr DIR              a directory of captured QR frames (PNG, any order, some may be missing)`;

async function open(home: string): Promise<{ node: OfflineNode; close: () => Promise<void> }> {
  const cfg = loadNodeConfig(home);
  if (!existsSync(cfg.genesisPath)) throw new ConfigError(`${home} has no genesis yet: run "custos offline init --home ${home} --genesis FILE"`);
  const { genesis, ks, store } = openNodeState(cfg);
  // Logs go to stderr as on any node; they never carry secrets.
  const node = new OfflineNode({ id: cfg.id, genesis, keystore: ks, store, logger: jsonLogger(cfg.id, (line) => process.stderr.write(line + '\n')), ...cfg.offline });
  return { node, close: async () => { await node.close(); store.close(); ks.close(); } };
}

const answerName = (node: string, seq: number) => `custos-${node}-to-coordinator-${String(seq).padStart(6, '0')}.bundle`;

export async function cmdOffline(argv: string[]): Promise<number> {
  const [sub, ...rest0] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') { print(OFFLINE_HELP); return sub === undefined ? 2 : 0; }
  let rest = rest0;
  let auditSub: string | undefined;
  if (sub === 'audit') { [auditSub, ...rest] = rest0; }
  const { values, positionals } = parse(rest, { home: { type: 'string' }, id: { type: 'string' }, genesis: { type: 'string' }, qr: { type: 'string' }, seq: { type: 'string' }, ...TRANSPORT_OPTIONS } as const, true);
  if (values.help) { print(OFFLINE_HELP); return 0; }
  if (!['init', 'import', 'export', 'status', 'audit'].includes(sub)) throw usage(`unknown offline subcommand ${JSON.stringify(sub)}; run "custos offline --help"`);
  if (!values.home) throw usage('--home DIR is required (the offline node\'s directory)');
  const home = values.home;

  if (sub === 'init') {
    if (values.genesis !== undefined) {
      const cfg = loadNodeConfig(home);
      const genesis = parseGenesis(JSON.parse(readFileSync(values.genesis, 'utf8')));
      const me = genesis.nodes.find((n) => n.id === cfg.id);
      if (!me) throw new ConfigError(`the genesis ${values.genesis} does not list ${cfg.id}`);
      if (!genesis.coordinator?.identityKey) throw new ConfigError('the genesis names no coordinator identity key: bundles could not be authenticated');
      const ks = openNodeKeystore(cfg);
      try {
        if (toHex(ks.identityPublicKey()) !== me.identityKey || toHex(ks.encryptionPublicKey()) !== me.encryptionKey) throw new ConfigError(`the genesis lists other keys for ${cfg.id} than the ones in this token`);
      } finally { ks.close(); }
      copyFileSync(values.genesis, cfg.genesisPath);
      print({ node: cfg.id, genesis: cfg.genesisPath });
      return 0;
    }
    if (!values.id) throw usage('offline init needs --id ID (and later --genesis FILE)');
    if (existsSync(join(home, 'node.json'))) throw new ConfigError(`${home} is already initialised`);
    const entry = await provisionNode(home, values.id);
    print(entry);
    return 0;
  }

  const { node, close } = await open(home);
  try {
    switch (sub) {
      case 'status': print(node.status()); return 0;
      case 'import': {
        if (positionals.length > 1) throw usage('give one bundle FILE');
        checkWriteOpts(values);
        const bytes = readBundleIn(positionals[0], values.qr, note);
        const r = await node.importBundle(bytes);
        note(`bundle ${r.seq} (${r.kind}): ${r.calls} call(s) served, ${r.failed} refused; answer ${r.answerSeq} sealed`);
        const out = await writeBundleOut(r.answer, answerName(node.id, r.answerSeq), values);
        print({ imported: r.seq, kind: r.kind, calls: r.calls, refused: r.failed, time: r.time ?? null, answer: { seq: r.answerSeq, ...out } });
        return 0;
      }
      case 'export': {
        checkWriteOpts(values);
        const seq = values.seq === undefined ? undefined : Number(values.seq);
        if (seq !== undefined && (!Number.isInteger(seq) || seq < 1)) throw usage('--seq must be a positive integer');
        const a = node.answer(seq);
        if (!a) throw new ValidationError(seq === undefined ? 'no answer has been sealed yet' : `no answer ${seq}`, { code: 'airgap.no_answer' });
        print({ answer: { seq: a.seq, ...(await writeBundleOut(a.bytes, answerName(node.id, a.seq), values)) } });
        return 0;
      }
      case 'audit': {
        const text = node.service.audit.jsonl(0);
        if (auditSub === 'export') {
          if (!values.out) throw usage('audit export needs --out FILE');
          writeFileSync(values.out, text, { flag: 'wx' });
          print({ party: node.id, file: values.out });
          return 0;
        }
        if (auditSub !== 'verify') throw usage('offline audit takes verify or export');
        const out = verifyAuditLog(node.id, fromHex(node.status().identityKey), parseAuditJsonl(text));
        print({ party: node.id, intact: true, entries: out.count, lastSeq: out.seq, head: out.head });
        return 0;
      }
    }
    return 2;
  } finally {
    await close();
  }
}
