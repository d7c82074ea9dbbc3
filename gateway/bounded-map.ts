// A Map that never holds more than `max` entries: adding a new key to a full map first drops the key
// added longest ago. For the per-process caches whose keys an attacker can mint (tokens, DPoP keys,
// sessions): memory stays bounded whatever arrives, and a dropped entry only costs recomputing it.
export class BoundedMap<K, V> extends Map<K, V> {
  readonly max: number;

  /** `max` 0 keeps nothing (a cache turned off). */
  constructor(max: number) {
    super();
    if (!Number.isInteger(max) || max < 0)
      throw new Error('a bounded map holds a whole number >= 0 of entries');
    this.max = max;
  }

  override set(key: K, value: V): this {
    if (this.max === 0) return this;
    if (this.size >= this.max && !this.has(key)) {
      const oldest = this.keys().next();
      if (oldest.done !== true) this.delete(oldest.value);
    }
    return super.set(key, value);
  }
}
