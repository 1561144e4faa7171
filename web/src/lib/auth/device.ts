import { DEVICE_ID_STORAGE_KEY } from '@/config/auth'

/** The device id this browser got at an earlier sign-in, if any (and if storage works). */
export function storedDeviceId(): string | undefined {
  try {
    return localStorage.getItem(DEVICE_ID_STORAGE_KEY) ?? undefined
  } catch {
    return undefined // storage disabled: the server hands out a new device id each time
  }
}

/** Remember this browser's device id, so the next sign-in keeps the same device. */
export function storeDeviceId(deviceId: string): void {
  try {
    localStorage.setItem(DEVICE_ID_STORAGE_KEY, deviceId)
  } catch {
    // Storage disabled or full: not worth failing a sign-in for.
  }
}

const BROWSERS: [RegExp, string][] = [
  // Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari" too.
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\b(?:OPR|Opera)\//, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\b(?:Firefox|FxiOS)\//, 'Firefox'],
  [/\b(?:Chrome|Chromium|CriOS|HeadlessChrome)\//, 'Chrome'],
  [/\bSafari\//, 'Safari'],
]

const SYSTEMS: [RegExp, string][] = [
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
]

/**
 * A name for this browser in the session list, like "Firefox on Windows". Only a label for
 * people to recognise their devices by; never used to decide anything.
 */
export function describeUserAgent(userAgent: string): string {
  const browser = BROWSERS.find(([pattern]) => pattern.test(userAgent))?.[1]
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1]
  if (browser && system) return `${browser} on ${system}`
  return browser ?? (system ? `Browser on ${system}` : 'Web browser')
}
