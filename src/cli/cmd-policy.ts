import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../common/canonical-json.ts';
import { CustosError, ValidationError } from '../common/errors.ts';
import { signPolicyAs } from '../policy/client-signing.ts';
import { parsePolicy, type Policy } from '../policy/document.ts';
import { verifyBy, type Identity } from '../policy/identity.ts';
import { parseSignedPolicy, policyDigest, type SignedPolicy } from '../policy/signed-policy.ts';
import { genesisHash, parseGenesis, type Genesis } from '../wire/genesis.ts';
import { defaultHome, defaultToken, defaultUrl, parse } from './args.ts';
import { ApiClient } from './api-client.ts';
import { identityFor, note, print, readJsonFile, REQUEST_OPTIONS, signedRequest, usage } from './commands.ts';

/**
 * `custos policy`: the custody policy (issue 4, item 2) from the operator's side. Signing is the
 * admin ceremony: each admin, on their own machine with their own key, adds a signature to the
 * same document for this cluster (the genesis hash), until a quorum has signed; then anyone with
 * an API token pushes it and every node checks the quorum itself.
 */
export const POLICY_HELP = `Usage: custos policy show|sign|push|evaluate ...

  custos policy show
      the policy the coordinator holds (version, document, admin signatures) and each node's version
  custos policy sign [FILE] --as ADMIN [--credentials KEYFILE] [--signed IN] [--out OUT] [--genesis PATH]
      adds ADMIN's signature to a policy document. FILE is the policy as JSON, or YAML when
      named .yaml/.yml; it is checked strictly and signed as canonical JSON. The signature binds
      the cluster: the hash of the genesis
      (--genesis, default $CUSTOS_HOME/genesis.json). ADMIN's key comes from KEYFILE (default
      $CUSTOS_HOME/credentials.json). --signed IN: a signed file {policy, signatures} to add to
      (the admin ceremony: each admin in turn; FILE may then be left out, and if given it must be
      the same policy). Signatures in IN by admins known from the genesis or the policy are checked
      first. Writes {policy, signatures} to OUT (may be IN; then prints who has signed and how
      many of the genesis admins, the quorum for a cluster's first policy) or to stdout.
  custos policy push SIGNED_FILE
      sends a signed policy to every node (POST /v1/policy) and prints each node's answer; exit 1
      unless every node activated it (or already had it). Nodes accept it only with a quorum of
      the admins of the policy they run (the genesis admins for the first version).
  custos policy evaluate KEY_ID PAYLOAD [--to ADDR --amount N [--chain C] [--asset A]] [--path PATH] [--as ID] [--credentials FILE]
      dry run: builds and signs the request exactly as "custos sign" does (same PAYLOAD flags:
      --text, --hex, --digest, --eth-tx, --eth-message) and asks the key's nodes what the policy
      would decide (allow, deny or approve, the rule and the reasons); nothing is signed by the key.
Options: --url URL (default $CUSTOS_URL); the API token is $CUSTOS_TOKEN or the demo's.`;

export async function cmdPolicy(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') { print(POLICY_HELP); return sub === undefined ? 2 : 0; }
  const api = (url: string | undefined) => new ApiClient(url ?? defaultUrl(), defaultToken());
  switch (sub) {
    case 'show': {
      const { values, positionals } = parse(rest, { url: { type: 'string' } } as const, true);
      if (values.help) { print(POLICY_HELP); return 0; }
      if (positionals.length) throw usage('policy show takes no arguments');
      print(await api(values.url).get('/v1/policy'));
      return 0;
    }
    case 'sign': {
      const { values, positionals } = parse(rest, { as: { type: 'string' }, credentials: { type: 'string' }, signed: { type: 'string' }, out: { type: 'string' }, genesis: { type: 'string' } } as const, true);
      if (values.help) { print(POLICY_HELP); return 0; }
      return signPolicy(positionals, values);
    }
    case 'push': {
      const { values, positionals } = parse(rest, { url: { type: 'string' } } as const, true);
      if (values.help) { print(POLICY_HELP); return 0; }
      if (positionals.length !== 1) throw usage('policy push needs one SIGNED_FILE');
      const doc = readJsonFile(positionals[0], 'signed policy');
      if (doc && typeof doc === 'object' && 'rules' in doc && !('policy' in doc)) {
        throw new ValidationError(`${positionals[0]} is a policy document, not signed: have a quorum of admins sign it first (custos policy sign)`, { code: 'policy.unsigned' });
      }
      const signed = parseSignedPolicy(doc);
      const out = await api(values.url).post('/v1/policy', signed) as { version: number; nodes: Record<string, { activated?: boolean; version?: number; error?: { code: string; detail: string } }> };
      print(out);
      const failed = Object.entries(out.nodes).filter(([, r]) => r.error !== undefined || r.version !== signed.policy.version);
      if (failed.length) throw new CustosError('policy.partial', `policy version ${signed.policy.version} is not active on ${failed.map(([n, r]) => `${n} (${r.error ? `${r.error.code}: ${r.error.detail}` : `runs version ${r.version}`})`).join(', ')}`);
      return 0;
    }
    case 'evaluate': {
      const { values, positionals } = parse(rest, { ...REQUEST_OPTIONS, url: { type: 'string' } } as const, true);
      if (values.help) { print(POLICY_HELP); return 0; }
      if (positionals.length > 1) throw usage('policy evaluate takes one KEY_ID');
      const body = await signedRequest(positionals[0], values, 'policy evaluate');
      print(await api(values.url).post('/v1/policy/evaluate', body));
      return 0;
    }
    default: throw usage(`unknown policy subcommand ${JSON.stringify(sub)}; run "custos policy --help"`);
  }
}

