#!/usr/bin/env node
// The `portcullis` command's entry. SIGHUP is held before anything else is loaded (reload-signal.ts
// says why); the command itself, and every module it needs, is loaded after.
import { holdReloadSignal } from './reload-signal.js';

const hup = holdReloadSignal();
const { run } = await import('./cli-main.js');
run(process.argv.slice(2), hup);
