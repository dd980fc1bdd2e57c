import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EmmettAnswer, EmmettCommand } from './emmett-child.ts';

const CHILD = fileURLToPath(new URL('./emmett-child.ts', import.meta.url));
const COMMAND_TIMEOUT_MS = 120_000;

/** The emmett process seen from the benchmark: one command at a time, answered over IPC. */
export class EmmettPeer {
  private constructor(private readonly child: ChildProcess) {}

  static start(): EmmettPeer {
    const child = fork(CHILD, [], {
      execArgv: ['--import', import.meta.resolve('tsx')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new EmmettPeer(child);
  }

  request(command: EmmettCommand): Promise<Extract<EmmettAnswer, { ok: true }>> {
    const child = this.child;
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onMessage = (answer: EmmettAnswer) => {
        done();
        if (answer.ok) resolve(answer);
        else reject(new Error(`emmett ${command.cmd} failed: ${answer.error}`));
      };
      const onExit = (code: number | null) => {
        done();
        reject(new Error(`emmett process exited (${code}) during ${command.cmd}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`emmett ${command.cmd} took longer than ${COMMAND_TIMEOUT_MS} ms`));
      }, COMMAND_TIMEOUT_MS);
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(command);
    });
  }

  /** Closes emmett's pools, then lets the process end (killing it if it lingers). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    await this.request({ cmd: 'close' }).catch(() => undefined);
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