async function signPolicy(positionals: string[], values: { as?: string; credentials?: string; signed?: string; out?: string; genesis?: string }): Promise<number> {
  if (!values.as) throw usage('policy sign needs --as ADMIN (the admin whose key signs)');
  if (positionals.length > 1) throw usage('policy sign takes one policy FILE');
  const file = positionals[0];
  if (file === undefined && values.signed === undefined) throw usage('policy sign needs a policy FILE (or --signed IN to add to)');
  const prior = values.signed === undefined ? undefined : parseSignedPolicy(readJsonFile(values.signed, 'signed policy'));
  const policy = file === undefined ? prior!.policy : parsePolicy(readJsonFile(file, 'policy', true));
  if (prior && canonicalJson(prior.policy) !== canonicalJson(policy)) {
    throw new ValidationError(`${file} is not the policy that ${values.signed} carries; every admin must sign the same document`, { code: 'policy.mismatch' });
  }
  const gpath = values.genesis ?? join(defaultHome(), 'genesis.json');
  const genesis = parseGenesis(readJsonFile(gpath, 'genesis'));
  const cluster = genesisHash(genesis);
  const { signer, path: credsPath } = await identityFor(values.as, values.credentials);
  const digest = policyDigest(cluster, policy);
  const known = knownKeys(genesis, policy);
  // A signature made for another cluster or another text would only fail at push time, after
  // every admin has signed: say so now, naming whose it is.
  for (const s of prior?.signatures ?? []) {
    const keys = known.get(s.admin) ?? [];
    if (keys.length && !keys.some((k) => verifyBy(k, digest, s.signature))) {
      throw new ValidationError(`the signature of ${s.admin} in ${values.signed} does not verify for this policy on cluster ${cluster} (${gpath})`, { code: 'policy.bad_signature' });
    }
  }
  const mine = signPolicyAs(cluster, policy, [signer]).signatures[0];
  const keys = known.get(signer.id) ?? [];
  if (keys.length && !keys.some((k) => verifyBy(k, digest, mine.signature))) {
    throw new ValidationError(`the key of ${signer.id} in ${credsPath} does not match its public key in ${gpath} or in the policy`, { code: 'identity.key_mismatch' });
  }
  if (!keys.some((k) => k.roles.includes('admin'))) {
    note(`warning: ${signer.id} is an admin neither in the genesis nor in this policy; the nodes count the signature only if ${signer.id} is an admin of the policy they run now`);
  }
  const signatures = (prior?.signatures ?? []).filter((s) => s.admin !== signer.id);
  if (signatures.length !== (prior?.signatures.length ?? 0)) note(`${signer.id} had already signed ${values.signed}; that signature is replaced`);
  const signed: SignedPolicy = { policy, signatures: [...signatures, mine] };
  const text = JSON.stringify(signed, null, 2) + '\n';
  const summary = { version: policy.version, cluster, signedBy: signed.signatures.map((s) => s.admin), ...(genesis.admins ? { genesisAdmins: { threshold: genesis.admins.threshold, signed: signed.signatures.filter((s) => genesis.admins!.identities.some((a) => a.id === s.admin)).length } } : {}) };
  if (values.out === undefined) {
    process.stdout.write(text);
    note(`${signer.id} signed policy version ${policy.version} for cluster ${cluster}; signatures: ${summary.signedBy.join(', ')}`);
  } else {
    // Write then rename, so OUT may be IN and a crash never leaves half a file.
    const tmp = `${values.out}.tmp-${process.pid}`;
    writeFileSync(tmp, text);
    renameSync(tmp, values.out);
    print({ out: values.out, ...summary });
  }
  return 0;
}

/** Public keys known offline for each id: the genesis admins and the policy's own identities. */
function knownKeys(genesis: Genesis, policy: Policy): Map<string, Identity[]> {
  const m = new Map<string, Identity[]>();
  const add = (i: Identity) => m.set(i.id, [...(m.get(i.id) ?? []), i]);
  for (const a of genesis.admins?.identities ?? []) add(a as Identity);
  for (const i of policy.identities) add(i);
  return m;
}
