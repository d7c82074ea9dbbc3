// Throwaway PostgreSQL databases for tests: each one is created fresh (portcullis_test_<random>) on the
// server named by PORTCULLIS_TEST_POSTGRES and dropped afterwards. No other database is ever touched.

import { randomBytes } from 'node:crypto';
import { postgresExec } from '../../../gateway/users/postgres-store.js';

/** A maintenance database on the test server: only CREATE DATABASE / DROP DATABASE run there. */
export const POSTGRES_ADMIN_URL =
  process.env.PORTCULLIS_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  // Random hex only: the name is spliced into DDL, which cannot take parameters.
  const name = `portcullis_test_${randomBytes(8).toString('hex')}`;
  await postgresExec(POSTGRES_ADMIN_URL, `CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    // FORCE ends the connections a failed test may have left open.
    drop: async () => {
      await postgresExec(POSTGRES_ADMIN_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
