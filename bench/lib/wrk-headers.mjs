// The wrk Lua that sends a different header value on each request, cycling through a file (one
// value per line): a different user's token per request, or padding of the same size for contenders
// without auth, so that every contender gets requests of the same size from a load generator doing
// the same work. Requests are formatted once in init(); request() only picks the next one.

/**
 * Lua source for wrk. `file`: values, one per line; `header`: the header to set; `prefix`: put
 * before each value ('Bearer '); `userAgent`: sent on every request (tokens are bound to it).
 */
export function headerCyclingLua({ file, header, prefix = '', userAgent }) {
  // JSON string literals are valid Lua literals for the ASCII paths and names used here.
  for (const s of [file, header, prefix, userAgent]) {
    if (!/^[\x20-\x7e]*$/.test(s)) throw new Error(`wrk Lua: non-ASCII value ${JSON.stringify(s)}`);
  }
  return `
local bench_requests = {}
local bench_next = 0
init = function(args)
  for line in io.lines(${JSON.stringify(file)}) do
    if #line > 0 then
      bench_requests[#bench_requests + 1] = wrk.format(nil, nil, {
        [${JSON.stringify(header)}] = ${JSON.stringify(prefix)} .. line,
        ["User-Agent"] = ${JSON.stringify(userAgent)},
      })
    end
  end
  if #bench_requests == 0 then error("no values in " .. ${JSON.stringify(file)}) end
  -- Threads start at different places in the list.
  bench_next = math.random(#bench_requests) - 1
end
request = function()
  bench_next = bench_next % #bench_requests + 1
  return bench_requests[bench_next]
end
`;
}
