/**
 * The passphrase of a device's crypto store (the OlmMachine's IndexedDB database, which holds
 * the device's Olm account, its sessions and the room keys).
 *
 * The passphrase is 32 random bytes, made once per device. It is never stored as it is: it is
 * kept encrypted with AES-GCM under a WebCrypto key generated as non-extractable, and that
 * CryptoKey object is stored in a separate IndexedDB database (CryptoKey objects are
 * structured-clonable and stay non-extractable there: script can use the key, but never read
 * its bytes).
 *
 * What this protects against, and what not: someone who copies the crypto store's database
 * (a backup of the profile, a tool that exports site data) does not get its passphrase from
 * it, and no script can ever exfiltrate the wrapping key to decrypt the passphrase elsewhere.
 * It does NOT protect against script running in this origin (it can ask this module for the
 * passphrase, as the app does), nor against someone with the whole browser profile and the
 * browser's own key storage: the browser keeps the wrapping key's material on the same disk.
 * A passphrase derived from the account password would resist the latter, but would need the
 * password on every page load (the session survives reloads through its refresh cookie).
 */

const DB_NAME = 'parley-keyring'
const STORE = 'store-passphrases'

interface WrappedPassphrase {
  key: CryptoKey
  iv: Uint8Array<ArrayBuffer>
  ciphertext: ArrayBuffer
}

function openKeyring(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB_NAME, 1)
    open.onupgradeneeded = () => {
      open.result.createObjectStore(STORE)
    }
    open.onsuccess = () => {
      resolve(open.result)
    }
    open.onerror = () => {
      reject(open.error ?? new Error('Could not open the keyring'))
    }
  })
}

function requestResult<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => {
      resolve(request.result)
    }
    request.onerror = () => {
      reject(request.error ?? new Error('IndexedDB request failed'))
    }
  })
}

function isWrapped(value: unknown): value is WrappedPassphrase {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return (
    v.key instanceof CryptoKey && v.iv instanceof Uint8Array && v.ciphertext instanceof ArrayBuffer
  )
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

/**
 * The passphrase of the crypto store named `storeName`: the existing one, or a new one made
 * (and kept wrapped) now.
 */
export async function storePassphrase(storeName: string): Promise<string> {
  const db = await openKeyring()
  try {
    const existing: unknown = await requestResult(
      db.transaction(STORE, 'readonly').objectStore(STORE).get(storeName),
    )
    if (isWrapped(existing)) {
      const plain = await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: existing.iv },
        existing.key,
        existing.ciphertext,
      )
      return decoder.decode(plain)
    }

    const passphrase = toBase64(crypto.getRandomValues(new Uint8Array(32)))
    const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ])
    const iv = crypto.getRandomValues(new Uint8Array(12))
    const ciphertext = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv },
      key,
      encoder.encode(passphrase),
    )
    const record: WrappedPassphrase = { key, iv, ciphertext }
    const tx = db.transaction(STORE, 'readwrite')
    // `add`, not `put`: if another tab made one meanwhile, this fails instead of replacing it.
    await requestResult(tx.objectStore(STORE).add(record, storeName))
    return passphrase
  } finally {
    db.close()
  }
}
