// The e2e tests read links from the mail a homeserver writes to its mailbox folder. Mail
// libraries pick the transfer encoding by content (long lines: quoted-printable or base64), so
// the reader must decode all of them; this checks it does, without a server.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { linkIn, parseMail } from './support.mjs'

const LINK = 'http://127.0.0.1:8008/verify-email?token=AbC_dEf-123456789012345678901234567890'

/** @param {string[]} lines */
const crlf = (lines) => lines.join('\r\n')

describe('parseMail', () => {
  it('reads a quoted-printable body, with soft line breaks and encoded bytes', () => {
    const raw = crlf([
      'From: Parley <parley@e2e.parley.test>',
      'To: alice@example.org',
      'Subject: =?utf-8?q?Confirm_your_email_address_=E2=80=94_e2e?=',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'Hello Alice Li=C3=B0dell,',
      '',
      'please open this link:',
      '',
      'http://127.0.0.1:8008/verify-email?token=3DAbC_dEf-12345678901234567890123=',
      '4567890',
      '',
    ])
    const mail = parseMail('a.eml', raw)

    assert.equal(mail.headers.subject, 'Confirm your email address — e2e')
    assert.match(mail.text, /Hello Alice Liðdell,/)
    assert.equal(
      linkIn(mail, '/verify-email', 'http://127.0.0.1:41234/'),
      LINK.replace('8008', '41234'),
    )
  })

  it('reads a base64 body', () => {
    const text = `Hello Ålice,\n\nplease open this link:\n\n${LINK}\n\nThe link works once.\n`
    const raw = crlf([
      'To: alice@example.org',
      'Subject: Confirm',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      ...(Buffer.from(text, 'utf8')
        .toString('base64')
        .match(/.{1,76}/g) ?? []),
      '',
    ])
    const mail = parseMail('b.eml', raw)

    assert.equal(mail.text, text)
    assert.equal(linkIn(mail, '/verify-email', 'http://127.0.0.1:1/'), LINK.replace(':8008', ':1'))
  })

  it('finds the text part of a multipart message, and folded headers', () => {
    const raw = crlf([
      'To: Alice',
      ' <alice@example.org>',
      'Content-Type: multipart/alternative; boundary="b1"',
      '',
      'preamble',
      '--b1',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>html</p>',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 7bit',
      '',
      `Open ${LINK}.`,
      '--b1--',
      'epilogue',
    ])
    const mail = parseMail('c.eml', raw)

    assert.equal(mail.headers.to, 'Alice <alice@example.org>')
    assert.equal(mail.text, `Open ${LINK}.`)
    // Sentence punctuation after a link is not part of it.
    assert.equal(linkIn(mail, '/verify-email', 'http://h/'), LINK.replace('127.0.0.1:8008', 'h'))
  })
})
