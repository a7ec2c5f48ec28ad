// A small store: state changes only through update(), which tells the subscribers of the keys it changed.
// Collections are replaced, never changed in place (a new Map per change), so "changed" is an identity check.

export function createStore(initial = {}) {
  const state = { ...initial };
  const subscribers = new Set();

  function notify(changed) {
    if (!changed.length) return;
    for (const sub of [...subscribers]) {
      if (!subscribers.has(sub)) continue; // unsubscribed by an earlier subscriber (a view that left)
      if (!sub.keys || sub.keys.some((k) => changed.includes(k))) sub.fn(changed);
    }
  }

  return {
    get: (key) => state[key],
    // Set the given keys; subscribers of any key whose value changed are called once, after all are set.
    update(patch) {
      const changed = [];
      for (const [key, value] of Object.entries(patch)) {
        if (!Object.is(state[key], value)) {
          state[key] = value;
          changed.push(key);
        }
      }
      notify(changed);
      return changed;
    },
    // fn(changedKeys) when any of `keys` changes (every change when keys is null); returns the unsubscribe.
    subscribe(keys, fn) {
      const sub = { keys: keys ? [].concat(keys) : null, fn };
      subscribers.add(sub);
      return () => subscribers.delete(sub);
    },
  };
}

// Map helpers that return a new Map (the store sees the change).
export const mapSet = (map, key, value) => new Map(map).set(key, value);
export const mapMerge = (map, key, patch) => new Map(map).set(key, { ...(map.get(key) || {}), ...patch });
export function mapDelete(map, key) {
  if (!map.has(key)) return map;
  const next = new Map(map);
  next.delete(key);
  return next;
}
