// SIGHUP from the first instant of the process: its default action ends the process, and loading the
// gateway's modules and starting it (config, stores, keys, listeners) take a second or more, so a deploy
// tool that reloads right after starting would kill it. The entry (cli.ts) installs this before it loads
// anything else. Imports nothing at run time: it must be loaded in the first milliseconds.
import type { Logger } from './logger.js';

/** What SIGHUP does once the process serves; until then a SIGHUP is remembered, not lost. */
export interface ReloadSignal {
  /** From now on SIGHUP runs `reload`; a SIGHUP received before runs it once, now. */
  serving(reload: () => void, log: Logger): void;
  /** For commands that are not a gateway: SIGHUP's default action again, and one held meanwhile ends it. */
  release(): void;
}

export function holdReloadSignal(): ReloadSignal {
  let pending = false;
  let reload: (() => void) | null = null;
  const onSignal = (): void => {
    if (reload === null) pending = true;
    else reload();
  };
  process.on('SIGHUP', onSignal);
  return {
    serving(next, log) {
      reload = next;
      if (!pending) return;
      pending = false;
      // The file may have changed after start read it: one reload covers every signal held.
      log.info({ signal: 'SIGHUP' }, 'SIGHUP received during start-up: reloading now');
      next();
    },
    release() {
      process.off('SIGHUP', onSignal);
      if (pending) process.kill(process.pid, 'SIGHUP');
    },
  };
}
