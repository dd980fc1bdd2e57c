// The tool runner's spawner: a small process of its own that starts the tools' processes for Warden.
//
// Plain JavaScript run by `node` without a loader, so it stays small: starting a process forks the
// process that starts it, and a fork costs in proportion to that process's memory (4 ms for a bare
// Node process, 11 ms at 330 MB, 17 ms at 610 MB, measured here), time during which a Warden process
// serving HTTP and running jobs could do nothing else. Messages, over the IPC channel:
//   in:  {id, file, args, env, cwd}
//   out: {id, pid} once started; {id, kind: 'stdout'|'stderr', data} as output comes;
//        {id, exitCode, signal} at the end; {id, error: {code, message}} when it could not start.
// Warden signals a run's process group itself (it is told the pid). When Warden goes away the IPC
// channel closes: every process group still running is killed and the spawner exits.
import { spawn } from 'node:child_process';

const running = new Map();

/** Warden went: every process group still running is killed, and the spawner exits. */
function stopAll() {
  for (const pid of running.values()) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
  process.exit(0);
}

function send(message) {
  if (!process.connected) return;
  // The channel can still read connected when Warden was killed a moment ago: the write then fails
  // (EPIPE), which without this callback is an unhandled 'error' that crashes the spawner before it
  // kills the groups. A failed send is Warden going, as the channel closing is.
  process.send(message, (error) => {
    if (error) stopAll();
  });
}

process.on('message', ({ id, file, args, env, cwd }) => {
  let child;
  try {
    child = spawn(file, args, { shell: false, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env, cwd });
  } catch (error) {
    send({ id, error: { code: error.code ?? 'ESPAWN', message: String(error.message ?? error) } });
    return;
  }
  child.on('error', (error) => {
    running.delete(id);
    send({ id, error: { code: error.code ?? 'ESPAWN', message: String(error.message ?? error) } });
  });
  if (child.pid === undefined) return;
  running.set(id, child.pid);
  send({ id, pid: child.pid });
  for (const kind of ['stdout', 'stderr']) {
    child[kind].setEncoding('utf8');
    child[kind].on('data', (data) => send({ id, kind, data }));
  }
  child.on('close', (exitCode, signal) => {
    running.delete(id);
    send({ id, exitCode, signal });
  });
});

process.on('disconnect', stopAll);
