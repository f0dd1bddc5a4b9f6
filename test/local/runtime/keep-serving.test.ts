import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

/**
 * Runs a small Node program with the guard `npm start` installs, then lets one promise reject
 * unhandled and one callback throw: Node's default is to exit with code 1 on either.
 */
const runWithGuard = (): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const program = [
      "const { keepServingOnUnhandledErrors } = require('./local/main');",
      'keepServingOnUnhandledErrors(process, (message, error) => console.error(message, error.message));',
      "Promise.reject(new Error('a failed call nobody awaited'));",
      "setTimeout(() => { throw new Error('a throwing callback'); }, 10);",
      "setTimeout(() => { console.log('still serving'); process.exit(0); }, 200);",
    ].join('\n');
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', program], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });

describe('npm start keeps serving after a failed call', () => {
  it('logs an unhandled rejection and an uncaught exception and keeps the process running', async () => {
    const { code, stdout, stderr } = await runWithGuard();
    expect(stderr).toContain('error: unhandled rejection (still serving): a failed call nobody awaited');
    expect(stderr).toContain('error: uncaught exception (still serving): a throwing callback');
    expect(stdout).toContain('still serving');
    expect(code).toBe(0);
  }, 60_000);
});
