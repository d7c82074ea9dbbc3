// A tiny YAML writer for the gateway configs the bench generates: nested plain objects, arrays of
// objects or scalars, every string double-quoted (JSON strings are valid YAML). Nothing more.

function scalar(value) {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  throw new Error(`yaml: unsupported value ${String(value)}`);
}

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function lines(value, indent) {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${pad}[]`];
    return value.flatMap((item) => {
      if (!isPlainObject(item)) return [`${pad}- ${scalar(item)}`];
      const [first, ...rest] = lines(item, indent + 2);
      return [`${pad}- ${first.trimStart()}`, ...rest];
    });
  }
  return Object.entries(value).flatMap(([key, v]) => {
    if (isPlainObject(v) || (Array.isArray(v) && v.length > 0))
      return [`${pad}${key}:`, ...lines(v, indent + 2)];
    if (Array.isArray(v)) return [`${pad}${key}: []`];
    return [`${pad}${key}: ${scalar(v)}`];
  });
}

/** YAML text for a plain object. */
export function toYaml(object) {
  return `${lines(object, 0).join('\n')}\n`;
}
