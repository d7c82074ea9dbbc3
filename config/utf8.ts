// Decodes a config file as strict UTF-8: a byte that is not UTF-8 is an error with its line, never a
// silent U+FFFD (a Latin-1 secret would become a constant anyone can guess). A BOM is kept, as before.

// ignoreBOM keeps a leading BOM in the text, as Buffer#toString did: the YAML parser skips it.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export type Decoded =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly line: number };

export function decodeUtf8(bytes: Uint8Array): Decoded {
  try {
    return { ok: true, text: decoder.decode(bytes) };
  } catch {
    // 0x0A is never part of a multi-byte sequence: the first line that does not decode holds the error.
    let start = 0;
    let line = 1;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      try {
        decoder.decode(bytes.subarray(start, i));
      } catch {
        break;
      }
      start = i + 1;
      line++;
    }
    return { ok: false, line };
  }
}
