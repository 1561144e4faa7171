/**
 * The emoji (SAS) verification under way on this device, if any: one at a time, started here
 * (verify a device from the encryption details) or by someone else (an incoming request).
 *
 * The protocol runs over to-device messages through the OlmMachine's `VerificationRequest` and
 * `Sas` objects. This store drives the steps that need no decision (the requester starts SAS
 * once the other side is ready; the other side accepts the start), and exposes a plain
 * snapshot for the dialog: accept or decline, compare the emoji, confirm or deny.
 */
import type * as Wasm from '@matrix-org/matrix-sdk-crypto-wasm'

import type { E2eeClient } from '@/lib/crypto/e2ee-client'

export interface EmojiView {
  symbol: string
  description: string
}

export type VerificationView =
  | { step: 'idle' }
  | { step: 'incoming'; otherUser: string; otherDevice: string | undefined; self: boolean }
  | { step: 'waiting'; otherUser: string; self: boolean; message: string }
  | { step: 'emoji'; otherUser: string; self: boolean; emoji: EmojiView[]; confirmed: boolean }
  | { step: 'done'; otherUser: string; self: boolean }
  | { step: 'cancelled'; otherUser: string; self: boolean; reason: string }

const IDLE: VerificationView = { step: 'idle' }

export class VerificationStore {
  readonly #client: E2eeClient
  #request: Wasm.VerificationRequest | undefined
  #sas: Wasm.Sas | undefined
  /** Automatic steps taken for the current flow (each once). */
  readonly #steps = new Set<string>()
  #view: VerificationView = IDLE
  #error: string | undefined
  readonly #listeners = new Set<() => void>()
  readonly #off: () => void

  constructor(client: E2eeClient) {
    this.#client = client
    this.#off = client.verificationRequests.on((request) => {
      this.#incoming(request)
    })
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  readonly getSnapshot = (): VerificationView => this.#view

  dispose(): void {
    this.#off()
    this.#listeners.clear()
  }

  /** Ask `deviceId` of `userId` to verify with this device. */
  async start(userId: string, deviceId: string): Promise<void> {
    this.#cancelCurrent()
    const request = await this.#client.requestVerification(userId, deviceId)
    this.#track(request)
  }

  /** Accept the incoming request. */
  accept(): void {
    const request = this.#request
    if (!request) return
    const w = this.#client.wasm
    this.#run(() => request.acceptWithMethods([w.VerificationMethod.SasV1]))
  }

  /** The emoji match: confirm. */
  confirm(): void {
    const sas = this.#sas
    if (!sas) return
    this.#run(() => sas.confirm())
    this.#update()
  }

  /** Decline, the emoji differ, or give up. */
  cancel(): void {
    this.#cancelCurrent()
    this.#update()
  }

  /** Forget a finished (or cancelled) verification. */
  dismiss(): void {
    if (this.#request && !this.#request.isDone() && !this.#request.isCancelled()) return
    this.#request = undefined
    this.#sas = undefined
    this.#steps.clear()
    this.#error = undefined
    this.#update()
  }

  #cancelCurrent(): void {
    const request = this.#request
    const sas = this.#sas
    if (!request || request.isDone() || request.isCancelled()) return
    this.#run(() => (sas && !sas.isCancelled() ? sas.cancel() : request.cancel()))
  }

  #incoming(request: Wasm.VerificationRequest): void {
    if (this.#request?.flowId === request.flowId) {
      this.#update()
      return
    }
    if (request.weStarted() || request.isDone() || request.isCancelled()) return
    const w = this.#client.wasm
    if (request.phase() !== w.VerificationRequestPhase.Requested) return
    // Someone else's request while one is under way here: the current one wins.
    if (this.#request && !this.#request.isDone() && !this.#request.isCancelled()) return
    this.#track(request)
  }

  #track(request: Wasm.VerificationRequest): void {
    this.#request = request
    this.#sas = undefined
    this.#steps.clear()
    this.#error = undefined
    request.registerChangesCallback(() => {
      if (this.#request === request) this.#update()
      return Promise.resolve()
    })
    this.#update()
  }

  /** Run a step and send what it returns; a failure is shown, the flow stays as it is. */
  #run(step: () => unknown): void {
    this.#client.sendVerification(step).then(
      () => {
        this.#update()
      },
      (error: unknown) => {
        this.#error = error instanceof Error ? error.message : String(error)
        this.#update()
      },
    )
  }

  /** Take the automatic steps the new state calls for, and publish a new snapshot. */
  #update(): void {
    const request = this.#request
    if (!request) {
      this.#publish(IDLE)
      return
    }
    const w = this.#client.wasm
    const otherUser = request.otherUserId.toString()
    const self = request.isSelfVerification()
    const phase = request.phase()

    if (phase === w.VerificationRequestPhase.Ready && request.weStarted()) {
      this.#once('start-sas', () => {
        this.#run(async () => (await request.startSas())?.[1])
      })
    }
    if (phase === w.VerificationRequestPhase.Transitioned && !this.#sas) {
      const verification = request.getVerification()
      if (verification instanceof w.Sas) {
        this.#sas = verification
        verification.registerChangesCallback(() => {
          if (this.#sas === verification) this.#update()
          return Promise.resolve()
        })
      }
    }
    const sas = this.#sas
    if (sas && !sas.weStarted() && !sas.hasBeenAccepted()) {
      this.#once('accept-sas', () => {
        this.#run(() => sas.accept())
      })
    }
    if (request.isDone() || sas?.isDone()) {
      this.#once('done', () => {
        this.#client.trustChanged.emit(undefined)
        this.#client.devices.emit([otherUser])
      })
    }

    let view: VerificationView
    const cancelInfo = sas?.cancelInfo() ?? request.cancelInfo
    if (request.isCancelled() || sas?.isCancelled()) {
      view = {
        step: 'cancelled',
        otherUser,
        self,
        reason: cancelInfo
          ? `${cancelInfo.cancelledbyUs() ? 'Cancelled here' : 'Cancelled by the other side'}: ${cancelInfo.reason()}`
          : 'The verification was cancelled.',
      }
    } else if (request.isDone() || sas?.isDone()) {
      view = { step: 'done', otherUser, self }
    } else if (sas?.canBePresented()) {
      const emoji = (sas.emoji() ?? []).map((e) => ({
        symbol: e.symbol,
        description: e.description,
      }))
      view = { step: 'emoji', otherUser, self, emoji, confirmed: sas.haveWeConfirmed() }
    } else if (phase === w.VerificationRequestPhase.Requested && !request.weStarted()) {
      view = {
        step: 'incoming',
        otherUser,
        otherDevice: request.otherDeviceId?.toString(),
        self,
      }
    } else {
      view = {
        step: 'waiting',
        otherUser,
        self,
        message:
          this.#error ??
          (phase === w.VerificationRequestPhase.Requested
            ? 'Waiting for the other device to accept…'
            : 'Exchanging keys…'),
      }
    }
    this.#publish(view)
  }

  #once(step: string, action: () => void): void {
    if (this.#steps.has(step)) return
    this.#steps.add(step)
    action()
  }

  #publish(view: VerificationView): void {
    if (JSON.stringify(view) === JSON.stringify(this.#view)) return
    this.#view = view
    for (const listener of [...this.#listeners]) listener()
  }
}
