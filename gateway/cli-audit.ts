// `portcullis audit verify|list`: checks the tamper-evident audit chain (names the first broken
// link) and prints recent security events as JSON lines. Reads the user store only.
import { parseArgs } from 'node:util';
import type { GatewayConfig } from '../config/types.js';
import { openUserStore } from './services.js';

export async function runAuditCommand(
  argv: readonly string[],
  config: GatewayConfig,
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      user: { type: 'string' },
      type: { type: 'string' },
      limit: { type: 'string' },
      config: { type: 'string' },
    },
  });
  const { users } = await openUserStore(config.storage.users);
  try {
    if (positionals[0] === 'verify') {
      const result = await users.verifyAudit();
      if (result.ok) {
        io.stdout.write('audit chain intact\n');
        return 0;
      }
      io.stdout.write(`audit chain broken at event ${result.first_bad_id}\n`);
      return 1;
    }
    if (positionals[0] === 'list') {
      const events = await users.listAudit({
        ...(values.user === undefined ? {} : { user: values.user }),
        ...(values.type === undefined ? {} : { type: values.type }),
        limit: Number(values.limit ?? 50),
      });
      for (const e of events) io.stdout.write(`${JSON.stringify(e)}\n`);
      return 0;
    }
    io.stderr.write('usage: portcullis audit verify | list [--user ID] [--type T] [--limit N]\n');
    return 2;
  } finally {
    await users.close();
  }
}
