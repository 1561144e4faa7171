/**
 * How a message's text becomes event content and back. Plaintext `{body}` for now; end-to-end
 * encryption will replace this one module (encrypt on the way out, decrypt on the way in).
 */
export const MESSAGE_EVENT_TYPE = 'parley.message'

export function encodeMessage(text: string): Record<string, unknown> {
  return { body: text }
}

/** The text of a message event's content, or `undefined` when it cannot be shown. */
export function decodeMessage(content: Record<string, unknown>): string | undefined {
  return typeof content.body === 'string' ? content.body : undefined
}
