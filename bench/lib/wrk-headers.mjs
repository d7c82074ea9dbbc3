// The wrk Lua that sends a different header value on each request, cycling through a file (one
// value per line): a different user's token per request, or padding of the same size for contenders
// without auth, so that every contender gets requests of the same size from a load generator doing
// the same work. Requests are formatted once in init(); request() only picks the next one.

/**
 * Lua source for wrk. `file`: values, one per line; `header`: the header to set; `prefix`: put
 * before each value ('Bearer '); `userAgent`: sent on every request (tokens are bound to it).
 */
export function headerCyclingLua({ file, header, prefix = '', userAgent }) {
  asciiOnly(header, prefix);
  return cyclingLua(
    file,
    userAgent,
    `wrk.format(nil, nil, { [${JSON.stringify(header)}] = ${JSON.stringify(prefix)} .. line, ["User-Agent"] = UA })`,
  );
}

// JSON string literals are valid Lua literals for the ASCII paths and names used here.
function asciiOnly(...values) {
  for (const s of values) {
    if (!/^[\x20-\x7e]*$/.test(s)) throw new Error(`wrk Lua: non-ASCII value ${JSON.stringify(s)}`);
  }
}

/**
 * Lua for wrk cycling through the non-empty lines of `file`: `request` is a Lua expression of `line`
 * (and `UA`, the User-Agent) that formats one request; each is formatted once in init().
 */
function cyclingLua(file, userAgent, request) {
  asciiOnly(file, userAgent);
  return `
local UA = ${JSON.stringify(userAgent)}
local bench_requests = {}
local bench_next = 0
init = function(args)
  for line in io.lines(${JSON.stringify(file)}) do
    if #line > 0 then bench_requests[#bench_requests + 1] = ${request} end
  end
  if #bench_requests == 0 then error("nothing to send in " .. ${JSON.stringify(file)}) end
  -- Threads start at different places in the list.
  bench_next = math.random(#bench_requests) - 1
end
request = function()
  bench_next = bench_next % #bench_requests + 1
  return bench_requests[bench_next]
end
`;
}

/**
 * Lua source for wrk sending DPoP requests: `file` holds one request per line, `<access token> <proof>`
 * (lib/dpop.mjs writes it just before the window), sent as `Authorization: DPoP <token>` and
 * `DPoP: <proof>`. Each proof is good once (the gateway remembers its jti), so the list is never cycled:
 * `threads` split it (thread k takes every k-th line) and a thread that runs past its end counts an
 * overrun (`bench_overrun`, summed into the result by wrk-report.lua) and sends a request with no
 * credentials, a 401 that counts as an error: a replayed proof would be answered 401 too, and would end
 * that user's session. Requests are formatted once in init(); request() only picks the next one.
 */
export function proofRequestsLua({ file, userAgent, threads = 1 }) {
  asciiOnly(file, userAgent);
  return `
local bench_requests = {}
local bench_next = 0
local bench_spare = nil
bench_overrun = 0
local bench_seq = 0
setup = function(thread)
  bench_seq = bench_seq + 1
  thread:set("bench_thread", bench_seq)
end
init = function(args)
  local me = bench_thread or 1
  local n = 0
  for line in io.lines(${JSON.stringify(file)}) do
    if #line > 0 then
      n = n + 1
      if (n - 1) % ${Number(threads)} == me - 1 then
        local sp = line:find(" ", 1, true)
        bench_requests[#bench_requests + 1] = wrk.format(nil, nil, {
          ["Authorization"] = "DPoP " .. line:sub(1, sp - 1),
          ["DPoP"] = line:sub(sp + 1),
          ["User-Agent"] = ${JSON.stringify(userAgent)},
        })
      end
    end
  end
  if #bench_requests == 0 then error("no requests in " .. ${JSON.stringify(file)}) end
  bench_spare = wrk.format(nil, nil, { ["User-Agent"] = ${JSON.stringify(userAgent)} })
end
request = function()
  if bench_next >= #bench_requests then
    bench_overrun = bench_overrun + 1
    return bench_spare
  end
  bench_next = bench_next + 1
  return bench_requests[bench_next]
end
`;
}

/**
 * Lua source for wrk sending `POST path` with a JSON body per request, cycling through `file` (one body
 * per line: a different user's login on each request; the login suite's load). Requests are formatted
 * once in init().
 */
export function jsonPostLua({ file, path, userAgent }) {
  asciiOnly(path);
  const headers = '{ ["Content-Type"] = "application/json", ["User-Agent"] = UA }';
  return cyclingLua(file, userAgent, `wrk.format("POST", ${JSON.stringify(path)}, ${headers}, line)`);
}
