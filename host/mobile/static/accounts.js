// The app's accounts in IndexedDB ("opendsc-mobile", store "accounts"). A
// record keeps CryptoKey objects, which IndexedDB stores as they are: a
// non-extractable key stays non-extractable. No PIN and no key bytes.

const DB = "opendsc-mobile";
const STORE = "accounts";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(mode, work) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req ? req.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export function accountId(server, serial) { return server + " " + serial; }

export async function all() {
  const list = await run("readonly", (store) => store.getAll());
  return list.sort((a, b) => a.added - b.added);
}

export function put(account) { return run("readwrite", (store) => store.put(account)); }

export function remove(id) { return run("readwrite", (store) => store.delete(id)); }
