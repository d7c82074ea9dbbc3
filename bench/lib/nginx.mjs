// Runs nginx instances for the bench from configs generated into the run's temp folder: an upstream
// answering `return 200` and a proxy_pass hop with upstream keep-alive. Nothing touches /etc/nginx.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IDENTITY_PATH, PAYLOAD } from './payload.mjs';
import { startProcess, waitForPort } from './processes.mjs';
import { findTool } from './tools.mjs';

export const nginxPath = () => findTool('nginx');

function mainConfig(dir, serverBlock) {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((k) => `  ${k}_temp_path ${join(dir, `${k}_temp`)};`)
    .join('\n');
  // As root nginx would switch its worker to `nobody`, which cannot enter a 0700 temp folder.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}daemon off;
master_process on;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  # nginx closes a client connection after 1000 requests by default; Node servers never do.
  keepalive_requests 1000000;
  keepalive_timeout 65s;
${temp}
${serverBlock}
}
`;
}

/** Starts one nginx with `serverBlock` inside `http {}`; resolves to the process once it listens. */
async function startNginx(name, port, serverBlock, ctx) {
  const dir = join(ctx.tmpDir, name);
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, mainConfig(dir, serverBlock));
  const proc = startProcess(name, nginxPath(), ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], {
    logDir: ctx.logDir,
  });
  await waitForPort(port, proc);
  return proc;
}

/** nginx answering every request with the shared payload. */
export function startNginxUpstream(port, ctx) {
  // In a single-quoted nginx string only the quote and backslash need escaping; PAYLOAD has neither `'` nor `$`.
  const body = PAYLOAD.replaceAll('\\', '\\\\');
  return startNginx(
    'nginx-upstream',
    port,
    `  server {
    listen 127.0.0.1:${port} backlog=4096;
    default_type application/json;
    location / { return 200 '${body}'; }
    location = ${IDENTITY_PATH} { default_type text/plain; return 200 '$http_x_user_id'; }
  }`,
    ctx,
  );
}

/** nginx proxy_pass to `origin` (http://host:port) keeping upstream connections alive. */
export function startNginxProxy(port, origin, ctx) {
  const target = origin.replace(/^http:\/\//, '');
  return startNginx(
    'nginx-proxy',
    port,
    `  upstream backend {
    server ${target};
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }`,
    ctx,
  );
}
