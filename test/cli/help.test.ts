import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const run = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'src/cli/main.ts', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

test('every command has --help that documents its options', () => {
  const cases: [string[], RegExp][] = [
    [['--help'], /init[\s\S]*start[\s\S]*node[\s\S]*coordinator[\s\S]*keys create[\s\S]*sign[\s\S]*requests[\s\S]*policy[\s\S]*tokens[\s\S]*identity new[\s\S]*status[\s\S]*CUSTOS_TOKEN/],
    [['init', '--help'], /init \(--admins FILE \| --demo\)[\s\S]*--nodes[\s\S]*--admins FILE[\s\S]*"threshold"[\s\S]*every request is denied[\s\S]*custos policy sign[\s\S]*custos tokens create[\s\S]*--demo[\s\S]*DEMO cluster[\s\S]*credentials\.json/],
    [['start', '--help'], /--port[\s\S]*DEMO[\s\S]*credentials\.json:\s+demo only/],
    [['requests', '--help'], /list \[--status S\] \[--key ID\] \[--initiator ID\] \[--limit N\][\s\S]*PENDING_APPROVAL[\s\S]*show ID[\s\S]*approve ID \[--as APPROVER\] \[--reject\] \[--expires-in SECONDS\] \[--credentials FILE\][\s\S]*default 86400[\s\S]*cancel ID \[--reason TEXT\]/],
    [['requests', 'approve', '--help'], /approver role/],
    [['policy', '--help'], /policy show[\s\S]*policy sign \[FILE\] --as ADMIN \[--credentials KEYFILE\] \[--signed IN\] \[--out OUT\] \[--genesis PATH\][\s\S]*JSON, or YAML when[\s\S]*policy push SIGNED_FILE[\s\S]*policy evaluate KEY_ID[\s\S]*--eth-tx/],
    [['policy', 'sign', '--help'], /admin ceremony/],
    [['tokens', '--help'], /tokens create --name NAME[\s\S]*only its SHA-256 hash[\s\S]*tokens list[\s\S]*tokens revoke ID[\s\S]*--data-dir DIR[\s\S]*\$CUSTOS_HOME\/coordinator/],
    [['tokens', 'create', '--help'], /--name/],
    [['identity', '--help'], /identity new --id ID --roles ROLE\[,ROLE\.\.\.\] \[--alg p256\|ed25519\] --out FILE[\s\S]*0600[\s\S]*PUBLIC identity/],
    [['identity', 'new', '--help'], /--roles/],
    [['node', '--help'], /--data-dir[\s\S]*--print-public-keys/],
    [['coordinator', '--help'], /--data-dir/],
    [['keys', '--help'], /--scheme[\s\S]*--threshold[\s\S]*--verify/],
    [['keys', 'create', '--help'], /--scheme/],
    [['sign', '--help'], /--hex[\s\S]*--text[\s\S]*--digest[\s\S]*--eth-tx[\s\S]*--eth-message[\s\S]*--to ADDR[\s\S]*--path PATH[\s\S]*--as ID[\s\S]*--credentials FILE[\s\S]*--idempotency-key K[\s\S]*--url URL/],
    [['status', '--help'], /healthz/],
    [['offline', '--help'], /offline init --home DIR --id ID[\s\S]*--genesis FILE[\s\S]*offline import --home DIR \(FILE \| --qr FRAMES_DIR\) --out DIR[\s\S]*offline export[\s\S]*--seq N[\s\S]*offline status[\s\S]*audit verify[\s\S]*--transport file\|qr[\s\S]*--fragment BYTES[\s\S]*--fps N/],
    [['airgap', '--help'], /airgap status[\s\S]*airgap export --out DIR \[--party ID\] \[--wait SECONDS\] \[--seq N\][\s\S]*airgap import \(FILE \| --qr FRAMES_DIR\)[\s\S]*airgap simulate --batch N[\s\S]*--fragment BYTES/],
    [['airgap', 'simulate', '--help'], /--batch N[\s\S]*--transport qr\|file[\s\S]*--staging-transport[\s\S]*--baseline-sample K[\s\S]*--json[\s\S]*400-byte fragments at 5 frames\/s plus 60 s[\s\S]*3 minutes per crossing/],
    [['keys', '--help'], /--cold[\s\S]*keys stage ID --count N/],
  ];
  for (const [args, re] of cases) {
    const r = run(args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, re, args.join(' '));
  }
});

test('usage errors are one clear line with exit status 2, never a stack trace', () => {
  for (const args of [['frobnicate'], ['keys', 'create', '--bogus'], ['sign'], ['node'], ['init', '--nodes', '42'],
    ['requests', 'frob'], ['requests', 'approve'], ['requests', 'show', 'a', 'b'], ['requests', 'list', '--limit', '0'], ['requests', 'list', '--reject'],
    ['policy', 'frob'], ['policy', 'sign', 'p.json'], ['policy', 'push'], ['policy', 'evaluate', 'k', '--signed', 'x'],
    ['tokens', 'create'], ['tokens', 'revoke'], ['tokens', 'list', '--name', 'x'],
    ['identity', 'new', '--id', 'a'], ['identity', 'new', '--id', 'a', '--roles', 'admin', '--out', 'x', '--alg', 'rsa'], ['identity', 'old'],
    ['offline', 'frob'], ['offline', 'status'], ['offline', 'init', '--home', '/nonexistent-custos'], ['airgap', 'frob'], ['airgap', 'simulate'], ['airgap', 'simulate', '--batch', '5', '--transport', 'usb'],
    ['airgap', 'export'], ['airgap', 'export', '--out', 'x', '--transport', 'floppy'], ['airgap', 'import'], ['airgap', 'import', 'a', '--qr', 'b']]) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^custos: .+\[cli\.usage\]\n$/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('client commands say clearly when the coordinator is not reachable', () => {
  const r = run(['keys', 'list', '--url', 'http://127.0.0.1:9']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot reach the coordinator at http:\/\/127\.0\.0\.1:9/);
});

test('a node with a missing data directory fails with a clear message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'custos-cli-'));
  try {
    const r = run(['node', '--data-dir', join(dir, 'nope')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot read .*node\.json/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bin wrapper re-runs itself under Node.js 24 when started by another Node', () => {
  // bin/custos.mjs is plain JavaScript; under this Node 24 it imports main directly.
  const r = spawnSync(process.execPath, ['bin/custos.mjs', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /custos — MPC-HSM hybrid custody signer/);
});

test('under an older system Node, bin/custos.mjs hands over to the pinned Node.js 24', () => {
  // The Node that runs npm is the system's (npm test starts from it), so one is always there.
  const old = [process.env.npm_node_execpath, '/usr/bin/node', '/usr/local/bin/node'].find((p) => {
    if (!p) return false;
    const v = spawnSync(p, ['--version'], { encoding: 'utf8' });
    return v.status === 0 && !v.stdout.startsWith('v24.');
  });
  assert.ok(old, 'a system Node.js other than 24 to start the wrapper with');
  const r = spawnSync(old, ['bin/custos.mjs', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /custos — MPC-HSM hybrid custody signer/);
});
