// A throw-away PostgreSQL database for the contenders that need a shared user store (workers > 1):
// created fresh for the run through `psql`, dropped at the end. It never touches other databases.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { findTool } from './tools.mjs';

const run = promisify(execFile);

/** The server the bench uses: the local one, as user postgres (PGHOST/PGPORT/PGUSER override). */
export function postgresServer() {
  return {
    host: process.env.PGHOST ?? '127.0.0.1',
    port: process.env.PGPORT ?? '5432',
    user: process.env.PGUSER ?? 'postgres',
  };
}

async function psql(sql, database = 'postgres') {
  const { host, port, user } = postgresServer();
  await run(
    findTool('psql'),
    ['-h', host, '-p', port, '-U', user, '-d', database, '-v', 'ON_ERROR_STOP=1', '-qc', sql],
    {
      timeout: 15_000,
    },
  );
}

/** Null when a database can be created here, else why not. */
export async function postgresUnavailable() {
  if (!findTool('psql')) return 'psql not on PATH';
  try {
    await psql('SELECT 1');
    return null;
  } catch (err) {
    const { host, port, user } = postgresServer();
    return `no PostgreSQL at ${user}@${host}:${port} (${
      String(err.stderr ?? err.message)
        .trim()
        .split('\n')[0]
    })`;
  }
}

/**
 * Creates database `name`; returns its postgres:// URL, `run(sql)` (a statement in that database:
 * the stores suite edits a row behind the gateway's back) and `drop()`.
 */
export async function createDatabase(name) {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  await psql(`CREATE DATABASE ${name}`);
  const { host, port, user } = postgresServer();
  return {
    url: `postgres://${user}@${host}:${port}/${name}`,
    run: (sql) => psql(sql, name),
    // WITH (FORCE): a gateway killed mid-run may leave a connection behind.
    drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
