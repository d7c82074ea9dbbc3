// The list of contenders, in table order. A contender is data:
//   { name, label, kind: 'direct' | 'proxy',
//     unavailable(ctx) → null | reason, start(ctx) → { url, pid }, check(instance, ctx) → throws if wrong,
//     wrkLua?: Lua source run before the report script (per-request headers such as tokens) }
// Add a contender by writing a module beside this one and listing it here; nothing else changes.
import { createDirectContender } from './direct.mjs';
import { forwarderContender } from './forwarder.mjs';
import { nginxProxyContender } from './nginx-proxy.mjs';
import { createPortcullisContender } from './portcullis.mjs';

export const CONTENDERS = [
  createDirectContender('node'),
  createDirectContender('nginx'),
  nginxProxyContender,
  forwarderContender,
  createPortcullisContender({ name: 'portcullis-public', label: 'Portcullis, public route (no auth)' }),
];
